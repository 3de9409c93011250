"""Headless runs recorded as the UI's own: runs of their jobs in the code location ``workspace.yaml`` loads, and
schedule and sensor ticks recorded as the Dagster daemon records them.

``execute_in_process`` records a run without a repository origin: the UI then lists it under no job (the job's
page says "No runs found", the Overview timeline is empty) and calls it "Manually launched", and a schedule or
sensor evaluated in a test context leaves no tick ("never run"). `Launcher` does what the daemon does instead,
in this process and without a daemon:

- a run is created with the remote origin of its job in the code location named `CODE_LOCATION` (repository
  ``__repository__``, module `DEFINITIONS_MODULE`), which tags it with the repository label the UI filters a
  job's runs by, then executed here by the in-process executor (the factory's executor), step after step;
- a schedule tick is evaluated at its scheduled time and recorded in the instance's tick storage with its
  requested runs, which carry ``dagster/schedule_name``, ``dagster/scheduled_execution_time`` and the run key;
- a sensor tick is evaluated with the cursor kept in the instance's instigator state (as the daemon keeps it),
  recorded with its runs, skip reason and cursor; its runs carry ``dagster/sensor_name`` and the run key, and
  its asset events are reported as the daemon reports them.

Ticks and instigator states are keyed by the instigator's selector (location, repository and name), which is
how the webserver and the daemon look them up, so a UI on another process (``dagster dev``, the code server of
the service stack) shows them. A schedule or sensor whose state the instance does not hold yet is recorded with
the status its definition declares (stopped unless it says running): recording a tick never starts a sensor.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.definitions.job_base import InMemoryJob
from dagster._core.execution.api import create_execution_plan, execute_run
from dagster._core.execution.execute_in_process import merge_run_tags
from dagster._core.execution.execution_result import ExecutionResult
from dagster._core.origin import RepositoryPythonOrigin
from dagster._core.remote_representation.external import RemoteRepository, RemoteSchedule, RemoteSensor
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._core.remote_representation.handle import RepositoryHandle
from dagster._core.scheduler.instigation import (
    InstigatorState,
    InstigatorStatus,
    InstigatorTick,
    InstigatorType,
    ScheduleInstigatorData,
    SensorInstigatorData,
    TickData,
    TickStatus,
)
from dagster._core.storage.tags import RUN_KEY_TAG, SCHEDULED_EXECUTION_TIME_TAG
from dagster._core.workspace.load import location_origin_from_module_name
from dagster._utils.error import serializable_error_info_from_exc_info

from factory.resources.runs import owner_tags

__all__ = ["CODE_LOCATION", "DEFINITIONS_MODULE", "Launcher", "SensorTick"]

CODE_LOCATION = "factory"
"""The code location name of ``workspace.yaml`` (and of the service stack's code server)."""

DEFINITIONS_MODULE = "factory.definitions"
"""The module holding the Definitions object the UI loads."""

QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
"""Run config of a headless run: the console shows warnings and errors; every event still lands in the instance."""


@dataclass(frozen=True)
class SensorTick:
    """One recorded sensor evaluation: what the sensor returned and the runs created for its requests (not yet
    executed), in request order."""

    result: dg.SensorResult
    runs: tuple[dg.DagsterRun, ...]


class Launcher:
    """Creates, executes and records the runs of ``defs`` in ``instance`` as runs of the code location the UI
    loads (module docstring)."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
        self._defs = defs
        self._instance = instance
        origin = location_origin_from_module_name(DEFINITIONS_MODULE, None, None, CODE_LOCATION)
        repository = defs.get_repository_def()
        handle = RepositoryHandle(
            repository_name=repository.name,
            code_location_origin=origin,
            repository_python_origin=RepositoryPythonOrigin(
                executable_path=sys.executable, code_pointer=ModuleCodePointer(DEFINITIONS_MODULE, "defs")
            ),
            display_metadata=origin.get_display_metadata(),
        )
        with warnings.catch_warnings():
            # Dagster's own snapshot reads a deprecated schedule property (1.13); the code server does the same.
            warnings.filterwarnings("ignore", "Property `ScheduleDefinition.environment_vars`", DeprecationWarning)
            snapshot = RepositorySnap.from_def(repository)
        self._repository = RemoteRepository(
            snapshot, handle, auto_materialize_use_sensors=instance.auto_materialize_use_sensors
        )

    @property
    def instance(self) -> dg.DagsterInstance:
        return self._instance

    def instigator(self, name: str) -> RemoteSchedule | RemoteSensor:
        """Schedule or sensor ``name`` as the UI's code location has it (its origin and selector ids key its
        ticks and state)."""
        if self._repository.has_schedule(name):
            return self._repository.get_schedule(name)
        return self._repository.get_sensor(name)

    def create(
        self, job_name: str, partition_key: str | None = None, tags: Mapping[str, str] | None = None
    ) -> dg.DagsterRun:
        """A run of ``job_name`` (for ``partition_key``), not started, recorded with its job's remote origin and
        tagged with this process (so a later run can tell when it died)."""
        job = self._defs.resolve_job_def(job_name)
        run_tags = merge_run_tags(job, partition_key, {**(tags or {}), **owner_tags()}, None, self._instance, QUIET)
        remote_job = self._repository.get_full_job(job_name)
        ref = self._instance.get_ref() if self._instance.is_persistent else None  # none for an ephemeral instance
        plan = create_execution_plan(InMemoryJob(job), run_config=QUIET, instance_ref=ref)
        return self._instance.create_run_for_job(
            job_def=job,
            execution_plan=plan,
            run_config=QUIET,
            tags=run_tags,
            status=dg.DagsterRunStatus.NOT_STARTED,
            remote_job_origin=remote_job.get_remote_origin(),
            job_code_origin=remote_job.get_python_origin(),
        )

    def execute(self, run: dg.DagsterRun, raise_on_error: bool = True) -> ExecutionResult:
        """Execute a created run in this process with the job's executor, which must be in-process (the
        factory's Definitions say so): a multiprocess executor needs a job it can reconstruct in a child."""
        job = self._defs.resolve_job_def(run.job_name)
        return execute_run(InMemoryJob(job), run, self._instance, raise_on_error=raise_on_error)

    def run(
        self,
        job_name: str,
        partition_key: str | None = None,
        tags: Mapping[str, str] | None = None,
        raise_on_error: bool = True,
    ) -> ExecutionResult:
        """Create and execute a run launched by hand (no schedule or sensor)."""
        return self.execute(self.create(job_name, partition_key, tags), raise_on_error)

    def schedule_tick(self, name: str, scheduled_time: datetime) -> tuple[dg.DagsterRun, ...]:
        """Evaluate schedule ``name`` at ``scheduled_time``, record the tick at that time (as the daemon records
        a tick it catches up on) and create the runs it requests; the caller executes them."""
        schedule = self._defs.resolve_schedule_def(name)
        remote = self._repository.get_schedule(name)
        self._state(remote)
        tick = self._started(remote, scheduled_time)
        with (
            self._failing(tick),
            dg.build_schedule_context(
                instance=self._instance,
                scheduled_execution_time=scheduled_time,
                repository_def=self._defs.get_repository_def(),
            ) as context,
        ):
            result = schedule.evaluate_tick(context)
            when = {SCHEDULED_EXECUTION_TIME_TAG: scheduled_time.astimezone(UTC).isoformat()}
            tags = {**dg.DagsterRun.tags_for_schedule(remote), **when}
            runs = tuple(self._requested(schedule.job_name, r, tags) for r in result.run_requests or [])
        for run in runs:
            tick = tick.with_run_info(run.run_id, run.tags.get(RUN_KEY_TAG))
        status = TickStatus.SUCCESS if runs else TickStatus.SKIPPED
        skipped = result.skip_message if not runs else None
        tick = tick.with_status(status)
        self._instance.update_tick(tick.with_reason(skipped) if skipped else tick)
        return runs

    def sensor_tick(self, name: str, now: datetime, resources: Mapping[str, object] | None = None) -> SensorTick:
        """Evaluate sensor ``name`` at ``now`` with the cursor the instance keeps for it, record the tick, the
        new cursor and the asset events as the daemon does, and create the runs it requests; the caller executes
        them. ``resources`` replace the Definitions' (a frozen clock, for a simulation)."""
        sensor = self._defs.resolve_sensor_def(name)
        remote = self._repository.get_sensor(name)
        state = self._state(remote)
        data = state.instigator_data if isinstance(state.instigator_data, SensorInstigatorData) else None
        tick = self._started(remote, now)
        with (
            self._failing(tick),
            dg.build_sensor_context(
                instance=self._instance,
                cursor=data.cursor if data else None,
                definitions=self._defs,
                resources=resources,
                sensor_name=name,
            ) as context,
        ):
            outcome = sensor(context)
            if not isinstance(outcome, dg.SensorResult):
                raise TypeError(f"{name} returned {type(outcome).__name__}, not a SensorResult")
            cursor = outcome.cursor if outcome.cursor is not None else context.cursor
            for event in outcome.asset_events:
                self._instance.report_runless_asset_event(event)
            tags = dg.DagsterRun.tags_for_sensor(remote)
            runs = tuple(self._requested(r.job_name or sensor.job_name, r, tags) for r in outcome.run_requests or [])
        for run in runs:
            tick = tick.with_run_info(run.run_id, run.tags.get(RUN_KEY_TAG))
        tick = tick.with_status(TickStatus.SUCCESS if runs else TickStatus.SKIPPED).with_cursor(cursor)
        skipped = outcome.skip_reason.skip_message if outcome.skip_reason and not runs else None
        self._instance.update_tick(tick.with_reason(skipped) if skipped else tick)
        run_keys = [run.tags[RUN_KEY_TAG] for run in runs if RUN_KEY_TAG in run.tags]
        self._instance.update_instigator_state(
            state.with_data(
                SensorInstigatorData(
                    last_tick_timestamp=tick.timestamp,
                    last_run_key=run_keys[-1] if run_keys else (data.last_run_key if data else None),
                    min_interval=remote.min_interval_seconds,
                    cursor=cursor,
                    last_tick_start_timestamp=tick.timestamp,
                    last_sensor_start_timestamp=data.last_sensor_start_timestamp if data else None,
                    sensor_type=remote.sensor_type,
                    last_tick_success_timestamp=tick.timestamp,
                )
            )
        )
        return SensorTick(outcome, runs)

    @contextmanager
    def _failing(self, tick: InstigatorTick) -> Iterator[None]:
        """Record ``tick`` as failed, with the error, when its evaluation raises (then raise it on)."""
        try:
            yield
        except Exception:
            error = serializable_error_info_from_exc_info(sys.exc_info())
            self._instance.update_tick(tick.with_status(TickStatus.FAILURE, error=error))
            raise

    def _started(self, remote: RemoteSchedule | RemoteSensor, when: datetime) -> InstigatorTick:
        """A new tick of ``remote`` at ``when``, recorded as started (the daemon's first write)."""
        kind = InstigatorType.SCHEDULE if isinstance(remote, RemoteSchedule) else InstigatorType.SENSOR
        return self._instance.create_tick(
            TickData(
                instigator_origin_id=remote.get_remote_origin_id(),
                instigator_name=remote.name,
                instigator_type=kind,
                status=TickStatus.STARTED,
                timestamp=when.timestamp(),
                selector_id=remote.selector_id,
            )
        )

    def _requested(self, job_name: str | None, request: dg.RunRequest, tags: Mapping[str, str]) -> dg.DagsterRun:
        """The run a schedule or sensor asked for, with the tags the daemon gives it."""
        if job_name is None:
            raise ValueError(f"a run request without a job: {request}")
        run_tags = {**request.tags, **tags}
        if request.run_key:
            run_tags[RUN_KEY_TAG] = request.run_key
        return self.create(job_name, request.partition_key, run_tags)

    def _state(self, remote: RemoteSchedule | RemoteSensor) -> InstigatorState:
        """The instigator's state in the instance, added with the status its definition declares when missing."""
        state = self._instance.get_instigator_state(remote.get_remote_origin_id(), remote.selector_id)
        if state is not None:
            return state
        running = remote.default_status.value == "RUNNING"
        status = InstigatorStatus.DECLARED_IN_CODE if running else InstigatorStatus.STOPPED
        data: ScheduleInstigatorData | SensorInstigatorData
        if isinstance(remote, RemoteSchedule):
            kind, data = InstigatorType.SCHEDULE, ScheduleInstigatorData(remote.cron_schedule)
        else:
            kind = InstigatorType.SENSOR
            data = SensorInstigatorData(min_interval=remote.min_interval_seconds, sensor_type=remote.sensor_type)
        return self._instance.add_instigator_state(InstigatorState(remote.get_remote_origin(), kind, status, data))
