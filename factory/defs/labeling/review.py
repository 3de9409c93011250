"""The ``review_queue`` asset: a budgeted queue of items for a person to look at again, as Label Studio tasks."""

import json

import dagster as dg
import polars as pl

from factory.core import gates
from factory.core.labeling import (
    REVIEW_REASONS,
    PIIResidueError,
    ReviewPolicy,
    empty_review,
    export_pii_gate,
    label_studio_config,
    review_tasks,
    review_texts,
    write_label_studio_tasks,
)
from factory.core.labeling import review_queue as select_for_review
from factory.core.training import ModelColumns, predict
from factory.defs.metadata import check_result, markdown_table, preview, table_metadata
from factory.defs.usecase import UseCase
from factory.resources.label_store import review_file
from factory.resources.tracking import Tracking
from factory.resources.warehouse import Warehouse

__all__ = ["review_queue_asset"]

_SWITCHED_OFF = "review queue switched off (`labeling.review.enabled: false`): empty queue, nothing fitted"
_OUT_OF_FOLD = "out-of-fold tfidf_logreg ({folds} folds)"


def review_queue_asset(uc: UseCase) -> dg.AssetsDefinition:
    key = uc.key("review_queue")
    spec = uc.spec.labeling
    review = spec.review
    id_column = uc.spec.schema.id

    @dg.asset(
        key=key,
        metadata=table_metadata(uc.spec, "review_queue"),
        deps=[uc.key("labels"), uc.key("prepared"), uc.key("champion")],
        group_name=uc.group("labeling"),
        partitions_def=uc.daily,
        kinds={"duckdb", "json"},
        pool="warehouse",
        check_specs=[
            dg.AssetCheckSpec(
                "within_budget",
                asset=key,
                description=(
                    f"At most {review.budget} items (`labeling.review.budget`), each once (the factory's own "
                    "check; not blocking)."
                ),
            ),
            dg.AssetCheckSpec(
                "export_has_no_pii",
                asset=key,
                description=(
                    "Zero personal data in the exported tasks (the factory's own PII detector, run on the written "
                    "file; not blocking)."
                ),
            ),
        ],
        description=(
            f"Up to {review.budget} of the day's labeled items for a person to look at again, as Label Studio tasks "
            "(`$FACTORY_HOME/<use_case>/review/<day>.json`, with the labeling interface in `label_config.xml`) "
            "pre-annotated with the model's prediction: label conflicts first (items the data labeled differently in "
            "copies of the same row, `labeling.review.quotas.label_conflict`), then suspected label errors "
            "(cleanlab's confident learning on out-of-fold predicted probabilities), annotator disagreement, low "
            "model confidence (the champion model when there is one, else the out-of-fold model) and rare-class "
            "coverage, each with a share of "
            "the budget. Texts are the prepared, scrubbed ones, checked again for PII before export. Gold items "
            "are never queued. The out-of-fold models fit on at most `labeling.review.max_fit_rows` items "
            f"({review.max_fit_rows:,}); `labeling.review.enabled: false` writes an empty queue instead."
        ),
    )
    def review_queue(
        context: dg.AssetExecutionContext, warehouse: Warehouse, tracking: Tracking
    ) -> dg.MaterializeResult:
        day = context.partition_key
        labeled = warehouse.read_partition(uc.name, "labels", day)
        prepared = warehouse.read_partition(uc.name, "prepared", day)
        texts = review_texts(prepared, id_column, uc.spec.text_columns, uc.spec.feature_columns)
        if review.enabled and labeled.height:
            predictions, model_version = _model_predictions(uc, tracking, prepared, labeled)
            counts = warehouse.read_table(uc.name, "labels")
            class_counts = dict(counts.group_by("label").len().iter_rows()) if counts.height else None
            conflicts = warehouse.read_partition(uc.name, "label_conflicts", day).get_column("item_id")
            policy = ReviewPolicy(
                quotas=review.quotas,
                confidence_below=review.confidence_below,
                rare_share=review.rare_share,
            )
            batch = select_for_review(
                labeled.select("item_id", "label", "confidence", "agreement", "source"),
                texts,
                spec.classes,
                review.budget,
                policy,
                predictions=predictions,
                class_counts=class_counts,
                folds=review.folds,
                seed=uc.spec.models.seed,
                max_fit_rows=review.max_fit_rows,
                fast_from_classes=review.fast_from_classes,
                conflicts=conflicts,
                features=prepared.select(pl.col(id_column).cast(pl.String).alias("item_id"), *uc.spec.feature_columns),
                columns=ModelColumns.of(uc.spec),
            )
        else:
            batch = empty_review()
            model_version = "none" if not review.enabled else _OUT_OF_FOLD.format(folds=review.folds)
        try:
            tasks = review_tasks(batch.queue, texts, "text", model_version, custom_pii=uc.spec.custom_pii)
        except PIIResidueError as error:
            raise dg.Failure(f"review tasks not exported: {error}") from None
        path = write_label_studio_tasks(tasks, review_file(uc.name, day))
        config = path.with_name("label_config.xml")
        config.write_text(label_studio_config(spec.classes), encoding="utf-8")
        queue = batch.queue.with_columns(pl.col("reasons").list.join(", "))
        warehouse.replace_partition(uc.name, "review_queue", day, queue)
        warehouse.replace_partition(uc.name, "label_issues", day, batch.issues.filter(pl.col("is_issue")))
        written = json.loads(path.read_text(encoding="utf-8"))
        in_budget = gates.GateResult(
            "within_budget",
            queue.height <= review.budget and queue.get_column("item_id").n_unique() == queue.height,
            f"{queue.height} item(s) queued, budget {review.budget}",
            {"queued": queue.height, "budget": review.budget},
        )
        exported = export_pii_gate(written, uc.spec.custom_pii)
        by_choice = dict(queue.group_by("selected_for").len().iter_rows())
        by_reason = (
            batch.queue.explode("reasons").drop_nulls("reasons").group_by("reasons").len().sort("reasons").to_dicts()
        )
        context.log.info(f"{queue.height} review task(s) written to {path}" if review.enabled else _SWITCHED_OFF)
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": queue.height,
                "enabled": review.enabled,
                "note": (
                    _SWITCHED_OFF
                    if not review.enabled
                    else f"out-of-fold models fitted on at most {review.max_fit_rows:,} of "
                    f"{labeled.height:,} labeled item(s) (`labeling.review.max_fit_rows`)"
                ),
                "labeled_items": labeled.height,
                "fitted_items": min(labeled.height, review.max_fit_rows) if review.enabled else 0,
                "budget": review.budget,
                "label_issues": int(batch.issues.get_column("is_issue").sum()),
                "model": model_version,
                "tasks_file": dg.MetadataValue.path(str(path)),
                **{f"queued_for_{reason}": int(by_choice.get(reason, 0)) for reason in (*REVIEW_REASONS, "score")},
                "qualifying_reasons": dg.MetadataValue.md(markdown_table(by_reason)),
                "preview": preview(
                    queue.rename({"item_id": id_column}),
                    [id_column, "priority", "selected_for", "reasons", "label", "model_label"],
                ),
            },
            check_results=[check_result(key, in_budget), check_result(key, exported)],
        )

    return review_queue


def _model_predictions(
    uc: UseCase, tracking: Tracking, prepared: pl.DataFrame, labeled: pl.DataFrame
) -> tuple[pl.DataFrame | None, str]:
    """The champion's label and confidence per labeled item and its version name; None and the out-of-fold
    model's name while there is no champion."""
    champion = tracking.champion(uc.model_name)
    if champion is None or labeled.is_empty():
        return None, _OUT_OF_FOLD.format(folds=uc.spec.labeling.review.folds)
    rows = prepared.with_columns(pl.col(uc.spec.schema.id).cast(pl.String).alias("item_id")).join(
        labeled.select("item_id"), on="item_id", how="semi"
    )
    model = tracking.load(uc.model_name, champion.version)
    predicted = predict(model, rows, ModelColumns.of(uc.spec))
    predictions = pl.DataFrame(
        {
            "item_id": rows.get_column("item_id"),
            "model_label": predicted["label"],
            "confidence": predicted["confidence"],
        },
        schema={"item_id": pl.String, "model_label": pl.String, "confidence": pl.Float64},
    )
    return predictions, f"{uc.model_name} v{champion.version} (champion)"
