"""The design's bad-input list, delivered as files into a drop and run through the real assets: for every
delivered line we assert where it went (prepared, quarantine with which reason, or duplicates)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from factory.defs import build_definitions
from factory.defs.resources import build_resources
from factory.resources.sources import DropFile, FileDrop
from factory.spec import FileSourceSpec, UseCaseSpec
from factory_tests.helpers import CSV_HEADER, TICKET_TEXTS, small_spec

DAY = "2026-01-01"
HEADER = CSV_HEADER
TEXTS = TICKET_TEXTS


def _line(ticket: str, text: int, *, created: str = f"{DAY}T10:00:00Z", channel: str = "email") -> str:
    return f"{ticket},{created},C{text:05d},{channel},Subject {text},{TEXTS[text]}"


def _spec(drop: Path) -> UseCaseSpec:
    files = FileSourceSpec(name="drop", kind="files", path=str(drop), pattern="*.csv", format="csv")
    return small_spec().model_copy(update={"sources": (files,)})


def _ingest(drop: Path) -> dg.ExecuteInProcessResult:
    defs = build_definitions([_spec(drop)])
    keys = [dg.AssetKey(["ticket_triage", n]) for n in ("raw_drop", "prepared", "quarantine", "duplicates")]
    with dg.instance_for_test() as instance:
        return defs.resolve_job_def("ticket_triage_daily").execute_in_process(
            partition_key=DAY, instance=instance, asset_selection=keys, raise_on_error=False
        )


def _placements() -> dict[tuple[str, int], str]:
    """(file, line) -> 'prepared' | 'duplicate' | 'quarantine:<reason>' for every delivered record."""
    warehouse = build_resources()["warehouse"]
    placed: dict[tuple[str, int], str] = {}
    for table in ("prepared", "quarantine", "duplicates"):
        frame = warehouse.read_table("ticket_triage", table)
        for row in frame.iter_rows(named=True):
            where = {"prepared": "prepared", "duplicates": "duplicate"}.get(table) or f"quarantine:{row['reason']}"
            key = (row["source_file"], row["source_line"])
            assert key not in placed, f"{key} placed twice"
            placed[key] = where
    raw = warehouse.read_table("ticket_triage", "raw")
    assert len(placed) == raw.height, "every raw record is placed exactly once"
    return placed


@pytest.fixture
def drop(factory_home: Path) -> Path:
    folder = factory_home / "drop"
    folder.mkdir(parents=True)
    return folder


def _write(drop: Path, name: str, lines: list[str]) -> None:
    (drop / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_every_bad_input_lands_where_it_should(drop: Path) -> None:
    (drop / f"zero_bytes_{DAY}.csv").write_bytes(b"")
    _write(drop, f"header_only_{DAY}.csv", [HEADER])
    huge = "x" * (10 * 1024 * 1024)
    _write(drop, f"huge_field_{DAY}.csv", [HEADER, f"H-1,{DAY}T10:00:00Z,C1,email,Huge,{TEXTS[0]} {huge}"])
    _write(
        drop,
        f"missing_column_{DAY}.csv",
        ["ticket_id,created_at,customer_id,subject,body", f"M-1,{DAY}T10:00:00Z,C1,Subject,{TEXTS[1]}"],
    )
    _write(drop, f"extra_column_{DAY}.csv", [HEADER + ",priority", _line("E-1", 2) + ",high"])
    _write(
        drop,
        f"rows_{DAY}.csv",
        [
            HEADER,
            _line("R-1", 3),  # line 2: good
            _line("R-2", 4, created="2026-13-45T99:00:00Z"),  # 3: unparseable timestamp
            _line("R-3", 5, created="2099-01-01T00:00:00Z"),  # 4: future timestamp
            _line("R-4", 6, channel="fax"),  # 5: value outside the allowed set
            _line("", 7),  # 6: null key
            _line("R-1", 8),  # 7: duplicate id with other content
            _line("R-7", 3),  # 8: exact duplicate of line 2's content
            _line("R-8", 9) + ",unexpected,fields",  # 9: malformed line
        ],
    )
    result = _ingest(drop)
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks["rows_reconcile"] and checks["no_pii_residue"] and checks["schema_conforms"]

    placed = _placements()
    assert placed == {
        (f"huge_field_{DAY}.csv", 2): "prepared",
        (f"missing_column_{DAY}.csv", 2): "quarantine:missing_required",
        (f"extra_column_{DAY}.csv", 2): "prepared",
        (f"rows_{DAY}.csv", 2): "prepared",
        (f"rows_{DAY}.csv", 3): "quarantine:bad_timestamp",
        (f"rows_{DAY}.csv", 4): "quarantine:future_timestamp",
        (f"rows_{DAY}.csv", 5): "quarantine:value_not_allowed",
        (f"rows_{DAY}.csv", 6): "quarantine:missing_required",
        (f"rows_{DAY}.csv", 7): "quarantine:duplicate_id",
        (f"rows_{DAY}.csv", 8): "duplicate",
        (f"rows_{DAY}.csv", 9): "quarantine:malformed_line",
    }
    prepared = build_resources()["warehouse"].read_table("ticket_triage", "prepared")
    huge_row = prepared.filter(pl.col("ticket_id") == "H-1").row(0, named=True)
    assert huge_row["body_truncated"] is True and len(huge_row["body"]) <= 5000
    ledger = build_resources()["warehouse"].read_table("ticket_triage", "source_files")
    assert set(ledger["file"]) >= {f"zero_bytes_{DAY}.csv", f"header_only_{DAY}.csv"}
    assert ledger.filter(pl.col("file") == f"zero_bytes_{DAY}.csv")["rows"].to_list() == [0]


def test_a_file_deleted_mid_ingest_does_not_stop_the_others(drop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(drop, f"a_{DAY}.csv", [HEADER, _line("A-1", 0), _line("A-2", 1)])
    _write(drop, f"b_{DAY}.csv", [HEADER, _line("B-1", 2)])
    original = FileDrop.read

    def delete_b_first(self: FileDrop, file: DropFile) -> bytes:
        if file.relative.startswith("b_"):
            file.path.unlink(missing_ok=True)
        return original(self, file)

    monkeypatch.setattr(FileDrop, "read", delete_b_first)
    result = _ingest(drop)
    assert result.success
    placed = _placements()
    assert placed == {(f"a_{DAY}.csv", 2): "prepared", (f"a_{DAY}.csv", 3): "prepared"}
    ledger = build_resources()["warehouse"].read_table("ticket_triage", "source_files")
    assert ledger["file"].to_list() == [f"a_{DAY}.csv"], "a vanished file is not recorded as ingested"
