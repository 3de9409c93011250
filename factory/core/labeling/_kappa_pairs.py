"""Cohen's kappa per annotator pair, with memory and time bounded whatever the number of annotators per item.

A pair's kappa reads the items both annotators labeled, so the pairs are found by joining the annotations of
each item with themselves: an item labeled ``m`` times gives ``m (m - 1) / 2`` annotation pairs. On ordinary
batches (200,000 items labeled 5 times: 2 million pairs) that is cheap; on one item answered by 10,000
annotators it is 50 million, and by 200,000 annotators 20 billion. Two rules keep it linear in practice and
bounded always:

- Only annotators with at least ``min_shared`` in-taxonomy items can be in a reported pair (a pair shares at
  most the items of its smaller member), so the others are left out before the join. This changes no result.
- The join enumerates at most ``max_pair_rows`` annotation pairs. The number is computed up front from the
  per-item counts, without enumerating anything. When the eligible annotators would exceed it, the annotators
  with the most items are compared (ties by name) as long as their annotation pairs fit, and a note says
  how many were left out and how to raise the bound. Left-out annotators get no pair kappa (``n_pairs = 0``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from factory.core.labeling._agreement import in_taxonomy, require_columns

__all__ = ["MAX_PAIR_ROWS", "PAIR_COLUMNS", "KappaPairs", "kappa_cells", "kappa_pairs"]

MAX_PAIR_ROWS = 5_000_000
"""Default bound on the annotation pairs (two annotations of one item) enumerated for pairwise kappa: about
200 MB at the join's peak. Raise it with ``max_pair_rows`` to compare more annotators of a very large crowd."""

PAIR_COLUMNS: dict[str, pl.DataType] = {
    "annotator_a": pl.String(),
    "annotator_b": pl.String(),
    "shared_items": pl.Int64(),
    "agreement": pl.Float64(),
    "kappa": pl.Float64(),
}
"""The layout of a pair table: one row per annotator pair, ``annotator_a < annotator_b`` (annotator ids keep the
type they have in the annotations: strings in the factory's annotation table)."""

_ANNOTATION_COLUMNS = ("item_id", "annotator", "label")
_PAIR_KEYS = ["annotator_a", "annotator_b"]
_COUNT = pl.len().cast(pl.Int64).alias("_n")


@dataclass(frozen=True)
class KappaPairs:
    """Cohen's kappa per annotator pair (``pairs``, `PAIR_COLUMNS`) and a ``note`` saying what the bound left
    out (empty when every eligible annotator was compared)."""

    pairs: pl.DataFrame
    note: str = ""


def kappa_pairs(
    annotations: pl.DataFrame, classes: Sequence[str], min_shared: int = 30, max_pair_rows: int = MAX_PAIR_ROWS
) -> KappaPairs:
    """Cohen's kappa for every pair of annotators sharing at least ``min_shared`` items (module docstring).

    ``agreement`` is the share of shared items with equal labels. Only in-taxonomy labels count; when an
    annotator labeled an item twice, their latest label is used (largest ``created_at`` when the column
    exists, else the last row). Sorted by the pair.
    """
    require_columns(annotations, _ANNOTATION_COLUMNS, "annotations")
    if min_shared < 1:
        raise ValueError(f"min_shared must be at least 1, got {min_shared}")
    if max_pair_rows < 0:
        raise ValueError(f"max_pair_rows must not be negative, got {max_pair_rows}")
    labelled, names = _encoded_labels(annotations, classes)
    eligible = labelled.filter(pl.len().over("annotator") >= min_shared)
    kept, note = _within_bound(eligible, min_shared, max_pair_rows)
    left = kept.lazy().rename({"annotator": "annotator_a", "label": "label_a"})
    right = kept.lazy().rename({"annotator": "annotator_b", "label": "label_b"})
    pairs = left.join(right, on="item", how="inner").filter(pl.col("annotator_a") < pl.col("annotator_b"))
    kappas = (
        kappa_cells(pairs.group_by(*_PAIR_KEYS, "label_a", "label_b").agg(_COUNT), _PAIR_KEYS, "label_a", "label_b")
        .filter(pl.col("shared_items") >= min_shared)
        .sort(_PAIR_KEYS)
        .collect()
    )
    named = kappas.with_columns(names.gather(kappas.get_column(key)).alias(key) for key in _PAIR_KEYS)
    figures = pl.Schema({name: dtype for name, dtype in PAIR_COLUMNS.items() if name not in _PAIR_KEYS})
    return KappaPairs(named.select(list(PAIR_COLUMNS)).cast(figures), note)  # annotator ids keep their type


def _within_bound(eligible: pl.DataFrame, min_shared: int, max_pair_rows: int) -> tuple[pl.DataFrame, str]:
    """The annotations of the annotators compared under the bound, and the note when some were left out.

    Annotators are ranked by their number of items (most first, ties by name); the annotation pairs of the
    first ``r`` annotators are counted from the per-item counts (each annotation pairs with the annotations
    of the item by better-ranked annotators), so the largest prefix within the bound is found in one pass.
    """
    if eligible.is_empty():
        return eligible, ""
    ranks = (
        eligible.group_by("annotator")
        .agg(pl.len().alias("_items"))
        .sort(["_items", "annotator"], descending=[True, False])
        .with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias("_rank"))
        .select("annotator", "_rank")
    )
    ranked = eligible.join(ranks, on="annotator", how="inner").sort("item", "_rank")
    added = (
        ranked.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).over("item").alias("_before"))
        .group_by("_rank")
        .agg(pl.col("_before").sum())
        .sort("_rank")
        .with_columns(pl.col("_before").cum_sum().alias("_total"))
    )
    total = int(added.get_column("_total").item(-1))
    if total <= max_pair_rows:
        return eligible, ""
    within = added.filter(pl.col("_total") <= max_pair_rows).height
    kept = ranked.filter(pl.col("_rank") < within).drop("_rank")
    note = (
        f"Cohen's kappa per annotator pair compares {within} of the {ranks.height} annotators with {min_shared} or "
        f"more items (those with the most): comparing them all would enumerate {total:,} annotation pairs, over "
        f"the bound of {max_pair_rows:,} (max_pair_rows). The other {ranks.height - within} have no pair kappa; "
        "raise max_pair_rows to compare more."
    )
    return kept, note


def _encoded_labels(annotations: pl.DataFrame, classes: Sequence[str]) -> tuple[pl.DataFrame, pl.Series]:
    """In-taxonomy ``item, annotator, label`` as integer codes, one row per item and annotator.

    An annotator's code is their position in the returned sorted series of annotator ids (null annotators are
    dropped), an item's its rank among the item ids, a label's its position in ``classes``: grouping and
    joining on small integers is several times faster than on strings. When an annotator labeled an item
    twice, the latest label is kept (largest ``created_at`` when the column exists, else the last row).
    """
    valid = in_taxonomy(annotations, classes).filter(pl.col("annotator").is_not_null())
    names = valid.get_column("annotator").unique().sort()
    codes = pl.DataFrame({"annotator": names, "_code": pl.int_range(len(names), eager=True, dtype=pl.UInt32)})
    encoded = valid.join(codes, on="annotator", how="inner").with_columns(
        pl.col("_code").alias("annotator"),
        pl.col("label").cast(pl.Enum(list(classes))).to_physical().alias("label"),
        pl.col("item_id").rank("dense").cast(pl.UInt32).alias("item"),
    )
    if "created_at" in encoded.columns:
        encoded = encoded.sort("created_at", nulls_last=False, maintain_order=True)
    return encoded.select("item", "annotator", "label").unique(["item", "annotator"], keep="last"), names


def kappa_cells(cells: pl.LazyFrame, keys: list[str], left: str, right: str) -> pl.LazyFrame:
    """Cohen's kappa of label column ``left`` against ``right`` within each group of ``keys``.

    ``cells`` is the contingency table: one row per group and label pair, with the number of items in ``_n``.
    Returns ``keys..., shared_items, agreement, kappa``; a null label never agrees.
    """
    totals = cells.group_by(keys).agg(
        pl.col("_n").sum().alias("shared_items"),
        pl.col("_n").filter(pl.col(left) == pl.col(right)).sum().alias("_agreeing"),
    )
    rows = cells.group_by(*keys, pl.col(left).alias("_class")).agg(pl.col("_n").sum().alias("_rows"))
    columns = cells.group_by(*keys, pl.col(right).alias("_class")).agg(pl.col("_n").sum().alias("_columns"))
    chance = (
        rows.join(columns, on=[*keys, "_class"], how="inner")
        .group_by(keys)
        .agg((pl.col("_rows").cast(pl.Float64) * pl.col("_columns")).sum().alias("_chance"))
    )
    n = pl.col("shared_items").cast(pl.Float64)
    observed = pl.col("_agreeing") / n
    expected = pl.col("_chance").fill_null(0.0) / (n * n)
    kappa = pl.when(expected >= 1.0 - 1e-12).then(1.0).otherwise((observed - expected) / (1.0 - expected))
    return totals.join(chance, on=keys, how="left").select(
        *keys,
        "shared_items",
        observed.cast(pl.Float64).alias("agreement"),
        kappa.cast(pl.Float64).alias("kappa"),
    )
