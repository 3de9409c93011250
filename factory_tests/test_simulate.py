"""`factory simulate` on a short month: the real schedule and sensors in simulated time, a drift detected within
the delay, every decision recorded, and the user's environment left alone."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from factory.cli import main
from factory.resources.warehouse import Warehouse
from factory.simulate import simulate, simulation_spec
from factory_tests.helpers import small_spec


def test_a_drift_fires_within_the_delay(factory_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Six days of 300 rows, the bootstrap retrain after day 2, the drift from day 4: the drift sensor asks for a
    retrain within two days of the onset and never before it."""
    before = {name: os.environ.get(name) for name in ("FACTORY_HOME", "DAGSTER_HOME", "FACTORY_DATA")}
    home = tmp_path / "sim"
    lines: list[str] = []
    summary = simulate(
        "ticket_triage",
        days=6,
        drift_day=4,
        bootstrap_days=2,
        rows_per_day=300,
        home=home,
        echo=lines.append,
        specs=[small_spec()],
    )
    assert {name: os.environ.get(name) for name in before} == before, "the environment is restored"
    assert summary["false_fires"] == 0
    assert summary["detection_delay_days"] is not None and 0 <= summary["detection_delay_days"] <= 2
    assert summary["retrains"] >= 1 and summary["rows_per_day"] == 300
    assert summary["oracle_retrains"] == 4, "the oracle refits every day that has a champion (days 3 to 6)"
    assert 0 < summary["mean_macro_f1"] <= 1 and 0 < summary["oracle_macro_f1"] <= 1
    assert any("rows per day reduced from 600 to 300" in line for line in lines)
    assert any("bootstrap: first retrain after 2 days (not a policy fire)" in line for line in lines)
    assert any(" fire: " in line for line in lines)

    warehouse = Warehouse(database=str(home / "warehouse.duckdb"))
    decisions = warehouse.read_table("ticket_triage", "retrain_decisions").sort("decided_at")
    assert decisions["partition_key"].to_list() == [f"2026-01-0{d}" for d in range(3, 7)], "one decision a night"
    assert decisions["decided_at"][0].isoformat() == "2026-01-04T03:00:00+00:00", "decided at the simulated time"
    fired = decisions.filter(pl.col("fire"))
    assert fired.height == summary["retrains"] and fired["run_key"].str.starts_with("drift-").all()

    with dg.DagsterInstance.from_ref(dg.InstanceRef.from_dir(str(home / "dagster"))) as instance:
        nightly = instance.get_run_records(dg.RunsFilter(tags={"dagster/run_key": "nightly-2026-01-01"}))
        assert len(nightly) == 1, "the nightly run was requested by the schedule"
        observed = instance.fetch_observations(dg.AssetKey(["ticket_triage", "drift_report"]), limit=10).records
        assert observed, "the decisions are observed on the drift report"


def test_simulate_refuses_impossible_days(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["simulate", "ticket_triage", "--days", "10", "--drift-day", "12"]) == 2
    assert "drift day (12) <= days (10)" in capsys.readouterr().err


def test_the_simulation_spec_says_what_it_changed() -> None:
    spec, notes = simulation_spec(small_spec(), drift_day=15, seed=3, rows_per_day=None)
    demo = spec.demo_source
    assert demo is not None
    assert (str(demo.drift_start), demo.seed, demo.rows_per_day) == ("2026-01-15", 3, 500)
    assert notes == [
        "demo source tickets: drift from 2026-01-15 (day 15), seed 3",
        "rows per day reduced from 600 to 500 (--rows-per-day) to fit the time budget",
    ]
    assert json.dumps(notes)
