"""Monitoring layer: the champion's predictions per day, production corrections, and a daily drift report."""

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime

import dagster as dg
import polars as pl

from factory.core import gates
from factory.core.monitoring import drift_report as measure_drift
from factory.core.stats import mean
from factory.core.training import model_text, predict
from factory.defs.lineage import published_versions
from factory.defs.metadata import check_result, markdown_table, preview
from factory.defs.usecase import UseCase
from factory.demo import corrections, truth_for
from factory.resources.tracking import Tracking
from factory.resources.versions import VersionStoreResource
from factory.resources.warehouse import Warehouse

__all__ = ["build_monitoring"]


def build_monitoring(uc: UseCase) -> list[dg.AssetsDefinition]:
    predictions_key, feedback_key, drift_key = (
        uc.key("predictions"),
        uc.key("feedback"),
        uc.key("drift_report"),
    )
    group = uc.group("monitoring")
    id_column = uc.spec.schema.id
    threshold = uc.spec.drift.threshold

    @dg.asset(
        key=predictions_key,
        deps=[uc.key("prepared"), uc.key("champion")],
        group_name=group,
        partitions_def=uc.daily,
        kinds={"duckdb", "mlflow"},
        pool="warehouse",
        output_required=False,
        description=(
            "The champion model's predicted category and confidence for each prepared ticket of the day, with the "
            "model version that made it. Skipped (with a log line) while no champion exists yet."
        ),
    )
    def predictions(
        context: dg.AssetExecutionContext, warehouse: Warehouse, tracking: Tracking
    ) -> Iterator[dg.MaterializeResult]:
        champion = tracking.champion(uc.model_name)
        if champion is None:
            context.log.warning(f"no champion model for {uc.name} yet: run the retrain job first; skipping")
            return
        day = context.partition_key
        prepared = warehouse.read_partition(uc.name, "prepared", day)
        model = tracking.load(uc.model_name, champion.version)
        predicted = predict(model, prepared, uc.spec.text_columns, uc.spec.feature_columns)
        frame = pl.DataFrame(
            {
                id_column: prepared[id_column],
                "predicted_label": predicted["label"],
                "confidence": predicted["confidence"],
                "model_version": [champion.version] * prepared.height,
            },
            schema={
                id_column: pl.String,
                "predicted_label": pl.String,
                "confidence": pl.Float64,
                "model_version": pl.String,
            },
        )
        warehouse.replace_partition(uc.name, "predictions", day, frame)
        yield dg.MaterializeResult(
            metadata={
                "dagster/row_count": frame.height,
                "model_version": champion.version,
                "mean_confidence": round(mean(frame["confidence"]), 4),
                "predicted_mix": dg.MetadataValue.md(
                    markdown_table(frame.group_by("predicted_label").len().sort("len", descending=True).to_dicts())
                ),
                "preview": preview(frame, [id_column, "predicted_label", "confidence"]),
            }
        )

    @dg.asset(
        key=feedback_key,
        deps=[predictions_key],
        group_name=group,
        partitions_def=uc.daily,
        kinds={"duckdb"},
        pool="warehouse",
        output_required=False,
        description=(
            "Production corrections for the day: tickets an agent re-routed or confirmed, with the predicted and "
            "the corrected category. Their accuracy is the champion's accuracy as production sees it."
        ),
    )
    def feedback(context: dg.AssetExecutionContext, warehouse: Warehouse) -> Iterator[dg.MaterializeResult]:
        if uc.spec.demo_source is None:
            context.log.warning(f"{uc.name} has no feedback source yet (only the demo simulates agents); skipping")
            return
        day = context.partition_key
        predicted = warehouse.read_partition(uc.name, "predictions", day)
        if predicted.is_empty():
            raise dg.Failure(f"no predictions for {day}: materialize {predictions_key.to_user_string()} first")
        truth = truth_for(date.fromisoformat(day), uc.demo_config())
        made = corrections(
            predicted.select(id_column, "predicted_label"), truth, date.fromisoformat(day), uc.demo_config()
        )
        warehouse.replace_partition(uc.name, "feedback", day, made)
        accuracy = mean(made["predicted_label"] == made["corrected_label"])
        yield dg.MaterializeResult(metadata={"dagster/row_count": made.height, "reviewed_accuracy": round(accuracy, 4)})

    @dg.asset(
        key=drift_key,
        deps=[uc.key("prepared"), predictions_key, uc.key("dataset")],
        group_name=group,
        partitions_def=uc.daily,
        kinds={"duckdb", "polars"},
        pool="warehouse",
        check_specs=[
            dg.AssetCheckSpec(
                "drift_within_bounds",
                asset=drift_key,
                description=f"The day's drift score is under {threshold}.",
            )
        ],
        description=(
            "How far the day's tickets have moved from the training data of the published dataset: the predicted "
            "label mix, vocabulary and text length compared with the reference, and the terms new today. The "
            "drift sensor reads the newest report and asks for a retrain above the spec's threshold."
        ),
    )
    def drift_report(
        context: dg.AssetExecutionContext, warehouse: Warehouse, versions: VersionStoreResource
    ) -> dg.MaterializeResult:
        day = context.partition_key
        store = versions.open()
        published = published_versions(store, uc)
        if not published:
            raise dg.Failure("no published dataset to compare with yet")
        _, tag, commit_id = published[-1]
        reference = store.read_table(commit_id, uc.dataset_table).filter(pl.col("split") == "train")
        prepared = warehouse.read_partition(uc.name, "prepared", day)
        predicted = warehouse.read_partition(uc.name, "predictions", day)
        current = prepared.join(predicted.select(id_column, "predicted_label"), on=id_column, how="left")
        result = measure_drift(
            pl.Series(model_text(reference, uc.spec.text_columns, ())),
            reference["label"],
            pl.Series(model_text(current, uc.spec.text_columns, ())),
            current["predicted_label"] if not predicted.is_empty() else None,
        )
        row = pl.DataFrame(
            {
                "score": [result.score],
                "threshold": [threshold],
                "components": [json.dumps(result.components, sort_keys=True)],
                "top_new_terms": [json.dumps(result.top_new_terms)],
                "rows": [result.rows],
                "reference_version": [tag],
                "created_at": [datetime.now(UTC)],
            }
        )
        warehouse.replace_partition(uc.name, "drift_report", day, row)
        within = gates.GateResult(
            "drift_within_bounds",
            result.score < threshold,
            f"drift {result.score:.3f} {'<' if result.score < threshold else '>='} threshold {threshold}",
            {"score": round(result.score, 4), "threshold": threshold},
        )
        return dg.MaterializeResult(
            metadata={
                "score": round(result.score, 4),
                "threshold": threshold,
                "reference_version": tag,
                "components": dg.MetadataValue.md(
                    markdown_table([{"component": k, "value": round(v, 4)} for k, v in result.components.items()])
                ),
                "top_new_terms": dg.MetadataValue.md(
                    markdown_table([{"term": t, "count": n} for t, n in result.top_new_terms])
                ),
            },
            check_results=[check_result(drift_key, within, warn_only=True)],
        )

    return [predictions, feedback, drift_report]
