"""Labeler drift: each annotator's agreement with the consensus over time, and an alert when it drops.

Drift rule (:func:`labeler_drift`). Each annotator's annotations on consensus items are cut into tumbling
windows (calendar windows of ``created_at`` such as ``"1d"``, or blocks of ``n`` consecutive annotations in
time order) and each window's agreement with the consensus is computed. Windows with fewer than
``min_items`` annotations are listed but ignored for alerts. The *latest* window is the annotator's last
window with enough items; the *baseline* is the pooled agreement of their first ``baseline_windows``
(default 3) windows with enough items, never including the latest. An alert is raised when
``baseline - latest > drop`` (default 0.15). A fixed early baseline is used rather than the best earlier
window because the maximum of several noisy windows is biased upward and would raise false alarms.
"""

from __future__ import annotations

from typing import NamedTuple

import polars as pl

from factory.core.labeling._agreement import require_columns, require_unique_items
from factory.core.labeling._annotator_scores import ANNOTATION_COLUMNS, CONSENSUS_COLUMNS

__all__ = ["LabelerDrift", "labeler_drift"]


class LabelerDrift(NamedTuple):
    """Result of :func:`labeler_drift`: every window, and the annotators whose agreement dropped."""

    windows: pl.DataFrame
    alerts: pl.DataFrame


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
    require_columns(annotations, (*ANNOTATION_COLUMNS, "created_at"), "annotations")
    require_columns(consensus, CONSENSUS_COLUMNS, "consensus")
    require_unique_items(consensus, "consensus")
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
