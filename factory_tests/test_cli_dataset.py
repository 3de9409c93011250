"""`factory dataset list|show|checkout|rollback` against the version store under FACTORY_HOME."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from factory.cli import main
from factory.resources.versioning import LocalVersionStore
from factory_tests.helpers import dataset_frame, publish_version


@pytest.fixture
def store(factory_home: Path) -> LocalVersionStore:
    store = LocalVersionStore(factory_home / "versions", "factory")
    store.ensure_repository()
    publish_version(store, "triage", dataset_frame(10), 1)
    publish_version(store, "triage", dataset_frame(20), 2)
    return store


def test_list_show_checkout_rollback(
    store: LocalVersionStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dataset", "list", "triage"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed] == ["triage/v1", "triage/v2"]

    assert main(["dataset", "show", "triage", "latest"]) == 0
    assert "rows: 20" in capsys.readouterr().out

    assert main(["dataset", "checkout", "triage", "v1", "--out", str(tmp_path / "v1")]) == 0
    written = [Path(line) for line in capsys.readouterr().out.splitlines()]
    assert pl.read_parquet(written[0]).equals(dataset_frame(10))

    main_before = store.resolve("main")
    assert main(["dataset", "rollback", "triage", "v1", "--reason", "bad labels in v2"]) == 0
    assert "published as triage/v3" in capsys.readouterr().out
    assert store.get_commit("main").parents[0] == main_before
    assert store.read_table("triage/v3", "triage/dataset").equals(dataset_frame(10))


def test_unknown_version_is_a_clear_error(store: LocalVersionStore, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dataset", "show", "triage", "v9"]) == 2
    assert "no version 'v9'; published: v1, v2" in capsys.readouterr().err
