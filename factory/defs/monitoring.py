"""Monitoring layer: the champion's predictions per day, production corrections from every declared feedback
source, and a daily drift report."""

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import polars as pl

from factory.core import gates
from factory.core.labeling import REJECTS_SCHEMA, corrections_table
from factory.core.monitoring import ReferenceStats, drift_against
from factory.core.stats import mean
from factory.core.training import ModelColumns, joined_text, predict
from factory.defs.lineage import published_versions
from factory.defs.metadata import check_result, markdown_list, markdown_table, preview, table_metadata
from factory.defs.usecase import UseCase
from factory.plugins import FeedbackBatch, feedback_source
from factory.resources.label_store import known_items
from factory.resources.tracking import Tracking
from factory.resources.versions import VersionStoreResource
from factory.resources.warehouse import Warehouse

__all__ = ["build_monitoring"]

_PERFORMANCE_COLUMNS = (
    "reference_macro_f1",
    "reference_accuracy",
    "estimated_macro_f1",
    "estimated_accuracy",
    "realized_macro_f1",
    "realized_accuracy",
)


def build_monitoring(uc: UseCase) -> list[dg.AssetsDefinition]:
    predictions_key, drift_key = uc.key("predictions"), uc.key("drift_report")
    group = uc.group("monitoring")
    id_column = uc.spec.schema.id
    threshold = uc.spec.drift.threshold

    @dg.asset(
        key=predictions_key,
        metadata=table_metadata(uc.spec, "predictions"),
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
        predicted = predict(model, prepared, ModelColumns.of(uc.spec))
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

    feedback = _feedback_asset(uc)

    @dg.asset(
        key=drift_key,
        metadata=table_metadata(uc.spec, "drift_report"),
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
            "How far the day's rows have moved from the training data of the published dataset: the predicted "
            "label mix, vocabulary and text length (when the use case has text) and every feature (numeric: PSI "
            "at the reference deciles; categorical: Jensen-Shannon of the category mix on the PSI scale) compared "
            "with the reference, the terms new today and the features that moved most. The score is the largest "
            f"component; the drift sensor reads the newest report and asks for a retrain at or above {threshold} "
            "(`drift.threshold`)."
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
        text = uc.spec.text_columns
        numeric, categorical = uc.spec.numeric_features, uc.spec.categorical_features
        stats = ReferenceStats.of(
            reference,
            numeric=numeric,
            categorical=categorical,
            text=joined_text(reference, text) if text else None,
            labels=reference["label"],
        )
        result = drift_against(
            stats,
            current,
            numeric=numeric,
            categorical=categorical,
            text=joined_text(current, text) if text else None,
            labels=current["predicted_label"] if not predicted.is_empty() else None,
        )
        verdicts = [
            {"component": name, "value": value, "threshold": threshold, "drifted": value >= threshold}
            for name, value in result.components.items()
        ]
        versions_used = predicted["model_version"].drop_nulls().unique().sort()
        row = pl.DataFrame(
            {
                "score": [result.score],
                "threshold": [threshold],
                "components": [json.dumps(result.components, sort_keys=True)],
                "top_new_terms": [json.dumps(result.top_new_terms)],
                "rows": [result.rows],
                "reference_version": [tag],
                "created_at": [datetime.now(UTC)],
                "drifted": [result.score >= threshold],
                "verdicts": [json.dumps(verdicts)],
                "top_features": [json.dumps(result.top_features)],
                "champion_version": [versions_used[-1] if versions_used.len() else None],
                **{key: [None] for key in _PERFORMANCE_COLUMNS},
                "feedback_rows": [0],
            },
            schema_overrides=dict.fromkeys(_PERFORMANCE_COLUMNS, pl.Float64) | {"champion_version": pl.String},
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
                "top_drifted_features": dg.MetadataValue.md(
                    markdown_table([{"feature": f, "drift": round(v, 4)} for f, v in result.top_features])
                ),
            },
            check_results=[check_result(drift_key, within, warn_only=True)],
        )

    return [predictions, feedback, drift_report]


def _feedback_asset(uc: UseCase) -> dg.AssetsDefinition:
    """Production corrections for the day from each feedback source of the spec (resolved through
    `factory.plugins`), with the prediction they correct when there is one."""
    key = uc.key("feedback")
    id_column = uc.spec.schema.id
    sources = uc.spec.feedback_sources
    kinds = [(source, feedback_source(source.kind)) for source in sources]
    names = ", ".join(f"`{s.name}` ({s.kind})" for s in sources) or "none declared"

    @dg.asset(
        key=key,
        metadata=table_metadata(uc.spec, "feedback"),
        deps=[uc.key("predictions") if uc.feedback_needs_predictions else uc.key("prepared")],
        group_name=uc.group("monitoring"),
        partitions_def=uc.daily,
        kinds={"duckdb"},
        pool="warehouse",
        output_required=False,
        description=(
            f"Production corrections of the day's items from the feedback sources ({names}; `feedback.sources`): "
            f"`{id_column}, predicted_label, corrected_label, corrected_at, reviewer, source`. Their accuracy is the "
            "champion's accuracy as production sees it. A correction that cannot be used (unknown item, label "
            "outside the taxonomy, bad timestamp, missing field, malformed line, unreadable file) goes to "
            "`feedback_rejects` with its reason; `feedback_files` records each file read, by content hash."
        ),
    )
    def feedback(context: dg.AssetExecutionContext, warehouse: Warehouse) -> Iterator[dg.MaterializeResult]:
        if not sources:
            context.log.warning(f"{uc.name} declares no feedback source (feedback.sources); skipping")
            return
        day = context.partition_key
        predicted = warehouse.read_partition(uc.name, "predictions", day)
        predictions = predicted.select(id_column, "predicted_label")
        known = known_items(warehouse, uc.name, id_column)
        batches: list[tuple[str, FeedbackBatch]] = []
        for source, kind in kinds:
            try:
                batches.append((source.name, kind.collect(uc.spec, source, day, predictions, known)))
            except ValueError as error:
                raise dg.Failure(f"feedback source {source.name} ({source.kind}): {error}") from None
        made = corrections_table([(name, b.corrections) for name, b in batches], predictions, id_column)
        rejects = pl.concat([pl.DataFrame(schema=REJECTS_SCHEMA), *(b.rejects for _, b in batches)], how="vertical")
        files = pl.DataFrame(
            [entry for _, b in batches for entry in b.files], schema=uc.tables["feedback_files"].rows_schema
        )
        warehouse.replace_partition(uc.name, "feedback", day, made)
        warehouse.replace_partition(uc.name, "feedback_rejects", day, rejects)
        warehouse.replace_partition(uc.name, "feedback_files", day, files)
        notes = [note for _, b in batches for note in b.notes]
        for note in notes:
            context.log.warning(note)
        reviewed = made.filter(pl.col("predicted_label").is_not_null())
        metadata: dict[str, Any] = {
            "dagster/row_count": made.height,
            "rejected": rejects.height,
            "reviewed_accuracy": round(mean(reviewed["predicted_label"] == reviewed["corrected_label"]), 4)
            if reviewed.height
            else "n/a",
        }
        if rejects.height:
            by_reason = rejects.group_by("file", "reason").len().sort("file", "reason")
            metadata["rejects_by_reason"] = dg.MetadataValue.md(markdown_table(by_reason.to_dicts()))
        if files.height:
            metadata["files"] = dg.MetadataValue.md(markdown_table(files.to_dicts()))
        if notes:
            metadata["notes"] = markdown_list(notes)
        yield dg.MaterializeResult(metadata=metadata)

    return feedback
