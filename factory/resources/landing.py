"""The built-in data source kinds that read the outside world: ``files`` (a drop folder) and SQL queries
(``postgres``, ``duckdb``, ``sqlite``), each landing one day of rows in the raw layout.

A file drop keeps a ledger of every file by content hash (the ``source_files`` table, written by the raw
asset); `file_partitions` says which days a file contributes rows to, for the sensor that requests them.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from factory.core.ingestion import Parsed, as_raw, day_of_timestamps, fallback_day, parse
from factory.paths import resolve_input
from factory.plugins import Landed, Registry
from factory.resources.sources import (
    DropFile,
    FileDrop,
    SourceError,
    SourceFileChanged,
    SourceFileGone,
    query_duckdb,
    query_postgres,
    query_sqlite,
)
from factory.spec import DatabaseFileSourceSpec, FileSourceSpec, PostgresSourceSpec, UseCaseSpec

__all__ = ["FileSource", "QuerySource", "drop_of", "file_partitions", "register", "resolve_path"]


def resolve_path(path: str, allow_outside: bool = False) -> Path:
    """A spec's input path: absolute, or relative to the data root (see `factory.paths.resolve_input`); a
    ``SourceError`` when it lies outside the data root and ``FACTORY_HOME`` and ``allow_outside`` is not set
    (the spec checker refuses that too; this catches a symbolic link or an environment changed since)."""
    try:
        return resolve_input(path, allow_outside=allow_outside)
    except ValueError as error:
        raise SourceError(f"{error}; set `allow_outside: true` on the source to read it") from None


def _window(day: str) -> tuple[datetime, datetime]:
    start = datetime.combine(date.fromisoformat(day), time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def drop_of(source: FileSourceSpec) -> FileDrop:
    return FileDrop(resolve_path(source.path, source.allow_outside), source.pattern)


def _parse_file(
    spec: UseCaseSpec, source: FileSourceSpec, drop: FileDrop, file: DropFile
) -> tuple[pl.DataFrame, Parsed]:
    columns = spec.schema.column_names()
    parsed = parse(drop.read(file), source.format, columns)
    return as_raw(parsed.rows, columns, file=file.relative, rejects=parsed.rejects), parsed


def file_partitions(spec: UseCaseSpec, source: FileSourceSpec, drop: FileDrop, file: DropFile) -> list[str]:
    """The days a file contributes rows to."""
    if source.partition_by == "file_date":
        return [file.file_date.isoformat()] if file.file_date else []
    frame, _ = _parse_file(spec, source, drop, file)
    days = day_of_timestamps(frame[spec.schema.timestamp])
    fallback = fallback_day(file.file_date, days)
    assigned = days.fill_null(fallback) if fallback else days
    return sorted({d.isoformat() for d in assigned.drop_nulls().to_list()})


class FileSource:
    """The ``files`` data source kind: the files of a drop folder dated the day, or holding rows of the day."""

    label = "file"

    def land(self, spec: UseCaseSpec, source: FileSourceSpec, day: str) -> Landed:
        drop = drop_of(source)
        landed = Landed(pl.DataFrame())
        frames: list[pl.DataFrame] = []
        first_path: dict[str, str] = {}
        for file in drop.scan():
            duplicate_of = first_path.setdefault(file.sha256, file.relative)
            try:
                landed_file = self._land_file(spec, source, drop, file, day, duplicate_of)
            except (SourceFileGone, SourceFileChanged) as gone:
                landed.notes.append(f"{file.relative}: {gone}; not ingested this time")
                continue
            if landed_file is None:
                continue
            frame, entry, parsed = landed_file
            landed.files.append(entry)
            if frame is None or parsed is None:
                continue
            frames.append(frame)
            if parsed.missing_columns:
                landed.notes.append(f"{file.relative}: missing columns {list(parsed.missing_columns)}")
            if parsed.extra_columns:
                landed.notes.append(f"{file.relative}: extra columns ignored {list(parsed.extra_columns)}")
        landed.notes += [f"refused (outside the drop folder): {p}" for p in drop.refused]
        landed.notes += [f"vanished during the scan: {p}" for p in drop.vanished]
        columns = spec.schema.column_names()
        landed.frame = pl.concat(frames, how="vertical") if frames else as_raw(pl.DataFrame({"_line": []}), columns)
        return landed

    @staticmethod
    def _land_file(
        spec: UseCaseSpec, source: FileSourceSpec, drop: FileDrop, file: DropFile, day: str, duplicate_of: str
    ) -> tuple[pl.DataFrame | None, dict[str, Any], Parsed | None] | None:
        """One file's rows for ``day``, its ledger entry and parse report; None when it has no rows that day."""
        if day not in file_partitions(spec, source, drop, file):
            return None
        entry: dict[str, Any] = {"file": file.relative, "sha256": file.sha256, "size": file.size}
        if duplicate_of != file.relative:
            return None, {**entry, "rows": 0, "rejects": 0, "duplicate_of": duplicate_of}, None
        frame, parsed = _parse_file(spec, source, drop, file)
        if source.partition_by == "timestamp":
            days = day_of_timestamps(frame[spec.schema.timestamp])
            fallback = fallback_day(file.file_date, days)
            frame = frame.filter(days.fill_null(fallback) == date.fromisoformat(day)) if fallback else frame
        rejects = int(frame["_reject_reason"].is_not_null().sum())
        return frame, {**entry, "rows": frame.height - rejects, "rejects": rejects, "duplicate_of": None}, parsed


class QuerySource:
    """The SQL data source kinds: the day's window bound into a query against PostgreSQL, DuckDB or SQLite."""

    def __init__(self, label: str) -> None:
        self.label = label

    def land(self, spec: UseCaseSpec, source: PostgresSourceSpec | DatabaseFileSourceSpec, day: str) -> Landed:
        start, end = _window(day)
        if isinstance(source, PostgresSourceSpec):
            dsn = os.environ.get(source.dsn_env)
            if not dsn:
                raise SourceError(f"source {source.name}: environment variable {source.dsn_env} (the DSN) is not set")
            rows = query_postgres(dsn, source.query, {"start": start, "end": end})
        else:
            reader = query_duckdb if source.kind == "duckdb" else query_sqlite
            rows = reader(resolve_path(source.path, source.allow_outside), source.query, [start, end])
        return Landed(as_raw(rows, spec.schema.column_names(), file=None))


def register(registry: Registry) -> None:
    """Register the ``files``, ``postgres``, ``duckdb`` and ``sqlite`` data source kinds."""
    registry.register_data_source("files", FileSource())
    for kind in ("postgres", "duckdb", "sqlite"):
        registry.register_data_source(kind, QuerySource(kind))
