"""Automation, all of it for a use case in one place: the daily job on a nightly schedule, the retrain job and
the drift sensor that asks for it, the labeling job and the sensor that re-labels a day when new annotation
files or production corrections concern it, the feedback job and the sensor that reads new feedback files,
and one sensor per file drop. Names come from `UseCase`."""

import hashlib
import json
import os
import textwrap
from datetime import datetime, timedelta
from typing import Any

import dagster as dg
import polars as pl

from factory.core.monitoring import Decision, DriftObservation, Economics, decide
from factory.defs.labeling import LABELING_ASSETS
from factory.defs.lineage import published_versions
from factory.defs.training import CPU_SECONDS
from factory.defs.usecase import UseCase
from factory.plugins import PendingFile, annotation_source, feedback_source
from factory.resources.clock import Clock
from factory.resources.label_store import known_items, unread_duplicate_labels, unread_feedback
from factory.resources.landing import drop_of, file_partitions
from factory.resources.sources import SourceError
from factory.resources.tables import TableName
from factory.resources.versioning import VersionStore
from factory.resources.versions import VersionStoreResource
from factory.resources.warehouse import Warehouse
from factory.spec import FileSourceSpec, RetrainSpec

__all__ = [
    "DAILY_ASSETS",
    "NIGHTLY_CRON",
    "NIGHTLY_CRON_ENV",
    "RETRAIN_ASSETS",
    "build_automation",
    "decision_row",
    "last_retrain_cpu_seconds",
    "latest_drift",
    "new_labeled_rows",
    "nightly_cron",
    "retrain_economics",
]

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
    "factory_health",
    "data_inventory",
)
RETRAIN_ASSETS = ("dataset_candidate", "dataset", "model", "champion")
NIGHTLY_CRON = "0 2 * * *"
NIGHTLY_CRON_ENV = "FACTORY_NIGHTLY_CRON"


def latest_drift(warehouse: Warehouse, uc: UseCase) -> DriftObservation | None:
    """The newest drift report with the champion's quality in the use case's metric (`gates.quality_metric`)."""
    if not warehouse.table_exists(uc.name, "drift_report"):
        return None
    rows = warehouse.query("latest_drift", schema=uc.name)
    if rows.is_empty():
        return None
    row = rows.row(0, named=True)
    metric = uc.spec.gates.quality_metric
    return DriftObservation(
        partition=row["partition_key"],
        score=float(row["score"]),
        created_at=row["created_at"],
        rows=row["rows"],
        metric=metric,
        reference=row[f"reference_{metric}"],
        estimated=row[f"estimated_{metric}"],
        realized=row[f"realized_{metric}"],
        feedback_rows=row["feedback_rows"] or 0,
        estimated_error=row[f"estimated_{metric}_se"],
        realized_error=row[f"realized_{metric}_se"],
    )


def new_labeled_rows(warehouse: Warehouse, store: VersionStore, uc: UseCase) -> int:
    """Labeled rows of the days the published dataset version does not hold yet (all of them before the first
    version)."""
    if not warehouse.table_exists(uc.name, "labels"):
        return 0
    counts = warehouse.query("partition_counts", schema=uc.name, table="labels")
    published = published_versions(store, uc)
    held = set(store.get_commit(published[-1][2]).metadata.get("partitions", "").split(",")) if published else set()
    return int(counts.filter(~pl.col("partition_key").is_in(sorted(held)))["n"].sum())


def last_retrain_cpu_seconds(instance: dg.DagsterInstance, uc: UseCase) -> float | None:
    """The CPU-seconds of the newest ``model`` materialization that trained (rather than reused) a version."""
    records = instance.fetch_materializations(uc.key("model"), limit=20).records
    for record in records:
        materialization = record.asset_materialization
        if materialization is None:
            continue
        metadata = {k: v.value for k, v in materialization.metadata.items()}
        seconds = metadata.get(CPU_SECONDS)
        if metadata.get("reused") == "false" and isinstance(seconds, int | float):
            return float(seconds)
    return None


def retrain_economics(spec: RetrainSpec, cpu_seconds: float | None) -> Economics:
    """The policy's prices and bounds from the ``retrain:`` section; the retrain cost is the spec's figure, else
    the last retrain's CPU-seconds (``assumed_cpu_seconds`` before any was measured) at the spec's price."""
    if spec.retrain_cost is not None:
        cost, basis = spec.retrain_cost, f"{spec.retrain_cost:g} (retrain.retrain_cost)"
    else:
        seconds = cpu_seconds if cpu_seconds is not None else spec.assumed_cpu_seconds
        measured = "measured at the last retrain" if cpu_seconds is not None else "assumed: none measured yet"
        cost = seconds * spec.cost_per_cpu_second
        basis = f"{seconds:.1f} CPU-s ({measured}) x {spec.cost_per_cpu_second:g} per CPU-s"
    return Economics(
        cost_per_error=spec.cost_per_error,
        retrain_cost=cost,
        retrain_cost_basis=basis,
        horizon_days=spec.horizon_days,
        min_new_labeled_rows=spec.min_new_labeled_rows,
        min_feedback_rows=spec.min_feedback_rows,
        noise_margin=spec.noise_margin,
    )


def decision_row(
    decision: Decision, observation: DriftObservation | None, now: datetime, new_rows: int
) -> pl.DataFrame:
    """One ``retrain_decisions`` row (without its partition: the drift report's day)."""
    return pl.DataFrame(
        {
            "decided_at": [now],
            "fire": [decision.fire],
            "reason": [decision.reason],
            "score": [observation.score if observation is not None else None],
            "expected_benefit": [decision.expected_benefit],
            "retrain_cost": [decision.retrain_cost],
            "new_labeled_rows": [new_rows],
            "run_key": [decision.run_key],
        },
        schema_overrides={
            "score": pl.Float64,
            "expected_benefit": pl.Float64,
            "retrain_cost": pl.Float64,
            "run_key": pl.String,
        },
    )


def build_automation(uc: UseCase) -> tuple[list[Any], list[Any], list[dg.SensorDefinition]]:
    """The use case's jobs, schedules and sensors."""
    daily = dg.define_asset_job(
        uc.daily_job,
        selection=dg.AssetSelection.assets(*uc.raw_keys, *(uc.key(a) for a in DAILY_ASSETS)),
        description=(
            f"The daily layers of {uc.name} for one day: ingest, prepare, label, predict, report drift, then the "
            "factory health view and the data inventory."
        ),
    )
    retrain = dg.define_asset_job(
        uc.retrain_job,
        selection=dg.AssetSelection.assets(*(uc.key(a) for a in RETRAIN_ASSETS)),
        description=f"Stage, gate and publish a new {uc.name} dataset version, train, and decide the champion.",
    )
    labeling = dg.define_asset_job(
        uc.labeling_job,
        selection=dg.AssetSelection.assets(*(uc.key(a) for a in LABELING_ASSETS)),
        description=(
            f"Re-label one day of {uc.name}: gather its annotations again (new inbox files, production "
            "corrections), re-measure the annotators, aggregate, gate, and rebuild the review queue."
        ),
    )
    feedback = dg.define_asset_job(
        uc.feedback_job,
        selection=dg.AssetSelection.assets(uc.key("feedback")),
        description=f"Read one day's production corrections of {uc.name} again from its feedback sources.",
    )
    sensors = [_drift_sensor(uc, retrain), _labeling_sensor(uc, labeling)]
    if uc.spec.feedback_sources:
        sensors.append(_feedback_sensor(uc, feedback))
    sensors += [_drop_sensor(uc, s, daily) for s in uc.spec.sources if isinstance(s, FileSourceSpec)]
    return [daily, retrain, labeling, feedback], [_nightly(uc, daily)], sensors


def nightly_cron() -> str:
    """The nightly schedule's cron (UTC): `NIGHTLY_CRON`, or ``FACTORY_NIGHTLY_CRON`` when set (a test lets the
    daemon fire the schedule a minute ahead)."""
    return os.environ.get(NIGHTLY_CRON_ENV) or NIGHTLY_CRON


def _nightly(uc: UseCase, daily: Any) -> dg.ScheduleDefinition:
    cron = nightly_cron()
    description = (
        "Every night at 02:00 UTC, run the daily layers for the day that just ended."
        if cron == NIGHTLY_CRON
        else f"On cron `{cron}` (UTC, set by {NIGHTLY_CRON_ENV}; the default is 02:00 every night), run the daily "
        "layers for the day before the tick."
    )

    def nightly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        ended = (context.scheduled_execution_time - timedelta(days=1)).date().isoformat()
        return dg.RunRequest(run_key=f"nightly-{ended}", partition_key=ended)

    try:
        return dg.schedule(
            name=uc.nightly_schedule,
            cron_schedule=cron,
            execution_timezone="UTC",
            job=daily,
            description=description,
        )(nightly)
    except dg.DagsterInvalidDefinitionError as error:
        raise ValueError(f"{NIGHTLY_CRON_ENV}={cron!r} is not a cron schedule: {error}") from None


def _drift_sensor(uc: UseCase, retrain: Any) -> dg.SensorDefinition:
    cooldown = timedelta(hours=uc.spec.drift.cooldown_hours)
    threshold = uc.spec.drift.threshold
    release = uc.spec.drift.release_score
    prices = uc.spec.retrain

    @dg.sensor(
        name=uc.drift_sensor,
        job=retrain,
        minimum_interval_seconds=300,
        description=(
            f"Requests {uc.retrain_job} when a retrain pays for itself: the champion's drop in "
            f"{uc.spec.gates.quality_metric} (realized from feedback, else estimated without labels; beyond "
            f"{prices.noise_margin:g}) x the day's rows x {prices.horizon_days:g} days x {prices.cost_per_error:g} "
            "per error must exceed the retrain cost (the last retrain's CPU-seconds at "
            f"{prices.cost_per_cpu_second:g} each, unless `retrain.retrain_cost` fixes it); without a performance "
            f"figure, when the newest drift report is at or over {threshold}. At least "
            f"{prices.min_new_labeled_rows} new labeled rows, at most once per report and once per "
            f"{uc.spec.drift.cooldown_hours:g} h; within an episode of requests less than {prices.horizon_days:g} "
            "days apart, the next waits until the episode's labeled days have doubled, and asks while the score "
            f"is at or over {release:g} (the release). Every decision, fire or skip, is kept in `retrain_decisions` "
            "with its reason and figures, and observed on the drift report when it changes."
        ),
    )
    def drift_sensor(
        context: dg.SensorEvaluationContext, warehouse: Warehouse, versions: VersionStoreResource, clock: Clock
    ) -> dg.SensorResult:
        now = clock.now()
        state = json.loads(context.cursor) if context.cursor else {}
        last_at = datetime.fromisoformat(state["fired_at"]) if "fired_at" in state else None
        episode = datetime.fromisoformat(state["episode_started_at"]) if "episode_started_at" in state else None
        observation = latest_drift(warehouse, uc)
        new_rows = new_labeled_rows(warehouse, versions.open(), uc)
        decision = decide(
            observation,
            threshold=threshold,
            cooldown=cooldown,
            now=now,
            last_fired_at=last_at,
            last_fired_partition=state.get("partition"),
            economics=retrain_economics(prices, last_retrain_cpu_seconds(context.instance, uc)),
            new_labeled_rows=new_rows,
            episode_started_at=episode,
            release=release,
        )
        events = []
        if observation is not None:
            warehouse.append_partition(
                uc.name, "retrain_decisions", observation.partition, decision_row(decision, observation, now, new_rows)
            )
            said = [observation.partition, decision.fire, decision.rule]
            if state.get("said") != said:  # one observation per change of decision, not one per 5-minute tick
                events.append(_decision_event(uc, observation.partition, decision, new_rows))
                state["said"] = said
        if decision.episode_ended:
            state.pop("episode_started_at", None)
        tags = {"factory/reason": textwrap.shorten(decision.reason, width=200, placeholder=" ... (retrain_decisions)")}
        tags |= {f"factory/{k}": f"{v:.1f}" for k, v in _figures(decision).items()}
        if not decision.fire:
            return dg.SensorResult(
                skip_reason=dg.SkipReason(decision.reason), cursor=json.dumps(state), asset_events=events
            )
        assert observation is not None  # decide() only fires on a report
        assert decision.episode_started_at is not None  # set on every request
        state |= {
            "fired_at": now.isoformat(),
            "partition": observation.partition,
            "episode_started_at": decision.episode_started_at.isoformat(),
        }
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=decision.run_key, tags=tags)],
            cursor=json.dumps(state),
            asset_events=events,
        )

    return drift_sensor


def _figures(decision: Decision) -> dict[str, float]:
    """The figures a decision weighed, by name, leaving out those it did not need."""
    figures = {"expected_benefit": decision.expected_benefit, "retrain_cost": decision.retrain_cost}
    return {k: v for k, v in figures.items() if v is not None}


def _decision_event(uc: UseCase, partition: str, decision: Decision, new_rows: int) -> dg.AssetObservation:
    """The decision as an observation of the drift report it read, so the asset's page lists the decisions."""
    return dg.AssetObservation(
        asset_key=uc.key("drift_report"),
        partition=partition,
        metadata={
            "retrain_decision": "fire" if decision.fire else "skip",
            "reason": decision.reason,
            "new_labeled_rows": new_rows,
            "basis": decision.basis or "-",
            **{k: round(v, 2) for k, v in _figures(decision).items()},
        },
    )


def _done(warehouse: Warehouse, uc: UseCase, table: TableName, kind: str | None = None) -> set[str]:
    """``sha256 + partition_key`` of the files a ledger table says were read for a day."""
    ledger = warehouse.read_table(uc.name, table)
    if not ledger.height:
        return set()
    if kind is not None:
        ledger = ledger.filter(pl.col("kind") == kind)
    return set(ledger.drop_nulls("sha256").select(pl.concat_str("sha256", "partition_key")).to_series())


def _file_requests(pending: list[PendingFile], done: set[str], prefix: str, what: str) -> list[dg.RunRequest]:
    """One run request per day that new files concern (a file already read for a day adds nothing), keyed by
    the day and the content hashes of its files, so the same files never ask twice."""
    by_day: dict[str, list[PendingFile]] = {}
    for file in pending:
        for day in file.days:
            if file.sha256 + day not in done:
                by_day.setdefault(day, []).append(file)
    requests = []
    for day, files in sorted(by_day.items()):
        hashes = hashlib.sha256("".join(sorted(f.sha256 for f in files)).encode()).hexdigest()[:20]
        names = ", ".join(sorted(f.relative for f in files))
        requests.append(
            dg.RunRequest(
                run_key=f"{prefix}:{day}:{hashes}",
                partition_key=day,
                tags={"factory/reason": f"{what}: {names}"[:200]},
            )
        )
    return requests


def _unread(days: pl.DataFrame, what: str, total: str, text: str) -> pl.DataFrame:
    """``partition_key, total, reason, what``: days with more of ``what`` to read (column ``total``) than was
    read (``read``), the reason saying how many more (``<n> <text> <day>``)."""
    return days.select(
        "partition_key",
        pl.col(total).alias("total"),
        pl.format("{} {} {}", pl.col(total) - pl.col("read"), pl.lit(text), "partition_key").alias("reason"),
        pl.lit(what).alias("what"),
    )


def _labeling_sensor(uc: UseCase, job: Any) -> dg.SensorDefinition:
    sources = [(source, annotation_source(source.kind)) for source in uc.spec.annotation_sources]

    @dg.sensor(
        name=uc.labeling_sensor,
        job=job,
        minimum_interval_seconds=300,
        description=(
            f"Requests {uc.labeling_job} for every day a new annotation file concerns (the days of the items it "
            "labels, and the day its rejects are filed under), once per file and day, for every day whose "
            "production corrections outnumber those its annotations have read, and (pre-labeled data) for every "
            "day whose items gained duplicates on a later day, whose labels count for the items kept."
        ),
    )
    def labeling_sensor(context: dg.SensorEvaluationContext, warehouse: Warehouse) -> dg.SensorResult:
        unread = _unread(
            unread_feedback(warehouse, uc.name), "feedback", "corrections", "new production correction(s) for"
        )
        if uc.spec.label_columns:
            copies = unread_duplicate_labels(warehouse, uc.name, uc.spec.schema.id)
            unread = pl.concat([unread, _unread(copies, "duplicates", "rows", "later duplicate(s) of the items of")])
        requests = [
            dg.RunRequest(
                run_key=f"{row['what']}:{row['partition_key']}:{row['total']}",
                partition_key=row["partition_key"],
                tags={"factory/reason": row["reason"]},
            )
            for row in unread.iter_rows(named=True)
        ]
        handled = set(json.loads(context.cursor)) if context.cursor else set()
        known = known_items(warehouse, uc.name, uc.spec.schema.id)
        done = _done(warehouse, uc, "annotation_sources", kind="inbox")
        pending = [file for source, kind in sources for file in kind.pending(uc.spec, source, known, handled)]
        requests += _file_requests(pending, done, "inbox", "new annotation file(s)")
        handled |= {file.sha256 for file in pending}
        cursor = json.dumps(sorted(handled))
        if requests:
            return dg.SensorResult(run_requests=requests, cursor=cursor)
        return dg.SensorResult(
            skip_reason=dg.SkipReason("no new annotation file and no unread production correction"), cursor=cursor
        )

    return labeling_sensor


def _feedback_sensor(uc: UseCase, job: Any) -> dg.SensorDefinition:
    sources = [(source, feedback_source(source.kind)) for source in uc.spec.feedback_sources]

    @dg.sensor(
        name=uc.feedback_sensor,
        job=job,
        minimum_interval_seconds=300,
        description=(
            f"Requests {uc.feedback_job} for every day a new production-feedback file concerns (the days of the "
            "items it corrects, and the day its rejects are filed under), once per content hash: a file whose "
            "content is in the `feedback_files` ledger is not read again. The labeling sensor then re-labels "
            "those days."
        ),
    )
    def feedback_sensor(context: dg.SensorEvaluationContext, warehouse: Warehouse) -> dg.SensorResult:
        handled = set(json.loads(context.cursor)) if context.cursor else set()
        known = known_items(warehouse, uc.name, uc.spec.schema.id)
        ledger = warehouse.read_table(uc.name, "feedback_files")
        read = set(ledger.get_column("sha256").to_list())
        pending = [file for source, kind in sources for file in kind.pending(uc.spec, source, known, handled | read)]
        requests = _file_requests(pending, set(), "feedback-files", "new feedback file(s)")
        handled |= {file.sha256 for file in pending}
        cursor = json.dumps(sorted(handled))
        if requests:
            return dg.SensorResult(run_requests=requests, cursor=cursor)
        return dg.SensorResult(skip_reason=dg.SkipReason("no new feedback file"), cursor=cursor)

    return feedback_sensor


def _drop_sensor(uc: UseCase, source: FileSourceSpec, daily_job: Any) -> dg.SensorDefinition:
    """New files of a drop folder (by content hash) become run requests for their days, once."""

    @dg.sensor(
        name=uc.files_sensor(source.name),
        job=daily_job,
        minimum_interval_seconds=60,
        description=(
            f"Watches `{source.path}` ({source.pattern}) and requests the daily layers for each day a new file "
            "contributes to. A file is new until its content hash is in the ledger; run keys make each request once."
        ),
    )
    def drop_sensor(context: dg.SensorEvaluationContext, warehouse: Warehouse) -> dg.SensorResult:
        drop = drop_of(source)
        files = drop.scan()
        ledger = warehouse.read_table(uc.name, "source_files")
        seen = set(ledger.filter(pl.col("source") == source.name)["sha256"].to_list())
        requests, undated = [], []
        for file in files:
            if file.sha256 in seen:
                continue
            try:
                partitions = file_partitions(uc.spec, source, drop, file)
            except SourceError as error:  # deleted or changed since the scan: the next tick sees it again
                context.log.warning(f"{file.relative}: {error}; looked at again on the next tick")
                continue
            if not partitions:
                undated.append(file.relative)
            for partition in partitions:
                run_key = f"{source.name}:{file.sha256[:20]}:{partition}"
                requests.append(dg.RunRequest(run_key=run_key, partition_key=partition))
            seen.add(file.sha256)
        for path in undated:
            context.log.warning(f"{path}: holds no rows to file under a day; nothing to ingest")
        if requests:
            return dg.SensorResult(run_requests=requests)
        skipped = f"no new files in {source.path} ({len(files)} known)"
        extra = [f"{len(undated)} undated", f"{len(drop.refused)} refused", f"{len(drop.vanished)} vanished"]
        return dg.SensorResult(skip_reason=dg.SkipReason(f"{skipped}; " + ", ".join(extra)))

    return drop_sensor
