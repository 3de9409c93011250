"""Assembling a dataset version from prepared rows and labels, and describing it in a data card."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import polars as pl

from factory.core.dataset._splits import assign_split, hold_out_after
from factory.core.gates import GateResult, class_shares
from factory.core.safe_text import markdown_code, markdown_text
from factory.core.stats import mean

__all__ = ["DatasetLayout", "assemble", "datacard"]


@dataclass(frozen=True)
class DatasetLayout:
    id_column: str
    timestamp_column: str
    group_column: str
    text_columns: tuple[str, ...]
    feature_columns: tuple[str, ...]

    def columns(self) -> list[str]:
        seen: dict[str, None] = {}
        for name in (
            self.id_column,
            self.timestamp_column,
            self.group_column,
            *self.feature_columns,
            *self.text_columns,
        ):
            seen.setdefault(name, None)
        return list(seen)


def assemble(
    rows: pl.DataFrame,
    layout: DatasetLayout,
    fractions: Mapping[str, float],
    salt: str,
    holdout_after: datetime | None = None,
) -> pl.DataFrame:
    """Labeled rows in a canonical shape and order, each with its deterministic split.

    ``rows`` holds prepared columns plus ``label``, ``label_confidence``, ``label_source`` and ``partition_key``.
    The split is a function of the group key alone, so a group never straddles splits and never moves. With
    ``holdout_after``, rows stamped at or after that moment are test rows whatever their group (a time
    holdout; see `hold_out_after`).
    """
    frame = rows.select(
        *layout.columns(),
        "label",
        "label_confidence",
        "label_source",
        pl.col("partition_key").alias("source_partition"),
    ).sort(layout.id_column)
    splits = assign_split(frame[layout.group_column], fractions, salt)
    if holdout_after is not None:
        splits = hold_out_after(splits, frame[layout.timestamp_column], holdout_after)
    return frame.with_columns(splits.alias("split"))


def datacard(
    *,
    title: str,
    frame: pl.DataFrame,
    classes: Sequence[str],
    digest: str,
    lineage: Mapping[str, str],
    gates: Sequence[GateResult],
) -> str:
    """A markdown data card: counts, class mix, split sizes, label quality, gate results and lineage; names and
    values from data escaped (`factory.core.safe_text`)."""
    shares = class_shares(frame["label"], classes)
    splits = frame.group_by("split").len("rows").sort("split")
    partitions = frame["source_partition"].unique().sort().to_list()
    low_confidence = mean(frame["label_confidence"] < 0.67)
    lines = [
        f"# Data card: {markdown_text(title)}",
        "",
        f"- rows: {frame.height}",
        f"- digest: `{digest}`",
        f"- partitions: {partitions[0]} .. {partitions[-1]} ({len(partitions)} days)"
        if partitions
        else "- partitions: none",
        f"- labels from gold: {int((frame['label_source'] == 'gold').sum())}",
        f"- mean label confidence: {mean(frame['label_confidence']):.3f}",
        f"- share of labels with confidence under 0.67: {low_confidence:.2%}",
        "",
        "## Class mix",
        "",
        "| label | count | share |",
        "|---|---|---|",
        *(f"| {markdown_text(r['label'])} | {r['count']} | {r['share']:.2%} |" for r in shares.iter_rows(named=True)),
        "",
        "## Splits",
        "",
        "| split | rows |",
        "|---|---|",
        *(f"| {markdown_text(r['split'])} | {r['rows']} |" for r in splits.iter_rows(named=True)),
        "",
        "## Gates at staging",
        "",
        "| gate | passed | summary |",
        "|---|---|---|",
        *(f"| {markdown_text(g.name)} | {'yes' if g.passed else 'NO'} | {markdown_text(g.summary)} |" for g in gates),
        "",
        "## Lineage",
        "",
        *(f"- {markdown_text(k)}: {markdown_code(v)}" for k, v in sorted(lineage.items())),
        "",
    ]
    return "\n".join(lines)
