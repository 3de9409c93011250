"""The ``column`` annotation source kind: pre-labeled data, whose labels are a column of the data itself.

Nothing is read from outside: the day's prepared items already hold the column (declared in the schema, kept
out of the model's inputs by the spec). `factory.core.labeling.column_annotations` turns it into annotations
and rejects; the ledger entry counts the items read, labeled and rejected, and a note says how many were
unlabeled.
"""

from __future__ import annotations

import polars as pl

from factory.core.labeling import column_annotations
from factory.plugins import AnnotationBatch, PendingFile, Registry
from factory.spec import ColumnAnnotationSourceSpec, UseCaseSpec

__all__ = ["LabelColumn", "register"]


class LabelColumn:
    """The ``column`` annotation source kind (module docstring)."""

    def collect(
        self,
        spec: UseCaseSpec,
        source: ColumnAnnotationSourceSpec,
        day: str,
        items: pl.DataFrame,
        known: pl.DataFrame,
    ) -> AnnotationBatch:
        if items.is_empty():
            return AnnotationBatch()
        read = column_annotations(
            items,
            id_column=spec.schema.id,
            timestamp_column=spec.schema.timestamp,
            label_column=source.column,
            classes=spec.labeling.classes,
            name=source.name,
            weight=source.weight,
        )
        entry = {
            "kind": "column",
            "name": source.name,
            "sha256": None,
            "records": items.height,
            "annotations": read.annotations.height,
            "rejects": read.rejects.height,
        }
        notes = (
            [f"{source.name}: {read.unlabeled} of {items.height} item(s) of {day} have no '{source.column}' label"]
            if read.unlabeled
            else []
        )
        return AnnotationBatch(annotations=[read.annotations], rejects=[read.rejects], ledger=[entry], notes=notes)

    def pending(
        self, spec: UseCaseSpec, source: ColumnAnnotationSourceSpec, known: pl.DataFrame, skip: set[str]
    ) -> list[PendingFile]:
        """No files: the labels arrive with the data, in the day's own run."""
        return []


def register(registry: Registry) -> None:
    """Register the ``column`` annotation source kind."""
    registry.register_annotation_source("column", LabelColumn())
