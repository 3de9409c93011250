"""The service topology without Docker (`factory.stack`, what `make stack` runs) drives the factory the way
production does: PostgreSQL from the distribution's packages, an MLflow tracking server on it, a Dagster code
server, the webserver and the real daemon on the Postgres instance of ``deploy/dagster.yaml``.

One stack serves the whole module, for a small ``ticket_triage`` (600 rows a day) whose nightly schedule fires every
minute (``FACTORY_NIGHTLY_CRON``) and whose demo drift starts on the day the schedule runs (yesterday). In order:
two daily runs for the two days before, launched together through GraphQL, both succeed with their warehouse steps
one after the other (the ``warehouse`` pool); the retrain run logs its model to the MLflow server and publishes a
dataset version; the daemon launches the nightly run, and then evaluates the drift sensor on its drift report.
Everything is read back from where it lives: runs and events from the Postgres storage, the model from the MLflow
server, the dataset version from the store. The test skips only when the PostgreSQL binaries are absent (and fails
then when ``CI`` is set); every service is stopped at the end, with its process group, whatever happened.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
import pytest
import yaml
from dagster_postgres import PostgresRunStorage
from mlflow import MlflowClient

from factory.defs import UseCase, build_definitions
from factory.defs.automation import NIGHTLY_CRON_ENV
from factory.paths import package_path
from factory.resources.tracking import CHAMPION_ALIAS
from factory.resources.versioning import LocalVersionStore
from factory.resources.warehouse import Warehouse
from factory.stack import INSTANCE_CONFIG, LOCATION, Ports, Stack
from factory.stack.postgres import PostgresNotFound
from factory_tests.helpers import small_spec
from factory_tests.resources.postgres import skip_without_postgres

_T = TypeVar("_T")
_REPOSITORY = "__repository__"
_WAIT = 420.0
"""Seconds any one step of the story may take on a loaded machine before the test gives up."""

_LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""
_START_SCHEDULE = """
mutation Start($selector: ScheduleSelector!) {
  startSchedule(scheduleSelector: $selector) {
    __typename
    ... on ScheduleStateResult { scheduleState { id status } }
    ... on PythonError { message }
  }
}
"""
_STOP_SCHEDULE = """
mutation Stop($id: String!) {
  stopRunningSchedule(id: $id) {
    __typename
    ... on ScheduleStateResult { scheduleState { status } }
    ... on PythonError { message }
  }
}
"""
_START_SENSOR = """
mutation Start($selector: SensorSelector!) {
  startSensor(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { status } }
    ... on PythonError { message }
  }
}
"""
_SENSOR_TICKS = """
query Ticks($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { ticks(limit: 10) { status skipReason runIds timestamp } } }
  }
}
"""


def _wait_for(what: str, probe: Callable[[], _T | None], stack: Stack, seconds: float = _WAIT) -> _T:
    """``probe()`` once it returns something (polled every 2 s); fails naming ``what`` after ``seconds``, or as
    soon as a service of the stack has died."""
    deadline = time.monotonic() + seconds
    while True:
        found = probe()
        if found is not None:
            return found
        dead = stack.failed()
        assert not dead, f"waiting for {what}: {', '.join(dead)} exited; logs in {stack.state / 'logs'}"
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds:.0f} s"
        time.sleep(2)


@dataclass
class Story:
    """The stack after the whole story ran, and what the test needs to read it back."""

    stack: Stack
    instance: dg.DagsterInstance
    uc: UseCase
    days: tuple[str, str]
    """The two days launched together."""
    nightly_day: str
    together: tuple[dg.DagsterRun, dg.DagsterRun]
    retrain: dg.DagsterRun
    nightly: dg.DagsterRun
    tick: dict[str, Any]
    """The drift sensor's first tick after the nightly run."""


def _spec_folder(folder: Path, drift_day: str) -> None:
    """The small ticket_triage spec as the only use case, its red-team file beside it."""
    spec = small_spec(drift_day=drift_day)
    folder.mkdir()
    document = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    (folder / "ticket_triage.yaml").write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    shutil.copytree(package_path("usecases", "redteam"), folder / "redteam")


def _launch(stack: Stack, job: str, partition: str | None = None) -> str:
    tags = [{"key": "dagster/partition", "value": partition}] if partition else []
    params = {
        "selector": {"repositoryLocationName": LOCATION, "repositoryName": _REPOSITORY, "jobName": job},
        "executionMetadata": {"tags": tags},
    }
    answer = stack.graphql(_LAUNCH, {"params": params})["launchRun"]
    assert answer["__typename"] == "LaunchRunSuccess", answer
    run_id: str = answer["run"]["runId"]
    return run_id


def _finished(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun | None:
    run = instance.get_run_by_id(run_id)
    return run if run is not None and run.is_finished else None


def _succeeded(stack: Stack, instance: dg.DagsterInstance, run_id: str, what: str) -> dg.DagsterRun:
    run = _wait_for(what, lambda: _finished(instance, run_id), stack)
    if run.status != dg.DagsterRunStatus.SUCCESS:
        failures = _events(instance, run_id, dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RUN_FAILURE)
        errors = "\n".join(f"{e.step_key or 'run'}: {e.message}\n{_error(e)}" for e in failures)
        pytest.fail(f"{what} ({run_id}) ended {run.status}:\n{errors}", pytrace=False)
    return run


def _error(entry: dg.EventLogEntry) -> str:
    data = entry.dagster_event.event_specific_data if entry.dagster_event is not None else None
    error = getattr(data, "error", None)
    return error.to_string() if error is not None else ""


def _selector(name_key: str, name: str) -> dict[str, str]:
    return {"repositoryLocationName": LOCATION, "repositoryName": _REPOSITORY, name_key: name}


@pytest.fixture(scope="module")
def story() -> Iterator[Story]:
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    days = ((yesterday - timedelta(days=2)).isoformat(), (yesterday - timedelta(days=1)).isoformat())
    state = Path(tempfile.mkdtemp(prefix="factory-stack-"))
    state.chmod(0o711)  # under root, PostgreSQL runs as another user that must reach its folder
    _spec_folder(state / "usecases", yesterday.isoformat())
    overrides = {
        "FACTORY_USECASES": str(state / "usecases"),
        "FACTORY_DATA": str(state / "data"),
        NIGHTLY_CRON_ENV: "* * * * *",  # the next minute: the daemon's tick comes within 60 s
    }
    stack = Stack(state, ports=Ports(), env_overrides=overrides, durable=False)
    try:
        try:
            stack.start()
        except PostgresNotFound as missing:
            skip_without_postgres(missing)
        with pytest.MonkeyPatch.context() as patch:
            for name, value in stack.env.items():
                patch.setenv(name, value)
            instance = dg.DagsterInstance.from_config(str(stack.dagster_home))
            try:
                yield _run_story(stack, instance, days, yesterday)
            finally:
                instance.dispose()
    finally:
        stack.stop()
        shutil.rmtree(state, ignore_errors=True)


def _run_story(stack: Stack, instance: dg.DagsterInstance, days: tuple[str, str], yesterday: date) -> Story:
    uc = UseCase(small_spec(drift_day=yesterday.isoformat()))
    first, second = (_launch(stack, uc.daily_job, day) for day in days)
    together = (
        _succeeded(stack, instance, first, f"the daily run for {days[0]}"),
        _succeeded(stack, instance, second, f"the daily run for {days[1]}"),
    )
    retrain = _succeeded(stack, instance, _launch(stack, uc.retrain_job), "the retrain run")

    started = stack.graphql(_START_SCHEDULE, {"selector": _selector("scheduleName", uc.nightly_schedule)})
    assert started["startSchedule"]["__typename"] == "ScheduleStateResult", started

    def nightly_run() -> str | None:
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/schedule_name": uc.nightly_schedule}))
        return runs[-1].run_id if runs else None  # the first

    nightly_id = _wait_for("the daemon's nightly run", nightly_run, stack, seconds=_WAIT)
    # The test cron fires every minute, and a schedule's run key is per tick: one nightly run is the story.
    stopped = stack.graphql(_STOP_SCHEDULE, {"id": started["startSchedule"]["scheduleState"]["id"]})
    assert stopped["stopRunningSchedule"]["scheduleState"]["status"] == "STOPPED", stopped
    nightly = _succeeded(stack, instance, nightly_id, "the nightly run")

    selector = _selector("sensorName", uc.drift_sensor)
    started = stack.graphql(_START_SENSOR, {"selector": selector})
    assert started["startSensor"]["__typename"] == "Sensor", started

    def evaluated() -> dict[str, Any] | None:
        sensor = stack.graphql(_SENSOR_TICKS, {"selector": selector})["sensorOrError"]
        ticks = sensor["sensorState"]["ticks"]
        done: list[dict[str, Any]] = [t for t in ticks if t["status"] in ("SUCCESS", "SKIPPED", "FAILURE")]
        return done[0] if done else None

    tick = _wait_for("the drift sensor's tick", evaluated, stack)
    return Story(stack, instance, uc, days, yesterday.isoformat(), together, retrain, nightly, tick)


def _events(instance: dg.DagsterInstance, run_id: str, *kinds: dg.DagsterEventType) -> list[dg.EventLogEntry]:
    return [
        record.event_log_entry
        for record in instance.get_records_for_run(run_id, of_type=set(kinds), limit=10_000).records
    ]


def _warehouse_steps(uc: UseCase) -> set[str]:
    """The steps of the daily job in the ``warehouse`` pool."""
    job = build_definitions([uc.spec]).resolve_job_def(uc.daily_job)
    return {node.name for node in job.graph.nodes if getattr(node.definition, "pool", None) == "warehouse"}


def test_runs_and_their_events_are_in_postgres(story: Story) -> None:
    assert isinstance(story.instance.run_storage, PostgresRunStorage)
    for run, day in zip(story.together, story.days, strict=True):
        assert run.tags["dagster/partition"] == day
    assert story.nightly.tags["dagster/partition"] == story.nightly_day
    assert story.nightly.tags["dagster/schedule_name"] == story.uc.nightly_schedule
    materialized = {
        entry.dagster_event.event_specific_data.materialization.asset_key.to_user_string()  # type: ignore[union-attr]
        for entry in _events(story.instance, story.nightly.run_id, dg.DagsterEventType.ASSET_MATERIALIZATION)
        if entry.dagster_event is not None
    }
    assert {"ticket_triage/raw_tickets", "ticket_triage/predictions", "ticket_triage/drift_report"} <= materialized


def test_two_runs_launched_together_took_turns_on_the_warehouse_pool(story: Story) -> None:
    pooled = _warehouse_steps(story.uc)
    assert "ticket_triage__prepare" in pooled, pooled
    spans: list[tuple[float, float, str, str]] = []
    run_spans = []
    for run in story.together:
        entries = _events(
            story.instance,
            run.run_id,
            dg.DagsterEventType.RUN_START,
            dg.DagsterEventType.RUN_SUCCESS,
            dg.DagsterEventType.STEP_START,
            dg.DagsterEventType.STEP_SUCCESS,
        )
        kinds = {e.dagster_event_type: e.timestamp for e in entries if e.step_key is None}
        run_spans.append((kinds[dg.DagsterEventType.RUN_START], kinds[dg.DagsterEventType.RUN_SUCCESS]))
        starts = {e.step_key: e.timestamp for e in entries if e.dagster_event_type == dg.DagsterEventType.STEP_START}
        for entry in entries:
            if entry.dagster_event_type == dg.DagsterEventType.STEP_SUCCESS and entry.step_key in pooled:
                assert entry.step_key is not None
                spans.append((starts[entry.step_key], entry.timestamp, run.run_id, entry.step_key))
    (a_start, a_end), (b_start, b_end) = run_spans
    assert a_start < b_end and b_start < a_end, "the two runs were never in progress at the same time"
    spans.sort()
    assert {span[2] for span in spans} == {run.run_id for run in story.together}
    for before, after in itertools.pairwise(spans):
        assert before[1] <= after[0], f"{before[3]} ({before[2]}) and {after[3]} ({after[2]}) overlapped"


def test_the_model_is_in_the_mlflow_server(story: Story) -> None:
    server = story.stack.env["MLFLOW_TRACKING_URI"]
    # The registry too: left unset it is MLflow's process-wide registry URI, which an earlier test may have set.
    client = MlflowClient(tracking_uri=server, registry_uri=server)
    versions = client.search_model_versions(f"name = '{story.uc.model_name}'")
    assert versions, "no model version on the MLflow server"
    champion = client.get_model_version_by_alias(story.uc.model_name, CHAMPION_ALIAS)
    assert champion.run_id is not None
    run = client.get_run(champion.run_id)
    assert run.info.artifact_uri.startswith("mlflow-artifacts:"), "artifacts go through the server"
    assert {"dataset.commit", "dataset.digest"} <= set(champion.tags)
    assert champion.tags["dagster.run_id"] == story.retrain.run_id
    stored = list((story.stack.state / "mlartifacts").rglob("MLmodel"))
    assert stored, "the server kept no model artifact under its artifact root"


def test_the_dataset_version_is_in_the_store(story: Story) -> None:
    store = LocalVersionStore(story.stack.factory_home / "versions", "factory")
    tags = store.list_tags(prefix="ticket_triage/v")
    assert "ticket_triage/v1" in tags
    commit = store.get_commit("ticket_triage/v1")
    assert commit.metadata["partitions"] == ",".join(story.days)
    assert commit.metadata["dagster_run_id"] == story.retrain.run_id


def test_the_daemon_evaluated_the_drift_sensor_on_the_nightly_report(story: Story) -> None:
    assert story.tick["status"] in ("SUCCESS", "SKIPPED"), story.tick
    warehouse = Warehouse(database=str(story.stack.factory_home / "warehouse.duckdb"))
    decisions = warehouse.read_partition(story.uc.name, "retrain_decisions", story.nightly_day)
    assert decisions.height >= 1, "the sensor recorded no decision on the nightly day's drift report"
    fired = bool(decisions.sort("decided_at")["fire"][-1])
    assert fired == (story.tick["status"] == "SUCCESS"), (story.tick, decisions.to_dicts())


def test_the_service_instance_differs_from_the_embedded_one_only_in_its_storage() -> None:
    root = Path(__file__).resolve().parents[1]
    service = yaml.safe_load(INSTANCE_CONFIG.read_text(encoding="utf-8"))
    embedded = yaml.safe_load((root / "dagster.yaml").read_text(encoding="utf-8"))
    for section in ("concurrency", "run_monitoring", "telemetry"):
        assert service[section] == embedded[section], section
    assert service["run_coordinator"]["class"] == "QueuedRunCoordinator"
    database = service["storage"]["postgres"]["postgres_db"]
    settings = ("hostname", "port", "username", "password", "db_name")
    assert {key: database[key] for key in settings} == {
        key: {"env": f"DAGSTER_PG_{name}"}
        for key, name in zip(settings, ("HOST", "PORT", "USER", "PASSWORD", "DB"), strict=True)
    }, "connection settings come from the environment only"
