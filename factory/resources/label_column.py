"""The ``column`` annotation source kind: pre-labeled data, whose labels are a column of the data itself.

Nothing is read from outside: the day's prepared items already hold the column (declared in the schema, kept
out of the model's inputs by the spec), and the rows preparation removed as their duplicates kept it in the
``duplicates`` table. `factory.core.labeling.column_annotations` turns both into annotations and rejects; the
ledger entry counts the rows read (items and their duplicates), the annotations made and the rejects, and notes
say how many items were unlabeled and how many labels came from removed duplicates.
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
        duplicates: pl.DataFrame,
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
            duplicates=duplicates,
        )
        entry = {
            "kind": "column",
            "name": source.name,
            "sha256": None,
            "records": items.height + duplicates.height,
            "annotations": read.annotations.height,
            "rejects": read.rejects.height,
        }
        notes = []
        if read.unlabeled:
            notes.append(
                f"{source.name}: {read.unlabeled} of {items.height} item(s) of {day} have no '{source.column}' label"
            )
        if read.from_duplicates:
            notes.append(
                f"{source.name}: {read.from_duplicates} label(s) of {day}'s items came from rows removed as duplicates"
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
