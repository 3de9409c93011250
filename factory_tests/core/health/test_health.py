"""Health verdicts: bounds give green / yellow / red, the worst KPI makes its layer's verdict and the worst layer
the overall one, a failed blocking gate forces its layer red, trends are drawn over the window; the inventory's
readiness verdicts."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest
from pydantic import ValidationError

from factory.core.health import (
    Bounds,
    ChampionState,
    DatasetState,
    GateFailure,
    HealthInputs,
    Kpi,
    ReadinessRules,
    health_bounds,
    health_kpis,
    inventory,
    layer_verdicts,
    overall,
    sparkline,
    trend_text,
    window,
    worst,
)
from factory.paths import package_path
from factory.spec import HealthSpec, UseCaseSpec, load_spec


def _shipped() -> UseCaseSpec:
    """The shipped ticket_triage spec (read directly: these tests need no Dagster)."""
    return load_spec(package_path("usecases", "ticket_triage.yaml"))


def test_a_rate_turns_yellow_then_red_at_its_bounds() -> None:
    rate = Bounds(yellow=0.05, red=0.2)
    assert [rate.judge(v) for v in (0.0, 0.049, 0.05, 0.19, 0.2, 0.9)] == [
        "green",
        "green",
        "yellow",
        "yellow",
        "red",
        "red",
    ]
    assert rate.judge(None) == "n/a"
    assert rate.judge(float("nan")) == "n/a"
    assert rate.describe() == "yellow ≥ 0.05, red ≥ 0.2"


def test_a_level_turns_yellow_then_red_under_its_bounds() -> None:
    agreement = Bounds(yellow=0.7, red=0.6, lower_is_worse=True)
    assert [agreement.judge(v) for v in (0.9, 0.7, 0.69, 0.6, 0.59)] == ["green", "green", "yellow", "yellow", "red"]
    assert Bounds(yellow=1, lower_is_worse=True).judge(0) == "yellow"  # a level with a yellow bound only
    assert Bounds().judge(5) == "info"  # no bounds: information, never a verdict
    assert Bounds().describe() == "-"


def test_the_worst_kpi_makes_the_layer_and_the_worst_layer_the_overall_verdict() -> None:
    kpis = [
        Kpi("preparation", "quarantine_rate", 0.01, "1%", bounds=Bounds(0.05, 0.2)),
        Kpi("preparation", "duplicate_rate", 0.3, "30%", bounds=Bounds(0.2, 0.5)),
        Kpi("labeling", "annotations", 10, "10", bounds=Bounds(1, None, lower_is_worse=True)),
        Kpi("monitoring", "drift_score", None, "n/a", bounds=Bounds(0.2, 0.4)),
        Kpi("model", "promotion", None, "promoted"),
    ]
    assert layer_verdicts(kpis) == {
        "preparation": "yellow",
        "labeling": "green",
        "model": "info",
        "monitoring": "n/a",
    }
    assert overall(kpis) == "yellow"
    assert worst(["green", "red", "yellow"]) == "red"
    assert worst([]) == "n/a"
    red = Kpi("monitoring", "realized_drop", 0.06, "0.060", bounds=Bounds(0.02, 0.05))
    assert overall([*kpis, red]) == "red"


def test_trend_is_a_sparkline_over_the_window_from_its_first_value() -> None:
    assert window("2026-03-02", 3) == ["2026-02-28", "2026-03-01", "2026-03-02"]
    assert sparkline([0.0, 1.0, None, 0.5]) == "▁█·▅"
    assert sparkline([2.0, 2.0]) == "▁▁"
    assert trend_text([None, None, 0.01, None, 0.04]) == "▁·█ 0.01→0.04"
    assert trend_text([None, 3.0]) == "▁ 3"
    assert trend_text([None, None]) == "-"


def _inputs(failures: list[GateFailure], days: list[str]) -> HealthInputs:
    day = days[-1]
    sources = pl.DataFrame(
        {
            "source": ["a", "b", "a"],
            "partition_key": [days[-2], day, day],
            "raw": [100, 50, 50],
            "prepared": [90, 45, 40],
            "quarantined": [2, 5, 5],
            "duplicates": [8, 0, 5],
            "pii_rows": [9, 0, 4],
        }
    )
    drift = pl.DataFrame(
        {
            "partition_key": [day, day],
            "score": [0.9, 0.1],  # the day's later report counts
            "created_at": [datetime(2026, 3, 2, 1, tzinfo=UTC), datetime(2026, 3, 2, 2, tzinfo=UTC)],
            "reference_macro_f1": [0.8, 0.8],
            "estimated_macro_f1": [None, None],
            "realized_macro_f1": [0.7, 0.7],
            "feedback_rows": [0, 40],
        },
        schema_overrides={"estimated_macro_f1": pl.Float64},
    )
    return HealthInputs(
        days=days,
        sources=sources,
        annotations=pl.DataFrame({"partition_key": [day], "n": [300]}),
        label_quality=pl.DataFrame({"partition_key": [day], "krippendorff_alpha_trusted": [0.75]}),
        annotators=pl.DataFrame({"partition_key": [day], "spammers": [1]}),
        drift=drift,
        decisions=pl.DataFrame(
            {
                "partition_key": [days[-2], day],
                "decided_at": [datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, tzinfo=UTC)],
                "fire": [True, False],
                "reason": ["benefit 9.0 over cost 2.0", "cooldown: 20 h left"],
            }
        ),
        history=pl.DataFrame(
            {"layer": ["dataset"], "kpi": ["dataset_rows"], "value": [400.0], "partition_key": [days[-2]]}
        ),
        dataset=DatasetState("ticket_triage/v2", 500),
        champion=ChampionState("3", "macro_f1", 0.81, "promoted", "better on every slice"),
        retrains=[],
        failures=failures,
        gates={"preparation": (3, 3), "labeling": (1, 1), "dataset": (0, 2), "model": (1, 1)},
    )


def test_kpis_per_layer_from_the_daily_figures() -> None:
    days = window("2026-03-02", 30)
    kpis = {(k.layer, k.name): k for k in health_kpis(_inputs([], days), health_bounds(_shipped()))}
    quarantine = kpis[("preparation", "quarantine_rate")]
    assert quarantine.value == pytest.approx(10 / 100)  # both sources of the day
    assert quarantine.trend[-2:] == pytest.approx((0.02, 0.1))
    assert quarantine.verdict == "yellow"
    assert kpis[("preparation", "pii_row_share")].value == pytest.approx(4 / 85)
    assert kpis[("labeling", "agreement")].verdict == "green"  # 0.75 >= floor 0.6 + 0.1
    assert kpis[("monitoring", "drift_score")].value == pytest.approx(0.1)
    assert kpis[("monitoring", "estimated_drop")].verdict == "n/a"  # no estimate yet: shown n/a, judged nothing
    assert kpis[("monitoring", "estimated_drop")].shown == "n/a"
    assert kpis[("monitoring", "realized_drop")].value == pytest.approx(0.1)
    assert kpis[("monitoring", "realized_drop")].verdict == "red"
    assert kpis[("monitoring", "realized_drop")].note.endswith("(40 corrected predictions today)")
    assert kpis[("dataset", "dataset_rows")].trend[-2:] == (400.0, 500.0)  # earlier days from the stored rows
    assert kpis[("dataset", "dataset_version")].value == 2
    assert kpis[("model", "champion_metric")].shown == "0.810 (test macro_f1, v3)"
    assert (kpis[("labeling", "blocking_gates")].verdict, kpis[("labeling", "blocking_gates")].shown) == (
        "green",
        "1 of 1 evaluated, all passed",
    )
    assert (kpis[("dataset", "blocking_gates")].verdict, kpis[("dataset", "blocking_gates")].shown) == (
        "info",
        "none of 2 evaluated yet",
    )
    assert kpis[("monitoring", "blocking_gates")].verdict == "info"  # the drift gate only warns
    retrains = kpis[("monitoring", "retrains")]
    assert retrains.shown == "0 in 30 days; 1 of 2 retrain decisions fired"
    assert retrains.note == "latest decision (2026-03-02) skip: cooldown: 20 h left"
    assert retrains.trend[-3:] == (None, 0.0, 0.0)  # counted from the first day with data


def test_a_failed_blocking_gate_turns_its_layer_red_and_names_it() -> None:
    days = window("2026-03-02", 30)
    failure = GateFailure("labeling", "labels", "agreement_above_floor", "2026-03-01", "alpha 0.41 < floor 0.6")
    kpis = health_kpis(_inputs([failure], days), health_bounds(_shipped()))
    gate = next(k for k in kpis if (k.layer, k.name) == ("labeling", "blocking_gates"))
    assert gate.verdict == "red"
    assert "labels/agreement_above_floor (2026-03-01)" in gate.shown
    assert "alpha 0.41 < floor 0.6" in gate.note
    assert layer_verdicts(kpis)["labeling"] == "red"
    assert overall(kpis) == "red"


def test_health_spec_bounds_default_from_the_gates_and_refuse_a_wrong_order() -> None:
    bounds = health_bounds(_shipped())
    assert (bounds["champion_metric"].red, bounds["champion_metric"].lower_is_worse) == (0.6, True)
    assert (bounds["drift_score"].yellow, bounds["drift_score"].red) == (0.2, 0.4)
    with pytest.raises(ValidationError, match=r"quarantine_rate: yellow 0\.5 must be at or below red 0\.1"):
        HealthSpec.model_validate({"quarantine_rate": {"yellow": 0.5, "red": 0.1}})
    with pytest.raises(ValidationError, match=r"agreement: yellow 0\.5 must be at or above red 0\.7"):
        HealthSpec.model_validate({"agreement": {"yellow": 0.5, "red": 0.7}})


def test_inventory_says_which_source_to_label_first() -> None:
    counts = pl.DataFrame(
        {
            "source": ["clean", "clean", "dirty", "done"],
            "partition_key": ["2026-03-01", "2026-03-02", "2026-03-02", "2026-03-02"],
            "raw": [100, 100, 100, 50],
            "prepared": [95, 95, 60, 50],
            "quarantined": [5, 5, 30, 0],
            "duplicates": [0, 0, 10, 0],
            "pii_rows": [10, 0, 0, 0],
            "labeled": [20, 0, 0, 40],
        }
    )
    reasons = pl.DataFrame(
        {
            "source": ["clean", "dirty", "dirty"],
            "reason": ["bad_timestamp", "missing_required", "bad_type"],
            "n": [10, 20, 10],
        }
    )
    ingested = {"clean": datetime(2026, 3, 2, tzinfo=UTC), "dirty": None, "done": None, "silent": None}
    rules = ReadinessRules(max_quarantine_rate=0.2, max_duplicate_share=0.5, ready_coverage=0.5)
    table = {r["source"]: r for r in inventory(counts, reasons, ingested, rules).iter_rows(named=True)}
    clean = table["clean"]
    assert (clean["rows"], clean["days"], clean["newest_day"], clean["prepared"]) == (200, 2, "2026-03-02", 190)
    assert clean["conformance"] == pytest.approx(0.95)
    assert clean["label_coverage"] == pytest.approx(20 / 190)
    assert clean["pii_share"] == pytest.approx(10 / 190)
    assert clean["ingested_at"] == datetime(2026, 3, 2, tzinfo=UTC)
    assert (clean["readiness"], clean["priority"]) == ("label first", 1)
    assert clean["why"] == "170 clean rows unlabeled (10.5% labeled)"
    assert table["dirty"]["readiness"] == "fix quality first"
    assert table["dirty"]["quarantine_reasons"] == "missing_required: 20, bad_type: 10"
    assert table["dirty"]["duplicate_share"] == pytest.approx(0.1)
    assert (table["done"]["readiness"], table["done"]["priority"]) == ("ready", 3)
    assert (table["silent"]["readiness"], table["silent"]["rows"], table["silent"]["priority"]) == ("no data", 0, 4)
