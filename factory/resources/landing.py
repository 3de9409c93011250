"""The built-in data source kinds that read the outside world: ``files`` (a drop folder) and SQL queries
(``postgres``, ``duckdb``, ``sqlite``), each landing one day of rows in the raw layout.

A file source reads a drop folder, or one file in place when its ``path`` names a file. It keeps a ledger of
every file by content hash (the ``source_files`` table, written by the raw asset); `file_partitions` says which
days a file contributes rows to, for the sensor that requests them, and `days_with_data` which days a source
has rows on, for a headless run over "every partition that has data".

Sources deliver only the schema's delivered columns (`factory.spec.SchemaSpec.delivered_columns`); the derived
ones (an omitted id or timestamp) are filled by the raw asset for every kind alike.

No file is skipped silently. A file that does not parse as its format is set aside whole, as one reject
row (``unreadable_file``, see `factory.core.ingestion.file_reject`); so is, with ``partition_by:
file_date``, a file whose name holds a date that is no calendar date (``bad_file_date``) or no date at all
(``no_file_date``). Such a file is filed under the date in its name if it has a valid one, else under the
UTC day it was last modified; with ``partition_by: timestamp`` rows without a usable timestamp go to the
file's date, else its earliest dated row's day, else its modification day. With ``partition_by: batch`` all of
a file's rows, rejects included, go to one day: the source's ``batch_day``, else the file's date, else its
modification day; a day no file maps to lands nothing and says nothing was expected (``Landed.expected``).
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

import polars as pl

from factory.core.ingestion import Parsed, as_raw, day_of_timestamps, fallback_day, file_reject, parse
from factory.paths import resolve_input
from factory.plugins import Landed, Registry
from factory.resources.sources import (
    DropFile,
    FileDrop,
    SourceError,
    SourceFileChanged,
    SourceFileGone,
    impossible_date_in_name,
    modified_day,
    query_duckdb,
    query_postgres,
    query_sqlite,
)
from factory.spec import DatabaseFileSourceSpec, FileSourceSpec, PostgresSourceSpec, SourceSpec, UseCaseSpec

__all__ = ["FileSource", "QuerySource", "days_with_data", "drop_of", "file_partitions", "register", "resolve_path"]


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
    """The files of a source: its folder's files matching its pattern, or the one file its path names."""
    path = resolve_path(source.path, source.allow_outside)
    return FileDrop.single(path) if path.is_file() else FileDrop(path, source.pattern)


def _name_problem(source: FileSourceSpec, file: DropFile) -> tuple[str, str] | None:
    """Why a file of a source partitioned by file date cannot be filed by its name (reason, detail)."""
    if source.partition_by != "file_date" or file.file_date is not None:
        return None
    where = "filed under the day it was last modified; rename it with its date and materialize that day"
    bad = impossible_date_in_name(PurePosixPath(file.relative).name)
    if bad is not None:
        return "bad_file_date", f"{file.relative}: {bad!r} in the file name is not a calendar date; {where}"
    return "no_file_date", f"{file.relative}: no YYYY-MM-DD or YYYYMMDD date in the file name; {where}"


def _parse_file(
    spec: UseCaseSpec, source: FileSourceSpec, drop: FileDrop, file: DropFile
) -> tuple[pl.DataFrame, Parsed | None]:
    """A file's raw rows and parse report; a whole-file reject row (and no report) if it cannot be taken."""
    columns = spec.schema.delivered_columns()
    data = drop.read(file)
    problem = _name_problem(source, file)
    if problem is not None:
        return file_reject(columns, file=file.relative, reason=problem[0], detail=problem[1], data=data), None
    try:
        parsed = parse(data, source.format, columns, delimiter=source.delimiter)
    except ValueError as error:
        detail = f"{file.relative}: not readable as {source.format}: {error}"
        return file_reject(columns, file=file.relative, reason="unreadable_file", detail=detail, data=data), None
    return as_raw(parsed.rows, columns, file=file.relative, rejects=parsed.rejects), parsed


def _days(spec: UseCaseSpec, source: FileSourceSpec, file: DropFile, frame: pl.DataFrame) -> pl.Series:
    """The day of each raw row of a file (see the module docstring for where undated rows go)."""
    if source.partition_by != "timestamp":
        return pl.Series([_file_day(source, file)] * frame.height, dtype=pl.Date)
    days = day_of_timestamps(frame[spec.schema.timestamp])
    return days.fill_null(fallback_day(file.file_date, days) or modified_day(file))


def _file_day(source: FileSourceSpec, file: DropFile) -> date:
    """The one day all rows of a file go to, when the source is not partitioned by timestamp."""
    if source.partition_by == "batch" and source.batch_day is not None:
        return source.batch_day
    return file.file_date or modified_day(file)


def file_partitions(spec: UseCaseSpec, source: FileSourceSpec, drop: FileDrop, file: DropFile) -> list[str]:
    """The days a file contributes rows to (none for a file without rows)."""
    if source.partition_by == "batch" or (source.partition_by == "file_date" and file.file_date is not None):
        return [_file_day(source, file).isoformat()]
    frame, _ = _parse_file(spec, source, drop, file)
    return sorted({d.isoformat() for d in _days(spec, source, file, frame).to_list()})


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
            if frame is None:
                continue
            frames.append(frame)
            if parsed is None:
                landed.notes.append(f"set aside whole: {frame['_reject_detail'].item()}")
                continue
            if parsed.missing_columns:
                landed.notes.append(f"{file.relative}: missing columns {list(parsed.missing_columns)}")
            if parsed.extra_columns:
                landed.notes.append(f"{file.relative}: extra columns ignored {list(parsed.extra_columns)}")
        landed.notes += [f"refused (outside the drop folder): {p}" for p in drop.refused]
        landed.notes += [f"vanished during the scan: {p}" for p in drop.vanished]
        columns = spec.schema.delivered_columns()
        landed.frame = pl.concat(frames, how="vertical") if frames else as_raw(pl.DataFrame({"_line": []}), columns)
        if source.partition_by == "batch" and not landed.files:
            landed.expected = False
            landed.notes.append(f"no file of this batch source maps to {day}: nothing expected")
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
        frame = frame.filter(_days(spec, source, file, frame) == date.fromisoformat(day))
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
        return Landed(as_raw(rows, spec.schema.delivered_columns(), file=None))


def days_with_data(spec: UseCaseSpec, source: SourceSpec) -> list[str] | None:
    """The days a source has rows on, sorted: for a file source, every day its files contribute rows to (a
    file deleted or changed during the scan is left out); None for other kinds (unknown without asking the
    source for every day)."""
    if not isinstance(source, FileSourceSpec):
        return None
    drop = drop_of(source)
    days: set[str] = set()
    for file in drop.scan():
        try:
            days.update(file_partitions(spec, source, drop, file))
        except SourceError:
            continue
    return sorted(days)


def register(registry: Registry) -> None:
    """Register the ``files``, ``postgres``, ``duckdb`` and ``sqlite`` data source kinds."""
    registry.register_data_source("files", FileSource())
    for kind in ("postgres", "duckdb", "sqlite"):
        registry.register_data_source(kind, QuerySource(kind))
