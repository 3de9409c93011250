"""Majority vote: one label per item, the most voted class (see `factory.core.labeling.aggregate`).

Conventions shared with Dawid-Skene: annotations are long-form rows ``item_id, annotator, label``; labels
outside the taxonomy and null labels are ignored; ties go to the class listed first; gold items take their
gold label with confidence 1.0.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from factory.core.labeling._agreement import (
    ANNOTATION_COLUMNS,
    REFERENCE_COLUMNS,
    in_taxonomy,
    require_columns,
    require_unique_items,
)

__all__ = ["majority_vote"]


def majority_vote(
    annotations: pl.DataFrame, classes: Sequence[str], gold: pl.DataFrame | None = None, weights: str | None = None
) -> pl.DataFrame:
    """One label per item: the most voted class, or the gold label where the item is gold.

    ``weights`` names a per-answer weight column: the winner is then the class with the most weight and
    ``confidence`` its share of the weight (a production correction weighing 2 outvotes one given label).

    Returns ``item_id, label, confidence, n_annotations, agreement, source`` sorted by ``item_id``:
    ``confidence`` is the winner's vote share (1.0 for gold), ``n_annotations`` counts in-taxonomy
    annotations, ``agreement`` is the share of agreeing annotation pairs (null below two annotations) and
    ``source`` is ``"gold"`` or ``"vote"``. Ties go to the class listed first in ``classes``. Items whose
    annotations are all outside the taxonomy get no row unless they are gold; gold items absent from
    ``annotations`` get none either.
    """
    require_columns(annotations, ANNOTATION_COLUMNS, "annotations")
    weight = pl.col(weights).cast(pl.Float64).sum() if weights else pl.len().cast(pl.Float64)
    votes = (
        in_taxonomy(annotations, classes)
        .group_by("item_id", "label")
        .agg(pl.len().cast(pl.Int64).alias("votes"), weight.alias("weight"))
    )
    rank = pl.DataFrame({"label": list(classes), "rank": range(len(classes))}, schema_overrides={"rank": pl.Int64})
    per_item = (
        votes.join(rank, on="label", how="left")
        .group_by("item_id")
        .agg(
            pl.col("label").sort_by(["weight", "rank"], descending=[True, False]).first().alias("vote_label"),
            (pl.col("weight").max() / pl.col("weight").sum()).alias("share"),
            pl.col("votes").sum().alias("n_annotations"),
            (pl.col("votes") * (pl.col("votes") - 1)).sum().alias("agreeing_pairs"),
        )
    )
    items = annotations.select("item_id").unique()
    merged = items.join(per_item, on="item_id", how="left").join(
        _gold_labels(gold, classes, annotations.schema["item_id"]), on="item_id", how="left"
    )
    return (
        merged.filter(pl.col("vote_label").is_not_null() | pl.col("gold_label").is_not_null())
        .with_columns(pl.col("n_annotations").fill_null(0), pl.col("agreeing_pairs").fill_null(0))
        .select(
            "item_id",
            pl.coalesce("gold_label", "vote_label").alias("label"),
            pl.when(pl.col("gold_label").is_not_null())
            .then(1.0)
            .otherwise(pl.col("share"))
            .cast(pl.Float64)
            .alias("confidence"),
            "n_annotations",
            _pair_agreement(pl.col("agreeing_pairs"), pl.col("n_annotations")).alias("agreement"),
            pl.when(pl.col("gold_label").is_not_null()).then(pl.lit("gold")).otherwise(pl.lit("vote")).alias("source"),
        )
        .sort("item_id")
    )


def _gold_labels(gold: pl.DataFrame | None, classes: Sequence[str], item_dtype: pl.DataType) -> pl.DataFrame:
    """``item_id, gold_label``, validated against the taxonomy; empty when there is no gold."""
    if gold is None:
        return pl.DataFrame(schema={"item_id": item_dtype, "gold_label": pl.String})
    require_columns(gold, REFERENCE_COLUMNS, "gold")
    require_unique_items(gold, "gold")
    unknown = gold.filter(~pl.col("label").is_in(list(classes))).get_column("label").unique().sort()
    if unknown.len():
        raise ValueError(f"gold labels outside the taxonomy {list(classes)}: {unknown.to_list()}")
    return gold.select(pl.col("item_id").cast(item_dtype), pl.col("label").alias("gold_label"))


def _pair_agreement(agreeing_pairs: pl.Expr, n: pl.Expr) -> pl.Expr:
    """Share of ordered annotation pairs that agree; null below two annotations."""
    return pl.when(n >= 2).then(agreeing_pairs / (n * (n - 1))).otherwise(None).cast(pl.Float64)
