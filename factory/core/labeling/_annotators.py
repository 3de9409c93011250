"""Annotator quality: pairwise Cohen's kappa, per-annotator scores, spammers, drift and a confusion report.

Inputs are the long-form annotations ``item_id, annotator, label[, created_at]`` (``created_at`` a UTC
datetime, needed only for drift) and a *consensus*: one label per item, ``item_id, label``, usually the
output of :func:`factory.core.labeling.majority_vote` (gold label where there is one, else the vote).
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

Drift rule (:func:`labeler_drift`). Each annotator's annotations on consensus items are cut into tumbling
windows (calendar windows of ``created_at`` such as ``"1d"``, or blocks of ``n`` consecutive annotations in
time order) and each window's agreement with the consensus is computed. Windows with fewer than
``min_items`` annotations are listed but ignored for alerts. The *latest* window is the annotator's last
window with enough items; the *baseline* is the pooled agreement of their first ``baseline_windows``
(default 3) windows with enough items, never including the latest. An alert is raised when
``baseline - latest > drop`` (default 0.15). A fixed early baseline is used rather than the best earlier
window because the maximum of several noisy windows is biased upward and would raise false alarms.

Confusion pairs (:func:`confused_label_pairs`). Ordered pairs ``consensus_label -> annotator_label``: the
direction tells a guideline author which class definition is being stretched ("items the crowd calls
``billing`` get labeled ``refund``"); a symmetric confusion shows up as two rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import polars as pl

from factory.core.labeling._agreement import _in_taxonomy, _require_columns, _require_unique_items, annotator_quality

__all__ = [
    "LabelerDrift",
    "annotator_scores",
    "cohen_kappa_pairs",
    "confused_label_pairs",
    "disagreement_report",
    "labeler_drift",
]

_ANNOTATION_COLUMNS = ("item_id", "annotator", "label")
_CONSENSUS_COLUMNS = ("item_id", "label")
_PAIR_KEYS = ["annotator_a", "annotator_b"]
_COUNT = pl.len().cast(pl.Int64).alias("_n")


class LabelerDrift(NamedTuple):
    """Result of :func:`labeler_drift`: every window, and the annotators whose agreement dropped."""

    windows: pl.DataFrame
    alerts: pl.DataFrame


def cohen_kappa_pairs(annotations: pl.DataFrame, classes: Sequence[str], min_shared: int = 30) -> pl.DataFrame:
    """Cohen's kappa for every pair of annotators over the items both labeled.

    Returns ``annotator_a, annotator_b, shared_items, agreement, kappa`` with ``annotator_a < annotator_b``,
    sorted by the pair, for the pairs sharing at least ``min_shared`` items (kappa on fewer items is noise).
    ``agreement`` is the share of shared items with equal labels. Only in-taxonomy labels count; when an
    annotator labeled an item twice, their latest label is used (largest ``created_at`` when the column
    exists, else the last row).

    Cost: a self-join on ``item_id`` produces ``m (m - 1) / 2`` rows per item labeled ``m`` times (2 million
    for 200,000 items labeled 5 times), grouped into one contingency table per pair; about a second there.
    """
    _require_columns(annotations, _ANNOTATION_COLUMNS, "annotations")
    if min_shared < 1:
        raise ValueError(f"min_shared must be at least 1, got {min_shared}")
    labelled, names = _encoded_labels(annotations, classes)
    left = labelled.lazy().rename({"annotator": "annotator_a", "label": "label_a"})
    right = labelled.lazy().rename({"annotator": "annotator_b", "label": "label_b"})
    pairs = left.join(right, on="item_id", how="inner").filter(pl.col("annotator_a") < pl.col("annotator_b"))
    kappas = (
        _kappa_from_cells(
            pairs.group_by(*_PAIR_KEYS, "label_a", "label_b").agg(_COUNT), _PAIR_KEYS, "label_a", "label_b"
        )
        .filter(pl.col("shared_items") >= min_shared)
        .sort(_PAIR_KEYS)
        .collect()
    )
    return kappas.with_columns(names.gather(kappas.get_column(key)).alias(key) for key in _PAIR_KEYS)


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
    _require_columns(annotations, _ANNOTATION_COLUMNS, "annotations")
    if min_items < 1:
        raise ValueError(f"min_items must be at least 1, got {min_items}")
    reference = _consensus_labels(consensus, classes, annotations.schema["item_id"])
    cells = _judged(annotations, reference, classes).group_by("annotator", "label", "consensus_label").agg(_COUNT)
    # Null labels (outside the taxonomy) never equal the consensus: ``agreement`` is the accuracy.
    on_consensus = _kappa_from_cells(cells.lazy(), ["annotator"], "label", "consensus_label").collect()
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


def labeler_drift(
    annotations: pl.DataFrame,
    consensus: pl.DataFrame,
    *,
    window: str | int = "1d",
    min_items: int = 50,
    drop: float = 0.15,
    baseline_windows: int = 3,
) -> LabelerDrift:
    """Each annotator's agreement with the consensus over time, and alerts for those who got worse.

    ``window`` is a polars duration (``"1d"``, ``"12h"``, ``"1w"``: calendar windows of ``created_at``,
    aligned on the epoch, i.e. UTC midnight for days) or an integer ``n`` (blocks of ``n`` consecutive
    annotations of the annotator, in ``created_at`` order, ties in row order). Only annotations on consensus
    items with a ``created_at`` count; a label outside the taxonomy counts as disagreement.

    Returns ``windows`` (``annotator, window_start, items, agreement``, sorted by annotator and time; for
    item blocks ``window_start`` is the block's first ``created_at``) and ``alerts`` (``annotator,
    baseline, latest, drop, window_start, items, message``, sorted by the largest drop first), where
    ``window_start`` and ``items`` describe the latest window. The rule is in the module docstring.
    """
    _require_columns(annotations, (*_ANNOTATION_COLUMNS, "created_at"), "annotations")
    _require_columns(consensus, _CONSENSUS_COLUMNS, "consensus")
    _require_unique_items(consensus, "consensus")
    if min_items < 1 or baseline_windows < 1:
        raise ValueError(f"min_items and baseline_windows must be at least 1, got {min_items}, {baseline_windows}")
    reference = consensus.select(
        pl.col("item_id").cast(annotations.schema["item_id"]), pl.col("label").alias("consensus_label")
    )
    matched = (
        annotations.filter(pl.col("created_at").is_not_null())
        .join(reference, on="item_id", how="inner")
        .select(
            "annotator",
            "created_at",
            (pl.col("label") == pl.col("consensus_label")).fill_null(False).alias("agrees"),
        )
    )
    windows = _windows(matched, window)
    return LabelerDrift(windows, _drift_alerts(windows, min_items, drop, baseline_windows))


def confused_label_pairs(
    annotations: pl.DataFrame, consensus: pl.DataFrame, classes: Sequence[str], top: int = 10, examples: int = 5
) -> pl.DataFrame:
    """The most frequent ways annotations disagree with the consensus, as ordered label pairs.

    Returns at most ``top`` rows of ``consensus_label, annotator_label, count, rate, example_item_ids``:
    ``count`` annotations labeled ``annotator_label`` an item whose consensus is ``consensus_label``;
    ``rate`` is ``count`` over all in-taxonomy annotations on items with that consensus label (so 0.12 means
    12% of the annotations of that class went to the other label); ``example_item_ids`` are the ``examples``
    smallest such item ids, ascending. Sorted by ``count`` descending, then by the two labels. Annotations
    outside the taxonomy are left out (they are free text the annotator typed, not a confusion between
    classes), so the result holds only ids and taxonomy labels.
    """
    _require_columns(annotations, _ANNOTATION_COLUMNS, "annotations")
    if top < 0 or examples < 0:
        raise ValueError(f"top and examples must not be negative, got {top}, {examples}")
    reference = _consensus_labels(consensus, classes, annotations.schema["item_id"])
    judged = _in_taxonomy(annotations, classes).join(reference, on="item_id", how="inner")
    per_class = judged.group_by("consensus_label").agg(pl.len().cast(pl.Int64).alias("class_annotations"))
    return (
        judged.filter(pl.col("label") != pl.col("consensus_label"))
        .group_by("consensus_label", pl.col("label").alias("annotator_label"))
        .agg(
            pl.len().cast(pl.Int64).alias("count"),
            pl.col("item_id").unique().sort().head(examples).alias("example_item_ids"),
        )
        .join(per_class, on="consensus_label", how="left")
        .select(
            "consensus_label",
            "annotator_label",
            "count",
            (pl.col("count") / pl.col("class_annotations")).cast(pl.Float64).alias("rate"),
            "example_item_ids",
        )
        .sort(["count", "consensus_label", "annotator_label"], descending=[True, False, False])
        .head(top)
    )


def disagreement_report(
    annotations: pl.DataFrame,
    consensus: pl.DataFrame,
    classes: Sequence[str],
    top: int = 10,
    examples: int = 5,
    *,
    scores: pl.DataFrame | None = None,
    drift_alerts: pl.DataFrame | None = None,
) -> str:
    """A markdown report for the guideline author: which classes annotators confuse, and whom to look at.

    The table is :func:`confused_label_pairs`. When ``scores`` (from :func:`annotator_scores`) is given, the
    annotations of flagged spammers are left out of the table (their errors are noise, not confusion) and the
    spammers are listed; when ``drift_alerts`` (``LabelerDrift.alerts``) is given, its messages are listed.
    The report holds only item ids, annotator ids, taxonomy labels and figures: no item text.
    """
    spammers = _flagged_spammers(scores)
    kept = annotations.filter(~pl.col("annotator").is_in(spammers.implode())) if spammers.len() else annotations
    pairs = confused_label_pairs(kept, consensus, classes, top, examples)
    reference = _consensus_labels(consensus, classes, annotations.schema["item_id"])
    judged = _in_taxonomy(kept, classes).join(reference, on="item_id", how="inner")
    disagreeing = judged.filter(pl.col("label") != pl.col("consensus_label")).height
    lines = [
        "## Where annotators disagree with the consensus",
        "",
        _report_intro(judged.height, judged.get_column("item_id").n_unique(), disagreeing, spammers.len()),
        "",
        *_pairs_table(pairs),
    ]
    if scores is not None or drift_alerts is not None:
        lines += ["", "### Annotators to look at", "", *_highlights(scores, drift_alerts)]
    return "\n".join(lines) + "\n"


# --- kappa and scores ------------------------------------------------------------------------------------------


def _encoded_labels(annotations: pl.DataFrame, classes: Sequence[str]) -> tuple[pl.DataFrame, pl.Series]:
    """In-taxonomy ``item_id, annotator, label`` as integer codes, one row per item and annotator.

    An annotator's code is their position in the returned sorted series of annotator ids (null annotators are
    dropped), a label's its position in ``classes``: grouping and joining on small integers is several times
    faster than on strings. When an annotator labeled an item twice, the latest label is kept (largest
    ``created_at`` when the column exists, else the last row).
    """
    valid = _in_taxonomy(annotations, classes).filter(pl.col("annotator").is_not_null())
    names = valid.get_column("annotator").unique().sort()
    codes = pl.DataFrame({"annotator": names, "_code": pl.int_range(len(names), eager=True, dtype=pl.UInt32)})
    encoded = valid.join(codes, on="annotator", how="inner").with_columns(
        pl.col("_code").alias("annotator"), pl.col("label").cast(pl.Enum(list(classes))).to_physical().alias("label")
    )
    if "created_at" in encoded.columns:
        encoded = encoded.sort("created_at", nulls_last=False, maintain_order=True)
    return encoded.select("item_id", "annotator", "label").unique(["item_id", "annotator"], keep="last"), names


def _consensus_labels(consensus: pl.DataFrame, classes: Sequence[str], item_dtype: pl.DataType) -> pl.DataFrame:
    """``item_id, consensus_label``, validated: one row per item, every label in the taxonomy."""
    _require_columns(consensus, _CONSENSUS_COLUMNS, "consensus")
    _require_unique_items(consensus, "consensus")
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


def _kappa_from_cells(cells: pl.LazyFrame, keys: list[str], left: str, right: str) -> pl.LazyFrame:
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
    _require_columns(pairs, [*_PAIR_KEYS, "kappa"], "pairs")
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
    _require_columns(gold, _CONSENSUS_COLUMNS, "gold")
    reference = gold.with_columns(pl.col("item_id").cast(annotations.schema["item_id"]))
    return annotator_quality(annotations, reference).rename({"n": "n_gold", "accuracy": "gold_accuracy"})


# --- drift -----------------------------------------------------------------------------------------------------


def _windows(matched: pl.DataFrame, window: str | int) -> pl.DataFrame:
    """``annotator, window_start, items, agreement`` from ``annotator, created_at, agrees`` rows."""
    if isinstance(window, int):
        if window < 1:
            raise ValueError(f"an item window must hold at least 1 annotation, got {window}")
        ordered = matched.sort("created_at", maintain_order=True)
        keyed = ordered.with_columns((pl.int_range(pl.len()).over("annotator") // window).alias("_block"))
        windows = keyed.group_by("annotator", "_block").agg(
            pl.col("created_at").min().alias("window_start"),
            pl.len().cast(pl.Int64).alias("items"),
            pl.col("agrees").mean().cast(pl.Float64).alias("agreement"),
        )
    else:
        windows = (
            matched.with_columns(pl.col("created_at").dt.truncate(window).alias("window_start"))
            .group_by("annotator", "window_start")
            .agg(pl.len().cast(pl.Int64).alias("items"), pl.col("agrees").mean().cast(pl.Float64).alias("agreement"))
        )
    return windows.select("annotator", "window_start", "items", "agreement").sort("annotator", "window_start")


def _drift_alerts(windows: pl.DataFrame, min_items: int, drop: float, baseline_windows: int) -> pl.DataFrame:
    """The alert table of :func:`labeler_drift` from its window table."""
    rank = pl.int_range(pl.len()).over("annotator")
    count = pl.len().over("annotator")
    eligible = (
        windows.filter(pl.col("items") >= min_items)
        .with_columns(rank.alias("_rank"), count.alias("_count"))
        .filter(pl.col("_count") >= 2)
    )
    in_baseline = pl.col("_rank") < pl.min_horizontal(pl.lit(baseline_windows), pl.col("_count") - 1)
    latest = pl.col("_rank") == pl.col("_count") - 1
    summary = eligible.group_by("annotator").agg(
        ((pl.col("agreement") * pl.col("items")).filter(in_baseline).sum() / pl.col("items").filter(in_baseline).sum())
        .cast(pl.Float64)
        .alias("baseline"),
        pl.col("agreement").filter(latest).first().alias("latest"),
        pl.col("window_start").filter(latest).first().alias("window_start"),
        pl.col("items").filter(latest).first().alias("items"),
        in_baseline.sum().cast(pl.Int64).alias("_baseline_windows"),
    )
    alerts = (
        summary.with_columns((pl.col("baseline") - pl.col("latest")).alias("drop"))
        .filter(pl.col("drop") > drop)
        .sort(["drop", "annotator"], descending=[True, False])
    )
    messages = [_drift_message(row) for row in alerts.iter_rows(named=True)]
    return alerts.select("annotator", "baseline", "latest", "drop", "window_start", "items").with_columns(
        pl.Series("message", messages, dtype=pl.String)
    )


def _drift_message(row: dict[str, object]) -> str:
    """One sentence for a drift alert row."""
    start = row["window_start"]
    when = start.isoformat() if hasattr(start, "isoformat") else str(start)
    plural = "s" if row["_baseline_windows"] != 1 else ""
    return (
        f"{row['annotator']}: agreement with the consensus fell from {row['baseline']:.2f} "
        f"(first {row['_baseline_windows']} window{plural}) to {row['latest']:.2f} in the window starting "
        f"{when} ({row['items']} items, a drop of {row['drop']:.2f}); review their recent labels and re-brief "
        "them on the guidelines."
    )


# --- report ----------------------------------------------------------------------------------------------------


def _flagged_spammers(scores: pl.DataFrame | None) -> pl.Series:
    """Sorted ids of the annotators flagged as spammers in an :func:`annotator_scores` table (none without one)."""
    if scores is None:
        return pl.Series("annotator", [], dtype=pl.String)
    _require_columns(scores, ["annotator", "spammer"], "scores")
    return scores.filter(pl.col("spammer").fill_null(False)).get_column("annotator").sort()


def _report_intro(annotations: int, items: int, disagreeing: int, spammers: int) -> str:
    """The sentence that says what the table counts."""
    share = f" ({disagreeing / annotations:.1%})" if annotations else ""
    left_out = f" The annotations of the {spammers} flagged spammer(s) are left out." if spammers else ""
    return (
        f"Of {annotations} in-taxonomy annotations on {items} items with a consensus label, {disagreeing}{share} "
        "differ from the consensus. Each row below is one way of disagreeing: items whose consensus is the first "
        "label, labeled as the second. `rate` is the share of all annotations on items of the consensus class "
        "that chose the other label; a high rate means the guidelines do not separate the two classes well "
        f"enough. Review the example items (ids only) when rewriting those definitions.{left_out}"
    )


def _pairs_table(pairs: pl.DataFrame) -> list[str]:
    """Markdown lines of the confused-pairs table."""
    if pairs.is_empty():
        return ["_(no disagreement with the consensus)_"]
    lines = [
        "| consensus label | annotator label | count | rate | example item ids |",
        "|---|---|---:|---:|---|",
    ]
    for row in pairs.iter_rows(named=True):
        ids = ", ".join(str(item) for item in row["example_item_ids"])
        cells = [_cell(row["consensus_label"]), _cell(row["annotator_label"]), str(row["count"])]
        lines.append("| " + " | ".join([*cells, f"{row['rate']:.1%}", _cell(ids)]) + " |")
    return lines


def _highlights(scores: pl.DataFrame | None, drift_alerts: pl.DataFrame | None) -> list[str]:
    """Markdown bullet lines for spammers and drifting annotators."""
    lines: list[str] = []
    if scores is not None:
        flagged = scores.filter(pl.col("spammer").fill_null(False)).sort("annotator")
        for row in flagged.iter_rows(named=True):
            lines.append(
                f"- **{_cell(row['annotator'])}**: likely spammer, Cohen's kappa {_figure(row.get('consensus_kappa'))} "
                f"against the consensus on {row.get('n_consensus')} items, spammer score "
                f"{_figure(row.get('spammer_score'))}. Exclude their labels from the vote and check their work."
            )
    if drift_alerts is not None:
        _require_columns(drift_alerts, ["annotator", "message"], "drift_alerts")
        for row in drift_alerts.iter_rows(named=True):
            message = str(row["message"]).removeprefix(f"{row['annotator']}: ")
            lines.append(f"- **{_cell(row['annotator'])}**: {_cell(message)}")
    return lines or ["No annotator is flagged as a spammer or as drifting."]


def _figure(value: object) -> str:
    """A float with two decimals, or ``n/a``."""
    return f"{value:.2f}" if isinstance(value, float) else "n/a"


def _cell(value: object) -> str:
    """Text safe inside a markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")
