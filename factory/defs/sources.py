"""Sources layer: one daily-partitioned ``raw_<source>`` asset per declared source, landed as text.

Every record a source delivers for the day lands in ``raw``, parsed into the schema's columns or, when it
cannot be parsed, as a reject with its reason and raw payload, so preparation can account for all of it.
File drops keep a ledger (``source_files``) of every file by content hash; a sensor per drop asks for the
partitions of files it has not seen, once.
"""

import os
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from factory.core import gates
from factory.core.ingestion import as_raw, day_of_timestamps, fallback_day, parse
from factory.defs.metadata import check_result, markdown_table
from factory.defs.usecase import UseCase
from factory.demo import generate_day
from factory.paths import factory_home
from factory.resources.sources import (
    DropFile,
    FileDrop,
    SourceFileChanged,
    SourceFileGone,
    query_duckdb,
    query_postgres,
    query_sqlite,
)
from factory.resources.warehouse import Warehouse
from factory.spec import DatabaseFileSourceSpec, DemoSourceSpec, FileSourceSpec, PostgresSourceSpec, SourceSpec

__all__ = ["build_source_sensors", "build_sources", "drop_of", "file_partitions"]


@dataclass
class Landed:
    frame: pl.DataFrame
    files: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _window(day: str) -> tuple[datetime, datetime]:
    start = datetime.combine(date.fromisoformat(day), time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def drop_of(source: FileSourceSpec) -> FileDrop:
    root = Path(source.path)
    return FileDrop(root if root.is_absolute() else factory_home() / root, source.pattern)


def _parse_file(uc: UseCase, source: FileSourceSpec, drop: FileDrop, file: DropFile) -> tuple[pl.DataFrame, Any]:
    parsed = parse(drop.read(file), source.format, uc.spec.schema.column_names())
    return as_raw(parsed.rows, uc.spec.schema.column_names(), file=file.relative, rejects=parsed.rejects), parsed


def file_partitions(uc: UseCase, source: FileSourceSpec, drop: FileDrop, file: DropFile) -> list[str]:
    """The days a file contributes rows to."""
    if source.partition_by == "file_date":
        return [file.file_date.isoformat()] if file.file_date else []
    frame, _ = _parse_file(uc, source, drop, file)
    days = day_of_timestamps(frame[uc.spec.schema.timestamp])
    fallback = fallback_day(file.file_date, days)
    assigned = days.fill_null(fallback) if fallback else days
    return sorted({d.isoformat() for d in assigned.drop_nulls().to_list()})


def _land_files(uc: UseCase, source: FileSourceSpec, day: str) -> Landed:
    drop = drop_of(source)
    landed = Landed(pl.DataFrame())
    frames: list[pl.DataFrame] = []
    first_path: dict[str, str] = {}
    for file in drop.scan():
        duplicate_of = first_path.setdefault(file.sha256, file.relative)
        try:
            landed_file = _land_file(uc, source, drop, file, day, duplicate_of)
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
        if parsed.missing_columns:
            landed.notes.append(f"{file.relative}: missing columns {list(parsed.missing_columns)}")
        if parsed.extra_columns:
            landed.notes.append(f"{file.relative}: extra columns ignored {list(parsed.extra_columns)}")
    landed.notes += [f"refused (outside the drop folder): {p}" for p in drop.refused]
    landed.notes += [f"vanished during the scan: {p}" for p in drop.vanished]
    columns = uc.spec.schema.column_names()
    landed.frame = pl.concat(frames, how="vertical") if frames else as_raw(pl.DataFrame({"_line": []}), columns)
    return landed


def _land_file(
    uc: UseCase, source: FileSourceSpec, drop: FileDrop, file: DropFile, day: str, duplicate_of: str
) -> tuple[pl.DataFrame | None, dict[str, Any], Any] | None:
    """One file's rows for ``day``, its ledger entry and parse report; None when it has no rows that day."""
    if day not in file_partitions(uc, source, drop, file):
        return None
    entry: dict[str, Any] = {"file": file.relative, "sha256": file.sha256, "size": file.size}
    if duplicate_of != file.relative:
        return None, {**entry, "rows": 0, "rejects": 0, "duplicate_of": duplicate_of}, None
    frame, parsed = _parse_file(uc, source, drop, file)
    if source.partition_by == "timestamp":
        days = day_of_timestamps(frame[uc.spec.schema.timestamp])
        fallback = fallback_day(file.file_date, days)
        frame = frame.filter(days.fill_null(fallback) == date.fromisoformat(day)) if fallback else frame
    rejects = int(frame["_reject_reason"].is_not_null().sum())
    return frame, {**entry, "rows": frame.height - rejects, "rejects": rejects, "duplicate_of": None}, parsed


def _land_query(uc: UseCase, source: PostgresSourceSpec | DatabaseFileSourceSpec, day: str) -> Landed:
    start, end = _window(day)
    if isinstance(source, PostgresSourceSpec):
        dsn = os.environ.get(source.dsn_env)
        if not dsn:
            raise dg.Failure(f"source {source.name}: environment variable {source.dsn_env} (the DSN) is not set")
        rows = query_postgres(dsn, source.query, {"start": start, "end": end})
    else:
        path = Path(source.path) if Path(source.path).is_absolute() else factory_home() / source.path
        reader = query_duckdb if source.kind == "duckdb" else query_sqlite
        rows = reader(path, source.query, [start, end])
    return Landed(as_raw(rows, uc.spec.schema.column_names(), file=None))


def _land_demo(uc: UseCase, source: DemoSourceSpec, day: str) -> Landed:
    batch = generate_day(date.fromisoformat(day), uc.demo_config()).raw
    rows = batch.with_row_index("_line").with_columns(pl.col("_line").cast(pl.Int64))
    return Landed(as_raw(rows, uc.spec.schema.column_names(), file=None))


def _land(uc: UseCase, source: SourceSpec, day: str) -> Landed:
    if isinstance(source, DemoSourceSpec):
        return _land_demo(uc, source, day)
    if isinstance(source, FileSourceSpec):
        return _land_files(uc, source, day)
    return _land_query(uc, source, day)


_KIND_LABEL = {"demo": "polars", "files": "file", "postgres": "postgres", "duckdb": "duckdb", "sqlite": "sqlite"}


def _raw_asset(uc: UseCase, source: SourceSpec) -> dg.AssetsDefinition:
    key = uc.raw_key(source.name)

    @dg.asset(
        key=key,
        group_name=uc.group("sources"),
        partitions_def=uc.daily,
        kinds={"duckdb", _KIND_LABEL[source.kind]},
        pool="warehouse",
        check_specs=[
            dg.AssetCheckSpec(
                "schema_readable", asset=key, blocking=True, description="Every declared column arrived."
            ),
            dg.AssetCheckSpec("batch_not_empty", asset=key, blocking=True, description="The day delivered rows."),
        ],
        description=(
            f"Raw records for one day from source `{source.name}` ({source.kind}), exactly as delivered: every field "
            "as text, with `_file` and `_line` saying where it came from; a record that could not be parsed keeps its "
            "reason and raw payload. Holds personal data: nothing downstream of preparation reads it. "
            "Re-materializing a day replaces that day's rows of this source."
        ),
    )
    def raw(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        day = context.partition_key
        landed = _land(uc, source, day)
        rows = warehouse.replace_source_partition(uc.name, "raw", day, source.name, landed.frame)
        if landed.files:
            ledger = pl.DataFrame(landed.files, schema_overrides={"duplicate_of": pl.String})
            warehouse.replace_source_partition(uc.name, "source_files", day, source.name, ledger)
        for note in landed.notes:
            context.log.warning(note)
        expected = uc.spec.schema.column_names()
        missing = [c for c in expected if c not in landed.frame.columns]
        readable = gates.GateResult(
            "schema_readable",
            not missing,
            "all declared columns present" if not missing else f"missing columns: {missing}",
            {"columns": len(expected)},
        )
        rejects = int(landed.frame["_reject_reason"].is_not_null().sum())
        metadata: dict[str, Any] = {
            "dagster/row_count": rows,
            "source": source.name,
            "unparseable_records": rejects,
        }
        if landed.files:
            metadata["files"] = dg.MetadataValue.md(markdown_table(landed.files))
        if landed.notes:
            metadata["notes"] = dg.MetadataValue.md("\n".join(f"- {n}" for n in landed.notes))
        return dg.MaterializeResult(
            metadata=metadata,
            check_results=[check_result(key, readable), check_result(key, gates.not_empty(rows))],
        )

    return raw


def build_sources(uc: UseCase) -> list[dg.AssetsDefinition]:
    return [_raw_asset(uc, source) for source in uc.spec.sources]


def build_source_sensors(uc: UseCase, daily_job: Any) -> list[dg.SensorDefinition]:
    """One sensor per file drop: new files (by content hash) become run requests for their days, once."""
    return [_drop_sensor(uc, s, daily_job) for s in uc.spec.sources if isinstance(s, FileSourceSpec)]


def _drop_sensor(uc: UseCase, source: FileSourceSpec, daily_job: Any) -> dg.SensorDefinition:
    @dg.sensor(
        name=f"{uc.name}_{source.name}_files_sensor",
        job=daily_job,
        minimum_interval_seconds=60,
        description=(
            f"Watches `{source.path}` ({source.pattern}) and requests the daily layers for each day a new file "
            "contributes to. A file is new until its content hash is in the ledger; run keys make each request once."
        ),
    )
    def drop_sensor(context: dg.SensorEvaluationContext, warehouse: Warehouse) -> dg.SensorResult:
        drop = drop_of(source)
        files = drop.scan()
        ledger = warehouse.read_table(uc.name, "source_files")
        seen = set(ledger.filter(pl.col("source") == source.name)["sha256"].to_list())
        requests, undated = [], []
        for file in files:
            if file.sha256 in seen:
                continue
            partitions = file_partitions(uc, source, drop, file)
            if not partitions:
                undated.append(file.relative)
            for partition in partitions:
                run_key = f"{source.name}:{file.sha256[:20]}:{partition}"
                requests.append(dg.RunRequest(run_key=run_key, partition_key=partition))
            seen.add(file.sha256)
        for path in undated:
            context.log.warning(f"{path}: no date in the file name and no usable timestamp; not ingested")
        if requests:
            return dg.SensorResult(run_requests=requests)
        skipped = f"no new files in {source.path} ({len(files)} known)"
        extra = [f"{len(undated)} undated", f"{len(drop.refused)} refused", f"{len(drop.vanished)} vanished"]
        return dg.SensorResult(skip_reason=dg.SkipReason(f"{skipped}; " + ", ".join(extra)))

    return drop_sensor
