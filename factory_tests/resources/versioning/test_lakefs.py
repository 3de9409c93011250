"""The lakeFS backend's own promises, against the loopback double: names, credentials, lakeFS's differences."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from lakefs_sdk.models.branch_creation import BranchCreation

from factory.resources.versioning import (
    InvalidName,
    LakeFSVersionStore,
    RepositoryNotFound,
    VersionStoreError,
)
from factory.resources.versioning.lakefs import decode_ref_name, encode_ref_name
from factory_tests.resources.versioning.lakefs_double import LakeFSDouble


@pytest.fixture
def lakefs(lakefs_double: LakeFSDouble) -> Iterator[LakeFSVersionStore]:
    store = LakeFSVersionStore(
        lakefs_double.endpoint,
        lakefs_double.access_key_id,
        lakefs_double.secret_access_key,
        f"lakefs-{secrets.token_hex(6)}",
    )
    store.ensure_repository()
    yield store
    store.close()


@pytest.mark.parametrize(
    ("name", "lakefs_id"),
    [
        ("main", "main"),
        ("ticket_triage/v3", "ticket_triage-v3"),
        ("ticket_triage/stage/0b1f-77aa", "ticket_triage-stage-0b1f--77aa"),
        ("a-/b", "a---b"),
        ("a--b/c-", "a----b-c--"),
    ],
)
def test_names_map_to_lakefs_ids_and_back(name: str, lakefs_id: str) -> None:
    assert encode_ref_name(name) == lakefs_id
    assert decode_ref_name(lakefs_id) == name


def test_branches_and_tags_are_stored_under_their_lakefs_ids(
    lakefs: LakeFSVersionStore, lakefs_double: LakeFSDouble
) -> None:
    lakefs.create_branch("ticket_triage/stage/run-1")
    lakefs.create_tag("ticket_triage/v1", "main")
    repo = lakefs_double.state.repositories[lakefs.repository]
    assert sorted(repo.branches) == ["main", "ticket_triage-stage-run--1"]
    assert sorted(repo.tags) == ["ticket_triage-v1"]


def test_refs_made_outside_the_factory_are_listed_decoded_or_skipped(lakefs: LakeFSVersionStore) -> None:
    for foreign in ("dev-john", "trailing-"):  # "trailing-" would decode to "trailing/", not a valid name
        creation = BranchCreation.from_dict({"name": foreign, "source": "main"})
        lakefs.client.branches_api.create_branch(lakefs.repository, creation)
    assert lakefs.list_branches() == ["dev/john", "main"]


def test_lakefs_refuses_dots_in_branch_names_but_not_in_tags(lakefs: LakeFSVersionStore) -> None:
    with pytest.raises(InvalidName):
        lakefs.create_branch("release-1.2")
    assert lakefs.create_tag("release-1.2", "main") == lakefs.resolve("main")
    with pytest.raises(InvalidName):
        lakefs.create_tag("release.", "main")


def test_lakefs_metadata_keys_are_reserved(lakefs: LakeFSVersionStore) -> None:
    lakefs.write_object("main", "a", b"1")
    with pytest.raises(ValueError, match=r"\.lakefs\."):
        lakefs.commit("main", "m", {".lakefs.merge.strategy": "mine"})


def test_merging_changes_already_on_the_destination_still_commits(lakefs: LakeFSVersionStore) -> None:
    """lakeFS only reports "no changes" when the source changed nothing since the merge base."""
    lakefs.create_branch("feature")
    for branch in ("feature", "main"):
        lakefs.write_object(branch, "a", b"same")
        lakefs.commit(branch, "same change")
    before = lakefs.resolve("main")
    merged = lakefs.merge("feature", "main", "merge")
    assert merged.parents == (before, lakefs.resolve("feature"))
    assert lakefs.diff(before, merged.id) == []


def test_a_missing_repository_is_reported_as_such(lakefs_double: LakeFSDouble) -> None:
    store = LakeFSVersionStore(
        lakefs_double.endpoint, lakefs_double.access_key_id, lakefs_double.secret_access_key, "never-created"
    )
    with pytest.raises(RepositoryNotFound):
        store.list_branches()
    with pytest.raises(RepositoryNotFound):
        store.resolve("main")
    store.close()


def test_wrong_credentials_fail_clearly_without_the_secret(lakefs_double: LakeFSDouble) -> None:
    secret = "not-the-secret-" + "x" * 20
    store = LakeFSVersionStore(lakefs_double.endpoint, lakefs_double.access_key_id, secret, "contract-creds")
    with pytest.raises(VersionStoreError, match="refused the credentials") as raised:
        store.ensure_repository()
    assert secret not in str(raised.value)
    assert secret not in repr(store)
    store.close()


def test_an_unreachable_server_is_a_version_store_error() -> None:
    store = LakeFSVersionStore("http://127.0.0.1:9", "key", "secret", "contract-down")
    with pytest.raises(VersionStoreError, match="cannot reach lakeFS"):
        store.ensure_repository()
    store.close()


def test_a_new_repository_goes_under_the_storage_root(
    lakefs_double: LakeFSDouble, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lakeFS on S3 refuses ``local://`` namespaces: ``LAKEFS_STORAGE_ROOT`` puts new repositories there."""
    name = f"lakefs-{secrets.token_hex(6)}"
    monkeypatch.setenv("LAKEFS_STORAGE_ROOT", "s3://lakefs/")
    store = LakeFSVersionStore(
        lakefs_double.endpoint, lakefs_double.access_key_id, lakefs_double.secret_access_key, name
    )
    try:
        store.ensure_repository()
        answer = store.client.repositories_api.get_repository(name)
        assert answer.storage_namespace == f"s3://lakefs/{name}"
    finally:
        store.close()
    monkeypatch.delenv("LAKEFS_STORAGE_ROOT")
    assert LakeFSVersionStore("http://x", "k", "s", name).storage_namespace == f"local://{name}"
