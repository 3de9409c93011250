"""The review queue of one batch: label issues from out-of-fold probabilities and a budgeted queue.

`review_queue` gives every labeled item out-of-fold predicted probabilities, asks cleanlab which labels look
wrong (`factory.core.labeling._label_issues`), optionally replaces the out-of-fold prediction by a production
model's, and picks a budgeted queue (`factory.core.labeling._review_policy`). Gold items are never queued:
their label is settled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from factory.core.labeling._budget import memory_budget, require_within_budget
from factory.core.labeling._review_policy import CONFLICT, ReviewPolicy, review_candidates, select_review_queue

if TYPE_CHECKING:
    from factory.core.training import ModelColumns

__all__ = ["ReviewBatch", "empty_review", "review_queue"]

_PROBABILITY_TABLES = 6
"""Dense ``items x classes`` float tables alive at the peak of a review: the out-of-fold probabilities, one
fold's prediction, the label-issue check's normalized copy, its compact and uniform copies, and one to spare."""


@dataclass(frozen=True)
class ReviewBatch:
    """The review queue of one batch (`select_review_queue` output) and every item's label-issue verdict
    (`find_label_issues` output)."""

    queue: pl.DataFrame
    issues: pl.DataFrame


def review_queue(
    labels: pl.DataFrame,
    texts: pl.DataFrame,
    classes: Sequence[str],
    budget: int,
    policy: ReviewPolicy | None = None,
    *,
    predictions: pl.DataFrame | None = None,
    class_counts: Mapping[str, int] | None = None,
    folds: int = 5,
    seed: int = 0,
    max_fit_rows: int | None = None,
    fast_from_classes: int | None = None,
    memory_bytes: int | None = None,
    conflicts: pl.Series | None = None,
    features: pl.DataFrame | None = None,
    columns: ModelColumns | None = None,
) -> ReviewBatch:
    """Label issues from out-of-fold probabilities, and at most ``budget`` non-gold items to review.

    ``labels`` is the batch's labels (`factory.core.labeling.aggregate`), ``texts`` holds ``item_id, text``
    for its items. ``predictions`` (``item_id, model_label, confidence``), a production model's, replaces the
    out-of-fold prediction as the queue's model label and confidence where given; label issues always come
    from the out-of-fold probabilities (a model never judges labels it was trained on). The dense ``items x
    classes`` probability tables are sized first: over ``memory_bytes`` (default: the labeling memory budget,
    `factory.core.labeling._budget`) a ValueError says so before anything is fitted. ``max_fit_rows`` bounds
    the items the out-of-fold models are fitted on (a stratified sample; every item is still predicted): the
    cost of a big batch stays that of ``max_fit_rows`` items plus predicting the rest; from
    ``fast_from_classes`` classes on, the models are fitted by a few SAGA epochs instead of L-BFGS.
    ``conflicts`` holds the ids of the items in label conflict (`factory.core.labeling.label_conflicts`): they
    qualify for the ``label_conflict`` reason, served first. A use case without text columns gives
    ``features`` (``item_id`` and its feature columns) and their ``columns``: the out-of-fold models are
    then the features' linear candidate (``onehot_logreg``) over the model frame.
    """
    # scikit-learn and cleanlab take seconds to import: only commands that build a queue pay for them.
    from threadpoolctl import threadpool_limits

    from factory.core.labeling._label_issues import find_label_issues, out_of_fold_probabilities
    from factory.core.training import model_frame

    joined = labels.join(texts.select("item_id", "text"), on="item_id", how="left")
    missing = joined.filter(pl.col("text").is_null()).get_column("item_id")
    if missing.len():
        raise ValueError(f"{missing.len()} labeled item(s) have no text, e.g. {missing.head(5).to_list()}")
    inputs: Any = joined["text"]
    tabular = False
    if features is not None and columns is not None and not columns.text:
        tabular = True
        rows = joined.select("item_id").join(features, on="item_id", how="left", maintain_order="left")
        inputs = model_frame(rows, columns)
    if joined.height < 2:
        return empty_review()
    require_within_budget(
        8 * _PROBABILITY_TABLES * joined.height * len(classes),
        memory_budget(memory_bytes),
        f"the review queue's out-of-fold probabilities for {joined.height:,} items and {len(classes):,} classes",
        "use fewer classes or smaller daily batches",
    )
    # scipy's L-BFGS-B with a multi-threaded OpenBLAS is several times slower than single-threaded on small
    # problems like these (5.7 s against 0.56 s per fit on 2 cores); one BLAS thread is also what a shared
    # Dagster worker should use.
    with threadpool_limits(limits=1, user_api="blas"):
        probabilities = out_of_fold_probabilities(
            inputs,
            joined["label"],
            classes,
            folds=folds,
            seed=seed,
            max_fit_rows=max_fit_rows,
            fast_from_classes=fast_from_classes,
            columns=columns if tabular else None,
        )
    issues = find_label_issues(joined.select("item_id", "label"), probabilities, classes)
    candidates = review_candidates(issues, joined.select("item_id", "agreement"))
    if predictions is not None:
        model = predictions.select(
            "item_id", pl.col("model_label").alias("_model_label"), pl.col("confidence").alias("_confidence")
        )
        candidates = candidates.join(model, on="item_id", how="left").select(
            "item_id",
            "label",
            pl.coalesce("_confidence", "confidence").alias("confidence"),
            pl.coalesce("_model_label", "model_label").alias("model_label"),
            "agreement",
            "is_issue",
            "label_quality",
        )
    if conflicts is not None:
        disputed = conflicts.cast(candidates.schema["item_id"]).implode()
        candidates = candidates.with_columns(pl.col("item_id").is_in(disputed).alias(CONFLICT))
    settled = joined.filter(pl.col("source") == "gold").get_column("item_id")
    open_items = candidates.filter(~pl.col("item_id").is_in(settled.implode()))
    queue = select_review_queue(open_items, budget, policy, class_counts)
    return ReviewBatch(queue, issues)


def empty_review() -> ReviewBatch:
    """The review of a batch without labeled items."""
    return ReviewBatch(_empty_queue(), _empty_issues())


def _empty_queue() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "item_id": pl.String,
            "label": pl.String,
            "confidence": pl.Float64,
            "model_label": pl.String,
            "agreement": pl.Float64,
            "is_issue": pl.Boolean,
            "label_quality": pl.Float64,
            "rarer_class": pl.String,
            "rarer_class_count": pl.Int64,
            "score": pl.Float64,
            "selected_for": pl.String,
            "reasons": pl.List(pl.String),
            "priority": pl.Int64,
        }
    )


def _empty_issues() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "item_id": pl.String,
            "label": pl.String,
            "suggested_label": pl.String,
            "confidence": pl.Float64,
            "label_quality": pl.Float64,
            "is_issue": pl.Boolean,
        }
    )
