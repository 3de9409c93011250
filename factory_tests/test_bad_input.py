"""The design's bad-input list, delivered as files into a drop and run through the real assets: for every
delivered line we assert where it went (prepared, quarantine with which reason, or duplicates)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Literal

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


# --- whole files that cannot be taken (issue 11, case 3) -------------------------------------------------


def _set_modified(path: Path, day: str) -> None:
    moment = datetime.fromisoformat(f"{day}T12:00:00+00:00").timestamp()
    os.utime(path, (moment, moment))


def _two_source_spec(drop: Path, *, partition_by: Literal["file_date", "timestamp"] = "file_date") -> UseCaseSpec:
    csv = FileSourceSpec(
        name="drop", kind="files", path=str(drop), pattern="*.csv", format="csv", partition_by=partition_by
    )
    parquet = FileSourceSpec(
        name="exports", kind="files", path=str(drop), pattern="*.parquet", format="parquet", partition_by=partition_by
    )
    return small_spec().model_copy(update={"sources": (csv, parquet)})


def _run_day(spec: UseCaseSpec, day: str) -> dg.ExecuteInProcessResult:
    raws = [f"raw_{source.name}" for source in spec.sources]
    keys = [dg.AssetKey(["ticket_triage", n]) for n in (*raws, "prepared", "quarantine", "duplicates")]
    with dg.instance_for_test() as instance:
        return (
            build_definitions([spec])
            .resolve_job_def("ticket_triage_daily")
            .execute_in_process(partition_key=day, instance=instance, asset_selection=keys, raise_on_error=False)
        )


def _good_parquet(path: Path, tickets: list[tuple[str, int]]) -> None:
    rows = [_line(ticket, text).split(",", 5) for ticket, text in tickets]
    pl.DataFrame(rows, schema=HEADER.split(","), orient="row").write_parquet(path)


@pytest.mark.parametrize("partition_by", ["file_date", "timestamp"])
def test_an_unreadable_file_is_quarantined_whole_and_the_rest_of_the_day_goes_on(
    drop: Path, partition_by: Literal["file_date", "timestamp"]
) -> None:
    """A text file named .parquet and a CSV whose header is not UTF-8 are set aside whole, with their
    reason and path; the good CSV and the good Parquet file of the same day are prepared."""
    _write(drop, f"good_{DAY}.csv", [HEADER, _line("G-1", 0), _line("G-2", 1)])
    (drop / f"bad_header_{DAY}.csv").write_bytes(b"ticket_id,\xffcreated_at\nX-1,2026-01-01\n")
    _good_parquet(drop / f"good_{DAY}.parquet", [("P-1", 2)])
    (drop / f"not_parquet_{DAY}.parquet").write_text("just some text, not a Parquet file\n", encoding="utf-8")
    spec = _two_source_spec(drop, partition_by=partition_by)

    result = _run_day(spec, DAY)
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert result.success and all(checks.values()), checks
    placed = _placements()
    assert placed == {
        (f"good_{DAY}.csv", 2): "prepared",
        (f"good_{DAY}.csv", 3): "prepared",
        (f"good_{DAY}.parquet", 0): "prepared",
        (f"bad_header_{DAY}.csv", 0): "quarantine:unreadable_file",
        (f"not_parquet_{DAY}.parquet", 0): "quarantine:unreadable_file",
    }
    quarantine = build_resources()["warehouse"].read_table("ticket_triage", "quarantine").sort("source_file")
    assert quarantine["source"].to_list() == ["drop", "exports"]
    assert quarantine["detail"].to_list() == [
        f"bad_header_{DAY}.csv: not readable as csv: line 1 (the header) is not valid UTF-8: "
        "byte(s) ff at byte offset 10 (invalid start byte)",
        f"not_parquet_{DAY}.parquet: not readable as parquet: not a readable Parquet file: Parquet magic bytes "
        "not found in footer. Either the file is corrupted or this is not a parquet file.",
    ]
    assert quarantine["payload"].to_list()[1] == "just some text, not a Parquet file\n"
    ledger = build_resources()["warehouse"].read_table("ticket_triage", "source_files").sort("file")
    assert ledger.filter(pl.col("rejects") == 1)["file"].to_list() == [
        f"bad_header_{DAY}.csv",
        f"not_parquet_{DAY}.parquet",
    ]


def test_an_unreadable_undated_file_fails_no_other_day_nor_the_sensor(drop: Path) -> None:
    """With partition_by: timestamp, an unreadable file without a date is filed under its modification day
    only: the drop sensor asks for that day, and other days run clean."""
    _write(drop, "tickets_a.csv", [HEADER, _line("A-1", 0), _line("B-1", 1, created="2026-01-02T09:00:00Z")])
    garbage = drop / "garbage.csv"
    garbage.write_bytes(b"\xff\xfe\x00\x00 not csv at all")
    _set_modified(garbage, "2026-01-02")
    spec = _two_source_spec(drop, partition_by="timestamp")
    spec = spec.model_copy(update={"sources": spec.sources[:1]})
    defs = build_definitions([spec])
    sensor = defs.resolve_sensor_def("ticket_triage_drop_files_sensor")
    with dg.build_sensor_context(resources=build_resources(), definitions=defs) as context:
        tick = sensor(context)
    assert isinstance(tick, dg.SensorResult)
    assert {r.partition_key for r in tick.run_requests or []} == {DAY, "2026-01-02"}, "one request per file and day"

    first = _run_day(spec, DAY)
    assert first.success
    assert _placements() == {("tickets_a.csv", 2): "prepared"}
    second = _run_day(spec, "2026-01-02")
    assert second.success
    assert _placements() == {
        ("tickets_a.csv", 2): "prepared",
        ("tickets_a.csv", 3): "prepared",
        ("garbage.csv", 0): "quarantine:unreadable_file",
    }


def test_a_file_named_with_an_impossible_date_is_quarantined_under_its_modification_day(drop: Path) -> None:
    """``2026-02-30`` is no day: the file is set aside whole as bad_file_date, filed under the day it was
    last modified, never skipped; the sensor asks for that day."""
    impossible = drop / "tickets_2026-02-30.csv"
    _write(drop, impossible.name, [HEADER, _line("I-1", 0)])
    _set_modified(impossible, DAY)
    _write(drop, f"good_{DAY}.csv", [HEADER, _line("G-1", 1)])
    spec = _spec(drop)
    defs = build_definitions([spec])
    sensor = defs.resolve_sensor_def("ticket_triage_drop_files_sensor")
    with dg.build_sensor_context(resources=build_resources(), definitions=defs) as context:
        tick = sensor(context)
    assert isinstance(tick, dg.SensorResult)
    assert {r.partition_key for r in tick.run_requests or []} == {DAY}

    assert _run_day(spec, DAY).success
    assert _placements() == {(f"good_{DAY}.csv", 2): "prepared", (impossible.name, 0): "quarantine:bad_file_date"}
    quarantine = build_resources()["warehouse"].read_table("ticket_triage", "quarantine")
    assert (
        quarantine["detail"]
        .item()
        .startswith(
            "tickets_2026-02-30.csv: '2026-02-30' in the file name is not a calendar date; filed under the day it was"
        )
    )
    assert quarantine["payload"].item() == "\n".join([HEADER, _line("I-1", 0)]) + "\n"


# --- one hostile row among good ones, through the whole daily job (issue 11, cases 3 and 4) -------------


def test_a_day_with_hostile_rows_labels_its_good_rows_and_leaks_no_key(drop: Path) -> None:
    """A demo day plus a drop file holding a body the scrubber cannot clean, an email ticket id and email
    customers: the hostile body is quarantined pii_residue, every check of preparation passes, the demo's
    good rows get labels, and no email reaches prepared, labels or the run's events."""
    email_id, customers = "ann.lee@example.com", ("bob@example.com", "cy@example.org")
    _write(
        drop,
        f"hostile_{DAY}.csv",
        [
            HEADER,
            f"H-1,{DAY}T10:00:00Z,C1,email,Call me,{'+33612345678' * 300}",
            f"{email_id},{DAY}T10:05:00Z,C2,email,Subject 10,{TEXTS[1]} again",
            f"H-3,{DAY}T10:10:00Z,{customers[0]},email,Subject 11,{TEXTS[2]} for me",
            f"H-4,{DAY}T10:15:00Z,{customers[1]},email,Subject 12,{TEXTS[3]} too",
        ],
    )
    demo = small_spec(rows_per_day=300)
    files = FileSourceSpec(name="drop", kind="files", path=str(drop), pattern="*.csv", format="csv")
    spec = demo.model_copy(update={"sources": (*demo.sources, files)})
    with dg.instance_for_test() as instance:
        result = (
            build_definitions([spec])
            .resolve_job_def("ticket_triage_daily")
            .execute_in_process(partition_key=DAY, instance=instance, raise_on_error=False)
        )
        events = [str(entry) for entry in instance.all_logs(result.run_id)]
    checks = {(e.asset_key.path[-1], e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert checks[("prepared", "no_pii_residue")] and checks[("prepared", "rows_reconcile")], checks

    warehouse = build_resources()["warehouse"]
    quarantine = warehouse.read_table("ticket_triage", "quarantine").filter(pl.col("source") == "drop")
    assert quarantine.select("source_line", "reason").rows() == [(2, "pii_residue")]
    prepared = warehouse.read_table("ticket_triage", "prepared")
    from_drop = prepared.filter(pl.col("source") == "drop").sort("source_line")
    assert from_drop["ticket_id"].str.starts_with("pii_").to_list() == [True, False, False]
    groups = from_drop["customer_id"].to_list()
    assert groups[0] == "C2" and groups[1].startswith("pii_") and groups[2].startswith("pii_")
    assert groups[1] != groups[2], "two email customers stay two groups"

    labels = warehouse.read_table("ticket_triage", "labels")
    demo_items = set(prepared.filter(pl.col("source") != "drop")["ticket_id"])
    assert labels.height > 100 and set(labels["item_id"]) <= demo_items, "the good rows got their labels"
    texts = [str(value) for frame in (prepared, labels) for value in frame.rows()]
    for secret in (email_id, *customers):
        assert not any(secret in text for text in texts), f"{secret} reached a table downstream of quarantine"
        assert not any(secret in event for event in events), f"{secret} reached the run's events"
