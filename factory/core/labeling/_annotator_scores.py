"""Annotator quality: pairwise Cohen's kappa, per-annotator scores and spammers.

Inputs are the long-form annotations ``item_id, annotator, label[, created_at]`` (``created_at`` a UTC
datetime, needed only for drift) and a *consensus*: one label per item, ``item_id, label``, usually the
labels of `factory.core.labeling.aggregate` (gold label where there is one, else the aggregated one).
Consensus labels must belong to the taxonomy ``classes``.

Comparing against the consensus. The consensus of an item usually includes the annotator's own vote, so
agreement with it is biased upward a little: with five votes per item, a labeler who answers at random agrees
with the consensus slightly more often than chance (their kappa against it comes out at a few hundredths
instead of 0). That bias is small next to the thresholds below and roughly the same in every window of an
annotator, so it does not fake a drift. Pass a consensus built without the annotator (or gold labels) if
you need the figures exact.

Cohen's kappa of two label sequences over the same items (Cohen 1960):

    kappa = (po - pe) / (1 - pe),  po = share of items with equal labels,  pe = sum_c r_c s_c

with ``r_c`` and ``s_c`` the shares of class ``c`` in each sequence. As in :mod:`factory.core.labeling`, when
both sequences use one and the same class throughout (``pe = 1``) kappa is reported as 1.0.

Spammer rule (:func:`annotator_scores`). An annotator is flagged as a spammer when all three hold:

- at least ``min_items`` (default 50) of their annotations fall on consensus items, so the figures mean
  something (kappa on 50 items has a standard error of about 0.07);
- their Cohen's kappa against the consensus is below ``max_kappa`` (default 0.2, the upper end of
  "slight" agreement on the Landis & Koch scale): their labels carry next to no information about the
  consensus. Labels outside the taxonomy (and null labels) count as disagreement;
- their Raykar & Yu (2012) spammer score is below ``max_spammer_score`` (default 0.1). The score reads the
  annotator's confusion matrix ``A[k, c]`` (share of label ``c`` on items whose consensus is ``k``) and
  measures how different its rows are: ``S = sum_{k<l} ||A[k] - A[l]||^2 / (K (K - 1))`` over the ``K``
  consensus classes the annotator saw at least twice. It is 0 when the label does not depend on the item
  (uniform random answers, always the same answer) and 1 for a perfect annotator; an annotator who is right
  with probability ``a`` and otherwise errs uniformly scores about ``kappa^2``. We use an unbiased
  estimate of ``S`` (the plain plug-in estimate is inflated by sampling noise, by about ``K / n`` for ``n``
  items), so it can dip slightly below 0. This condition spares annotators who disagree with the consensus
  *consistently* (for instance always answering ``refund`` for ``billing``): they have a low kappa but a high
  score, and need a guideline fix rather than removal. 0.1 leaves room for sampling noise above the
  ``0.2^2 = 0.04`` that matches the kappa threshold.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from factory.core.labeling._agreement import annotator_quality, require_columns, require_unique_items
from factory.core.labeling._kappa_pairs import MAX_PAIR_ROWS, kappa_cells, kappa_pairs

__all__ = ["ANNOTATION_COLUMNS", "CONSENSUS_COLUMNS", "annotator_scores", "cohen_kappa_pairs", "consensus_labels"]

ANNOTATION_COLUMNS = ("item_id", "annotator", "label")
CONSENSUS_COLUMNS = ("item_id", "label")
_PAIR_KEYS = ["annotator_a", "annotator_b"]
_COUNT = pl.len().cast(pl.Int64).alias("_n")


def cohen_kappa_pairs(
    annotations: pl.DataFrame, classes: Sequence[str], min_shared: int = 30, max_pair_rows: int = MAX_PAIR_ROWS
) -> pl.DataFrame:
    """Cohen's kappa for every pair of annotators over the items both labeled.

    Returns ``annotator_a, annotator_b, shared_items, agreement, kappa`` with ``annotator_a < annotator_b``,
    sorted by the pair, for the pairs sharing at least ``min_shared`` items (kappa on fewer items is noise).
    ``agreement`` is the share of shared items with equal labels. Only in-taxonomy labels count; when an
    annotator labeled an item twice, their latest label is used (largest ``created_at`` when the column
    exists, else the last row).

    Cost: linear in the annotations up to ``max_pair_rows`` enumerated annotation pairs, a bound past which
    only the annotators with the most items are compared (`factory.core.labeling._kappa_pairs`; its
    `kappa_pairs` also returns the note saying so).
    """
    return kappa_pairs(annotations, classes, min_shared, max_pair_rows).pairs


def annotator_scores(
    annotations: pl.DataFrame,
    consensus: pl.DataFrame,
    classes: Sequence[str],
    gold: pl.DataFrame | None = None,
    *,
    min_items: int = 50,
    max_kappa: float = 0.2,
    max_spammer_score: float = 0.1,
    min_shared: int = 30,
    pairs: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """One row of quality figures per annotator, with the spammer flag (rule in the module docstring).

    Returns, sorted by ``annotator``:

    - ``annotations``: all of the annotator's rows, whatever the label;
    - ``n_gold``, ``gold_accuracy``: annotations on ``gold`` items (``item_id, label``) and the share equal to
      the gold label (0 and null without gold);
    - ``n_consensus``, ``consensus_accuracy``: the same against ``consensus``;
    - ``consensus_kappa``: Cohen's kappa of the annotator's labels against the consensus on those items;
    - ``spammer_score``: Raykar & Yu's score of the confusion matrix against the consensus (null when the
      annotator saw fewer than two consensus classes twice);
    - ``n_pairs``, ``mean_pair_kappa``: how many other annotators share at least ``min_shared`` items with
      this one, and the mean pairwise Cohen's kappa with them (see :func:`cohen_kappa_pairs`; pass its result
      as ``pairs`` to avoid computing it twice);
    - ``spammer``: the flag.

    Labels outside the taxonomy and null labels count as wrong in every accuracy and as disagreement in kappa.
    """
    require_columns(annotations, ANNOTATION_COLUMNS, "annotations")
    if min_items < 1:
        raise ValueError(f"min_items must be at least 1, got {min_items}")
    reference = consensus_labels(consensus, classes, annotations.schema["item_id"])
    cells = _judged(annotations, reference, classes).group_by("annotator", "label", "consensus_label").agg(_COUNT)
    # Null labels (outside the taxonomy) never equal the consensus: ``agreement`` is the accuracy.
    on_consensus = kappa_cells(cells.lazy(), ["annotator"], "label", "consensus_label").collect()
    if pairs is None:
        pairs = cohen_kappa_pairs(annotations, classes, min_shared)
    merged = (
        annotations.group_by("annotator")
        .agg(pl.len().cast(pl.Int64).alias("annotations"))
        .join(_gold_scores(annotations, gold), on="annotator", how="left")
        .join(
            on_consensus.select(
                "annotator",
                pl.col("shared_items").alias("n_consensus"),
                pl.col("agreement").alias("consensus_accuracy"),
                pl.col("kappa").alias("consensus_kappa"),
            ),
            on="annotator",
            how="left",
        )
        .join(_spammer_scores(cells), on="annotator", how="left")
        .join(_pair_kappa_means(pairs), on="annotator", how="left")
        .with_columns(pl.col("n_gold", "n_consensus", "n_pairs").fill_null(0))
    )
    spammer = (
        (pl.col("n_consensus") >= min_items)
        & (pl.col("consensus_kappa").fill_null(0.0) < max_kappa)
        & (pl.col("spammer_score").is_null() | (pl.col("spammer_score") < max_spammer_score))
    )
    return merged.select(
        "annotator",
        "annotations",
        "n_gold",
        "gold_accuracy",
        "n_consensus",
        "consensus_accuracy",
        "consensus_kappa",
        "spammer_score",
        "n_pairs",
        "mean_pair_kappa",
        spammer.alias("spammer"),
    ).sort("annotator")


def consensus_labels(consensus: pl.DataFrame, classes: Sequence[str], item_dtype: pl.DataType) -> pl.DataFrame:
    """``item_id, consensus_label``, validated: one row per item, every label in the taxonomy."""
    require_columns(consensus, CONSENSUS_COLUMNS, "consensus")
    require_unique_items(consensus, "consensus")
    outside = consensus.filter(pl.col("label").is_null() | ~pl.col("label").is_in(list(classes)))
    if outside.height:
        found = outside.get_column("label").unique().sort(nulls_last=True).head(5).to_list()
        raise ValueError(f"consensus has {outside.height} label(s) outside the taxonomy {list(classes)}: {found}")
    return consensus.select(pl.col("item_id").cast(item_dtype), pl.col("label").alias("consensus_label"))


def _judged(annotations: pl.DataFrame, reference: pl.DataFrame, classes: Sequence[str]) -> pl.DataFrame:
    """Annotations on consensus items, ``annotator, label, consensus_label``; a label outside ``classes`` is null."""
    in_taxonomy = pl.col("label").is_in(list(classes)).fill_null(False)
    return annotations.join(reference, on="item_id", how="inner").select(
        "annotator", pl.when(in_taxonomy).then(pl.col("label")).alias("label"), "consensus_label"
    )


def _spammer_scores(cells: pl.DataFrame) -> pl.DataFrame:
    """``annotator, spammer_score`` from ``annotator, label, consensus_label, _n`` counts (Raykar & Yu, unbiased).

    With ``p_k`` row ``k`` of the estimated confusion matrix (``n_k >= 2`` items), ``q_k = (n_k |p_k|^2 - 1)
    / (n_k - 1)`` estimates ``|A[k]|^2`` without bias and ``p_k . p_l`` estimates ``A[k] . A[l]``, so
    ``sum_{k<l} |A[k] - A[l]|^2`` is estimated by ``(K - 1) sum q_k - |sum p_k|^2 + sum |p_k|^2``.
    """
    row_total = pl.col("_n").sum().over("annotator", "consensus_label").cast(pl.Float64)
    shares = (
        cells.with_columns(row_total.alias("_row_n"))
        .filter(pl.col("_row_n") >= 2)
        .with_columns((pl.col("_n") / pl.col("_row_n")).alias("_p"))
    )
    per_row = (
        shares.group_by("annotator", "consensus_label")
        .agg((pl.col("_p") ** 2).sum().alias("_sq"), pl.col("_row_n").first())
        .with_columns(((pl.col("_row_n") * pl.col("_sq") - 1.0) / (pl.col("_row_n") - 1.0)).alias("_q"))
        .group_by("annotator")
        .agg(pl.len().cast(pl.Float64).alias("_k"), pl.col("_q").sum(), pl.col("_sq").sum())
    )
    column_sums = (
        shares.group_by("annotator", "label")
        .agg(pl.col("_p").sum().alias("_column"))
        .group_by("annotator")
        .agg((pl.col("_column") ** 2).sum().alias("_norm"))
    )
    k = pl.col("_k")
    score = ((k - 1.0) * pl.col("_q") - pl.col("_norm") + pl.col("_sq")) / (k * (k - 1.0))
    return per_row.join(column_sums, on="annotator", how="left").select(
        "annotator", pl.when(k >= 2).then(score).cast(pl.Float64).alias("spammer_score")
    )


def _pair_kappa_means(pairs: pl.DataFrame) -> pl.DataFrame:
    """``annotator, n_pairs, mean_pair_kappa`` from a :func:`cohen_kappa_pairs` table."""
    require_columns(pairs, [*_PAIR_KEYS, "kappa"], "pairs")
    sides = pl.concat(
        [pairs.select(pl.col(side).alias("annotator"), "kappa") for side in _PAIR_KEYS], how="vertical_relaxed"
    )
    return sides.group_by("annotator").agg(
        pl.len().cast(pl.Int64).alias("n_pairs"), pl.col("kappa").mean().cast(pl.Float64).alias("mean_pair_kappa")
    )


def _gold_scores(annotations: pl.DataFrame, gold: pl.DataFrame | None) -> pl.DataFrame:
    """``annotator, n_gold, gold_accuracy`` (null accuracy for everyone without gold)."""
    if gold is None:
        return (
            annotations.select("annotator")
            .unique()
            .with_columns(
                pl.lit(0, dtype=pl.Int64).alias("n_gold"), pl.lit(None, dtype=pl.Float64).alias("gold_accuracy")
            )
        )
    require_columns(gold, CONSENSUS_COLUMNS, "gold")
    reference = gold.with_columns(pl.col("item_id").cast(annotations.schema["item_id"]))
    return annotator_quality(annotations, reference).rename({"n": "n_gold", "accuracy": "gold_accuracy"})
