"""The factory health view and the data inventory on a real daily run (demo source, real DuckDB, a real Dagster
instance): a blocking gate that fails turns the health red naming it, the health runs last in the daily run, the
inventory's figures match the warehouse, and ``factory health NAME`` prints the stored table with its exit code."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from factory.cli import main
from factory.core.health import Kpi
from factory.defs import UseCase, build_definitions
from factory.defs.health import health_frame
from factory.defs.resources import build_resources
from factory.resources.warehouse import Warehouse
from factory.spec import UseCaseSpec
from factory_tests.helpers import asset_name, factory_env, small_spec


@dataclass
class GateDay:
    """The daily job's run of one demo day whose label gate cannot pass (agreement floor 0.99)."""

    home: Path
    spec: UseCaseSpec
    uc: UseCase
    instance: dg.DagsterInstance
    warehouse: Warehouse
    result: dg.ExecuteInProcessResult
    day: str

    def metadata(self, asset: str) -> dict[str, object]:
        event = next(e for e in self.result.get_asset_materialization_events() if asset_name(e) == asset)
        assert event.materialization is not None
        return {k: v.value for k, v in event.materialization.metadata.items()}


@pytest.fixture(scope="module")
def gate_day(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GateDay]:
    home = tmp_path_factory.mktemp("health")
    with factory_env(home):
        base = small_spec(rows_per_day=150)
        spec = base.model_copy(update={"labeling": base.labeling.model_copy(update={"agreement_floor": 0.99})})
        uc = UseCase(spec)
        day = spec.start_date.isoformat()
        with dg.instance_for_test() as instance:
            daily = build_definitions([spec]).resolve_job_def(uc.daily_job)
            result = daily.execute_in_process(partition_key=day, instance=instance, raise_on_error=False)
            yield GateDay(home, spec, uc, instance, build_resources()["warehouse"], result, day)


def test_the_health_asset_turns_red_when_a_gate_fails(gate_day: GateDay) -> None:
    assert not gate_day.result.success  # the label gate stopped the run ...
    metadata = gate_day.metadata("factory_health")  # ... and the health view still ran
    assert metadata["overall"] == "red"
    assert "labeling red" in str(metadata["layers"])
    assert metadata["labeling_failed_gates"] == 1.0
    assert "labels/agreement_above_floor (2026-01-01)" in str(metadata["health"])
    stored = gate_day.warehouse.read_partition(gate_day.uc.name, "factory_health", gate_day.day)
    gate = stored.filter((pl.col("layer") == "labeling") & (pl.col("kpi") == "blocking_gates")).row(0, named=True)
    assert gate["verdict"] == "red"
    assert gate["shown"] == "1 failed: labels/agreement_above_floor (2026-01-01)"
    assert "0.99" in gate["note"]  # the gate's own summary says why
    others = stored.filter((pl.col("kpi") == "blocking_gates") & (pl.col("layer") != "labeling"))
    assert set(others["verdict"]) <= {"green", "info"}
    assert {"quarantine_rate", "duplicate_rate", "annotations", "agreement"} <= set(metadata)  # plotted per day


def test_health_and_inventory_run_after_every_other_step(gate_day: GateDay) -> None:
    started = [e.step_key for e in gate_day.result.all_events if e.event_type_value == "STEP_START"]
    last_two = {key.rsplit("__", 1)[-1] for key in started[-2:] if key}
    assert last_two == {"factory_health", "data_inventory"}, started


def test_the_chart_is_written_and_embedded(gate_day: GateDay) -> None:
    metadata = gate_day.metadata("factory_health")
    chart = Path(str(metadata["chart_file"]))
    assert chart.is_relative_to(gate_day.home) and chart.read_bytes().startswith(b"\x89PNG")
    embedded = str(metadata["trends"])
    assert embedded.startswith("![KPI trends over 30 days](data:image/png;base64,")
    assert base64.b64decode(embedded.split(",", 1)[1].rstrip(")")) == chart.read_bytes()


def test_inventory_figures_match_the_warehouse(gate_day: GateDay) -> None:
    name, day, warehouse = gate_day.uc.name, gate_day.day, gate_day.warehouse
    row = warehouse.read_partition(name, "data_inventory", day).row(0, named=True)
    counts = {t: warehouse.read_partition(name, t, day).height for t in ("raw", "prepared", "quarantine", "duplicates")}
    labels = warehouse.read_partition(name, "labels", day).height
    assert (row["source"], row["rows"], row["days"], row["newest_day"]) == ("tickets", counts["raw"], 1, day)
    assert (row["prepared"], row["quarantined"], row["duplicates"]) == (
        counts["prepared"],
        counts["quarantine"],
        counts["duplicates"],
    )
    assert row["conformance"] == pytest.approx(1 - counts["quarantine"] / counts["raw"])
    assert row["label_coverage"] == pytest.approx(labels / counts["prepared"])
    prepared = warehouse.read_partition(name, "prepared", day)
    with_pii = prepared.filter(pl.col("body").str.contains("<(EMAIL|PHONE|CARD|IBAN|SSN|IPV4|IPV6|URL_SECRET)>")).height
    assert row["pii_rows"] > 0 and row["pii_rows"] >= with_pii
    assert row["ingested_at"] is not None
    assert row["readiness"] == "ready" and row["priority"] == 1
    inventory = gate_day.metadata("data_inventory")
    assert "| 1 | tickets | ready |" in str(inventory["inventory"])


def test_factory_health_prints_the_stored_table_and_exits_1_when_red(
    gate_day: GateDay, capsys: pytest.CaptureFixture[str]
) -> None:
    with factory_env(gate_day.home):
        assert main(["health", gate_day.uc.name]) == 1
        lines = capsys.readouterr().out.splitlines()
        assert lines[0] == "ticket_triage health on 2026-01-01: RED"
        assert lines[1].startswith("layers: preparation ")
        assert "labeling red" in lines[1]
        assert lines[2] == "needs attention:"
        assert any(line.startswith("  red    labeling / blocking_gates = 1 failed: labels/agreement") for line in lines)
        assert main(["health", gate_day.uc.name, "--day", "2025-06-01"]) == 2
        assert "no health stored for ticket_triage on 2025-06-01" in capsys.readouterr().err


def test_factory_health_escapes_what_it_prints_and_exits_0_when_not_red(
    factory_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build_definitions([small_spec()])  # declares the use case's tables in this process
    warehouse = build_resources()["warehouse"]
    kpis = [
        Kpi("preparation", "rows_in", 10.0, "10", (9.0, 10.0)),
        Kpi("model", "promotion", None, "kept\x1b[31m", note="reason \x1b]0;title\x07", forced="yellow"),
    ]
    warehouse.replace_partition("ticket_triage", "factory_health", "2026-01-05", health_frame(kpis))
    assert main(["health", "ticket_triage"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b[31m" in out and "\\x07" in out
    assert out.splitlines()[0] == "ticket_triage health on 2026-01-05: YELLOW"
    assert main(["health", "claims_review"]) == 2
    assert "no health stored for claims_review yet" in capsys.readouterr().err


def test_a_rerun_whose_gate_passes_clears_the_red(gate_day: GateDay) -> None:
    """Last in the module: it changes the day's state. The day's labels re-run with the shipped floor pass their
    gate, and the health re-run after them no longer names it."""
    with factory_env(gate_day.home):
        spec = small_spec(rows_per_day=150)
        uc = UseCase(spec)
        defs = build_definitions([spec])
        chosen = [defs.resolve_assets_def(uc.key(name)) for name in ("labels", "factory_health")]
        result = dg.materialize(chosen, partition_key=gate_day.day, instance=gate_day.instance)
        assert result.success
        stored = gate_day.warehouse.read_partition(uc.name, "factory_health", gate_day.day)
        gate = stored.filter((pl.col("layer") == "labeling") & (pl.col("kpi") == "blocking_gates")).row(0, named=True)
        assert (gate["verdict"], gate["shown"]) == ("green", "1 of 1 evaluated, all passed")
        assert "red" not in set(stored["verdict"])
