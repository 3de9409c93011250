"""The disagreement report for a guideline author: confused label pairs, annotator pairs and highlights, and
the label conflicts of pre-labeled data (:func:`conflicts_report`).

Confusion pairs (:func:`confused_label_pairs`). Ordered pairs ``consensus_label -> annotator_label``: the
direction tells a guideline author which class definition is being stretched ("items the crowd calls
``billing`` get labeled ``refund``"); a symmetric confusion shows up as two rows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import polars as pl

from factory.core.labeling._agreement import in_taxonomy, require_columns
from factory.core.labeling._annotator_scores import ANNOTATION_COLUMNS, consensus_labels
from factory.core.safe_text import markdown_text

__all__ = ["conflicts_report", "confused_label_pairs", "disagreement_report"]


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
    require_columns(annotations, ANNOTATION_COLUMNS, "annotations")
    if top < 0 or examples < 0:
        raise ValueError(f"top and examples must not be negative, got {top}, {examples}")
    reference = consensus_labels(consensus, classes, annotations.schema["item_id"])
    judged = in_taxonomy(annotations, classes).join(reference, on="item_id", how="inner")
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
    reference = consensus_labels(consensus, classes, annotations.schema["item_id"])
    judged = in_taxonomy(kept, classes).join(reference, on="item_id", how="inner")
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


def _flagged_spammers(scores: pl.DataFrame | None) -> pl.Series:
    """Sorted ids of the annotators flagged as spammers in an :func:`annotator_scores` table (none without one)."""
    if scores is None:
        return pl.Series("annotator", [], dtype=pl.String)
    require_columns(scores, ["annotator", "spammer"], "scores")
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
        require_columns(drift_alerts, ["annotator", "message"], "drift_alerts")
        for row in drift_alerts.iter_rows(named=True):
            message = str(row["message"]).removeprefix(f"{row['annotator']}: ")
            lines.append(f"- **{_cell(row['annotator'])}**: {_cell(message)}")
    return lines or ["No annotator is flagged as a spammer or as drifting."]


def _figure(value: object) -> str:
    """A float with two decimals, or ``n/a``."""
    return f"{value:.2f}" if isinstance(value, float) else "n/a"


def _cell(value: object) -> str:
    """Text safe inside a markdown table cell or a bullet: markup and HTML from names escaped."""
    return markdown_text(value)


def conflicts_report(conflicts: pl.DataFrame, top: int = 20) -> str:
    """A markdown section on the label conflicts of a day (`factory.core.labeling.label_conflicts` output):
    how many items the data labeled differently, and the first ``top`` of them with their labels and rows.
    Ids, source names, labels and row references only: no text."""
    lines = ["## Label conflicts among copies of the same row", ""]
    if conflicts.is_empty():
        return "\n".join([*lines, "_(no item was labeled differently by its copies in the data)_"]) + "\n"
    lines += [
        f"{conflicts.height} item(s) carry different labels in the data: the row kept and a row removed as its exact "
        "or near duplicate, or such duplicates among themselves. Every copy's label counts in the aggregation; "
        "each item is queued for review with reason `label_conflict`.",
        "",
        "| item | source | rows | labels | which row said what |",
        "|---|---|---:|---|---|",
    ]
    for row in conflicts.head(top).iter_rows(named=True):
        labels = ", ".join(f"{label} x{count}" for label, count in json.loads(row["labels"]).items())
        said = "; ".join(f"{entry['origin']}: {entry['label']}" for entry in json.loads(row["rows"]))
        cells = [_cell(row["item_id"]), _cell(row["annotator"]), str(row["n_rows"]), _cell(labels), _cell(said)]
        lines.append("| " + " | ".join(cells) + " |")
    if conflicts.height > top:
        lines += ["", f"_{top} of {conflicts.height} conflicts shown; all are in the `label_conflicts` table._"]
    return "\n".join(lines) + "\n"
