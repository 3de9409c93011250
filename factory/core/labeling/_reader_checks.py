"""What the annotation readers share: the import result, the reject reasons and the checks of one record.

`factory.core.labeling.read_label_studio` and `factory.core.labeling.read_annotations_csv` turn an annotation
file into rows of the annotation table (`ANNOTATION_SCHEMA`) and a frame of rejects. Nothing is dropped
silently: every annotation in the file ends as one row, one reject or (Label Studio only) one skipped
cancelled annotation, and `LabelImport.records` adds them up.

A reject carries a reason code from `REJECT_REASONS`, a detail a person can act on (it names fields, never
their values, like the preparation quarantine) and the raw record as JSON in ``payload``. When an annotation
has several problems the reason is the first one in `REJECT_REASONS` order and the detail lists them all.
Item ids and annotators are compared and returned as text (an integer id ``17`` is ``"17"``): cast
``item_id`` to the id column's type before joining it to typed tables. Whole-file problems raise ValueError.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from factory.core.labeling._annotation_table import ANNOTATION_SCHEMA

__all__ = [
    "REJECT_REASONS",
    "Checks",
    "LabelImport",
    "Problems",
    "Source",
    "annotation_frame",
    "as_bytes",
    "check_classes",
    "check_known",
    "check_label",
    "json_text",
    "parse_utc",
]

REJECT_REASONS: tuple[str, ...] = (
    "malformed_task",
    "missing_field",
    "unknown_item",
    "unknown_annotator",
    "bad_timestamp",
    "no_choice",
    "multiple_choices",
    "label_outside_taxonomy",
)
"""Reason codes of annotation rejects, in priority order (an annotation with several problems gets the first).

CSV rejects can also carry the parser's codes (`factory.core.ingestion.REJECT_REASONS`: ``malformed_line``,
``invalid_utf8``, ``field_too_large``)."""

Source = bytes | str | os.PathLike[str]
"""Annotation file contents: bytes or text as read, or a path to the file."""


@dataclass(frozen=True)
class LabelImport:
    """The outcome of reading one annotation file (see the module docstring).

    ``annotations`` follows `ANNOTATION_SCHEMA`. ``rejects`` holds, for Label Studio, ``task_index`` (0-based
    position in the export), ``task_id``, ``annotation_id`` (null when the whole task is malformed),
    ``reason``, ``detail``, ``payload`` (the annotation, or the task, as JSON); for CSV, ``_line`` (1-based
    line where the record starts), ``reason``, ``detail``, ``payload``. ``cancelled`` counts Label Studio
    annotations marked ``was_cancelled`` (skipped, not rejected); ``skipped_blank`` counts blank CSV lines.
    """

    annotations: pl.DataFrame
    rejects: pl.DataFrame
    cancelled: int = 0
    skipped_blank: int = 0

    @property
    def records(self) -> int:
        """Every annotation record read: rows, rejects, cancelled annotations and blank CSV lines."""
        return self.annotations.height + self.rejects.height + self.cancelled + self.skipped_blank


def check_classes(classes: Sequence[str]) -> None:
    if isinstance(classes, str) or not classes:
        raise ValueError("classes must be a non-empty sequence of class names")
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes must be distinct, got {list(classes)}")
    if not all(isinstance(name, str) and name for name in classes):
        raise ValueError(f"class names must be non-empty strings, got {list(classes)}")


@dataclass(frozen=True)
class Checks:
    """What a valid annotation looks like: the taxonomy, and the known items and annotators (None: any)."""

    classes: frozenset[str]
    items: frozenset[str] | None
    annotators: frozenset[str] | None

    @classmethod
    def build(
        cls, classes: Sequence[str], items: Collection[object] | None, annotators: Collection[object] | None
    ) -> Checks:
        check_classes(classes)
        return cls(
            classes=frozenset(classes),
            items=None if items is None else frozenset(str(item) for item in items),
            annotators=None if annotators is None else frozenset(str(name) for name in annotators),
        )


@dataclass
class Problems:
    """The problems of one record, as (reason, detail) pairs."""

    found: list[tuple[str, str]] = field(default_factory=list)

    def add(self, reason: str, detail: str) -> None:
        self.found.append((reason, detail))

    def verdict(self) -> tuple[str, str] | None:
        """The first reason in `REJECT_REASONS` order and every detail in that order; None when clean."""
        if not self.found:
            return None
        ordered = sorted(self.found, key=lambda problem: REJECT_REASONS.index(problem[0]))
        return ordered[0][0], "; ".join(detail for _, detail in ordered)


def parse_utc(value: object) -> datetime | None:
    """An ISO-8601 timestamp as a UTC datetime (no offset: read as UTC, like the preparation layer)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def check_known(problems: Problems, checks: Checks, item_id: str, annotator: str) -> None:
    if checks.items is not None and item_id not in checks.items:
        problems.add("unknown_item", "item_id is not one of the known items")
    if checks.annotators is not None and annotator not in checks.annotators:
        problems.add("unknown_annotator", "annotator is not one of the known annotators")


def check_label(problems: Problems, checks: Checks, label: str) -> None:
    if label not in checks.classes:
        problems.add("label_outside_taxonomy", f"label is not one of the {len(checks.classes)} classes")


def as_bytes(data: Source) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf-8")
    return Path(data).read_bytes()


def json_text(value: object) -> str:
    """Compact JSON with sorted keys, for payloads."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def annotation_frame(
    rows: Sequence[tuple[str, str, str, datetime]], provenance: str, origin: str | None
) -> pl.DataFrame:
    """Read rows in `ANNOTATION_SCHEMA`: weight 1, the given provenance and origin on every row."""
    schema = {name: ANNOTATION_SCHEMA[name] for name in ("item_id", "annotator", "label", "created_at")}
    frame = pl.DataFrame(list(rows), schema=schema, orient="row")
    return frame.with_columns(
        pl.lit(provenance, dtype=pl.String).alias("provenance"),
        pl.lit(1.0, dtype=pl.Float64).alias("weight"),
        pl.lit(origin, dtype=pl.String).alias("origin"),
    )
