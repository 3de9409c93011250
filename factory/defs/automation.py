"""Automation: a daily job on a nightly schedule, a retrain job, and a drift sensor that asks for a retrain."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from factory.core.monitoring import DriftObservation, decide
from factory.defs.labeling import build_labeling_automation
from factory.defs.sources import build_source_sensors
from factory.defs.usecase import UseCase
from factory.resources.warehouse import Warehouse

__all__ = ["build_automation", "daily_job_name", "retrain_job_name"]

DAILY_ASSETS = (
    "prepared",
    "quarantine",
    "duplicates",
    "annotations",
    "annotator_report",
    "labels",
    "review_queue",
    "predictions",
    "feedback",
    "drift_report",
)
RETRAIN_ASSETS = ("dataset_candidate", "dataset", "model", "champion")


def daily_job_name(uc: UseCase) -> str:
    return f"{uc.name}_daily"


def retrain_job_name(uc: UseCase) -> str:
    return f"{uc.name}_retrain"


def latest_drift(warehouse: Warehouse, uc: UseCase) -> DriftObservation | None:
    if not warehouse.table_exists(uc.name, "drift_report"):
        return None
    rows = warehouse.query("latest_drift", schema=uc.name)
    if rows.is_empty():
        return None
    row = rows.row(0, named=True)
    return DriftObservation(partition=row["partition_key"], score=float(row["score"]), created_at=row["created_at"])


def build_automation(uc: UseCase) -> tuple[list[Any], list[Any], list[dg.SensorDefinition]]:
    """The use case's jobs, schedules and sensors."""
    daily = dg.define_asset_job(
        daily_job_name(uc),
        selection=dg.AssetSelection.assets(*uc.raw_keys, *(uc.key(a) for a in DAILY_ASSETS)),
        description=f"The daily layers of {uc.name} for one day: ingest, prepare, label, predict, report drift.",
    )
    retrain = dg.define_asset_job(
        retrain_job_name(uc),
        selection=dg.AssetSelection.assets(*(uc.key(a) for a in RETRAIN_ASSETS)),
        description=f"Stage, gate and publish a new {uc.name} dataset version, train, and decide the champion.",
    )

    @dg.schedule(
        name=f"{uc.name}_nightly",
        cron_schedule="0 2 * * *",
        execution_timezone="UTC",
        job=daily,
        description="Every night at 02:00 UTC, run the daily layers for the day that just ended.",
    )
    def nightly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        ended = (context.scheduled_execution_time - timedelta(days=1)).date().isoformat()
        return dg.RunRequest(run_key=f"nightly-{ended}", partition_key=ended)

    cooldown = timedelta(hours=uc.spec.drift.cooldown_hours)
    threshold = uc.spec.drift.threshold

    @dg.sensor(
        name=f"{uc.name}_drift_sensor",
        job=retrain,
        minimum_interval_seconds=300,
        description=(
            f"Requests {retrain_job_name(uc)} when the newest drift report is at or over {threshold}, at most "
            f"once per report and once per {uc.spec.drift.cooldown_hours:g} h; every skip says why."
        ),
    )
    def drift_sensor(context: dg.SensorEvaluationContext, warehouse: Warehouse) -> dg.RunRequest | dg.SkipReason:
        state = json.loads(context.cursor) if context.cursor else {}
        last_at = datetime.fromisoformat(state["fired_at"]) if "fired_at" in state else None
        observation = latest_drift(warehouse, uc)
        decision = decide(
            observation,
            threshold=threshold,
            cooldown=cooldown,
            now=datetime.now(UTC),
            last_fired_at=last_at,
            last_fired_partition=state.get("partition"),
        )
        if not decision.fire:
            return dg.SkipReason(decision.reason)
        assert observation is not None  # decide() only fires on a report
        context.update_cursor(
            json.dumps({"fired_at": datetime.now(UTC).isoformat(), "partition": observation.partition})
        )
        return dg.RunRequest(run_key=decision.run_key, tags={"factory/reason": decision.reason[:200]})

    labeling, labeling_sensor = build_labeling_automation(uc)
    return [daily, retrain, labeling], [nightly], [drift_sensor, labeling_sensor, *build_source_sensors(uc, daily)]
