"""Pre-labeled data: the values of a label column of the prepared items, as annotations.

A ``column`` annotation source (`factory.spec.ColumnAnnotationSourceSpec`) names a string column of the schema
holding a label per row. `column_annotations` turns a day's prepared items into rows of the annotation table
(`ANNOTATION_SCHEMA`): provenance `SOURCE`, the source's name as annotator, its weight, the item's timestamp as
``created_at`` and origin ``column:<column>``. They are aggregated with human annotations and production
corrections by the same `factory.core.labeling.aggregate`. A label outside the classes is a reject
(`REJECTS_SCHEMA`, reason ``label_outside_taxonomy``, the row's id and label as payload); a null or blank label
is no annotation: the item is left to the other sources.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from factory.core.labeling._annotation_table import ANNOTATION_SCHEMA, REJECTS_SCHEMA

__all__ = ["SOURCE", "ColumnLabels", "column_annotations"]

SOURCE = "source"
"""Provenance of an annotation read from a label column of the data (pre-labeled data)."""


@dataclass(frozen=True)
class ColumnLabels:
    """A day's label column read: its ``annotations`` (`ANNOTATION_SCHEMA`), ``rejects`` (`REJECTS_SCHEMA`)
    and the number of items without a label (``unlabeled``)."""

    annotations: pl.DataFrame
    rejects: pl.DataFrame
    unlabeled: int


def column_annotations(
    items: pl.DataFrame,
    *,
    id_column: str,
    timestamp_column: str,
    label_column: str,
    classes: Sequence[str],
    name: str,
    weight: float,
) -> ColumnLabels:
    """The labels of ``items``' ``label_column`` as annotations by ``name`` (module docstring).

    Labels are compared with the classes after stripping surrounding blanks; ValueError when ``items`` lacks
    one of the three columns.
    """
    missing = [c for c in (id_column, timestamp_column, label_column) if c not in items.columns]
    if missing:
        raise ValueError(f"the prepared items lack column(s) {missing} (has {items.columns})")
    origin = f"column:{label_column}"
    rows = items.select(
        pl.col(id_column).cast(pl.String).alias("item_id"),
        pl.col(label_column).cast(pl.String).str.strip_chars().replace("", None).alias("label"),
        pl.col(timestamp_column).cast(ANNOTATION_SCHEMA["created_at"]).alias("created_at"),
    )
    labeled = rows.filter(pl.col("label").is_not_null())
    inside = labeled.get_column("label").is_in(list(classes))
    kept = labeled.filter(inside).select(
        "item_id",
        pl.lit(name, dtype=pl.String).alias("annotator"),
        "label",
        "created_at",
        pl.lit(SOURCE, dtype=pl.String).alias("provenance"),
        pl.lit(weight, dtype=pl.Float64).alias("weight"),
        pl.lit(origin, dtype=pl.String).alias("origin"),
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
            "payload": [
                json.dumps({"item_id": r["item_id"], label_column: r["label"]}, sort_keys=True)
                for r in outside.iter_rows(named=True)
            ],
        },
        schema=REJECTS_SCHEMA,
    )
    return ColumnLabels(kept, rejects, rows.height - labeled.height)
