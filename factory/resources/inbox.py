"""The ``files`` annotation and feedback source kinds: folders where people drop annotation files (Label Studio
JSON exports, CSVs) and production corrections (CSV, JSON Lines, Label Studio exports).

Both read every file of their folder once per content hash (a copy of a file already read is noted and
skipped) and file what they read by day: an annotation or correction under the day of the item it concerns
(``known``: every prepared item id with its ``partition_key``), a file's rejects under the date in its name,
else the day it was last modified. ``pending`` lists the files a sensor has not handled yet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from factory.core.labeling import (
    ANNOTATION_SCHEMA,
    CORRECTIONS_SCHEMA,
    REJECTS_SCHEMA,
    FeedbackImport,
    feedback_format,
    file_rejects,
    read_annotations_csv,
    read_feedback,
    read_gold_csv,
    read_label_studio,
    stamp,
    unreadable_file,
)
from factory.plugins import AnnotationBatch, FeedbackBatch, PendingFile, Registry
from factory.resources.landing import resolve_path
from factory.resources.sources import DropFile, FileDrop, SourceError
from factory.spec import FilesAnnotationSourceSpec, FilesFeedbackSourceSpec, UseCaseSpec

__all__ = ["AnnotationInbox", "FeedbackInbox", "InboxFile", "register"]

_GOLD_SCHEMA = {"item_id": pl.String, "label": pl.String}


@dataclass
class InboxFile:
    """One file read: its rows and rejects, each with the ``partition_key`` it is filed under."""

    file: DropFile
    format: str
    day: str
    rows: pl.DataFrame
    rejects: pl.DataFrame

    def partitions(self) -> set[str]:
        days = set(self.rows.get_column("partition_key").to_list())
        return days | ({self.day} if self.rejects.height else set())

    def of_day(self, day: str) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The rows and rejects filed under ``day``, without ``partition_key``."""
        rows = self.rows.filter(pl.col("partition_key") == day).drop("partition_key")
        return rows, self.rejects.filter(pl.col("partition_key") == day).drop("partition_key")


@dataclass
class _Scan:
    files: list[InboxFile] = field(default_factory=list)
    duplicates: list[tuple[DropFile, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


_Reader = Callable[[DropFile, bytes, str, pl.DataFrame], "InboxFile | str"]
"""Reads one file's bytes, given the day its rejects are filed under and the known items: the file read, or a
note saying why it was not."""


def _scan(root: Path, pattern: str, read: _Reader, known: pl.DataFrame, skip: set[str] | None, what: str) -> _Scan:
    """Read every file of a folder once per content hash (``skip``: hashes not to read again) with ``read``
    (``(drop, file, day, known) -> InboxFile | str``, a str being a note saying why it was not read)."""
    scan = _Scan()
    drop = FileDrop(root, pattern)
    if not drop.root.exists():
        return scan
    try:
        files = drop.scan()
    except SourceError as error:
        scan.notes.append(f"{what}: {error}")
        return scan
    seen: dict[str, str] = {}
    for file in files:
        first = seen.setdefault(file.sha256, file.relative)
        if first != file.relative:
            scan.notes.append(f"{file.relative}: same content as {first}; read once")
            scan.duplicates.append((file, first))
            continue
        if skip is not None and file.sha256 in skip:
            continue
        try:
            modified = datetime.fromtimestamp(file.path.stat().st_mtime, UTC).date()
            data = drop.read(file)
        except (OSError, SourceError) as error:
            scan.notes.append(f"{file.relative}: {error}; not read this time")
            continue
        result = read(file, data, (file.file_date or modified).isoformat(), known)
        if isinstance(result, str):
            scan.notes.append(result)
        else:
            scan.files.append(result)
    scan.notes += [f"refused (outside the {what} folder): {p}" for p in drop.refused]
    return scan


def _pending(scan: _Scan) -> list[PendingFile]:
    return [PendingFile(read.file.sha256, read.file.relative, tuple(sorted(read.partitions()))) for read in scan.files]


class AnnotationInbox:
    """The ``files`` annotation source kind: Label Studio JSON exports (``*.json``) and CSVs of ``item_id,
    annotator, label, created_at`` (``*.csv``); an optional gold CSV of ``item_id, label``."""

    def collect(
        self,
        spec: UseCaseSpec,
        source: FilesAnnotationSourceSpec,
        day: str,
        items: pl.DataFrame,
        known: pl.DataFrame,
        duplicates: pl.DataFrame,
    ) -> AnnotationBatch:
        item_ids = items.get_column(spec.schema.id).cast(pl.String)
        batch = AnnotationBatch(gold=self.gold(spec, source).filter(pl.col("item_id").is_in(item_ids.implode())))
        scan = self._scan(spec, source, known, None)
        for read in scan.files:
            rows, rejects = read.of_day(day)
            if rows.height or rejects.height:
                batch.annotations.append(rows)
                batch.rejects.append(rejects)
                batch.ledger.append(_ledger("inbox", read.file.relative, read.file.sha256, rows.height, rejects))
        batch.notes += scan.notes
        return batch

    def pending(
        self, spec: UseCaseSpec, source: FilesAnnotationSourceSpec, known: pl.DataFrame, skip: set[str]
    ) -> list[PendingFile]:
        return _pending(self._scan(spec, source, known, skip))

    @staticmethod
    def gold(spec: UseCaseSpec, source: FilesAnnotationSourceSpec) -> pl.DataFrame:
        """The gold set (``item_id, label``); empty when the source declares none; ValueError when unusable."""
        if source.gold is None:
            return pl.DataFrame(schema=_GOLD_SCHEMA)
        try:
            path = resolve_path(source.gold, source.allow_outside)
        except SourceError as error:
            raise ValueError(f"the gold set cannot be used: {error}") from None
        try:
            return read_gold_csv(path.read_bytes(), spec.labeling.classes, delimiter=source.delimiter)
        except (OSError, ValueError) as error:
            raise ValueError(f"the gold set {path} cannot be used: {error}") from None

    @staticmethod
    def _scan(
        spec: UseCaseSpec, source: FilesAnnotationSourceSpec, known: pl.DataFrame, skip: set[str] | None
    ) -> _Scan:
        def read(file: DropFile, data: bytes, day: str, known: pl.DataFrame) -> InboxFile | str:
            return _read_annotation_file(spec, source, file, data, day, known)

        return _scan(
            resolve_path(source.path, source.allow_outside), source.pattern, read, known, skip, "annotation inbox"
        )


def _ledger(kind: str, name: str, sha256: str | None, rows: int, rejects: pl.DataFrame) -> dict[str, Any]:
    return {
        "kind": kind,
        "name": name,
        "sha256": sha256,
        "records": rows + rejects.height,
        "annotations": rows,
        "rejects": rejects.height,
    }


def _read_annotation_file(
    spec: UseCaseSpec, source: FilesAnnotationSourceSpec, file: DropFile, data: bytes, day: str, known: pl.DataFrame
) -> InboxFile | str:
    labeling = spec.labeling
    suffix = Path(file.relative).suffix.lower()
    fmt = {".json": "label_studio", ".csv": "csv"}.get(suffix)
    if fmt is None:
        return f"{file.relative}: not a .json (Label Studio export) or .csv file; skipped"
    known_items = known.get_column("item_id").to_list()
    try:
        if fmt == "label_studio":
            imported = read_label_studio(
                data,
                labeling.classes,
                known_items,
                labeling.annotators,
                source.choice_field,
                item_key=source.item_key,
                annotator_names=dict(source.annotator_names) or None,
            )
        else:
            imported = read_annotations_csv(
                data, labeling.classes, known_items, labeling.annotators, delimiter=source.delimiter
            )
    except ValueError as error:
        rejects = unreadable_file(file.relative, fmt, str(error))
        empty = pl.DataFrame(schema={**ANNOTATION_SCHEMA, "partition_key": pl.String})
        return InboxFile(file, fmt, day, empty, rejects.with_columns(pl.lit(day).alias("partition_key")))
    rows = stamp(imported.annotations, origin=f"inbox:{file.relative}").join(known, on="item_id", how="inner")
    rejects = file_rejects(imported.rejects, file=file.relative, fmt=fmt)
    return InboxFile(file, fmt, day, rows, rejects.with_columns(pl.lit(day).alias("partition_key")))


class FeedbackInbox:
    """The ``files`` feedback source kind: production corrections dropped as CSV, JSON Lines or Label Studio
    exports (`factory.core.labeling.read_feedback`)."""

    needs_predictions = False

    def collect(
        self,
        spec: UseCaseSpec,
        source: FilesFeedbackSourceSpec,
        day: str,
        predictions: pl.DataFrame,
        known: pl.DataFrame,
    ) -> FeedbackBatch:
        scan = self._scan(spec, source, known, None)
        corrections = [pl.DataFrame(schema=CORRECTIONS_SCHEMA)]
        rejects = [pl.DataFrame(schema=REJECTS_SCHEMA)]
        files: list[dict[str, Any]] = []
        for read in scan.files:
            rows, rejected = read.of_day(day)
            if rows.height or rejected.height:
                corrections.append(rows)
                rejects.append(rejected)
                files.append(_feedback_entry(source.name, read.file, rows.height, rejected.height, None))
        concerned = {read.file.relative for read in scan.files if day in read.partitions()}
        for duplicate, first in scan.duplicates:
            if first in concerned:
                files.append(_feedback_entry(source.name, duplicate, 0, 0, first))
        return FeedbackBatch(
            pl.concat(corrections, how="vertical"), pl.concat(rejects, how="vertical"), files, scan.notes
        )

    def pending(
        self, spec: UseCaseSpec, source: FilesFeedbackSourceSpec, known: pl.DataFrame, skip: set[str]
    ) -> list[PendingFile]:
        return _pending(self._scan(spec, source, known, skip))

    @staticmethod
    def _scan(spec: UseCaseSpec, source: FilesFeedbackSourceSpec, known: pl.DataFrame, skip: set[str] | None) -> _Scan:
        def read(file: DropFile, data: bytes, day: str, known: pl.DataFrame) -> InboxFile | str:
            return _read_feedback_file(spec, source, file, data, day, known)

        return _scan(
            resolve_path(source.path, source.allow_outside), source.pattern, read, known, skip, "feedback inbox"
        )


def _feedback_entry(source: str, file: DropFile, rows: int, rejects: int, duplicate_of: str | None) -> dict[str, Any]:
    return {
        "source": source,
        "file": file.relative,
        "sha256": file.sha256,
        "records": rows + rejects,
        "corrections": rows,
        "rejects": rejects,
        "duplicate_of": duplicate_of,
    }


def _read_feedback_file(
    spec: UseCaseSpec, source: FilesFeedbackSourceSpec, file: DropFile, data: bytes, day: str, known: pl.DataFrame
) -> InboxFile | str:
    fmt = feedback_format(file.relative)
    if fmt is None:
        return f"{file.relative}: not a .csv, .jsonl or .json (Label Studio export) file; skipped"
    try:
        imported = read_feedback(
            data,
            fmt,
            spec.labeling.classes,
            known.get_column("item_id").to_list(),
            file=file.relative,
            delimiter=source.delimiter,
            item_key=source.item_key,
            choice_field=source.choice_field,
            annotator_names=dict(source.annotator_names) or None,
        )
    except ValueError as error:
        imported = FeedbackImport(
            pl.DataFrame(schema=CORRECTIONS_SCHEMA), unreadable_file(file.relative, fmt, str(error))
        )
    rows = imported.corrections.join(known, on="item_id", how="inner")
    return InboxFile(file, fmt, day, rows, imported.rejects.with_columns(pl.lit(day).alias("partition_key")))


def register(registry: Registry) -> None:
    """Register the ``files`` annotation and feedback source kinds."""
    registry.register_annotation_source("files", AnnotationInbox())
    registry.register_feedback_source("files", FeedbackInbox())
