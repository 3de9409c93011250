"""A use case fed by a file drop: the sensor picks each new file up once, and every delivered record ends
in exactly one of prepared, quarantine (with source, file, line and reason) or duplicates."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from factory.defs import build_definitions
from factory.defs.resources import build_resources
from factory.spec import FileSourceSpec, UseCaseSpec
from factory_tests.helpers import CSV_HEADER, TICKET_TEXTS, small_spec

HEADER = CSV_HEADER + "\n"


BODIES = TICKET_TEXTS


def _row(i: int, day: str, text: int | None = None) -> str:
    body = BODIES[(i if text is None else text) % len(BODIES)]
    return f"T{day[-2:]}-{i:03d},{day}T10:{i:02d}:00Z,C{i:05d},email,Question {i},{body}\n"


@pytest.fixture
def drop(factory_home: Path) -> Iterator[Path]:
    folder = factory_home / "drop"
    folder.mkdir(parents=True)
    yield folder


def _spec(drop: Path) -> UseCaseSpec:
    files = FileSourceSpec(name="tickets", kind="files", path=str(drop), pattern="*.csv", format="csv")
    return small_spec().model_copy(update={"sources": (files,)})


def _tick(defs: dg.Definitions) -> dg.SensorResult:
    sensor = defs.resolve_sensor_def("ticket_triage_tickets_files_sensor")
    with dg.build_sensor_context(resources=build_resources(), definitions=defs) as context:
        result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def _ingest(defs: dg.Definitions, instance: dg.DagsterInstance, day: str) -> dg.ExecuteInProcessResult:
    keys = [dg.AssetKey(["ticket_triage", n]) for n in ("raw_tickets", "prepared", "quarantine", "duplicates")]
    job = defs.resolve_job_def("ticket_triage_daily")
    return job.execute_in_process(partition_key=day, instance=instance, asset_selection=keys)


def test_file_drop_is_ingested_once_and_every_record_is_accounted_for(drop: Path, tmp_path: Path) -> None:
    day1 = "\ufeff" + HEADER + "".join(_row(i, "2026-01-01") for i in range(1, 6))
    day1 += "T01-100,2026-01-01T11:00:00Z,C1,email,too,many,fields,here\n"  # malformed line
    day1 += "T01-101,yesterday,C00101,email,Late,Where is my parcel\n"  # unparseable timestamp
    day1 += "T01-102,2026-01-01T12:00:00Z,C00102,email,Empty,\n"  # required body missing
    day1 += _row(1, "2026-01-01").replace("T01-001", "T01-103")  # same content as line 2: exact duplicate
    (drop / "tickets_2026-01-01.csv").write_text(day1, encoding="utf-8")
    (drop / "tickets_2026-01-01_resent.csv").write_text(day1, encoding="utf-8")  # same file, other name
    day2 = HEADER.encode() + b"".join(_row(i, "2026-01-02", text=i + 5).encode() for i in range(1, 4))
    day2 += b"T02-100,2026-01-02T09:00:00Z,C00100,email,Bad bytes,\xff\xfe broken\n"
    (drop / "tickets_2026-01-02.csv").write_bytes(day2)
    outside = tmp_path / "outside_2026-01-01.csv"
    outside.write_text(HEADER + _row(9, "2026-01-01"), encoding="utf-8")
    (drop / "escape_2026-01-01.csv").symlink_to(outside)

    defs = build_definitions([_spec(drop)])
    first = _tick(defs)
    requested = sorted((r.partition_key, r.run_key) for r in first.run_requests or [])
    assert [p for p, _ in requested] == ["2026-01-01", "2026-01-02"], "one request per day; the copy adds none"

    with dg.instance_for_test() as instance:
        for day, _ in requested:
            assert day is not None
            assert _ingest(defs, instance, day).success

    warehouse = build_resources()["warehouse"]
    raw = warehouse.read_table("ticket_triage", "raw")
    placed = {t: warehouse.read_table("ticket_triage", t) for t in ("prepared", "quarantine", "duplicates")}
    assert raw.height == 9 + 4, "9 records on day 1 (the copy and the escaping link are not ingested), 4 on day 2"
    assert sum(f.height for f in placed.values()) == raw.height
    assert placed["prepared"].height == 5 + 3

    quarantine = placed["quarantine"].sort("source_file", "source_line")
    reasons = dict(zip(quarantine["source_line"].to_list(), quarantine["reason"].to_list(), strict=True))
    day1_q = quarantine.filter(pl.col("source_file") == "tickets_2026-01-01.csv")
    assert dict(zip(day1_q["source_line"], day1_q["reason"], strict=True)) == {
        7: "malformed_line",
        8: "bad_timestamp",
        9: "missing_required",
    }
    day2_q = quarantine.filter(pl.col("source_file") == "tickets_2026-01-02.csv")
    assert day2_q["reason"].to_list() == ["invalid_utf8"] and day2_q["source_line"].to_list() == [5]
    assert all(quarantine["payload"].str.len_chars() > 0), reasons
    assert set(quarantine["source"]) == {"tickets"}

    duplicates = placed["duplicates"]
    assert duplicates.height == 1 and duplicates["duplicate_of"].to_list() == ["T01-001"]

    ledger = warehouse.read_table("ticket_triage", "source_files").sort("file")
    assert ledger.filter(pl.col("file") == "tickets_2026-01-01_resent.csv")["duplicate_of"].to_list() == [
        "tickets_2026-01-01.csv"
    ]
    assert "escape_2026-01-01.csv" not in ledger["file"].to_list()

    again = _tick(defs)
    assert not again.run_requests
    assert again.skip_reason is not None and "no new files" in str(again.skip_reason.skip_message)

    (drop / "tickets_2026-01-03.csv").write_text(HEADER + _row(1, "2026-01-03", text=0), encoding="utf-8")
    third = _tick(defs)
    assert [r.partition_key for r in third.run_requests or []] == ["2026-01-03"]
