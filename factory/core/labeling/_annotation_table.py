"""The factory's annotation table: its schema, the sources stacked into it, its rejects, and gold files.

The table holds ``item_id, annotator, label, created_at, provenance, weight, origin`` (`ANNOTATION_SCHEMA`):
``provenance`` is ``human`` (an annotator, simulated or imported) or ``feedback`` (a production correction),
``weight`` what the annotation counts for in Dawid-Skene (1 for people, the spec's ``feedback_weight`` for
corrections), ``origin`` where it came from (``demo``, ``feedback`` or the inbox file). The readers
(`read_label_studio`, `read_annotations_csv`) return rows of this table; `stamp` puts any frame of
``item_id, annotator, label, created_at`` into it; `combine` stacks the sources and drops exact repeats (a
Label Studio export holds every earlier annotation again). Before aggregating, `latest_answers` keeps one
answer per item and annotator, the latest: someone who changed their mind gets one vote, not two. Labels given
with the data (provenance ``source``) are the exception: each row of the data is its own record, so the labels
of an item's removed duplicates (each with its own ``origin``) all count, and none is a repeat of another.

Rejected annotations of every source share `REJECTS_SCHEMA` (`file_rejects`, `unreadable_file`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import polars as pl

from factory.core.ingestion import parse_csv

__all__ = [
    "ANNOTATION_SCHEMA",
    "FEEDBACK",
    "HUMAN",
    "REJECTS_SCHEMA",
    "SOURCE",
    "classes_in_csv",
    "combine",
    "feedback_annotations",
    "file_rejects",
    "latest_answers",
    "read_gold_csv",
    "stamp",
    "unreadable_file",
]

HUMAN = "human"
"""Provenance of an annotation by a person (simulated in the demo, or imported)."""
FEEDBACK = "feedback"
"""Provenance (and annotator name) of a production correction."""
SOURCE = "source"
"""Provenance of an annotation read from a label column of the data (pre-labeled data)."""

ANNOTATION_SCHEMA: dict[str, pl.DataType] = {
    "item_id": pl.String(),
    "annotator": pl.String(),
    "label": pl.String(),
    "created_at": pl.Datetime("us", "UTC"),
    "provenance": pl.String(),
    "weight": pl.Float64(),
    "origin": pl.String(),
}
"""The annotation table (module docstring): what the readers return and the ``annotations`` asset holds."""

REJECTS_SCHEMA: dict[str, pl.DataType] = {
    "file": pl.String(),
    "format": pl.String(),
    "position": pl.Int64(),
    "task_id": pl.String(),
    "annotation_id": pl.String(),
    "reason": pl.String(),
    "detail": pl.String(),
    "payload": pl.String(),
}
"""Quarantined annotations: the file, where in it (CSV line, or Label Studio task index), why, and the record."""


def stamp(
    annotations: pl.DataFrame, *, origin: str, weight: float = 1.0, provenance: str | None = None
) -> pl.DataFrame:
    """Reader or demo annotations (``item_id, annotator, label, created_at[, provenance]``) in the table's schema.

    ``provenance`` overrides the frame's (default ``human`` when the frame has none).
    """
    missing = [c for c in ("item_id", "annotator", "label", "created_at") if c not in annotations.columns]
    if missing:
        raise ValueError(f"annotations lack columns {missing} (has {annotations.columns})")
    if provenance is not None or "provenance" not in annotations.columns:
        annotations = annotations.with_columns(pl.lit(provenance or HUMAN).alias("provenance"))
    return annotations.select(
        pl.col("item_id").cast(pl.String),
        pl.col("annotator").cast(pl.String),
        pl.col("label").cast(pl.String),
        pl.col("created_at").cast(ANNOTATION_SCHEMA["created_at"]),
        pl.col("provenance").cast(pl.String),
        pl.lit(weight, dtype=pl.Float64).alias("weight"),
        pl.lit(origin, dtype=pl.String).alias("origin"),
    )


def feedback_annotations(corrections: pl.DataFrame, id_column: str, weight: float) -> pl.DataFrame:
    """Production corrections (``<id_column>, corrected_label, corrected_at``) as annotations by ``feedback``."""
    missing = [c for c in (id_column, "corrected_label", "corrected_at") if c not in corrections.columns]
    if missing:
        raise ValueError(f"corrections lack columns {missing} (has {corrections.columns})")
    rows = corrections.select(
        pl.col(id_column).alias("item_id"),
        pl.lit(FEEDBACK).alias("annotator"),
        pl.col("corrected_label").alias("label"),
        pl.col("corrected_at").alias("created_at"),
    )
    return stamp(rows, origin=FEEDBACK, weight=weight, provenance=FEEDBACK)


def combine(frames: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """Annotation frames stacked, exact repeats (same item, annotator, label, time, provenance) dropped, the first
    kept; sorted by item, annotator and time so the table is the same whatever order the sources came in."""
    parts = [frame.select(list(ANNOTATION_SCHEMA)) for frame in frames]
    if not parts:
        return pl.DataFrame(schema=ANNOTATION_SCHEMA)
    stacked = pl.concat([pl.DataFrame(schema=ANNOTATION_SCHEMA), *parts], how="vertical_relaxed")
    key = ["item_id", "annotator", "label", "created_at", "provenance", "_row"]
    return (
        stacked.with_columns(_data_row().alias("_row"))
        .unique(key, keep="first", maintain_order=True)
        .drop("_row")
        .sort(["item_id", "annotator", "created_at", "origin"], nulls_last=True)
    )


def _data_row() -> pl.Expr:
    """The row of the data a label given with the data came from (its ``origin``); null for other annotations."""
    return pl.when(pl.col("provenance") == SOURCE).then(pl.col("origin"))


def latest_answers(annotations: pl.DataFrame) -> pl.DataFrame:
    """One row per item and annotator: the latest by ``created_at`` (when present), ties to the last row; labels
    given with the data (provenance ``source``) once per row of the data they came from (module docstring)."""
    if "created_at" in annotations.columns:
        annotations = annotations.sort("created_at", nulls_last=False, maintain_order=True)
    key: list[str | pl.Expr] = ["item_id", "annotator"]
    if {"provenance", "origin"} <= set(annotations.columns):
        key.append(_data_row())
    # The same rows in the same order as unique(keep="last", maintain_order=True), in half the time.
    return annotations.filter(pl.struct(key).is_last_distinct())


def read_gold_csv(data: bytes, classes: Sequence[str], *, delimiter: str = ",") -> pl.DataFrame:
    """A gold set CSV (``item_id, label``) as ``item_id, label``; ValueError naming the first problems.

    Every row must parse, hold both values, name a class of ``classes`` and an item listed once.
    """
    parsed = parse_csv(data, ("item_id", "label"), delimiter=delimiter)
    if parsed.missing_columns:
        raise ValueError(f"the gold CSV header lacks columns {list(parsed.missing_columns)}")
    if parsed.rejects.height:
        first = parsed.rejects.row(0, named=True)
        raise ValueError(f"the gold CSV has {parsed.rejects.height} unreadable line(s), e.g. line {first['_line']}")
    gold = parsed.rows.select(
        pl.col("item_id").str.strip_chars(), pl.col("label").str.strip_chars(), pl.col("_line")
    ).with_columns(pl.col("item_id", "label").replace("", None))
    empty = gold.filter(pl.col("item_id").is_null() | pl.col("label").is_null())
    if empty.height:
        raise ValueError(f"the gold CSV has {empty.height} row(s) without item_id or label, e.g. line {empty[0, 2]}")
    outside = gold.filter(~pl.col("label").is_in(list(classes)))
    if outside.height:
        found = outside.get_column("label").unique().sort().head(5).to_list()
        raise ValueError(f"the gold CSV has {outside.height} label(s) outside the classes, e.g. {found}")
    repeated = gold.filter(pl.col("item_id").is_duplicated()).get_column("item_id").unique().sort()
    if repeated.len():
        raise ValueError(f"the gold CSV lists {repeated.len()} item(s) twice, e.g. {repeated.head(5).to_list()}")
    return gold.select("item_id", "label")


def classes_in_csv(data: bytes, *, delimiter: str = ",") -> tuple[str, ...]:
    """The distinct non-empty labels of an annotation (or gold) CSV, sorted: the classes when none are given."""
    parsed = parse_csv(data, ("label",), delimiter=delimiter)
    if parsed.missing_columns:
        raise ValueError("the CSV header has no 'label' column")
    labels = parsed.rows.get_column("label").str.strip_chars().replace("", None).drop_nulls()
    return tuple(labels.unique().sort().to_list())


def file_rejects(rejects: pl.DataFrame, *, file: str, fmt: str) -> pl.DataFrame:
    """A reader's rejects (Label Studio or CSV layout, `factory.core.labeling.LabelImport`) in `REJECTS_SCHEMA`."""
    position = "task_index" if "task_index" in rejects.columns else "_line"
    columns = {
        "position": pl.col(position).cast(pl.Int64),
        "task_id": pl.col("task_id") if "task_id" in rejects.columns else pl.lit(None, dtype=pl.String),
        "annotation_id": pl.col("annotation_id")
        if "annotation_id" in rejects.columns
        else pl.lit(None, dtype=pl.String),
    }
    return rejects.select(
        pl.lit(file, dtype=pl.String).alias("file"),
        pl.lit(fmt, dtype=pl.String).alias("format"),
        *(expression.alias(name) for name, expression in columns.items()),
        "reason",
        "detail",
        "payload",
    ).cast(pl.Schema(REJECTS_SCHEMA))


def unreadable_file(file: str, fmt: str, detail: str) -> pl.DataFrame:
    """One reject for a whole file that could not be read (not JSON, not UTF-8, a CSV header without columns)."""
    return pl.DataFrame(
        [(file, fmt, None, None, None, "unreadable_file", detail, "")], schema=REJECTS_SCHEMA, orient="row"
    )
