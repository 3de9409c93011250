"""The data inventory: per source, what it holds and whether it is worth labeling next.

From per-source, per-day counts (rows delivered, prepared, quarantined, duplicates, rows with PII found, labeled
items) up to a day, each source gets its volume, freshness, schema conformance, label coverage, PII and duplicate
shares and a readiness verdict, checked in this order:

- ``no data``: the source delivered no row yet;
- ``fix quality first``: its quarantine rate or duplicate share reaches the red bound of the health view
  (labeling rows that preparation refuses or that repeat others is wasted effort);
- ``label first``: clean, but under the label coverage a dataset needs (``health.ready_coverage``);
- ``ready``: clean and labeled enough.

``priority`` ranks the sources to label: ``label first`` sources by unlabeled prepared rows, most first, then
the sources to fix, then the ready ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import polars as pl

__all__ = ["INVENTORY_SCHEMA", "ReadinessRules", "inventory"]

INVENTORY_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "rows": pl.Int64(),
    "days": pl.Int64(),
    "first_day": pl.String(),
    "newest_day": pl.String(),
    "ingested_at": pl.Datetime("us", "UTC"),
    "prepared": pl.Int64(),
    "quarantined": pl.Int64(),
    "conformance": pl.Float64(),
    "quarantine_reasons": pl.String(),
    "labeled": pl.Int64(),
    "label_coverage": pl.Float64(),
    "pii_rows": pl.Int64(),
    "pii_share": pl.Float64(),
    "duplicates": pl.Int64(),
    "duplicate_share": pl.Float64(),
    "readiness": pl.String(),
    "why": pl.String(),
    "priority": pl.Int64(),
}
"""The columns of one inventory row per source."""

_ORDER = {"label first": 0, "fix quality first": 1, "ready": 2, "no data": 3}


@dataclass(frozen=True)
class ReadinessRules:
    """The quarantine rate and duplicate share at which a source must be fixed first, and the label coverage
    from which it is ready."""

    max_quarantine_rate: float
    max_duplicate_share: float
    ready_coverage: float


def _readiness(row: Mapping[str, object], rules: ReadinessRules, reasons: str) -> tuple[str, str]:
    rows, prepared = int(str(row["rows"])), int(str(row["prepared"]))
    if rows == 0:
        return "no data", "the source delivered no row yet"
    quarantine = 1 - float(str(row["conformance"]))
    duplicates = float(str(row["duplicate_share"]))
    coverage = float(str(row["label_coverage"]))
    if quarantine >= rules.max_quarantine_rate:
        return "fix quality first", f"{quarantine:.1%} of its rows quarantined ({reasons or 'no reason recorded'})"
    if duplicates >= rules.max_duplicate_share:
        return "fix quality first", f"{duplicates:.1%} of its rows are duplicates"
    unlabeled = prepared - int(str(row["labeled"]))
    if coverage < rules.ready_coverage:
        return "label first", f"{unlabeled} clean rows unlabeled ({coverage:.1%} labeled)"
    return "ready", f"{coverage:.1%} labeled, {1 - quarantine:.1%} conform"


def inventory(
    counts: pl.DataFrame, reasons: pl.DataFrame, ingested: Mapping[str, datetime | None], rules: ReadinessRules
) -> pl.DataFrame:
    """One row per source (`INVENTORY_SCHEMA`).

    ``counts``: ``source, partition_key, raw, prepared, quarantined, duplicates, pii_rows, labeled`` per day;
    ``reasons``: ``source, reason, n`` (quarantined rows by reason code); ``ingested``: when each source was
    last ingested (every declared source is listed, one without rows as ``no data``)."""
    figures = ("raw", "prepared", "quarantined", "duplicates", "pii_rows", "labeled")
    declared = pl.DataFrame({"source": list(ingested)}, schema={"source": pl.String})
    totals = (
        counts.group_by("source").agg(
            *(pl.col(c).sum() for c in figures),
            pl.col("partition_key").filter(pl.col("raw") > 0).n_unique().alias("days"),
            pl.col("partition_key").filter(pl.col("raw") > 0).min().alias("first_day"),
            pl.col("partition_key").filter(pl.col("raw") > 0).max().alias("newest_day"),
        )
        if not counts.is_empty()
        else pl.DataFrame(schema={"source": pl.String})
    )
    frame = declared.join(totals, on="source", how="full", coalesce=True).with_columns(
        *(pl.col(c).fill_null(0).cast(pl.Int64) for c in (*figures, "days") if c in totals.columns),
    )
    for name in (*figures, "days"):
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(0, pl.Int64).alias(name))
    for name in ("first_day", "newest_day"):
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.String).alias(name))
    frame = frame.rename({"raw": "rows"}).with_columns(
        pl.when(pl.col("rows") > 0)
        .then(1 - pl.col("quarantined") / pl.col("rows"))
        .otherwise(1.0)
        .alias("conformance"),
        _share("labeled", "prepared").alias("label_coverage"),
        _share("pii_rows", "prepared").alias("pii_share"),
        _share("duplicates", "rows").alias("duplicate_share"),
        pl.col("source")
        .replace_strict(dict(ingested), default=None, return_dtype=pl.Datetime("us", "UTC"))
        .alias("ingested_at"),
    )
    by_source = _reasons_text(reasons)
    verdicts = [_readiness(row, rules, by_source.get(str(row["source"]), "")) for row in frame.iter_rows(named=True)]
    frame = frame.with_columns(
        pl.Series("quarantine_reasons", [by_source.get(s, "") for s in frame["source"].to_list()], pl.String),
        pl.Series("readiness", [v for v, _ in verdicts], pl.String),
        pl.Series("why", [w for _, w in verdicts], pl.String),
    )
    ranked = frame.with_columns(
        pl.col("readiness").replace_strict(_ORDER, return_dtype=pl.Int64).alias("_order"),
        (pl.col("prepared") - pl.col("labeled")).alias("_unlabeled"),
    ).sort(["_order", "_unlabeled", "source"], descending=[False, True, False])
    return ranked.with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("priority")).select(
        pl.col(name).cast(dtype) for name, dtype in INVENTORY_SCHEMA.items()
    )


def _share(part: str, whole: str) -> pl.Expr:
    """``part / whole``, zero where ``whole`` is zero."""
    return pl.when(pl.col(whole) > 0).then(pl.col(part) / pl.col(whole)).otherwise(0.0)


def _reasons_text(reasons: pl.DataFrame) -> dict[str, str]:
    """Per source, its quarantine reasons as ``reason: n`` by count, most first."""
    if reasons.is_empty():
        return {}
    text: dict[str, str] = {}
    for source, part in reasons.sort(["n", "reason"], descending=[True, False]).group_by("source", maintain_order=True):
        text[str(source[0])] = ", ".join(f"{r}: {n}" for r, n in part.select("reason", "n").iter_rows())
    return text
