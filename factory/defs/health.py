"""Factory health and data inventory: the two views a data engineer opens first.

Both are daily-partitioned and part of the daily job, so the nightly schedule refreshes them with the day's data
(a job cannot mix partitioned and unpartitioned assets, and a separate job would need its own schedule). They
declare no upstream asset on purpose: a dependency inside the daily job would skip them whenever an upstream
step fails or a blocking gate stops it, which is exactly the day the health view must turn red. Instead they
carry the lowest step priority (``dagster/priority``), so the in-process executor runs them after every other
step of the day's run, and read what the other layers wrote: the warehouse tables, the Dagster instance (check
evaluations, materializations, retrain runs) and the MLflow registry.

Gate failures come from the asset check evaluations in the instance rather than from warehouse tables: every
blocking gate of every layer records its evaluation there (only the label gate also writes a table), so one
reading covers them all, with the check's own summary.
"""

import base64
import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import polars as pl

from factory.core.health import (
    LAYERS,
    ChampionState,
    DatasetState,
    GateFailure,
    HealthInputs,
    Kpi,
    RetrainRun,
    health_bounds,
    health_kpis,
    inventory,
    layer_verdicts,
    overall,
    readiness_rules,
    trend_text,
    window,
)
from factory.core.safe_text import markdown_text
from factory.defs.metadata import markdown_table, table_metadata
from factory.defs.usecase import UseCase
from factory.resources.charts import chart_file, health_chart
from factory.resources.health_store import daily_counts, quarantine_reasons, source_counts, spammers
from factory.resources.tables import TableName
from factory.resources.tracking import Tracking
from factory.resources.warehouse import Warehouse

__all__ = ["LAST_STEP", "build_health", "health_frame", "layer_of"]

LAST_STEP = {"dagster/priority": "-100"}
"""Op tags that make the in-process executor run a step after every other ready step of its run."""

_LAYER_OF = {
    "prepared": "preparation",
    "quarantine": "preparation",
    "duplicates": "preparation",
    "annotations": "labeling",
    "annotator_report": "labeling",
    "labels": "labeling",
    "review_queue": "labeling",
    "dataset_candidate": "dataset",
    "dataset": "dataset",
    "model": "model",
    "champion": "model",
    "predictions": "monitoring",
    "feedback": "monitoring",
    "drift_report": "monitoring",
}
_VERDICT_MARK = {"green": "🟢 green", "yellow": "🟡 yellow", "red": "🔴 red", "info": "info", "n/a": "n/a"}
_HISTORY_LIMIT = 1000
_LEVEL = {"green": 0, "yellow": 1, "red": 2}
"""The overall verdict as a number (n/a and info count as green), so the UI plots it per partition."""


def layer_of(asset: str) -> str:
    """The health layer an asset's gates belong to (the sources' raw assets count with preparation)."""
    return "preparation" if asset.startswith("raw_") else _LAYER_OF.get(asset, "monitoring")


def _gate_outcomes(
    instance: dg.DagsterInstance, checks: Sequence[dg.AssetCheckKey], days: Sequence[str]
) -> tuple[list[GateFailure], dict[str, int]]:
    """The blocking gates whose newest evaluation failed, and the number of gates evaluated per layer. A gate of
    a partitioned asset counts per day of the window (the day is its run's partition: Dagster records the check
    evaluation without one), a gate of an unpartitioned asset by its newest evaluation; either way a re-run that
    passed clears a failure."""
    failures: list[GateFailure] = []
    evaluated: dict[str, int] = {}
    partitions: dict[str, str | None] = {}
    for key in checks:
        asset = key.asset_key.path[-1]
        newest: dict[str | None, dg.AssetCheckEvaluation] = {}
        for record in instance.event_log_storage.get_asset_check_execution_history(key, limit=_HISTORY_LIMIT):
            event = record.event.dagster_event if record.event is not None else None
            evaluation = event.event_specific_data if event is not None else None
            if not isinstance(evaluation, dg.AssetCheckEvaluation):
                continue
            if record.run_id not in partitions:
                run = instance.get_run_by_id(record.run_id)
                partitions[record.run_id] = run.tags.get("dagster/partition") if run is not None else None
            partition = record.partition or partitions[record.run_id]
            if partition is not None and not days[0] <= partition <= days[-1]:
                continue
            newest.setdefault(partition, evaluation)  # records come newest first
        if newest:
            evaluated[layer_of(asset)] = evaluated.get(layer_of(asset), 0) + 1
        for partition, evaluation in sorted(newest.items(), key=lambda item: item[0] or ""):
            if not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR:
                failures.append(GateFailure(layer_of(asset), asset, key.name, partition, evaluation.description or ""))
    return failures, evaluated


def _latest_metadata(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict[str, Any]:
    event = instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        return {}
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def _dataset(instance: dg.DagsterInstance, uc: UseCase) -> DatasetState | None:
    metadata = _latest_metadata(instance, uc.key("dataset"))
    if not metadata.get("version"):
        return None
    return DatasetState(str(metadata["version"]), int(metadata.get("dagster/row_count", 0) or 0))


def _champion(instance: dg.DagsterInstance, tracking: Tracking, uc: UseCase) -> ChampionState | None:
    metric = uc.spec.gates.quality_metric
    record = tracking.champion(uc.model_name)
    decided = _latest_metadata(instance, uc.key("champion"))
    if record is None and not decided:
        return None
    value = record.metrics.get(f"test_{metric}") if record is not None else None
    return ChampionState(
        version=record.version if record is not None else None,
        metric=metric,
        value=value,
        decision=str(decided.get("decision", "")),
        reason=str(decided.get("reason", "")),
    )


def _retrains(instance: dg.DagsterInstance, uc: UseCase) -> list[RetrainRun]:
    """The retrain job's runs, oldest first, each on the drift day its sensor run key names (``drift-<day>``),
    else on the calendar day it was created."""
    records = instance.get_run_records(dg.RunsFilter(job_name=uc.retrain_job), limit=_HISTORY_LIMIT)
    runs = []
    for record in records:
        tags = record.dagster_run.tags
        run_key = tags.get("dagster/run_key", "")
        day = run_key.removeprefix("drift-") if run_key.startswith("drift-") else None
        created = record.create_timestamp.astimezone(UTC).date().isoformat()
        runs.append(RetrainRun(day or created, record.dagster_run.status.value, tags.get("factory/reason", "")))
    return sorted(runs, key=lambda run: run.day)


def _window_rows(warehouse: Warehouse, schema: str, table: TableName, first: str, last: str) -> pl.DataFrame:
    """The rows of ``table`` from ``first`` to ``last`` with their ``partition_key``."""
    return warehouse.read_rows(schema, table, "read_range", [first, last])


def health_frame(kpis: Sequence[Kpi]) -> pl.DataFrame:
    """The rows the ``factory_health`` table stores for one day (without ``partition_key``)."""
    return pl.DataFrame(
        [
            {
                "layer": k.layer,
                "kpi": k.name,
                "value": k.value,
                "shown": k.shown,
                "verdict": k.verdict,
                "bounds": k.bounds.describe(),
                "trend": trend_text(k.trend),
                "trend_values": json.dumps(list(k.trend)),
                "note": k.note,
                "position": position,
            }
            for position, k in enumerate(kpis)
        ],
        schema={
            "layer": pl.String,
            "kpi": pl.String,
            "value": pl.Float64,
            "shown": pl.String,
            "verdict": pl.String,
            "bounds": pl.String,
            "trend": pl.String,
            "trend_values": pl.String,
            "note": pl.String,
            "position": pl.Int64,
        },
    )


def _figure_key(kpi: Kpi) -> str:
    return f"{kpi.layer}_failed_gates" if kpi.name == "blocking_gates" else kpi.name


def _view(uc: UseCase, name: str, description: str) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
    """The asset decorator both views share: daily partitions in the monitoring group, their table's metadata,
    the warehouse pool and the last step of the run."""
    return dg.asset(
        key=uc.key(name),
        metadata=table_metadata(uc.spec, name),
        group_name=uc.group("monitoring"),
        partitions_def=uc.daily,
        kinds={"duckdb", "polars"},
        pool="warehouse",
        op_tags=LAST_STEP,
        description=description,
    )


def _health_asset(uc: UseCase, blocking: Sequence[dg.AssetCheckKey]) -> dg.AssetsDefinition:
    spec = uc.spec
    bounds = health_bounds(spec)
    days_back = spec.health.window_days
    declared = {layer: sum(layer_of(k.asset_key.path[-1]) == layer for k in blocking) for layer in LAYERS}
    listed = ", ".join(f"`{name}` ({b.describe()})" for name, b in bounds.items() if b.bounded)

    @_view(
        uc,
        "factory_health",
        (
            f"Is the {uc.name} factory healthy? For the {days_back} days up to the partition's day "
            "(`health.window_days`), a few KPIs per layer with their trend and a green / yellow / red verdict: "
            "preparation (rows in, quarantine, duplicate and PII rates), labeling (annotations, agreement, spammers), "
            "dataset (published version and rows), model (the champion's test metric, the last promotion decision), "
            "monitoring (drift score, estimated and realized performance drop against the champion's reference, "
            "the retrain job's runs with their `factory/reason`, counted on the drift day their sensor run key "
            "names or else the calendar day they ran, and the drift sensor's retrain decisions). Bounds from the "
            "`health` spec section: "
            f"{listed}. A blocking gate whose newest evaluation failed for a day of the window (check evaluations in "
            "the Dagster instance) turns its layer red; the overall verdict is the worst layer. Runs last in the "
            "daily run and depends on no asset, so a failed gate never skips it. Stored in `factory_health`; "
            "`factory health NAME` prints the same table."
        ),
    )
    def factory_health(
        context: dg.AssetExecutionContext, warehouse: Warehouse, tracking: Tracking
    ) -> dg.MaterializeResult:
        day = context.partition_key
        days = window(day, days_back)
        first = days[0]
        name = uc.name
        with warehouse.get_connection():  # one connection for the window's reads, and only for them
            history = _window_rows(warehouse, name, "factory_health", first, day).filter(pl.col("partition_key") != day)
            label_quality = _window_rows(warehouse, name, "label_quality", first, day)
            sources = source_counts(warehouse, spec, day).filter(pl.col("partition_key") >= first)
            annotations = daily_counts(warehouse, name, "annotations", first, day)
            annotators = spammers(warehouse, name, first, day)
            drift = _window_rows(warehouse, name, "drift_report", first, day)
            decisions = _window_rows(warehouse, name, "retrain_decisions", first, day)
        failures, evaluated = _gate_outcomes(context.instance, blocking, days)
        inputs = HealthInputs(
            days=days,
            sources=sources,
            annotations=annotations,
            label_quality=label_quality,
            annotators=annotators,
            drift=drift,
            decisions=decisions,
            history=history,
            dataset=_dataset(context.instance, uc),
            champion=_champion(context.instance, tracking, uc),
            retrains=_retrains(context.instance, uc),
            failures=failures,
            gates={layer: (evaluated.get(layer, 0), count) for layer, count in declared.items()},
        )
        kpis = health_kpis(inputs, bounds)
        warehouse.replace_partition(name, "factory_health", day, health_frame(kpis))
        verdict = overall(kpis)
        layers = layer_verdicts(kpis)
        png = health_chart(kpis, days, chart_file(name, day))
        metadata: dict[str, Any] = {
            "overall": verdict,
            "overall_level": _LEVEL.get(verdict, 0),
            "layers": ", ".join(f"{layer} {v}" for layer, v in layers.items()),
            "red_kpis": sum(k.verdict == "red" for k in kpis),
            "yellow_kpis": sum(k.verdict == "yellow" for k in kpis),
            "health": dg.MetadataValue.md(_markdown(kpis, verdict, days_back)),
        }
        metadata |= {_figure_key(k): round(k.value, 6) for k in kpis if k.value is not None}
        if png is not None:
            metadata["trends"] = dg.MetadataValue.md(
                f"![KPI trends over {days_back} days](data:image/png;base64,{base64.b64encode(png).decode()})"
            )
            metadata["chart_file"] = dg.MetadataValue.path(str(chart_file(name, day)))
        return dg.MaterializeResult(metadata=metadata)

    return factory_health


def _markdown(kpis: Sequence[Kpi], verdict: str, days_back: int) -> str:
    rows = [
        {
            "layer": k.layer,
            "KPI": k.name,
            "today": k.shown,
            f"{days_back}-day trend": trend_text(k.trend),
            "bounds": k.bounds.describe(),
            "verdict": _VERDICT_MARK.get(k.verdict, k.verdict),
        }
        for k in kpis
    ]
    notes = [
        f"- {k.layer} / {k.name}: {markdown_text(k.note)}" for k in kpis if k.note and k.verdict in ("red", "yellow")
    ]
    head = f"**Overall: {_VERDICT_MARK.get(verdict, verdict)}**"
    return "\n\n".join([head, markdown_table(rows), *(["\n".join(notes)] if notes else [])])


def _inventory_asset(uc: UseCase) -> dg.AssetsDefinition:
    spec = uc.spec
    rules = readiness_rules(spec)

    @_view(
        uc,
        "data_inventory",
        (
            f"Which of the {uc.name} data is worth labeling first? Per source, over every day up to the partition's "
            "day: volume (rows, days with rows), freshness (newest day, last ingestion), schema conformance (share "
            "not quarantined, with the quarantine reasons), label coverage (labeled / prepared items), PII share "
            "(prepared rows in which PII was replaced) and duplicate share, and a readiness verdict: `fix quality "
            f"first` at a quarantine rate of {rules.max_quarantine_rate:g} or a duplicate share of "
            f"{rules.max_duplicate_share:g} (the red bounds of `health`), `label first` under "
            f"{rules.ready_coverage:.0%} label coverage (`health.ready_coverage`), else `ready`; `priority` ranks "
            "the sources to label. Daily-partitioned in the daily job (the inventory as of each day); runs last, "
            "like `factory_health`. Stored in `data_inventory`."
        ),
    )
    def data_inventory(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        day = context.partition_key
        ingested = {}
        for source in spec.sources:
            event = context.instance.get_latest_materialization_event(uc.raw_key(source.name))
            ingested[source.name] = datetime.fromtimestamp(event.timestamp, UTC) if event is not None else None
        with warehouse.get_connection():  # one connection for both reads
            counts, reasons = source_counts(warehouse, spec, day), quarantine_reasons(warehouse, uc.name, day)
        frame = inventory(counts, reasons, ingested, rules)
        warehouse.replace_partition(uc.name, "data_inventory", day, frame)
        shown = frame.select(
            "priority",
            "source",
            "readiness",
            "why",
            "rows",
            "days",
            "newest_day",
            pl.col("ingested_at").dt.strftime("%Y-%m-%d %H:%M UTC"),
            pl.col("conformance").round(4),
            "quarantine_reasons",
            pl.col("label_coverage").round(4),
            pl.col("pii_share").round(4),
            pl.col("duplicate_share").round(4),
        )
        first = frame.filter(pl.col("readiness") == "label first")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": frame.height,
                "inventory": dg.MetadataValue.md(markdown_table(shown.to_dicts())),
                "label_first": ", ".join(first["source"].to_list()) or "none",
                "ready_sources": int((frame["readiness"] == "ready").sum()),
                "sources_to_fix": int((frame["readiness"] == "fix quality first").sum()),
            }
        )

    return data_inventory


def build_health(uc: UseCase, blocking: Sequence[dg.AssetCheckKey]) -> list[dg.AssetsDefinition]:
    """The health view and the data inventory of a use case; ``blocking`` lists its blocking gates."""
    return [_health_asset(uc, blocking), _inventory_asset(uc)]
