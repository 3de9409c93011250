"""`Launcher` records headless runs as the daemon would: runs of their jobs in the UI's code location, schedule and
sensor ticks with their runs, skip reasons, cursors and failures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from dagster._core.scheduler.instigation import InstigatorStatus, SensorInstigatorData, TickStatus

from factory.core.liveness import PID_TAG
from factory.resources.launcher import CODE_LOCATION, Launcher

LABEL = {".dagster/repository": f"__repository__@{CODE_LOCATION}"}
DAY = "2026-01-02"


@dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2026-01-01"))
def numbers() -> None:
    """A daily asset that writes nothing."""


daily = dg.define_asset_job("daily", selection=[numbers])


@dg.schedule(job=daily, cron_schedule="0 2 * * *", execution_timezone="UTC")
def nightly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    ended = (context.scheduled_execution_time - timedelta(days=1)).date().isoformat()
    return dg.RunRequest(run_key=f"nightly-{ended}", partition_key=ended)


@dg.sensor(job=daily)
def counting(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    """Asks for a run on its second tick, counting ticks in its cursor; raises on its fourth."""
    seen = json.loads(context.cursor or "0") + 1
    if seen == 4:
        raise RuntimeError("the fourth tick breaks")
    if seen == 2:
        return dg.SensorResult(run_requests=[dg.RunRequest("second", partition_key=DAY)], cursor=json.dumps(seen))
    return dg.SensorResult(skip_reason=dg.SkipReason(f"tick {seen}: nothing new"), cursor=json.dumps(seen))


@pytest.fixture
def launcher() -> Iterator[Launcher]:
    with dg.instance_for_test() as instance:
        defs = dg.Definitions(
            assets=[numbers], jobs=[daily], schedules=[nightly], sensors=[counting], executor=dg.in_process_executor
        )
        yield Launcher(defs, instance)


def test_a_run_by_hand_is_a_run_of_its_job_in_the_ui_s_code_location(launcher: Launcher) -> None:
    result = launcher.run("daily", DAY)
    assert result.success
    (run,) = launcher.instance.get_runs(dg.RunsFilter(job_name="daily", tags=LABEL))
    assert run.run_id == result.run_id and run.tags["dagster/partition"] == DAY
    assert "dagster/schedule_name" not in run.tags and "dagster/sensor_name" not in run.tags
    assert run.tags[PID_TAG], "tagged with this process, so a later run can tell it died"
    origin = run.remote_job_origin
    assert origin is not None and origin.repository_origin.code_location_origin.location_name == CODE_LOCATION


def test_a_schedule_tick_is_recorded_at_its_time_with_the_run_it_asked_for(launcher: Launcher) -> None:
    night = datetime(2026, 1, 3, 2, tzinfo=UTC)
    (run,) = launcher.schedule_tick("nightly", night)
    assert launcher.execute(run).success
    assert run.tags["dagster/schedule_name"] == "nightly" and run.tags["dagster/partition"] == DAY
    assert run.tags[".dagster/scheduled_execution_time"] == night.isoformat()
    assert run.tags["dagster/run_key"] == f"nightly-{DAY}"
    schedule = launcher.instigator("nightly")
    state = launcher.instance.get_instigator_state(schedule.get_remote_origin_id(), schedule.selector_id)
    assert state is not None and state.status == InstigatorStatus.STOPPED, "recording never starts a schedule"
    (tick,) = launcher.instance.get_ticks(schedule.get_remote_origin_id(), schedule.selector_id)
    assert tick.status == TickStatus.SUCCESS and tick.run_ids == [run.run_id]
    assert tick.timestamp == night.timestamp()


def test_sensor_ticks_keep_their_cursor_skip_reasons_runs_and_failures(launcher: Launcher) -> None:
    ticks = (datetime(2026, 1, 3, 3, minute, tzinfo=UTC) for minute in range(4))  # the newest tick is listed first
    assert not launcher.sensor_tick("counting", next(ticks), {}).runs
    (run,) = launcher.sensor_tick("counting", next(ticks), {}).runs
    assert run.tags["dagster/sensor_name"] == "counting" and run.tags["dagster/run_key"] == "second"
    assert not launcher.sensor_tick("counting", next(ticks), {}).runs
    with pytest.raises(RuntimeError, match="fourth tick"):
        launcher.sensor_tick("counting", next(ticks), {})
    sensor = launcher.instigator("counting")
    recorded = launcher.instance.get_ticks(sensor.get_remote_origin_id(), sensor.selector_id)
    assert [t.status for t in recorded] == [
        TickStatus.FAILURE,
        TickStatus.SKIPPED,
        TickStatus.SUCCESS,
        TickStatus.SKIPPED,
    ]
    assert recorded[3].skip_reason == "tick 1: nothing new" and recorded[2].run_ids == [run.run_id]
    assert recorded[0].error is not None and "fourth tick" in recorded[0].error.message
    state = launcher.instance.get_instigator_state(sensor.get_remote_origin_id(), sensor.selector_id)
    assert state is not None and state.instigator_data is not None
    data = state.instigator_data
    assert isinstance(data, SensorInstigatorData) and data.cursor == "3", "the cursor of the last tick that finished"


def test_an_ephemeral_instance_records_runs_too() -> None:
    """`factory run` without DAGSTER_HOME runs on an ephemeral instance: the runs still execute and record."""
    defs = dg.Definitions(assets=[numbers], jobs=[daily], executor=dg.in_process_executor)
    with dg.DagsterInstance.ephemeral() as instance:
        result = Launcher(defs, instance).run("daily", DAY)
        assert result.success and instance.get_runs(dg.RunsFilter(tags=LABEL))[0].run_id == result.run_id
