"""The nightly schedule and the drift sensor: fire, skip with a reason, cooldown."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from factory.defs import build_definitions
from factory.defs.resources import build_resources
from factory.resources.clock import Clock
from factory.resources.warehouse import Warehouse
from factory.spec import UseCaseSpec
from factory_tests.helpers import small_spec


def _report(warehouse: Warehouse, day: str, score: float, **figures: float | int | None) -> None:
    """A drift report of ``day``: the score, and the champion's quality figures given (null otherwise)."""
    performance = ("reference_", "estimated_", "realized_")
    columns = {f"{p}{m}": figures.get(f"{p}{m}") for p in performance for m in ("macro_f1", "accuracy")}
    columns |= {f"{p}{m}_se": figures.get(f"{p}{m}_se") for p in performance[1:] for m in ("macro_f1", "accuracy")}
    row = pl.DataFrame(
        {
            "score": [score],
            "threshold": [0.2],
            "components": ["{}"],
            "top_new_terms": ["[]"],
            "rows": [figures.get("rows", 100)],
            "reference_version": ["ticket_triage/v1"],
            "created_at": [datetime.now(UTC)],
            "drifted": [score >= 0.2],
            "verdicts": ["[]"],
            "top_features": ["[]"],
            "champion_version": ["1"],
            **{k: [v] for k, v in columns.items()},
            "feedback_rows": [figures.get("feedback_rows", 0)],
        },
        schema_overrides=dict.fromkeys(columns, pl.Float64),
    )
    warehouse.replace_partition("ticket_triage", "drift_report", day, row)


def _tick(
    factory_home: Path, cursor: str | None = None, now: datetime | None = None, spec: UseCaseSpec | None = None
) -> tuple[dg.SensorResult, str | None]:
    """One tick of the drift sensor at ``now`` (the clock resource's time; the wall clock when None)."""
    defs = build_definitions([spec or _spec(min_new_labeled_rows=0)])
    sensor = defs.resolve_sensor_def("ticket_triage_drift_sensor")
    resources = {**build_resources(), "clock": Clock(frozen_at=now.isoformat() if now else None)}
    with (
        dg.instance_for_test() as instance,
        dg.build_sensor_context(cursor=cursor, resources=resources, instance=instance) as context,
    ):
        outcome = sensor(context)
        assert isinstance(outcome, dg.SensorResult)
        return outcome, outcome.cursor


def _spec(**retrain: float | int) -> UseCaseSpec:
    """`small_spec` with the given ``retrain:`` settings."""
    spec = small_spec()
    return spec.model_copy(update={"retrain": spec.retrain.model_copy(update=retrain)})


def _requests(outcome: dg.SensorResult) -> list[dg.RunRequest]:
    return list(outcome.run_requests or [])


def _skipped(outcome: dg.SensorResult) -> str:
    assert not outcome.run_requests and outcome.skip_reason is not None
    return outcome.skip_reason.skip_message or ""


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
    assert "no drift report" in _skipped(outcome).lower()


def test_sensor_skips_under_threshold_with_the_numbers(factory_home: Path) -> None:
    _report(build_resources()["warehouse"], "2026-01-05", 0.05)
    outcome, _ = _tick(factory_home)
    assert "0.05" in _skipped(outcome) and "0.2" in _skipped(outcome)


def test_sensor_fires_once_then_cools_down(factory_home: Path) -> None:
    warehouse = build_resources()["warehouse"]
    _report(warehouse, "2026-01-07", 0.41)
    now = datetime(2026, 1, 8, 3, 0, tzinfo=UTC)
    fired, cursor = _tick(factory_home, now=now)
    assert [r.run_key for r in _requests(fired)] == ["drift-2026-01-07"]
    assert "0.41" in _requests(fired)[0].tags["factory/reason"]
    assert cursor and json.loads(cursor)["partition"] == "2026-01-07"
    assert json.loads(cursor)["fired_at"] == now.isoformat(), "the sensor's time is the clock resource's"

    again, _ = _tick(factory_home, cursor, now=now + timedelta(minutes=5))
    assert "already acted on" in _skipped(again), "the same report must not fire twice"

    _report(warehouse, "2026-01-08", 0.5)
    cooling, _ = _tick(factory_home, cursor, now=now + timedelta(hours=23))
    assert "cooldown" in _skipped(cooling).lower()

    assert json.loads(cursor)["episode_started_at"] == now.isoformat(), "the first request starts an episode"
    second, cursor = _tick(factory_home, cursor, now=now + timedelta(hours=24))
    assert [r.run_key for r in _requests(second)] == ["drift-2026-01-08"], "the shift's second day"
    assert cursor and json.loads(cursor)["episode_started_at"] == now.isoformat()

    _report(warehouse, "2026-01-09", 0.5)
    waiting, _ = _tick(factory_home, cursor, now=now + timedelta(hours=48))
    assert "next allowed in 24.0 h" in _skipped(waiting), "the episode's labeled days must double first"
    after, _ = _tick(factory_home, cursor, now=now + timedelta(hours=72))
    assert [r.run_key for r in _requests(after)] == ["drift-2026-01-09"]


def test_the_sensor_records_every_decision(factory_home: Path) -> None:
    """Each tick's decision goes to `retrain_decisions`, filed under the report's day, with its figures; the
    asset observation on the drift report is emitted when the decision changes, not on every tick."""
    warehouse = build_resources()["warehouse"]
    _report(warehouse, "2026-01-07", 0.05)
    now = datetime(2026, 1, 8, 3, 0, tzinfo=UTC)
    calm, cursor = _tick(factory_home, now=now)
    quiet, cursor = _tick(factory_home, cursor, now=now + timedelta(minutes=5))
    _report(warehouse, "2026-01-07", 0.5, rows=1000, reference_macro_f1=0.8, estimated_macro_f1=0.6)
    fired, cursor = _tick(factory_home, cursor, now=now + timedelta(minutes=10))
    assert _requests(fired)[0].tags["factory/expected_benefit"] == "1260.0"
    assert [len(o.asset_events) for o in (calm, quiet, fired)] == [1, 0, 1]
    observed = fired.asset_events[0]
    assert isinstance(observed, dg.AssetObservation) and observed.partition == "2026-01-07"
    assert observed.metadata["retrain_decision"].value == "fire"

    decisions = warehouse.read_partition("ticket_triage", "retrain_decisions", "2026-01-07").sort("decided_at")
    assert decisions["fire"].to_list() == [False, False, True]
    assert decisions["decided_at"].to_list() == [now + timedelta(minutes=m) for m in (0, 5, 10)]
    last = decisions.row(2, named=True)
    assert last["reason"].startswith("benefit 1260.0 > cost 60.0: macro_f1 drop 0.200 (estimated 0.600")
    assert "60.0 CPU-s (assumed: none measured yet)" in last["reason"]
    assert last["expected_benefit"] == pytest.approx(1260.0)
    assert (last["retrain_cost"], last["run_key"]) == (60.0, "drift-2026-01-07")
    assert last["new_labeled_rows"] == 0 and last["score"] == 0.5


def test_no_new_labels_hold_a_retrain(factory_home: Path) -> None:
    _report(build_resources()["warehouse"], "2026-01-07", 0.5)
    outcome, _ = _tick(factory_home, now=datetime(2026, 1, 8, 3, 0, tzinfo=UTC), spec=_spec())
    assert _skipped(outcome).startswith("only 0 new labeled rows since the published dataset (minimum 200)")


def test_a_costly_retrain_is_skipped_by_the_sensor_with_its_reason(factory_home: Path) -> None:
    spec = _spec(retrain_cost=5000.0, min_new_labeled_rows=0)
    warehouse = build_resources()["warehouse"]
    _report(warehouse, "2026-01-07", 0.1, rows=1000, reference_macro_f1=0.8, estimated_macro_f1=0.6)
    outcome, _ = _tick(factory_home, now=datetime(2026, 1, 8, 3, 0, tzinfo=UTC), spec=spec)
    assert _skipped(outcome).startswith("benefit 1260.0 <= cost 5000.0: ")
    assert "retrain cost 5000 (retrain.retrain_cost)" in _skipped(outcome)


def test_the_sensor_widens_the_margin_by_the_reports_standard_error(factory_home: Path) -> None:
    """The same estimated drop pays on a precise report and is noise on one whose estimate carries 0.04 of
    sampling error (the margin becomes two standard errors: 0.08)."""
    spec = _spec(retrain_cost=100.0, min_new_labeled_rows=0)
    warehouse = build_resources()["warehouse"]
    figures = {"rows": 1000, "reference_macro_f1": 0.8, "estimated_macro_f1": 0.74}
    _report(warehouse, "2026-01-07", 0.1, **figures, estimated_macro_f1_se=0.005)
    outcome, _ = _tick(factory_home, now=datetime(2026, 1, 8, 3, 0, tzinfo=UTC), spec=spec)
    assert _requests(outcome), "(0.06 - 0.02) x 1000 x 7 = 280 > 100"
    _report(warehouse, "2026-01-08", 0.1, **figures, estimated_macro_f1_se=0.04)
    outcome, _ = _tick(factory_home, now=datetime(2026, 1, 9, 3, 0, tzinfo=UTC), spec=spec)
    assert _skipped(outcome).startswith("benefit 0.0 <= cost 100.0: ")
    assert "beyond the noise margin 0.080" in _skipped(outcome)


def test_the_sensor_reads_the_realized_figures_standard_error_from_the_report(factory_home: Path) -> None:
    """A realized drop of 0.12 on 300 corrected rows pays (0.12 - 0.02) x 1000 x 7 when its report's error is 0.01
    (the binomial error of 300 rows, 0.027, would have priced it at 462) and is noise when it is 0.07 (the margin
    becomes 0.14)."""
    spec = _spec(retrain_cost=100.0, min_new_labeled_rows=0)
    warehouse = build_resources()["warehouse"]
    figures = {"rows": 1000, "reference_macro_f1": 0.8, "estimated_macro_f1": 0.8, "realized_macro_f1": 0.68}
    _report(warehouse, "2026-01-07", 0.1, **figures, feedback_rows=300, realized_macro_f1_se=0.01)
    outcome, _ = _tick(factory_home, now=datetime(2026, 1, 8, 3, 0, tzinfo=UTC), spec=spec)
    assert _requests(outcome)[0].tags["factory/expected_benefit"] == "700.0", "(0.12 - 0.02) x 1000 x 7"
    _report(warehouse, "2026-01-08", 0.1, **figures, feedback_rows=300, realized_macro_f1_se=0.07)
    outcome, _ = _tick(factory_home, now=datetime(2026, 1, 9, 3, 0, tzinfo=UTC), spec=spec)
    assert _skipped(outcome).startswith("benefit 0.0 <= cost 100.0: ")
    assert "beyond the noise margin 0.140" in _skipped(outcome)


def test_the_nightly_cron_is_overridden_only_by_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from factory.defs.automation import NIGHTLY_CRON, NIGHTLY_CRON_ENV

    monkeypatch.delenv(NIGHTLY_CRON_ENV, raising=False)
    schedule = build_definitions([small_spec()]).resolve_schedule_def("ticket_triage_nightly")
    assert schedule.cron_schedule == NIGHTLY_CRON == "0 2 * * *"
    assert schedule.description == "Every night at 02:00 UTC, run the daily layers for the day that just ended."

    monkeypatch.setenv(NIGHTLY_CRON_ENV, "* * * * *")
    schedule = build_definitions([small_spec()]).resolve_schedule_def("ticket_triage_nightly")
    assert schedule.cron_schedule == "* * * * *"
    assert schedule.description is not None and NIGHTLY_CRON_ENV in schedule.description

    monkeypatch.setenv(NIGHTLY_CRON_ENV, "at two")
    with pytest.raises(ValueError, match=f"{NIGHTLY_CRON_ENV}='at two' is not a cron schedule"):
        build_definitions([small_spec()])
