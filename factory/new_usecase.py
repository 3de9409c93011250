"""``factory new-usecase``: a use-case spec written from one data file, registered in place as its source.

The file (CSV, JSON Lines or Parquet, by its extension) is read twice, lazily: a bounded sample of its first
`SAMPLE_ROWS` rows decides column types and roles (`factory.core.preparation.profile_columns`), and one
streaming pass over the whole file counts its rows, the label's values (the class list, after the same text
normalization preparation applies) and the distinct days of the timestamp column. Memory grows with the
number of classes and days, not with the file.

The spec written: a ``files`` source whose ``path`` is the file itself (``allow_outside: true`` when it lies
outside the data root), partitioned by the timestamp's day when the data spans at most `MAX_PARTITION_DAYS`
days, else one batch filed under the day before the command (`batch_day`); the label column as the only
annotation source (kind ``column``, one label per item, taken as is by majority vote); gates sized to the
data; and a comment header saying what was inferred and how to change it. The spec is validated before
anything is written, and an existing file is only replaced with ``force``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import polars as pl
import yaml

from factory.core.ingestion import text_column
from factory.core.preparation import ColumnProfile, normalize_series, profile_columns
from factory.paths import confine
from factory.resources.sql import is_identifier
from factory.spec import TABULAR_CANDIDATES, TEXT_CANDIDATES, SpecError, UseCaseSpec, parse_spec
from factory.spec_checks import LABEL_COLUMN_NAME, RESERVED_COLUMNS

__all__ = [
    "MAX_CLASSES",
    "MAX_PARTITION_DAYS",
    "SAMPLE_ROWS",
    "SOURCE_NAME",
    "FileFacts",
    "NewUseCase",
    "NewUseCaseError",
    "batch_day",
    "file_facts",
    "new_usecase",
    "spec_text",
]

SAMPLE_ROWS = 10_000
"""Rows read to infer column types and roles."""

MAX_PARTITION_DAYS = 62
"""Data spanning at most this many distinct days is partitioned by its timestamp's day; more is one batch."""

MAX_CLASSES = 5_000
"""More distinct label values than this is taken for a wrong label column, not a taxonomy."""

SOURCE_NAME = "data"
"""The name of the registered file source."""

QUALITY_FLOOR = 0.3
"""Test macro F1 a first model must reach to be registered: a floor to raise once the data's level is known."""

_FORMATS: dict[str, Literal["csv", "jsonl", "parquet"]] = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
}


class NewUseCaseError(ValueError):
    """A file or an option the command cannot use; the message says what to change."""


@dataclass(frozen=True)
class FileFacts:
    """What one pass over the whole file found: rows, rows per class (sorted by class), rows without a label,
    and the distinct days of the timestamp column (none without one)."""

    rows: int
    classes: dict[str, int]
    unlabeled: int
    days: tuple[date, ...]


@dataclass(frozen=True)
class NewUseCase:
    """What the command wrote: the file, the validated spec, the column profiles and the file's facts."""

    path: Path
    spec: UseCaseSpec
    profiles: tuple[ColumnProfile, ...]
    facts: FileFacts


def _format(path: Path) -> Literal["csv", "jsonl", "parquet"]:
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise NewUseCaseError(f"{path}: the file name must end in one of {', '.join(_FORMATS)}")
    return fmt


def _scan(path: Path, fmt: str) -> pl.LazyFrame:
    if fmt == "csv":
        return pl.scan_csv(path, infer_schema=False, encoding="utf8-lossy", truncate_ragged_lines=True)
    if fmt == "jsonl":
        return pl.scan_ndjson(path, infer_schema_length=SAMPLE_ROWS)
    return pl.scan_parquet(path)


def _as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column as text, rendered the way ingestion lands typed values."""
    return pl.DataFrame([text_column(frame[name]) for name in frame.columns])


def _day(lazy: pl.LazyFrame, column: str) -> pl.Expr:
    """The UTC day of a timestamp column, as landing files rows by it (text parsed, typed values converted)."""
    dtype = lazy.collect_schema()[column]
    if isinstance(dtype, pl.Datetime):
        value = pl.col(column)
        value = value.dt.convert_time_zone("UTC") if dtype.time_zone else value
        return value.dt.date()
    if isinstance(dtype, pl.Date):
        return pl.col(column)
    texts = pl.col(column).cast(pl.String)
    return texts.str.to_datetime(time_zone="UTC", strict=False, time_unit="us").dt.date()


def file_facts(lazy: pl.LazyFrame, label: str, timestamp: str | None) -> FileFacts:
    """Count the whole file in streaming passes (see `FileFacts`)."""
    rows = int(lazy.select(pl.len()).collect(engine="streaming").item())
    values = (
        lazy.select(pl.col(label).cast(pl.String).alias("value"))
        .group_by("value")
        .agg(pl.len().alias("rows"))
        .collect(engine="streaming")
    )
    if values.height > MAX_CLASSES * 4:
        raise NewUseCaseError(
            f"the label column {label!r} holds {values.height:,} distinct values (at most {MAX_CLASSES:,} "
            "classes): is it the label?"
        )
    normalized = values.with_columns(normalize_series(values["value"].fill_null("")).alias("value"))
    counted = normalized.group_by("value").agg(pl.col("rows").sum()).sort("value")
    empty = counted.filter(pl.col("value") == "")
    classes = counted.filter(pl.col("value") != "")
    days: tuple[date, ...] = ()
    if timestamp is not None:
        found = lazy.select(_day(lazy, timestamp).alias("day")).drop_nulls().unique().collect(engine="streaming")
        days = tuple(sorted(found["day"].to_list()))
    return FileFacts(
        rows=rows,
        classes=dict(zip(classes["value"].to_list(), classes["rows"].to_list(), strict=True)),
        unlabeled=int(empty["rows"].sum()) if empty.height else 0,
        days=days,
    )


def _usable(name: str) -> str | None:
    """Why a column name cannot be declared in a schema (the spec checker's rules), or None."""
    if not name or "\0" in name:
        return "an empty name or one holding a NUL character"
    if name.startswith("_"):
        return "names starting with '_' are reserved for the factory's own columns"
    if name.casefold() in RESERVED_COLUMNS:
        return f"the factory adds a column named {name.casefold()!r} to the use case's tables; rename it in the file"
    return None


def _case_clashes(names: Sequence[str]) -> set[str]:
    """Names equal to an earlier one but for case (the warehouse ignores case): every one after the first."""
    seen: set[str] = set()
    clashing = set()
    for name in names:
        if name.casefold() in seen:
            clashing.add(name)
        seen.add(name.casefold())
    return clashing


def _quote(name: str) -> str:
    return json.dumps(name, ensure_ascii=False)


def _names(profiles: Sequence[ColumnProfile], role: str) -> list[str]:
    return [p.name for p in profiles if p.role == role]


def _gates(facts: FileFacts) -> dict[str, Any]:
    """Gates the file itself clears: at most half its labeled rows (preparation may set some aside), a class
    share and example floor at half the rarest class's, and `QUALITY_FLOOR`."""
    labeled = sum(facts.classes.values())
    rarest = min(facts.classes.values())
    share = rarest / labeled / 2
    return {
        "min_rows": max(1, min(labeled // 2, 10_000)),
        "min_class_share": min(0.002, float(f"{share:.1e}")),
        "min_class_examples": max(1, min(10, rarest // 2)),
        "quality_metric": "macro_f1",
        "quality_floor": QUALITY_FLOOR,
    }


def batch_day(today: date) -> date:
    """The day a one-shot batch is filed under: yesterday (UTC), the newest day that is already a partition
    (a daily partition exists once its day is over), so `factory run` can run it at once."""
    return today - timedelta(days=1)


def _source(data: Path, fmt: str, facts: FileFacts, timestamp: str | None, today: date) -> dict[str, Any]:
    source: dict[str, Any] = {"name": SOURCE_NAME, "kind": "files", "path": str(data), "format": fmt}
    if timestamp is not None and facts.days and len(facts.days) <= MAX_PARTITION_DAYS:
        source["partition_by"] = "timestamp"
    else:
        source["partition_by"] = "batch"
        source["batch_day"] = batch_day(today)
    try:
        confine(str(data))
    except ValueError:
        source["allow_outside"] = True
    return source


def spec_document(
    name: str,
    data: Path,
    profiles: Sequence[ColumnProfile],
    facts: FileFacts,
    *,
    label: str,
    group: str | None,
    today: date,
) -> dict[str, Any]:
    """The spec of a use case reading ``data`` (absolute), as the mapping its YAML holds."""
    fmt = _format(data)
    id_column = next((p.name for p in profiles if p.role == "id"), None)
    timestamp = next((p.name for p in profiles if p.role == "timestamp"), None)
    text = _names(profiles, "text")
    features = [p.name for p in profiles if p.role in ("categorical", "numeric")]
    declared = [p for p in profiles if p.role != "unused"]
    columns = []
    for p in declared:
        column: dict[str, Any] = {"name": p.name, "type": p.type}
        if p.name in (id_column, timestamp, group):
            column["required"] = True
        columns.append(column)
    schema: dict[str, Any] = {}
    for role, column_name in (("id", id_column), ("timestamp", timestamp), ("group", group)):
        if column_name is not None:
            schema[role] = column_name
    schema["columns"] = columns
    source = _source(data, fmt, facts, timestamp, today)
    start = facts.days[0] if source["partition_by"] == "timestamp" else source["batch_day"]
    inputs = ", ".join(text + features)
    return {
        "name": name,
        "description": f"Predict {label} from {inputs}; data registered from {data.name} by factory new-usecase.",
        "start_date": start,
        "sources": [source],
        "schema": schema,
        "text_columns": text,
        "feature_columns": features,
        "labeling": {
            "classes": list(facts.classes),
            "annotations_per_item": 1,
            "sources": [{"name": "given", "kind": "column", "column": label}],
            "review": {"budget": 100, "max_fit_rows": 2_000},
        },
        "splits": {"train": 0.8, "validation": 0.1, "test": 0.1, "salt": f"{name}-v1"},
        "gates": _gates(facts),
        "models": {"candidates": list(TEXT_CANDIDATES if text else TABULAR_CANDIDATES)},
        "feedback": {"sources": []},
    }


def _header(document: dict[str, Any], profiles: Sequence[ColumnProfile], facts: FileFacts, label: str) -> list[str]:
    """The comment lines above the spec: what was inferred, and how to change it."""
    source = document["sources"][0]
    schema = document["schema"]

    def listed(role: str) -> str:
        chosen = [p for p in profiles if p.role == role]
        return ", ".join(f"{_quote(p.name)} ({p.type})" for p in chosen) or "none"

    notes = {p.role: p.note for p in profiles}
    keys = [
        f"{role} {_quote(schema[role])} ({notes.get(role, 'given') if role != 'group' else 'given'})"
        for role in ("id", "timestamp", "group")
        if role in schema
    ]
    missing = [role for role in ("id", "timestamp", "group") if role not in schema]
    if source["partition_by"] == "timestamp":
        partitions = f"by the timestamp's day ({len(facts.days)} days from {facts.days[0]} to {facts.days[-1]})"
    elif facts.days:
        partitions = f"one batch on {source['batch_day']} (the timestamps span {len(facts.days)} days)"
    else:
        partitions = f"one batch on {source['batch_day']} (no timestamp column)"
    unused = [f"{_quote(p.name)} ({p.note})" for p in profiles if p.role == "unused"]
    classes = len(facts.classes)
    lines = [
        f"Written by `factory new-usecase` from {source['path']}",
        f"({facts.rows:,} rows, {classes} classes in {_quote(label)}, {facts.unlabeled:,} rows without a label).",
        f"Keys: {', '.join(keys) or 'none'}"
        + (f"; derived: {', '.join(missing)} (see the README on optional roles)" if missing else "")
        + ".",
        f"Text columns: {listed('text')}.",
        f"Categorical features: {listed('categorical')}. Numeric features: {listed('numeric')}.",
        f"Not used: {', '.join(unused) or 'none'}.",
        f"Partitions: {partitions}.",
        "Labels: the label column's value, one per item (with one label per item Dawid-Skene has nothing to",
        "learn annotators' errors from, so the labels are a weighted vote until annotators overlap on at least",
        "half the items). Gates are sized to this file;",
        "quality_floor is a first guess, raise it once you know the data.",
        "To change the inference, edit this file (text_columns, feature_columns, schema) or rerun with",
        "--text/--id/--timestamp/--group and --force. Check it with `factory check-spec`, run it with",
        f"`factory run {document['name']} --retrain`.",
    ]
    return [f"# {line}".replace("\n", " ").replace("\r", " ") for line in lines]


class _PlainDumper(yaml.SafeDumper):
    """Safe YAML without anchors: a value used twice (the batch day is also the start date) is written twice,
    as a person would."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def spec_text(document: dict[str, Any], profiles: Sequence[ColumnProfile], facts: FileFacts, label: str) -> str:
    """The YAML file: a `spec_document` below its comment header."""
    body = yaml.dump(document, Dumper=_PlainDumper, sort_keys=False, allow_unicode=True, width=110)
    return "\n".join([*_header(document, profiles, facts, label), body])


def new_usecase(
    name: str,
    data: Path,
    *,
    label: str,
    directory: Path,
    text: Sequence[str] | None = None,
    id_column: str | None = None,
    timestamp: str | None = None,
    group: str | None = None,
    force: bool = False,
    today: date | None = None,
) -> NewUseCase:
    """Profile ``data``, write ``directory/name.yaml`` and return what was written (see the module docstring).
    ``NewUseCaseError`` for a file or option that cannot make a valid use case, or an existing file without
    ``force``."""
    today = today or datetime.now(UTC).date()
    target = directory / f"{name}.yaml"
    if target.exists() and not force:
        raise NewUseCaseError(f"{target} exists; pass --force to replace it")
    data = data.expanduser().resolve()
    if not data.is_file():
        raise NewUseCaseError(f"{data}: no such file")
    fmt = _format(data)
    lazy = _scan(data, fmt)
    try:
        sample = _as_text(lazy.head(SAMPLE_ROWS).collect())
    except (pl.exceptions.PolarsError, OSError) as error:
        raise NewUseCaseError(f"{data}: not readable as {fmt}: {error}") from None
    if sample.height == 0:
        raise NewUseCaseError(f"{data}: the file holds no rows")
    clashes = _case_clashes(sample.columns)

    def usable(column: str) -> str | None:
        if column in clashes:
            return "another column has the same name but for case (the warehouse ignores case)"
        if column == label and column.casefold() == LABEL_COLUMN_NAME:
            return None  # the data's labels may be called `label` (see factory.spec_checks.LABEL_COLUMN_NAME)
        return _usable(column)

    try:
        profiles = profile_columns(
            sample,
            label=label,
            usable=usable,
            key_name=is_identifier,
            text=text,
            id_column=id_column,
            timestamp=timestamp,
            group=group,
        )
        inferred_timestamp = next((p.name for p in profiles if p.role == "timestamp"), None)
        facts = file_facts(lazy, label, inferred_timestamp)
    except ValueError as error:
        raise NewUseCaseError(str(error)) from None
    except pl.exceptions.PolarsError as error:
        raise NewUseCaseError(f"{data}: not readable as {fmt}: {error}") from None
    if len(facts.classes) < 2:
        raise NewUseCaseError(
            f"the label column {label!r} holds {len(facts.classes)} distinct value(s); a use case needs two classes"
        )
    if len(facts.classes) > MAX_CLASSES:
        raise NewUseCaseError(
            f"the label column {label!r} holds {len(facts.classes):,} distinct values (at most {MAX_CLASSES:,}): "
            "is it the label?"
        )
    document = spec_document(name, data, profiles, facts, label=label, group=group, today=today)
    written = spec_text(document, profiles, facts, label)
    try:
        spec = parse_spec(yaml.safe_load(written), target)
    except SpecError as error:
        raise NewUseCaseError(f"the inferred spec is not valid:\n{error}") from None
    directory.mkdir(parents=True, exist_ok=True)
    target.write_text(written, encoding="utf-8")
    return NewUseCase(target, spec, profiles, facts)
