"""Agreement among annotators: agreement statistics and annotator accuracy against a reference.

Annotations are long-form rows ``item_id, annotator, label``. Labels outside the taxonomy (``classes``) and
null labels are ignored here; the caller counts and reports them. Every statistic below is computed from the
table of votes ``n[u,c]`` (annotations of item ``u`` with class ``c``), with ``m[u] = sum_c n[u,c]``.

Agreement on one item, defined for ``m[u] >= 2``, is the share of ordered pairs of its annotations that agree:

    a[u] = sum_c n[u,c] (n[u,c] - 1) / (m[u] (m[u] - 1))

Fleiss' kappa (Fleiss 1971) over the items with at least two annotations:

    kappa = (P - Pe) / (1 - Pe),  P = mean_u a[u],  Pe = sum_c p_c^2

with ``p_c`` the share of class ``c`` among those items' annotations. With the same number of annotations on
every item this is exactly Fleiss' statistic (the Wikipedia example gives 0.210). With a varying number it is
the direct generalization that weights items equally; we do not implement a separate estimator for that
case, because Krippendorff's alpha, reported next to it, is the principled measure there.

Krippendorff's alpha, nominal (Krippendorff 2011, "Computing Krippendorff's Alpha-Reliability"), from the
coincidence matrix over the pairable items (``m[u] >= 2``), ``n`` pairable values, ``n_c`` of class ``c``:

    alpha = (Ao - Ae) / (1 - Ae)
    Ao = (1/n) sum_u sum_c n[u,c] (n[u,c] - 1) / (m[u] - 1)
    Ae = sum_c n_c (n_c - 1) / (n (n - 1))

When every pairable annotation carries the same class, both chance-corrected coefficients are 0/0; they are
reported as 1.0 (there is no disagreement to correct for). When no item has two annotations they are NaN.

Memory. The vote table is kept sparse (one entry per item and class that received a vote), never as a dense
items x classes matrix, and no statistic enumerates pairs of annotators: every sum above reads ``n[u,c]``,
so memory and time are linear in the annotations, whatever the number of classes or annotators per item.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

__all__ = [
    "ANNOTATION_COLUMNS",
    "REFERENCE_COLUMNS",
    "AgreementStats",
    "agreement_stats",
    "annotator_quality",
    "in_taxonomy",
    "require_columns",
    "require_unique_items",
    "vote_counts",
]

ANNOTATION_COLUMNS = ("item_id", "annotator", "label")
REFERENCE_COLUMNS = ("item_id", "label")

_Matrix = npt.NDArray[np.float64]


@dataclass(frozen=True)
class AgreementStats:
    """Inter-annotator agreement over the in-taxonomy annotations of a batch (see the module docstring)."""

    items: int
    annotations: int
    annotators: int
    mean_pairwise_agreement: float
    fleiss_kappa: float
    krippendorff_alpha: float


def agreement_stats(annotations: pl.DataFrame, classes: Sequence[str]) -> AgreementStats:
    """Counts, mean pairwise agreement, Fleiss' kappa and nominal Krippendorff's alpha (module docstring)."""
    require_columns(annotations, ANNOTATION_COLUMNS, "annotations")
    valid = in_taxonomy(annotations, classes)
    table = _pairable_table(vote_counts(annotations, classes))
    return AgreementStats(
        items=valid.get_column("item_id").n_unique(),
        annotations=valid.height,
        annotators=valid.get_column("annotator").n_unique(),
        mean_pairwise_agreement=_mean_pairwise_agreement(table),
        fleiss_kappa=_fleiss_kappa(table),
        krippendorff_alpha=_krippendorff_alpha(table),
    )


def annotator_quality(annotations: pl.DataFrame, reference: pl.DataFrame) -> pl.DataFrame:
    """Accuracy of each annotator against a reference (gold or consensus) label per item.

    Returns ``annotator, n, accuracy`` sorted by annotator: ``n`` counts the annotator's annotations on
    reference items and ``accuracy`` the share of them equal to the reference (a null or out-of-taxonomy
    label counts as wrong). Annotators with no reference item are listed with ``n = 0`` and a null accuracy.
    """
    require_columns(annotations, ANNOTATION_COLUMNS, "annotations")
    require_columns(reference, REFERENCE_COLUMNS, "reference")
    require_unique_items(reference, "reference")
    joined = annotations.join(
        reference.select("item_id", pl.col("label").alias("reference_label")), on="item_id", how="inner"
    )
    scored = joined.group_by("annotator").agg(
        pl.len().cast(pl.Int64).alias("n"),
        (pl.col("label") == pl.col("reference_label")).fill_null(False).mean().cast(pl.Float64).alias("accuracy"),
    )
    everyone = annotations.select("annotator").unique()
    return (
        everyone.join(scored, on="annotator", how="left")
        .with_columns(pl.col("n").fill_null(0))
        .select("annotator", "n", "accuracy")
        .sort("annotator")
    )


def require_columns(frame: pl.DataFrame, columns: Sequence[str], name: str) -> None:
    """Raise a ValueError naming the columns ``frame`` lacks."""
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing} (has {frame.columns})")


def require_unique_items(frame: pl.DataFrame, name: str) -> None:
    """Raise when an item appears twice in a one-label-per-item table."""
    duplicated = frame.filter(pl.col("item_id").is_duplicated()).get_column("item_id").unique().sort()
    if duplicated.len():
        raise ValueError(f"{name} has {duplicated.len()} item(s) listed twice, e.g. {duplicated.head(5).to_list()}")


def in_taxonomy(annotations: pl.DataFrame, classes: Sequence[str]) -> pl.DataFrame:
    """The annotations whose label is one of ``classes`` (nulls and unknown labels dropped)."""
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes must be distinct, got {list(classes)}")
    if annotations.get_column("item_id").null_count():
        raise ValueError("annotations have a null item_id")
    return annotations.filter(pl.col("label").is_in(list(classes)))


def vote_counts(annotations: pl.DataFrame, classes: Sequence[str]) -> pl.DataFrame:
    """``item_id, label, votes`` for in-taxonomy annotations."""
    return in_taxonomy(annotations, classes).group_by("item_id", "label").agg(pl.len().cast(pl.Int64).alias("votes"))


@dataclass(frozen=True)
class _PairableTable:
    """The vote table of the pairable items (``m[u] >= 2``), kept sparse: one entry per item and voted class.

    ``votes`` holds ``n[u,c]`` for every (item, class) with a vote, ``item`` the row of each entry in ``m``
    (``m[u]`` per pairable item) and ``per_class`` the column sums (``n_c``, classes with a vote only). Memory
    is linear in the annotations whatever the number of classes or annotators per item.
    """

    votes: _Matrix
    item: npt.NDArray[np.int64]
    m: _Matrix
    per_class: _Matrix

    def agreeing(self) -> _Matrix:
        """``sum_c n[u,c] (n[u,c] - 1)`` per pairable item."""
        return np.bincount(self.item, weights=self.votes * (self.votes - 1), minlength=len(self.m)).astype(np.float64)


def _pairable_table(votes: pl.DataFrame) -> _PairableTable:
    """The sparse vote table of the items with at least two in-taxonomy annotations (module docstring)."""
    per_item = pl.col("votes").sum().over("item_id")
    pairable = votes.filter(per_item >= 2).with_columns((pl.col("item_id").rank("dense") - 1).alias("_row"))
    item = pairable.get_column("_row").cast(pl.Int64).to_numpy()
    counts = pairable.get_column("votes").cast(pl.Float64).to_numpy()
    per_class = pairable.group_by("label").agg(pl.col("votes").sum()).get_column("votes").cast(pl.Float64)
    n_items = int(item.max()) + 1 if item.size else 0
    return _PairableTable(
        votes=counts,
        item=item,
        m=np.bincount(item, weights=counts, minlength=n_items).astype(np.float64),
        per_class=per_class.to_numpy(),
    )


def _mean_pairwise_agreement(table: _PairableTable) -> float:
    """Mean over pairable items of the share of agreeing annotation pairs."""
    if not len(table.m):
        return float("nan")
    m = table.m
    return float(np.mean(table.agreeing() / (m * (m - 1))))


def _fleiss_kappa(table: _PairableTable) -> float:
    """Fleiss' kappa over pairable items (module docstring)."""
    if not len(table.m):
        return float("nan")
    observed = _mean_pairwise_agreement(table)
    shares = table.per_class / table.per_class.sum()
    expected = float(np.sum(shares**2))
    return _chance_corrected(observed, expected)


def _krippendorff_alpha(table: _PairableTable) -> float:
    """Nominal Krippendorff's alpha from the coincidence matrix (module docstring)."""
    if not len(table.m):
        return float("nan")
    m = table.m
    n = float(m.sum())
    observed = float((table.agreeing() / (m - 1)).sum() / n)
    per_class = table.per_class
    expected = float(np.sum(per_class * (per_class - 1)) / (n * (n - 1)))
    return _chance_corrected(observed, expected)


def _chance_corrected(observed: float, expected: float) -> float:
    """``(observed - expected) / (1 - expected)``, 1.0 when chance agreement is already perfect."""
    if np.isclose(expected, 1.0, rtol=0.0, atol=1e-12):
        return 1.0
    return (observed - expected) / (1.0 - expected)
