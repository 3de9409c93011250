"""Pre-labeled data: the values of a label column of the prepared items, and of their removed duplicates, as
annotations; and the items whose copies were labeled differently (label conflicts).

A ``column`` annotation source (`factory.spec.ColumnAnnotationSourceSpec`) names a string column of the schema
holding a label per row. `column_annotations` turns a day's prepared items into rows of the annotation table
(`ANNOTATION_SCHEMA`): provenance `SOURCE`, the source's name as annotator, its weight, the item's timestamp as
``created_at`` and origin ``column:<column>``. They are aggregated with human annotations and production
corrections by the same `factory.core.labeling.aggregate`. A label outside the classes is a reject
(`REJECTS_SCHEMA`, reason ``label_outside_taxonomy``, the row's id and label as payload); a null or blank label
is no annotation: the item is left to the other sources.

Preparation removes exact and near duplicates, and keeps the label a removed row carried in the ``duplicates``
table. Such a label is not lost: it becomes one more annotation of the item kept, by the same source with the
same weight and time, its origin naming the row it came from (``column:<column> duplicate <id> (<day>, row
<line>)``: the duplicate's id, and its day and ``_line`` in ``duplicates``). Every row of the data is its own
record, so Dawid-Skene counts each copy's label (`factory.core.labeling.latest_answers`). When the labels a
source gave one item disagree (the kept row and a duplicate, or duplicates among themselves), `label_conflicts`
records it (`CONFLICTS_SCHEMA`): the item, the labels with their counts and the rows behind them, never text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from factory.core.labeling._annotation_table import ANNOTATION_SCHEMA, REJECTS_SCHEMA, SOURCE

__all__ = ["CONFLICTS_SCHEMA", "SOURCE", "ColumnLabels", "column_annotations", "label_conflicts"]

CONFLICTS_SCHEMA: dict[str, pl.DataType] = {
    "item_id": pl.String(),
    "annotator": pl.String(),
    "n_rows": pl.Int64(),
    "labels": pl.String(),
    "rows": pl.String(),
}
"""A label conflict: the item kept, the source (annotator) whose labels disagree, how many rows of the data
labeled it, ``labels`` (JSON object label -> rows, most frequent first) and ``rows`` (JSON list of ``{"origin",
"label"}``: which row gave which label, the kept row's origin being ``column:<column>``)."""


@dataclass(frozen=True)
class ColumnLabels:
    """A day's label column read: its ``annotations`` (`ANNOTATION_SCHEMA`), ``rejects`` (`REJECTS_SCHEMA`),
    the number of items without a label (``unlabeled``) and of annotations read from removed duplicates
    (``from_duplicates``)."""

    annotations: pl.DataFrame
    rejects: pl.DataFrame
    unlabeled: int
    from_duplicates: int = 0


def _clean_label(label_column: str) -> pl.Expr:
    return pl.col(label_column).cast(pl.String).str.strip_chars().replace("", None).alias("label")


def _duplicate_rows(duplicates: pl.DataFrame, kept: pl.DataFrame, *, id_column: str, label_column: str) -> pl.DataFrame:
    """``item_id, label, created_at, origin, row`` for the duplicates of the kept items (``item_id, created_at``)."""
    missing = [c for c in (id_column, "duplicate_of", label_column, "_line", "partition_key") if c not in duplicates]
    if missing:
        raise ValueError(f"the duplicates lack column(s) {missing} (has {duplicates.columns})")
    origin = pl.format(
        "column:{} duplicate {} ({}, row {})",
        pl.lit(label_column),
        pl.col("row"),
        pl.col("partition_key"),
        pl.col("_line"),
    )
    return (
        duplicates.select(
            pl.col("duplicate_of").cast(pl.String).alias("item_id"),
            pl.col(id_column).cast(pl.String).alias("row"),
            _clean_label(label_column),
            pl.col("partition_key").cast(pl.String),
            pl.col("_line").cast(pl.Int64),
        )
        .join(kept, on="item_id", how="inner")
        .sort("item_id", "partition_key", "_line")
        .select("item_id", "label", "created_at", origin.alias("origin"), "row")
    )


def column_annotations(
    items: pl.DataFrame,
    *,
    id_column: str,
    timestamp_column: str,
    label_column: str,
    classes: Sequence[str],
    name: str,
    weight: float,
    duplicates: pl.DataFrame | None = None,
) -> ColumnLabels:
    """The labels of ``items``' ``label_column``, and of their ``duplicates``, as annotations by ``name``
    (module docstring).

    ``duplicates`` holds rows of the ``duplicates`` table (``<id_column>, duplicate_of, <label_column>, _line,
    partition_key``); those pointing at none of ``items`` are left out. Labels are compared with the classes
    after stripping surrounding blanks; ValueError when ``items`` or ``duplicates`` lack a column.
    """
    missing = [c for c in (id_column, timestamp_column, label_column) if c not in items.columns]
    if missing:
        raise ValueError(f"the prepared items lack column(s) {missing} (has {items.columns})")
    origin = f"column:{label_column}"
    rows = items.select(
        pl.col(id_column).cast(pl.String).alias("item_id"),
        _clean_label(label_column),
        pl.col(timestamp_column).cast(ANNOTATION_SCHEMA["created_at"]).alias("created_at"),
        pl.lit(origin, dtype=pl.String).alias("origin"),
        pl.col(id_column).cast(pl.String).alias("row"),
    )
    copies = (
        _duplicate_rows(
            duplicates, rows.select("item_id", "created_at"), id_column=id_column, label_column=label_column
        )
        if duplicates is not None
        else rows.clear()
    )
    labeled = pl.concat([rows, copies]).filter(pl.col("label").is_not_null())
    inside = labeled.get_column("label").is_in(list(classes))
    kept = labeled.filter(inside).select(
        "item_id",
        pl.lit(name, dtype=pl.String).alias("annotator"),
        "label",
        "created_at",
        pl.lit(SOURCE, dtype=pl.String).alias("provenance"),
        pl.lit(weight, dtype=pl.Float64).alias("weight"),
        "origin",
    )
    outside = labeled.filter(~inside)
    rejects = pl.DataFrame(
        {
            "file": origin,
            "format": "column",
            "position": None,
            "task_id": outside.get_column("item_id"),
            "annotation_id": None,
            "reason": "label_outside_taxonomy",
            "detail": [f"label {label!r} is not one of the {len(classes)} classes" for label in outside["label"]],
            "payload": [_payload(r, label_column) for r in outside.iter_rows(named=True)],
        },
        schema=REJECTS_SCHEMA,
    )
    unlabeled = rows.height - int(rows.get_column("label").is_not_null().sum())
    from_duplicates = int((kept.get_column("origin") != origin).sum())
    return ColumnLabels(kept, rejects, unlabeled, from_duplicates)


def _payload(row: dict[str, object], label_column: str) -> str:
    """The reject's record: the item, its label and, for a removed duplicate, the duplicate's id."""
    record = {"item_id": row["item_id"], label_column: row["label"]}
    if row["row"] != row["item_id"]:
        record["duplicate"] = row["row"]
    return json.dumps(record, sort_keys=True)


def label_conflicts(annotations: pl.DataFrame) -> pl.DataFrame:
    """The items whose labels given with the data (provenance ``source``) disagree, per source (`CONFLICTS_SCHEMA`),
    sorted by item and source. ``annotations`` has the columns of `ANNOTATION_SCHEMA`."""
    missing = [c for c in ("item_id", "annotator", "label", "provenance", "origin") if c not in annotations.columns]
    if missing:
        raise ValueError(f"the annotations lack column(s) {missing} (has {annotations.columns})")
    given = annotations.filter(pl.col("provenance") == SOURCE)
    disputed = given.filter(pl.col("label").n_unique().over("item_id", "annotator") > 1)
    if disputed.is_empty():
        return pl.DataFrame(schema=CONFLICTS_SCHEMA)
    records = []
    for (item_id, annotator), group in disputed.sort("origin").group_by("item_id", "annotator", maintain_order=True):
        counts = group.group_by("label").len().sort(["len", "label"], descending=[True, False])
        records.append(
            {
                "item_id": item_id,
                "annotator": annotator,
                "n_rows": group.height,
                "labels": json.dumps(dict(counts.iter_rows())),
                "rows": json.dumps([{"origin": o, "label": lab} for o, lab in group.select("origin", "label").rows()]),
            }
        )
    return pl.DataFrame(records, schema=CONFLICTS_SCHEMA).sort("item_id", "annotator")
