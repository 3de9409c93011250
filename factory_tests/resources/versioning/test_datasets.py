"""Published versions outside Dagster: list, show, checkout and rollback, on every backend."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from factory.datasets import checkout, list_versions, resolve_version, rollback, show
from factory.resources.versioning import MAIN_BRANCH, NothingToCommit, RefNotFound, VersionStore
from factory_tests.helpers import dataset_frame, publish_version


@pytest.fixture
def published(store: VersionStore) -> VersionStore:
    publish_version(store, "triage", dataset_frame(10), 1)
    publish_version(store, "triage", dataset_frame(20), 2)
    store.write_object(MAIN_BRANCH, "other/datacard.md", b"another use case")
    store.commit(MAIN_BRANCH, "another use case publishes")
    return store


def test_versions_are_listed_and_resolved_by_every_name(published: VersionStore) -> None:
    assert [v.tag for v in list_versions(published, "triage")] == ["triage/v1", "triage/v2"]
    for name in ("v1", "1", "triage/v1"):
        assert resolve_version(published, "triage", name).number == 1
    assert resolve_version(published, "triage", "latest").number == 2
    with pytest.raises(RefNotFound, match="published: v1, v2"):
        resolve_version(published, "triage", "v7")
    with pytest.raises(RefNotFound, match="no published dataset"):
        resolve_version(published, "unknown", "latest")


def test_show_summarizes_a_version(published: VersionStore) -> None:
    text = show(published, "triage", "v2")
    assert text.startswith("triage/v2  commit ")
    assert "rows: 20" in text and "digest: d2" in text
    assert "by split: train 18, test 2" in text


def test_checkout_writes_the_exact_bytes(published: VersionStore, tmp_path: Path) -> None:
    files = checkout(published, "triage", "v1", tmp_path / "out")
    assert [f.name for f in files] == ["triage-v1.parquet", "triage-v1.datacard.md", "triage-v1.commit.json"]
    assert pl.read_parquet(files[0]).equals(dataset_frame(10))
    record = json.loads(files[2].read_text())
    assert record["commit"] == resolve_version(published, "triage", "v1").commit.id


def test_rollback_is_a_new_commit_and_version(published: VersionStore) -> None:
    before = published.resolve(MAIN_BRANCH)
    tags_before = published.list_tags()
    restored = rollback(published, "triage", "v1", "v2 labels were wrong")
    assert restored.tag == "triage/v3"
    assert restored.commit.metadata["rollback_to"] == "triage/v1"
    assert published.get_commit(MAIN_BRANCH).id == restored.commit.id
    assert restored.commit.parents[0] == before  # history kept, nothing rewritten
    assert published.read_table("triage/v3", "triage/dataset").equals(dataset_frame(10))
    assert published.read_object("triage/v3", "other/datacard.md") == b"another use case"
    assert {tag: commit for tag, commit in published.list_tags().items() if tag in tags_before} == tags_before
    with pytest.raises(NothingToCommit):
        rollback(published, "triage", "v1", "again")
