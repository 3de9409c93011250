"""File sources beyond the daily drop: a one-shot batch puts every file's rows in one day (``batch_day``, else
the date in its name, else its modification day) and says nothing was expected on other days; a source's
path may name one file, read in place without walking its folder; `days_with_data` lists the days a file
source has rows on, and None for kinds it cannot know."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from factory.resources.landing import FileSource, days_with_data, drop_of
from factory.resources.sources import SourceError
from factory.spec import FileSourceSpec, PostgresSourceSpec, UseCaseSpec
from factory_tests.helpers import CSV_HEADER, TICKET_TEXTS, small_spec


def _row(i: int, day: str) -> str:
    return f"T-{day}-{i:03d},{day}T10:00:00Z,C{i:05d},email,Question {i},{TICKET_TEXTS[i]}\n"


def _arrived(path: Path, day: str) -> None:
    moment = datetime.fromisoformat(f"{day}T12:00:00+00:00").timestamp()
    os.utime(path, (moment, moment))


def _spec(source: FileSourceSpec) -> UseCaseSpec:
    return small_spec().model_copy(update={"sources": (source,)})


def _files(path: Path, **fields: object) -> FileSourceSpec:
    return FileSourceSpec.model_validate(
        {"name": "tickets", "kind": "files", "path": str(path), "format": "csv", **fields}
    )


@pytest.fixture
def folder(factory_home: Path) -> Path:
    drop = factory_home / "drop"
    drop.mkdir()
    (drop / "tickets_2026-01-01.csv").write_text(CSV_HEADER + "\n" + _row(1, "2026-01-01") + _row(2, "2026-01-03"))
    (drop / "export.csv").write_text(CSV_HEADER + "\n" + _row(3, "2026-01-02"))
    _arrived(drop / "export.csv", "2026-01-05")
    return drop


def test_a_batch_files_every_row_of_a_file_under_one_day(folder: Path) -> None:
    source = _files(folder, partition_by="batch")
    spec = _spec(source)
    assert days_with_data(spec, source) == ["2026-01-01", "2026-01-05"], "the name's date, else the arrival day"
    landed = FileSource().land(spec, source, "2026-01-01")
    assert landed.frame["ticket_id"].to_list() == ["T-2026-01-01-001", "T-2026-01-03-002"]
    assert landed.expected
    nothing = FileSource().land(spec, source, "2026-01-03")
    assert nothing.frame.height == 0 and not nothing.expected
    assert any("nothing expected" in note for note in nothing.notes)

    fixed = _files(folder, partition_by="batch", batch_day="2026-01-02")
    assert days_with_data(_spec(fixed), fixed) == ["2026-01-02"]
    assert FileSource().land(_spec(fixed), fixed, "2026-01-02").frame.height == 3


def test_daily_sources_always_expect_rows_and_list_their_days(folder: Path) -> None:
    by_name = _files(folder, pattern="tickets_*.csv")
    by_stamp = _files(folder, partition_by="timestamp")
    assert days_with_data(_spec(by_name), by_name) == ["2026-01-01"]
    assert days_with_data(_spec(by_stamp), by_stamp) == ["2026-01-01", "2026-01-02", "2026-01-03"]
    empty = FileSource().land(_spec(by_name), by_name, "2026-01-04")
    assert empty.frame.height == 0 and empty.expected


def test_a_path_naming_one_file_reads_that_file_in_place(folder: Path) -> None:
    (folder / "sub").mkdir()
    (folder / "sub" / "other.csv").write_text(CSV_HEADER + "\n" + _row(4, "2026-01-02"))
    source = _files(folder / "export.csv", partition_by="batch")
    drop = drop_of(source)
    assert [f.relative for f in drop.scan()] == ["export.csv"], "the folder's other files are not read"
    assert days_with_data(_spec(source), source) == ["2026-01-05"]
    landed = FileSource().land(_spec(source), source, "2026-01-05")
    assert landed.frame["ticket_id"].to_list() == ["T-2026-01-02-003"]
    assert [entry["file"] for entry in landed.files] == ["export.csv"]
    assert datetime.fromtimestamp((folder / "export.csv").stat().st_mtime, UTC).date() == date(2026, 1, 5)

    (folder / "export.csv").unlink()
    with pytest.raises(SourceError, match="does not exist"):
        FileSource().land(_spec(source), source, "2026-01-05")


def test_a_single_file_that_links_out_of_the_data_root_needs_allow_outside(folder: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.csv"
    outside.write_text(CSV_HEADER + "\n" + _row(5, "2026-01-02"))
    (folder / "link.csv").symlink_to(outside)
    with pytest.raises(SourceError, match="allow_outside"):
        drop_of(_files(folder / "link.csv", partition_by="batch"))
    drop = drop_of(_files(folder / "link.csv", partition_by="batch", allow_outside=True))
    assert [f.relative for f in drop.scan()] == ["elsewhere.csv"], "a link named in the spec is followed"


def test_days_with_data_is_unknown_for_query_sources() -> None:
    query = PostgresSourceSpec(name="crm", kind="postgres", dsn_env="CRM_DSN", query="SELECT %(start)s, %(end)s")
    assert days_with_data(small_spec(), query) is None


def test_a_csv_source_reads_with_its_delimiter(folder: Path) -> None:
    (folder / "semicolons.csv").write_text(
        CSV_HEADER.replace(",", ";") + "\n" + _row(6, "2026-01-02").replace(",", ";")
    )
    source = _files(folder / "semicolons.csv", partition_by="batch", batch_day="2026-01-02", delimiter=";")
    landed = FileSource().land(_spec(source), source, "2026-01-02")
    assert landed.frame.select("ticket_id", "channel").rows() == [("T-2026-01-02-006", "email")]
