"""The version-store resource: backend chosen by the environment, lakeFS keys read from it, never shown."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from factory.resources.versioning import LakeFSVersionStore, LocalVersionStore
from factory.resources.versions import VersionStoreResource
from factory_tests.resources.versioning.lakefs_double import LakeFSDouble


def _lakefs_env(monkeypatch: pytest.MonkeyPatch, double: LakeFSDouble) -> None:
    monkeypatch.setenv("FACTORY_VERSION_STORE", "lakefs")
    monkeypatch.setenv("LAKEFS_ENDPOINT", double.endpoint)
    monkeypatch.setenv("LAKEFS_ACCESS_KEY_ID", double.access_key_id)
    monkeypatch.setenv("LAKEFS_SECRET_ACCESS_KEY", double.secret_access_key)


def test_local_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FACTORY_VERSION_STORE", raising=False)
    resource = VersionStoreResource.from_env(tmp_path / "versions")
    assert resource.backend == "local"
    assert isinstance(resource.open(), LocalVersionStore)


def test_lakefs_is_selected_by_the_environment_and_keys_stay_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with LakeFSDouble() as double:
        _lakefs_env(monkeypatch, double)
        resource = VersionStoreResource.from_env(tmp_path / "versions")
        assert resource.backend == "lakefs"
        assert resource.lakefs_endpoint == double.endpoint
        assert isinstance(resource.lakefs_secret_access_key, dg.EnvVar)
        assert double.secret_access_key not in repr(resource)
        store = resource.open()
        assert isinstance(store, LakeFSVersionStore)
        assert store.list_branches() == ["main"]
        assert double.secret_access_key not in repr(store)
        store.close()


def test_an_asset_run_opens_the_lakefs_store_with_keys_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    @dg.asset
    def staged(versions: VersionStoreResource) -> str:
        store = versions.open()
        store.write_object("main", "hello.txt", b"hello")
        return store.commit("main", "from a run").id

    with LakeFSDouble() as double:
        _lakefs_env(monkeypatch, double)
        result = dg.materialize([staged], resources={"versions": VersionStoreResource.from_env(tmp_path)})
        commit_id = result.output_for_node("staged")
        assert double.state.repositories["factory"].branches["main"].head == commit_id


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"FACTORY_VERSION_STORE": "s3"}, "must be 'local' or 'lakefs'"),
        ({"FACTORY_VERSION_STORE": "lakefs", "LAKEFS_ACCESS_KEY_ID": "k"}, "LAKEFS_ENDPOINT, LAKEFS_SECRET_ACCESS_KEY"),
    ],
)
def test_incomplete_configuration_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], message: str
) -> None:
    for name in ("LAKEFS_ENDPOINT", "LAKEFS_ACCESS_KEY_ID", "LAKEFS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=message):
        VersionStoreResource.from_env(tmp_path)
