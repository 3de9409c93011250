"""Validation gates as pure functions: each proves one property and says, with numbers, why it passed or not.

The Dagster layer turns a ``GateResult`` into an asset check result; the same functions guard publishing
and promotion, so a gate cannot be skipped by materializing a later asset on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

__all__ = [
    "GateResult",
    "class_shares",
    "min_class_share",
    "min_rows",
    "no_pii_residue",
    "not_empty",
    "quality_floor",
    "rows_reconcile",
    "schema_conforms",
    "splits_present",
]


@dataclass(frozen=True)
class GateResult:
    name: str
    passed: bool
    summary: str
    figures: dict[str, float | int | str] = field(default_factory=dict)
    table: list[dict[str, Any]] = field(default_factory=list)


def not_empty(rows: int, *, expected: bool = True) -> GateResult:
    """A day's batch holds rows; a day on which the source expected nothing (a batch source none of whose
    files maps to the day) passes, saying so."""
    if not rows and not expected:
        return GateResult(
            "batch_not_empty", True, "nothing expected: no file of the source maps to this day", {"rows": 0}
        )
    return GateResult(
        "batch_not_empty",
        rows > 0,
        f"{rows} rows in the batch" if rows else "the batch is empty",
        {"rows": rows},
    )


def rows_reconcile(raw_lines: pl.Series, destinations: Mapping[str, pl.Series]) -> GateResult:
    """Every input line lands in exactly one destination: none lost, none twice, none invented."""
    seen = (
        pl.concat([s.cast(pl.Int64) for s in destinations.values()]) if destinations else pl.Series([], dtype=pl.Int64)
    )
    raw = raw_lines.cast(pl.Int64)
    lost = raw.filter(~raw.is_in(seen.implode())).len()
    doubled = seen.filter(seen.is_duplicated()).n_unique()
    invented = seen.filter(~seen.is_in(raw.implode())).len()
    counts = {name: s.len() for name, s in destinations.items()}
    passed = lost == 0 and doubled == 0 and invented == 0
    parts = " + ".join(f"{n} {name}" for name, n in counts.items())
    summary = (
        f"{raw.len()} in = {parts}"
        if passed
        else (f"{raw.len()} in vs {parts}: {lost} lost, {doubled} in two places, {invented} not in the input")
    )
    return GateResult(
        "rows_reconcile",
        passed,
        summary,
        {"rows_in": raw.len(), "lost": lost, "in_two_places": doubled, "not_in_input": invented, **counts},
    )


def schema_conforms(frame: pl.DataFrame, expected: Mapping[str, pl.DataType], required: Sequence[str]) -> GateResult:
    """The prepared table has the declared columns and types, and no nulls in required columns."""
    problems: list[dict[str, Any]] = []
    for name, dtype in expected.items():
        if name not in frame.columns:
            problems.append({"column": name, "problem": "missing"})
        elif frame.schema[name] != dtype:
            problems.append({"column": name, "problem": f"type {frame.schema[name]} instead of {dtype}"})
    for name in required:
        if name in frame.columns and (nulls := frame[name].null_count()):
            problems.append({"column": name, "problem": f"{nulls} nulls in a required column"})
    summary = f"{len(expected)} columns conform" if not problems else f"{len(problems)} schema problem(s)"
    return GateResult("schema_conforms", not problems, summary, {"columns": len(expected)}, problems)


def no_pii_residue(residue_per_row: pl.Series, ids: pl.Series) -> GateResult:
    """No prepared row still holds a detectable PII value (the sample names ids, never the values)."""
    hits = int(residue_per_row.sum())
    rows = int((residue_per_row > 0).sum())
    sample = [{"id": i} for i in ids.filter(residue_per_row > 0).head(10).to_list()]
    summary = "no PII residue in prepared text" if hits == 0 else f"{hits} PII hit(s) left in {rows} row(s)"
    return GateResult("no_pii_residue", hits == 0, summary, {"hits": hits, "rows_with_hits": rows}, sample)


def min_rows(rows: int, floor: int) -> GateResult:
    return GateResult(
        "min_rows",
        rows >= floor,
        f"{rows} rows (floor {floor})",
        {"rows": rows, "floor": floor},
    )


def class_shares(labels: pl.Series, classes: Sequence[str]) -> pl.DataFrame:
    counts = labels.value_counts(name="count").rename({labels.name: "label"})
    frame = pl.DataFrame({"label": list(classes)}).join(counts, on="label", how="left").fill_null(0)
    total = max(labels.len(), 1)
    return frame.with_columns((pl.col("count") / total).alias("share"))


def min_class_share(labels: pl.Series, classes: Sequence[str], floor: float) -> GateResult:
    """Every class of the taxonomy holds at least ``floor`` of the examples."""
    shares = class_shares(labels, classes)
    short = shares.filter(pl.col("share") < floor)
    summary = (
        f"all {len(classes)} classes at or above {floor:.2%}"
        if short.is_empty()
        else f"{short.height} class(es) under {floor:.2%}: {', '.join(short['label'].to_list())}"
    )
    table = [
        {"label": r["label"], "count": r["count"], "share": round(r["share"], 4)} for r in shares.iter_rows(named=True)
    ]
    return GateResult("min_class_share", short.is_empty(), summary, {"floor": floor}, table)


def splits_present(splits: pl.Series, expected: Mapping[str, float], tolerance: float = 0.05) -> GateResult:
    """Each split exists and its share is within ``tolerance`` of the spec."""
    total = max(splits.len(), 1)
    table = []
    passed = True
    for name, target in expected.items():
        share = int((splits == name).sum()) / total
        ok = abs(share - target) <= tolerance
        passed &= ok
        table.append({"split": name, "share": round(share, 4), "target": target, "ok": ok})
    summary = "split proportions match the spec" if passed else "split proportions off the spec"
    return GateResult("split_proportions", passed, summary, {"tolerance": tolerance}, table)


def quality_floor(metrics: Mapping[str, float], metric: str, floor: float) -> GateResult:
    value = metrics.get(metric)
    if value is None:
        return GateResult("quality_floor", False, f"metric {metric} was not measured", {"floor": floor})
    return GateResult(
        "quality_floor",
        value >= floor,
        f"test {metric} {value:.4f} {'>=' if value >= floor else '<'} floor {floor}",
        {metric: round(value, 6), "floor": floor},
    )
