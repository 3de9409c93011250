"""`factory dataset list|show|checkout|rollback` against the version store under FACTORY_HOME."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import polars as pl
import pytest

from factory.cli import main
from factory.resources.versioning import LocalVersionStore
from factory_tests.helpers import dataset_frame, publish_version, small_spec


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


def _tag_file(store: LocalVersionStore, tag: str) -> Path:
    return store.root / store.repository / "refs" / "tags" / quote(tag, safe="")


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (b"not a commit id\n", "holds 'not a commit id', not a commit id"),
        (b"\xff\xfe\x00garbage", "is not text"),
        (("0" * 64 + "\n").encode(), "its commit 000000000000 cannot be read"),
    ],
)
def test_a_damaged_tag_affects_its_version_only(
    store: LocalVersionStore, tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: bytes, reason: str
) -> None:
    publish_version(store, "triage", dataset_frame(30), 3)
    _tag_file(store, "triage/v2").write_bytes(damage)

    assert main(["dataset", "list", "triage"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in listed][1] == ["triage/v2", "DAMAGED"]
    assert [line.split()[0] for line in listed] == ["triage/v1", "triage/v2", "triage/v3"]
    assert reason in listed[1]

    assert main(["dataset", "checkout", "triage", "v3", "--out", str(tmp_path / "v3")]) == 0
    assert pl.read_parquet(Path(capsys.readouterr().out.splitlines()[0])).equals(dataset_frame(30))
    assert main(["dataset", "show", "triage", "latest"]) == 0
    assert "rows: 30" in capsys.readouterr().out
    assert main(["dataset", "show", "triage", "v2"]) == 2
    assert "triage/v2 is damaged" in capsys.readouterr().err
    assert main(["dataset", "rollback", "triage", "v1", "--reason", "v2 is damaged"]) == 0
    assert "published as triage/v4" in capsys.readouterr().out


def test_latest_refuses_a_damaged_newest_version(store: LocalVersionStore, capsys: pytest.CaptureFixture[str]) -> None:
    _tag_file(store, "triage/v2").write_text("broken\n", encoding="ascii")
    assert main(["dataset", "show", "triage", "latest"]) == 2
    assert "triage/v2 is damaged" in capsys.readouterr().err
    assert main(["dataset", "show", "triage", "v1"]) == 0


def test_a_publish_numbers_past_a_damaged_tag(factory_home: Path) -> None:
    from factory.defs.lineage import next_version_number
    from factory.defs.usecase import UseCase

    store = LocalVersionStore(factory_home / "versions", "factory")
    store.ensure_repository()
    uc = UseCase(small_spec())
    for number in (1, 2):
        publish_version(store, uc.name, dataset_frame(10), number)
    _tag_file(store, f"{uc.name}/v2").write_text("broken\n", encoding="ascii")
    assert list(store.list_tags(prefix=f"{uc.name}/v")) == [f"{uc.name}/v1"]
    assert list(store.damaged_tags(prefix=f"{uc.name}/v")) == [f"{uc.name}/v2"]
    assert next_version_number(store, uc) == 3
