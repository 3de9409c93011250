"""Every layer materialized in-process for three demo days into a temporary FACTORY_HOME.

Days 1-2 run the daily job, then the retrain job publishes v1 and crowns a champion; day 3 (when the demo
drift starts) runs the daily job with predictions, feedback and a drift report; the drift sensor is then
evaluated once. The assertions read the real stores: the version store, MLflow and the DuckDB warehouse.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest
import yaml
from dagster._core.remote_origin import InProcessCodeLocationOrigin
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import InProcessWorkspaceLoadTarget
from dagster_graphql.test.utils import execute_dagster_graphql

from factory.core.dataset import frame_digest
from factory.defs import build_definitions
from factory.defs.resources import build_resources
from factory.headless import LayerLog, run_demo
from factory.resources.ddl import duckdb_type, existing_columns
from factory.resources.launcher import CODE_LOCATION, DEFINITIONS_MODULE
from factory.resources.redteam import SUMMARY_TAG, stored_result, stored_suite
from factory.resources.tables import TableName, tables_for
from factory.resources.tracking import Tracking
from factory.resources.versioning import LocalVersionStore
from factory.resources.warehouse import Warehouse
from factory.spec import parse_spec
from factory_tests.helpers import asset_name, small_spec, text_label_spec


@dataclass
class Factory:
    home: Path
    log: LayerLog
    lines: list[str]
    instance: dg.DagsterInstance
    store: LocalVersionStore
    tracking: Tracking
    warehouse: Warehouse


@pytest.fixture(scope="module")
def factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Factory]:
    home = tmp_path_factory.mktemp("factory_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACTORY_HOME", str(home))
        patch.delenv("DAGSTER_HOME", raising=False)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        with dg.instance_for_test() as instance:
            lines: list[str] = []
            logs = run_demo(days=3, train_days=2, echo=lines.append, specs=[small_spec()], instance=instance)
            resources = build_resources()
            yield Factory(
                home=home,
                log=logs["ticket_triage"],
                lines=lines,
                instance=instance,
                store=LocalVersionStore(home / "versions", "factory"),
                tracking=resources["tracking"],
                warehouse=resources["warehouse"],
            )


def test_every_layer_materialized(factory: Factory) -> None:
    daily = ("raw_tickets", "prepared", "quarantine", "duplicates", "annotations", "annotator_report", "labels")
    for asset in (*daily, "review_queue"):
        assert len(factory.log.materializations[asset]) >= 3, asset
    for asset in (
        "dataset_candidate",
        "dataset",
        "model",
        "champion",
        "predictions",
        "feedback",
        "drift_report",
        "factory_health",
        "data_inventory",
    ):
        assert factory.log.materializations.get(asset), asset
    # Warnings may fire (the annotator report flags the demo's spammer; day 3 drifts); blocking gates may not.
    warnings = {"annotator_report", "drift_report"}
    failed = [(a, n) for a, checks in factory.log.checks.items() for n, ok in checks if not ok and a not in warnings]
    assert failed == []


def test_rows_reconcile_in_the_warehouse(factory: Factory) -> None:
    raw = factory.warehouse.read_table("ticket_triage", "raw")
    placed = sum(
        factory.warehouse.read_table("ticket_triage", t).height for t in ("prepared", "quarantine", "duplicates")
    )
    assert raw.height == placed
    assert factory.warehouse.read_table("ticket_triage", "quarantine").height > 0
    assert factory.warehouse.read_table("ticket_triage", "duplicates").height > 0


def test_published_commit_exists_with_lineage(factory: Factory) -> None:
    tags = factory.store.list_tags(prefix="ticket_triage/v")
    assert "ticket_triage/v1" in tags
    commit = factory.store.get_commit("ticket_triage/v1")
    assert factory.store.resolve("main") == tags[max(tags)]
    frame = factory.store.read_table("ticket_triage/v1", "ticket_triage/dataset")
    assert frame.height == int(commit.metadata["rows"]) > 300
    assert frame_digest(frame, ["ticket_id"]) == commit.metadata["digest"]
    assert commit.metadata["dagster_run_id"]
    assert commit.metadata["partitions"] == "2026-01-01,2026-01-02"
    card = factory.store.read_object("ticket_triage/v1", "ticket_triage/datacard.md").decode()
    assert "## Class mix" in card and commit.metadata["digest"] in card
    assert factory.store.list_branches(prefix="ticket_triage/stage/") == []
    first, body = factory.log.materializations["dataset"][0], card.partition("\n")[2]
    assert first["version"] == "ticket_triage/v1"
    assert first["data_card"] == "# Data card: ticket_triage/v1\n" + body, "titled by its version, else as committed"


def test_no_group_crosses_splits(factory: Factory) -> None:
    frame = factory.store.read_table("main", "ticket_triage/dataset")
    per_group = frame.group_by("customer_id").agg(pl.col("split").n_unique().alias("splits"))
    assert per_group["splits"].max() == 1
    assert set(frame["split"].unique()) == {"train", "validation", "test"}


def test_model_version_carries_dataset_lineage(factory: Factory) -> None:
    champion = factory.tracking.champion("ticket_triage")
    assert champion is not None
    published = factory.store.get_commit(champion.tags["dataset.commit"])
    assert champion.tags["dataset.digest"] == published.metadata["digest"]
    assert champion.tags["code.version"] and champion.tags["dagster.run_id"]
    assert champion.tags["model.candidate"] in small_spec().models.candidates
    assert champion.tags["model.candidate"] != "majority"
    assert champion.metrics["test_macro_f1"] > small_spec().gates.quality_floor


def test_the_model_version_carries_its_card_selection_table_and_slice_figures(factory: Factory) -> None:
    """The card is the model version's description (not only a run artifact); ``selection.json`` has a row per
    rung of the ladder; the run has test intervals, calibration, per-class and per-slice metrics."""
    spec = small_spec()
    champion = factory.tracking.champion("ticket_triage")
    assert champion is not None
    with factory.tracking._active() as client:  # the registry's own view of the version
        description = client.get_model_version("ticket_triage", champion.version).description or ""
    assert description.startswith("# Model card: ticket_triage")
    for section in ("Intended use", "## Selection", "## Test split", "## Slices", "## Calibration", "limitations"):
        assert section in description
    assert "## Red team" in description and "cases," in description.split("## Red team")[1]
    assert "## Red team" in factory.tracking.run_documents(champion.run_id, "model_card.md")
    document = json.loads(factory.tracking.run_documents(champion.run_id, "selection.json"))
    assert [row["candidate"] for row in document["candidates"]] == list(spec.models.candidates)
    assert document["chosen"] == champion.tags["model.candidate"]
    assert sum(row["chosen"] for row in document["candidates"]) == 1
    channels = {row["value"] for row in document["slices"] if row["column"] == "channel"}
    test_rows = sum(row["support"] for row in document["per_class"])
    assert channels and sum(row["support"] for row in document["slices"]) == test_rows
    assert all(row["gated"] == (row["support"] >= spec.models.min_slice_support) for row in document["slices"])
    metrics = champion.metrics
    assert metrics["test_macro_f1_low"] <= metrics["test_macro_f1"] <= metrics["test_macro_f1_high"]
    assert 0 <= metrics["ece_after"] <= 1
    assert {f"test_slice.channel.{c}.macro_f1" for c in channels} <= set(metrics)
    assert {f"test_precision.{c}" for c in spec.labeling.classes} <= set(metrics)
    model = factory.log.last("model")
    assert "chosen" in model["selection_summary"] and "candidate" in str(model["selection"])


def test_model_version_carries_its_red_team_results(factory: Factory) -> None:
    champion = factory.tracking.champion("ticket_triage")
    assert champion is not None
    result, suite = stored_result(factory.tracking, champion), stored_suite(factory.tracking, champion)
    assert result is not None and suite is not None
    assert result.cases == len(suite.cases) >= small_spec().redteam.cases
    assert {"minimum_functionality", "directional", "typos", "casing", "pii_swap"} <= {t.name for t in result.tests}
    assert champion.tags[SUMMARY_TAG] == result.summary()
    assert champion.metrics["redteam.casing.failure_rate"] == result.failure_rates()["casing"]
    model = factory.log.last("model")
    assert model["redteam_summary"] == result.summary() and 0 < model["redteam_seconds"] < 60
    assert f"\nred team      {result.summary()}" in "\n".join(factory.lines)


def test_predictions_and_drift_report_have_numbers(factory: Factory) -> None:
    predictions = factory.warehouse.read_partition("ticket_triage", "predictions", "2026-01-03")
    prepared = factory.warehouse.read_partition("ticket_triage", "prepared", "2026-01-03")
    assert predictions.height == prepared.height > 0
    reports = factory.warehouse.read_table("ticket_triage", "drift_report")
    day3 = reports.filter(pl.col("partition_key") == "2026-01-03").row(0, named=True)
    assert math.isfinite(day3["score"]) and day3["score"] > 0
    assert day3["score"] >= day3["threshold"], "the demo drift starts on day 3 and must be detected"
    assert day3["drifted"] is True and day3["champion_version"] == predictions["model_version"][0]
    drifted = {v["component"] for v in json.loads(day3["verdicts"]) if v["drifted"]}
    assert drifted, "a drifted report names its drifted components"
    for name in ("macro_f1", "accuracy"):
        assert 0 < day3[f"reference_{name}"] <= 1 and 0 < day3[f"estimated_{name}"] <= 1
        assert (day3[f"realized_{name}"] is None) == (day3["feedback_rows"] == 0)
        assert (day3[f"realized_{name}_se"] is None) == (day3["feedback_rows"] == 0)
        assert day3[f"realized_{name}_se"] is None or 0 < day3[f"realized_{name}_se"] < 0.5
    assert any("drift sensor fired" in line for line in factory.lines)


def test_production_corrections_flow_into_the_labels(factory: Factory) -> None:
    corrections = factory.warehouse.read_partition("ticket_triage", "feedback", "2026-01-03")
    annotations = factory.warehouse.read_partition("ticket_triage", "annotations", "2026-01-03")
    fed = annotations.filter(pl.col("provenance") == "feedback")
    assert fed.height == corrections.height > 0, "the labeling sensor re-labeled the day its corrections concern"
    assert set(fed["weight"]) == {small_spec().labeling.feedback_weight}
    assert any("labeling sensor: re-label 2026-01-03" in line for line in factory.lines)
    summary = "\n".join(factory.lines)
    assert "by Dawid-Skene" in summary and "spammers flagged: elif" in summary and "review queue:" in summary


def test_summary_names_every_layer(factory: Factory) -> None:
    summary = "\n".join(factory.lines)
    for layer in (
        "sources",
        "preparation",
        "labeling",
        "dataset",
        "model",
        "red team",
        "champion",
        "monitoring",
        "automation",
        "health",
    ):
        assert f"\n{layer}" in summary


def test_rerun_publishes_nothing_new_and_duplicates_no_row(factory: Factory) -> None:
    defs = build_definitions([small_spec()])
    tags_before = factory.store.list_tags(prefix="ticket_triage/")
    main_before = factory.store.resolve("main")
    counted: tuple[TableName, ...] = ("raw", "prepared", "labels")
    rows_before = {t: factory.warehouse.read_table("ticket_triage", t).height for t in counted}
    day_tables: tuple[TableName, ...] = ("raw", "prepared", "quarantine", "duplicates", "annotations", "labels")
    digests_before = {t: _partition_digest(factory, t, "2026-01-02") for t in day_tables}
    daily = defs.resolve_job_def("ticket_triage_daily")
    daily.execute_in_process(partition_key="2026-01-02", instance=factory.instance)
    result = defs.resolve_job_def("ticket_triage_retrain").execute_in_process(instance=factory.instance)
    assert result.success
    assert factory.store.list_tags(prefix="ticket_triage/") == tags_before
    assert factory.store.resolve("main") == main_before
    assert {t: factory.warehouse.read_table("ticket_triage", t).height for t in counted} == rows_before
    assert {t: _partition_digest(factory, t, "2026-01-02") for t in day_tables} == digests_before
    model = next(e for e in result.get_asset_materialization_events() if asset_name(e) == "model")
    metadata = model.step_materialization_data.materialization.metadata
    assert metadata["reused"].value == "true"
    assert metadata["redteam_summary"].value == factory.log.last("model")["redteam_summary"], "stored results kept"


def _partition_digest(factory: Factory, table: TableName, day: str) -> str:
    frame = factory.warehouse.read_partition("ticket_triage", table, day)
    key = [c for c in ("source", "_file", "_line", "item_id", "annotator") if c in frame.columns]
    return frame_digest(frame, key)


def test_every_table_is_declared_with_its_columns_and_key(factory: Factory) -> None:
    declared = tables_for(small_spec())
    with factory.warehouse.get_connection() as conn:
        names = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'ticket_triage'"
        ).fetchall()
        written = {str(n): existing_columns(conn, "ticket_triage", str(n)) for (n,) in names}
    assert set(written) <= set(declared), set(written) - set(declared)
    assert len(written) >= 16  # every table but the file-drop ledger, which the demo source does not write
    for name, columns in written.items():
        table = next(t for t in declared.values() if t.name == name)
        assert columns == {n: duckdb_type(t) for n, t in table.columns.items()}, name
        frame = factory.warehouse.read_table("ticket_triage", table.name)
        assert frame.schema == table.schema, name
        assert not frame.select(table.key).is_duplicated().any(), f"{name}: key {table.key} is not unique"


def test_the_demo_leaves_use_cases_of_real_data_to_factory_run(factory_home: Path) -> None:
    """A use case brought with `factory new-usecase` sits beside the demo's; the demo runs no day of it (its days
    are its data's) and says how to run it."""
    data = text_label_spec("mine", {"name": "data", "kind": "files", "path": "mine.csv", "format": "csv"}, ("a", "b"))
    spec = parse_spec(data, factory_home / "mine.yaml")
    lines: list[str] = []
    with dg.instance_for_test() as instance:
        logs = run_demo(days=2, train_days=1, echo=lines.append, specs=[spec], instance=instance)
        assert not instance.get_runs(), "no run of a use case without a demo source"
    assert logs == {}
    assert lines == ["[mine] not a demo use case: run it with `factory run mine --retrain`"]


_UI_QUERY = """
query Story($job: PipelineSelector!, $schedule: ScheduleSelector!, $drift: SensorSelector!,
            $labeling: SensorSelector!) {
  pipelineOrError(params: $job) {
    ... on Pipeline { runs { runId status repositoryOrigin { repositoryLocationName repositoryName } } }
  }
  scheduleOrError(scheduleSelector: $schedule) {
    ... on Schedule { scheduleState { ticks { status runIds timestamp } runs { runId tags { key value } } } }
  }
  drift: sensorOrError(sensorSelector: $drift) {
    ... on Sensor { sensorState { ticks { status runIds skipReason } runs { runId pipelineName tags { key value } } } }
  }
  labeling: sensorOrError(sensorSelector: $labeling) {
    ... on Sensor { sensorState { ticks { status runIds skipReason } runs { runId pipelineName } } }
  }
}
"""


def _ui_story(instance: dg.DagsterInstance, home: Path) -> dict[str, Any]:
    """The webserver's answer, for the demo's instance, to what the job, schedule and sensor pages ask: the
    code location loaded in this process under the name ``workspace.yaml`` gives it."""
    module = home / "story_definitions.py"
    module.write_text(
        "from factory.defs import build_definitions\n"
        "from factory_tests.helpers import small_spec\n\n"
        "defs = build_definitions([small_spec()])\n"
    )
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(executable_path=sys.executable, python_file=str(module), attribute="defs"),
        location_name=CODE_LOCATION,
    )
    repository = {"repositoryLocationName": CODE_LOCATION, "repositoryName": "__repository__"}
    with WorkspaceProcessContext(instance, InProcessWorkspaceLoadTarget(origin)) as workspace:
        result = execute_dagster_graphql(
            workspace.create_request_context(),
            _UI_QUERY,
            {
                "job": {**repository, "pipelineName": "ticket_triage_daily"},
                "schedule": {**repository, "scheduleName": "ticket_triage_nightly"},
                "drift": {**repository, "sensorName": "ticket_triage_drift_sensor"},
                "labeling": {**repository, "sensorName": "ticket_triage_labeling_sensor"},
            },
        )
    assert not result.errors, result.errors
    data = dict(result.data)
    return data


# Loading a code location snapshots its schedules, which reads a property Dagster 1.13 deprecates itself.
@pytest.mark.filterwarnings("ignore:Property `ScheduleDefinition.environment_vars`:DeprecationWarning")
def test_the_ui_tells_the_story_of_the_demo(factory: Factory, tmp_path: Path) -> None:
    """The demo's runs are runs of their jobs in the code location the UI loads: the daily job's page lists its
    three runs, the nightly schedule shows a tick per day with the run it launched, the drift sensor shows its
    tick and the retrain it launched, which carries the sensor's name (not "Manually launched")."""
    story = _ui_story(factory.instance, tmp_path)
    daily = story["pipelineOrError"]["runs"]
    assert len(daily) == 3 and {r["status"] for r in daily} == {"SUCCESS"}
    assert {(o["repositoryLocationName"], o["repositoryName"]) for o in (r["repositoryOrigin"] for r in daily)} == {
        ("factory", "__repository__")
    }
    schedule = story["scheduleOrError"]["scheduleState"]
    assert [t["status"] for t in schedule["ticks"]] == ["SUCCESS"] * 3
    assert {i for t in schedule["ticks"] for i in t["runIds"]} == {r["runId"] for r in daily}
    nights = sorted(t["timestamp"] for t in schedule["ticks"])
    assert [datetime.fromtimestamp(t, UTC).isoformat() for t in nights] == [
        f"2026-01-0{d}T02:00:00+00:00" for d in (2, 3, 4)
    ], "each tick at the scheduled time that runs its day"
    drift = story["drift"]["sensorState"]
    assert [t["status"] for t in drift["ticks"]] == ["SUCCESS"]
    (retrain,) = drift["runs"]
    assert retrain["pipelineName"] == "ticket_triage_retrain" and drift["ticks"][0]["runIds"] == [retrain["runId"]]
    tags = {t["key"]: t["value"] for t in retrain["tags"]}
    assert tags["dagster/sensor_name"] == "ticket_triage_drift_sensor" and tags["dagster/run_key"].startswith("drift-")
    assert tags["factory/reason"], "the sensor's reason travels with the run"
    labeling = story["labeling"]["sensorState"]
    assert len(labeling["ticks"]) == 1 and labeling["ticks"][0]["runIds"] == [r["runId"] for r in labeling["runs"]]
    label = {".dagster/repository": f"__repository__@{CODE_LOCATION}"}  # what the UI filters a job's runs by
    filtered = factory.instance.get_runs(dg.RunsFilter(job_name="ticket_triage_retrain", tags=label))
    assert retrain["runId"] in {run.run_id for run in filtered}


def test_the_code_location_is_the_workspace_s() -> None:
    """The headless runs are recorded under the location name and module ``workspace.yaml`` gives the UI."""
    workspace = yaml.safe_load((Path(__file__).resolve().parents[1] / "workspace.yaml").read_text())
    (entry,) = workspace["load_from"]
    assert entry["python_module"] == {"module_name": DEFINITIONS_MODULE, "location_name": CODE_LOCATION}
