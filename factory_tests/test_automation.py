"""The nightly schedule and the drift sensor: fire, skip with a reason, cooldown."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl

from factory.defs import build_definitions
from factory.defs.resources import build_resources
from factory.resources.warehouse import Warehouse
from factory_tests.helpers import small_spec


def _report(warehouse: Warehouse, day: str, score: float) -> None:
    row = pl.DataFrame(
        {
            "score": [score],
            "threshold": [0.2],
            "components": ["{}"],
            "top_new_terms": ["[]"],
            "rows": [100],
            "reference_version": ["ticket_triage/v1"],
            "created_at": [datetime.now(UTC)],
            "drifted": [score >= 0.2],
            "verdicts": ["[]"],
            "top_features": ["[]"],
            "champion_version": ["1"],
            **{
                f"{kind}_{metric}": [None]
                for kind in ("reference", "estimated", "realized")
                for metric in ("macro_f1", "accuracy")
            },
            "feedback_rows": [0],
        },
        schema_overrides={
            f"{kind}_{metric}": pl.Float64
            for kind in ("reference", "estimated", "realized")
            for metric in ("macro_f1", "accuracy")
        },
    )
    warehouse.replace_partition("ticket_triage", "drift_report", day, row)


def _tick(factory_home: Path, cursor: str | None = None) -> tuple[dg.RunRequest | dg.SkipReason, str | None]:
    defs = build_definitions([small_spec()])
    sensor = defs.resolve_sensor_def("ticket_triage_drift_sensor")
    with dg.build_sensor_context(cursor=cursor, resources=build_resources()) as context:
        outcome = sensor(context)
        assert isinstance(outcome, dg.RunRequest | dg.SkipReason)
        return outcome, context.cursor


def test_nightly_schedule_requests_the_day_that_ended() -> None:
    defs = build_definitions([small_spec()])
    schedule = defs.resolve_schedule_def("ticket_triage_nightly")
    when = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
    with dg.build_schedule_context(scheduled_execution_time=when, repository_def=defs.get_repository_def()) as context:
        requests = list(schedule.evaluate_tick(context).run_requests or [])
    assert [r.run_key for r in requests] == ["nightly-2026-03-09"]
    assert [r.partition_key for r in requests] == ["2026-03-09"]


def test_sensor_skips_without_any_report(factory_home: Path) -> None:
    outcome, _ = _tick(factory_home)
    assert isinstance(outcome, dg.SkipReason)
    assert "no drift report" in (outcome.skip_message or "").lower()


def test_sensor_skips_under_threshold_with_the_numbers(factory_home: Path) -> None:
    _report(build_resources()["warehouse"], "2026-01-05", 0.05)
    outcome, _ = _tick(factory_home)
    assert isinstance(outcome, dg.SkipReason)
    assert "0.05" in (outcome.skip_message or "") and "0.2" in (outcome.skip_message or "")


def test_sensor_fires_once_then_cools_down(factory_home: Path) -> None:
    warehouse = build_resources()["warehouse"]
    _report(warehouse, "2026-01-07", 0.41)
    fired, cursor = _tick(factory_home)
    assert isinstance(fired, dg.RunRequest)
    assert fired.run_key == "drift-2026-01-07"
    assert "0.41" in fired.tags["factory/reason"]
    assert cursor and json.loads(cursor)["partition"] == "2026-01-07"

    again, _ = _tick(factory_home, cursor)
    assert isinstance(again, dg.SkipReason), "the same report must not fire twice"

    _report(warehouse, "2026-01-08", 0.5)
    cooling, _ = _tick(factory_home, cursor)
    assert isinstance(cooling, dg.SkipReason)
    assert "cooldown" in (cooling.skip_message or "").lower()

    long_ago = json.dumps(
        {"fired_at": (datetime.now(UTC) - timedelta(hours=25)).isoformat(), "partition": "2026-01-07"}
    )
    after, _ = _tick(factory_home, long_ago)
    assert isinstance(after, dg.RunRequest)
    assert after.run_key == "drift-2026-01-08"
