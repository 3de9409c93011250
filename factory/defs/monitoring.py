"""Monitoring layer: the champion's predictions per day, production corrections from every declared feedback
source, and a daily drift report."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dagster as dg
import polars as pl

from factory.core import gates
from factory.core.labeling import REJECTS_SCHEMA, corrections_table
from factory.core.monitoring import (
    DriftResult,
    DriftThresholds,
    PredictionReference,
    ReferenceStats,
    dataset_reference,
    drift_against,
    drop_error,
    estimate_performance,
    estimate_standard_error,
    realized_performance,
    realized_standard_error,
)
from factory.core.stats import mean
from factory.core.training import ModelColumns, class_probabilities, joined_text, predict
from factory.defs.lineage import published_versions
from factory.defs.metadata import check_result, markdown_list, markdown_table, preview, table_metadata
from factory.defs.usecase import UseCase
from factory.plugins import FeedbackBatch, feedback_source
from factory.resources.label_store import known_items
from factory.resources.tracking import PREDICTION_REFERENCE_ARTIFACT, Tracking
from factory.resources.versioning import ObjectNotFound, VersionStore
from factory.resources.versions import VersionStoreResource
from factory.resources.warehouse import Warehouse
from factory.spec import DriftSpec

__all__ = ["build_monitoring", "drift_thresholds"]

_PERFORMANCE_COLUMNS = (
    "reference_macro_f1",
    "reference_accuracy",
    "estimated_macro_f1",
    "estimated_accuracy",
    "realized_macro_f1",
    "realized_accuracy",
    "estimated_macro_f1_se",
    "estimated_accuracy_se",
    "realized_macro_f1_se",
    "realized_accuracy_se",
)


def drift_thresholds(drift: DriftSpec) -> DriftThresholds:
    """The verdicts' thresholds of a use case's ``drift:`` section."""
    return DriftThresholds(
        psi=drift.threshold,
        numeric_wasserstein=drift.numeric_wasserstein,
        category_share=drift.category_share,
        domain_auc=drift.domain_auc,
        alpha=drift.alpha,
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
                    markdown_table(
                        frame.group_by("predicted_label").len("rows").sort("rows", descending=True).to_dicts()
                    )
                ),
                "preview": preview(frame, [id_column, "predicted_label", "confidence"]),
            }
        )

    feedback = _feedback_asset(uc)
    drift = uc.spec.drift
    limits = drift_thresholds(drift)
    bounds = (
        f"Evaluated by `drift_against` (factory.core.monitoring) on the stored reference statistics: drifted when "
        f"any component's verdict is: numeric features and confidence by Wasserstein distance of at least "
        f"{limits.numeric_wasserstein} reference standard deviations (`drift.numeric_wasserstein`), categorical "
        f"features, predicted labels and missing shares by a change of at least {limits.category_share:.0%} in one "
        f"share (`drift.category_share`), each also significant by a chi-squared test at p < {limits.alpha} "
        f"(`drift.alpha`); text length, vocabulary and out-of-vocabulary rate at {limits.psi} on the PSI scale "
        f"(`drift.threshold`); text by a domain classifier's ROC AUC of at least {limits.domain_auc} "
        f"(`drift.domain_auc`), significant too."
    )

    @dg.asset(
        key=drift_key,
        metadata=table_metadata(uc.spec, "drift_report"),
        deps=[uc.key("prepared"), predictions_key, uc.key("dataset")],
        group_name=group,
        partitions_def=uc.daily,
        kinds={"duckdb", "polars", "mlflow"},
        pool="warehouse",
        check_specs=[
            dg.AssetCheckSpec(
                "drift_within_bounds",
                asset=drift_key,
                description=f"No drift component of the day is drifted. {bounds}",
            )
        ],
        description=(
            "How far the day's rows and predictions have moved from the reference, one verdict per component with "
            "its threshold: every feature (numeric: PSI and normalized Wasserstein distance on the stored quantile "
            "bins; categorical: Jensen-Shannon and the largest share change), the text (length, vocabulary, "
            "out-of-vocabulary rate, a domain classifier's AUC), the predicted-label mix and the confidences "
            "(against the champion's predictions on its test split). It reads the reference statistics stored "
            "with the published dataset version (computed from the dataset for a version published before they "
            "existed), so its cost follows the day's rows. Next to the drift: the champion's macro F1 and accuracy "
            "on its test split (reference), estimated for the day from its calibrated probabilities (CBPE, no "
            "labels needed, anchored on the test split so that its bias cancels) and realized on the production "
            "corrections of the last `promotion.feedback_days` days (`feedback`). "
            f"The score is the largest PSI-scale component; the drift sensor reads the newest report "
            f"and asks for a retrain at or above {threshold} (`drift.threshold`)."
        ),
    )
    def drift_report(
        context: dg.AssetExecutionContext, warehouse: Warehouse, versions: VersionStoreResource, tracking: Tracking
    ) -> dg.MaterializeResult:
        day = context.partition_key
        store = versions.open()
        published = published_versions(store, uc)
        if not published:
            raise dg.Failure("no published dataset to compare with yet")
        _, tag, commit_id = published[-1]
        reference, reference_source = _reference_stats(store, uc, commit_id)
        prepared = warehouse.read_partition(uc.name, "prepared", day)
        predicted = warehouse.read_partition(uc.name, "predictions", day)
        current = prepared.join(predicted.select(id_column, "predicted_label", "confidence"), on=id_column, how="left")
        versions_used = predicted["model_version"].drop_nulls().unique().sort()
        champion_version = versions_used[-1] if versions_used.len() else None
        performance = _performance(uc, tracking, warehouse, champion_version, prepared, day)
        text = uc.spec.text_columns
        result = drift_against(
            reference,
            current,
            numeric=uc.spec.numeric_features,
            categorical=uc.spec.categorical_features,
            text=joined_text(current, text) if text else None,
            labels=current["predicted_label"] if not predicted.is_empty() else None,
            thresholds=limits,
            predictions=performance.reference,
            confidence=current["confidence"] if not predicted.is_empty() else None,
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
                "drifted": [result.drifted],
                "verdicts": [json.dumps([v.as_dict() for v in result.verdicts])],
                "top_features": [json.dumps(result.top_features)],
                "champion_version": [champion_version],
                **{key: [value] for key, value in performance.columns().items()},
                "feedback_rows": [performance.feedback_rows],
            },
            schema_overrides=dict.fromkeys(_PERFORMANCE_COLUMNS, pl.Float64) | {"champion_version": pl.String},
        )
        warehouse.replace_partition(uc.name, "drift_report", day, row)
        drifted = [v.component for v in result.verdicts if v.drifted]
        within = gates.GateResult(
            "drift_within_bounds",
            not result.drifted,
            f"drifted: {', '.join(drifted)}" if drifted else f"no component drifted (score {result.score:.3f})",
            {"score": round(result.score, 4), "threshold": threshold, "drifted_components": len(drifted)},
        )
        return dg.MaterializeResult(
            metadata={
                "score": round(result.score, 4),
                "threshold": threshold,
                "drifted": str(result.drifted).lower(),
                "reference_version": tag,
                "reference_statistics": reference_source,
                "champion_version": champion_version or "none",
                "rows": result.rows,
                "feedback_rows": performance.feedback_rows,
                "verdicts": dg.MetadataValue.md(_verdict_table(result)),
                "components": dg.MetadataValue.md(
                    markdown_table([{"component": k, "value": round(v, 4)} for k, v in result.components.items()])
                ),
                "top_new_terms": dg.MetadataValue.md(
                    markdown_table([{"term": t, "count": n} for t, n in result.top_new_terms])
                ),
                "top_drifted_features": dg.MetadataValue.md(
                    markdown_table([{"feature": f, "drift": round(v, 4)} for f, v in result.top_features])
                ),
                "performance": dg.MetadataValue.md(performance.table()),
                # The known figures as numbers too, so that the asset's plots show them day by day.
                **{name: round(value, 4) for name, value in performance.columns().items() if value is not None},
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


def _reference_stats(store: VersionStore, uc: UseCase, commit_id: str) -> tuple[ReferenceStats, str]:
    """The reference statistics stored with the published version, or, for a version published before they
    were stored, computed from its dataset; with a sentence saying which."""
    try:
        return ReferenceStats.from_json(store.read_object(commit_id, uc.reference_stats_path)), "stored at publish"
    except ObjectNotFound:
        dataset = store.read_table(commit_id, uc.dataset_table)
        stats = dataset_reference(
            dataset,
            text_columns=uc.spec.text_columns,
            numeric=uc.spec.numeric_features,
            categorical=uc.spec.categorical_features,
        )
        return stats, "computed from the dataset (this version was published before reference statistics were stored)"


@dataclass(frozen=True)
class _Performance:
    """The champion's macro F1 and accuracy: on its test split (reference), estimated for the day (CBPE) and
    realized on production corrections; None where unknown."""

    reference: PredictionReference | None = None
    reference_metrics: tuple[float | None, float | None] = (None, None)
    estimated: tuple[float | None, float | None] = (None, None)
    realized: tuple[float | None, float | None] = (None, None)
    feedback_rows: int = 0
    estimated_error: tuple[float | None, float | None] = (None, None)
    realized_error: tuple[float | None, float | None] = (None, None)
    """The realized figure's drop from the reference: its error over the corrected rows and the test figure's
    bootstrap error (``test_<metric>_se`` of the version's run; none for a run that did not log it), in
    quadrature."""

    def columns(self) -> dict[str, float | None]:
        values = (
            *self.reference_metrics,
            *self.estimated,
            *self.realized,
            *self.estimated_error,
            *self.realized_error,
        )
        return dict(zip(_PERFORMANCE_COLUMNS, values, strict=True))

    def table(self) -> str:
        rows = [
            {"measure": name, "macro_f1": _shown(pair[0]), "accuracy": _shown(pair[1])}
            for name, pair in (
                ("reference (champion, test split)", self.reference_metrics),
                ("estimated (today, from confidences)", self.estimated),
                (f"realized ({self.feedback_rows} corrected predictions)", self.realized),
            )
        ]
        return markdown_table(rows)


def _shown(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _performance(
    uc: UseCase, tracking: Tracking, warehouse: Warehouse, version: str | None, prepared: pl.DataFrame, day: str
) -> _Performance:
    """Reference, estimated and realized performance of the model version that predicted the day. The estimate
    is CBPE anchored on the test split (`PredictionReference.anchored`), or plain CBPE for a version registered
    before it stored its prediction reference.

    The estimate needs every class probability of the day's rows, which the `predictions` table does not keep
    (it holds the top label and its confidence): the version is loaded once and predicts the day again. That
    costs one model load and one pass over the day's rows, and keeps the table narrow (one probability column
    per class would tie the table's schema to the taxonomy)."""
    if version is None:
        return _Performance()
    record = tracking.get_version(uc.model_name, version)
    if record is None:
        return _Performance()
    document = tracking.find_document(record.run_id, PREDICTION_REFERENCE_ARTIFACT)
    reference = PredictionReference.from_json(document.encode()) if document is not None else None
    metrics = (
        (reference.macro_f1, reference.accuracy)
        if reference is not None
        else (record.metrics.get("test_macro_f1"), record.metrics.get("test_accuracy"))
    )
    classes = uc.spec.labeling.classes
    estimated: tuple[float | None, float | None] = (None, None)
    error: tuple[float | None, float | None] = (None, None)
    if prepared.height:
        model = tracking.load(uc.model_name, version)
        proba = class_probabilities(model, prepared, ModelColumns.of(uc.spec), classes)
        raw, raw_error = estimate_performance(proba, classes), estimate_standard_error(proba, classes)
        estimated = reference.anchored(raw) if reference is not None else raw
        error = reference.anchored_error(raw_error) if reference is not None else raw_error
    realized: tuple[float | None, float | None] = (None, None)
    realized_error: tuple[float | None, float | None] = (None, None)
    corrected = _corrected_predictions(uc, warehouse, version, day)
    if corrected.height:
        pairs = (corrected["predicted_label"], corrected["corrected_label"], classes)
        realized = realized_performance(*pairs)
        test = (record.metrics.get("test_macro_f1_se"), record.metrics.get("test_accuracy_se"))
        realized_error = drop_error(realized_standard_error(*pairs), test)
    return _Performance(reference, metrics, estimated, realized, corrected.height, error, realized_error)


def _corrected_predictions(uc: UseCase, warehouse: Warehouse, version: str, day: str) -> pl.DataFrame:
    """The version's predictions corrected in production in the ``promotion.feedback_days`` days ending at
    ``day``, with their corrections; empty before any feedback."""
    if not warehouse.table_exists(uc.name, "feedback"):
        return pl.DataFrame(schema={"predicted_label": pl.String, "corrected_label": pl.String})
    first = (date.fromisoformat(day) - timedelta(days=uc.spec.promotion.feedback_days - 1)).isoformat()
    return warehouse.query("realized_feedback", [version, first, day], schema=uc.name, id_column=uc.spec.schema.id)


def _verdict_table(result: DriftResult) -> str:
    """Every verdict: component, kind, measure, value, threshold, p-value and verdict, drifted ones first."""
    ordered = sorted(result.verdicts, key=lambda v: (not v.drifted, v.kind, v.component))
    return markdown_table(
        [
            {
                "component": v.component,
                "kind": v.kind,
                "measure": v.measure,
                "value": round(v.value, 4),
                "threshold": v.threshold,
                "p_value": "n/a" if v.p_value is None else f"{v.p_value:.2g}",
                "verdict": "drifted" if v.drifted else "ok",
            }
            for v in ordered
        ]
    )
