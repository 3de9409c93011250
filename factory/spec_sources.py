"""The source kinds a use-case spec declares: data sources (``sources``), annotation sources
(``labeling.sources``) and feedback sources (``feedback.sources``), each a model per built-in kind, and
`PluginSourceSpec` for a kind a third-party plug-in implements (`factory.plugins`). Re-exported by
`factory.spec`."""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

__all__ = [
    "AnnotationInboxSpec",
    "AnnotationSourceSpec",
    "ColumnAnnotationSourceSpec",
    "DatabaseFileSourceSpec",
    "DemoAnnotationSourceSpec",
    "DemoFeedbackSourceSpec",
    "DemoSourceSpec",
    "FeedbackSourceSpec",
    "FeedbackSpec",
    "FileSourceSpec",
    "FilesAnnotationSourceSpec",
    "FilesFeedbackSourceSpec",
    "PluginSourceSpec",
    "PostgresSourceSpec",
    "SourceSpec",
    "SpecDate",
    "StrictModel",
    "today",
]

TODAY_ENV = "FACTORY_TODAY"
"""Pins the factory's "today" (``YYYY-MM-DD``) for the dates a spec writes as ``N days ago``: tests and
reproducible transcripts set it; unset, today is the UTC date."""

_DAYS_AGO = re.compile(r"(\d{1,5}) days? ago")


def today() -> date:
    """The factory's today: ``FACTORY_TODAY`` when set, else today's UTC date."""
    pinned = os.environ.get(TODAY_ENV)
    if not pinned:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(pinned)
    except ValueError:
        raise ValueError(f"{TODAY_ENV}={pinned!r} is not a YYYY-MM-DD date") from None


def _spec_date(value: object) -> object:
    """A spec date: a date (``2026-01-01``), or ``N days ago``, counted back from `today`."""
    if isinstance(value, str) and (match := _DAYS_AGO.fullmatch(value.strip())):
        return today() - timedelta(days=int(match.group(1)))
    return value


SpecDate = Annotated[date, BeforeValidator(_spec_date)]
"""A date a spec writes as ``YYYY-MM-DD`` or as ``N days ago`` (the demo's days end yesterday whatever the day
it runs; deterministic given `today`)."""


class StrictModel(BaseModel):
    """A spec section: unknown keys are errors, and a loaded spec never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _relative_glob(pattern: str) -> str:
    if not pattern or pattern.startswith("/") or ".." in pattern.split("/"):
        raise ValueError(f"pattern must be a glob relative to the inbox folder, without '..': got {pattern!r}")
    return pattern


class DemoSourceSpec(StrictModel):
    """The built-in deterministic demo source (``factory.demo``): ``generator`` names the stream, support
    tickets (``tickets``, the ``ticket_triage`` columns) or insurance claims (``claims``, the
    ``claims_review`` columns); ``drift_start`` is the first day of its drift (a date, or ``N days ago``).
    ``simulation_rows_per_day`` is what `factory simulate` streams a day unless told otherwise (at most
    ``rows_per_day``; unset: `factory.simulate.DEFAULT_ROWS_PER_DAY`): a month of the use case's daily runs
    and retrains must end within 10 minutes on 2 cores, and what that allows depends on the use case's
    models."""

    name: str
    kind: Literal["demo"]
    generator: Literal["tickets", "claims"] = "tickets"
    seed: int = 7
    rows_per_day: Annotated[int, Field(gt=0, le=5_000_000)] = 2000
    drift_start: SpecDate | None = None
    simulation_rows_per_day: Annotated[int, Field(gt=0, le=5_000_000)] | None = None

    @model_validator(mode="after")
    def _simulation_within_the_stream(self) -> DemoSourceSpec:
        if self.simulation_rows_per_day is not None and self.simulation_rows_per_day > self.rows_per_day:
            raise ValueError(
                f"simulation_rows_per_day ({self.simulation_rows_per_day}) is more than rows_per_day "
                f"({self.rows_per_day}): a simulation streams at most the source's rows"
            )
        return self


class FileSourceSpec(StrictModel):
    """A drop folder of CSV, JSONL or Parquet files, picked up by a sensor as files arrive, or one file.

    ``path`` is absolute or relative to the data root (``FACTORY_DATA``); it must lie under the data root or
    ``FACTORY_HOME`` unless ``allow_outside: true``. It names a folder (whose files matching ``pattern`` are
    read) or a single file (read in place; ``pattern`` is then not used). A day's rows are the files dated that
    day (``partition_by: file_date``, a ``YYYY-MM-DD`` or ``YYYYMMDD`` in the file name), the rows whose
    timestamp column falls on that day (``partition_by: timestamp``), or, for a one-shot batch
    (``partition_by: batch``), all the rows of every file, each file in one day: ``batch_day`` when given,
    else the date in the file's name, else the day the file was last modified (its arrival day). On a day no
    file of a batch source maps to, nothing was expected: the raw asset's ``batch_not_empty`` check passes.
    A file with no usable date in its name (with ``file_date``) or that cannot be parsed is quarantined whole
    under its modification day; see `factory.resources.landing`.
    """

    name: str
    kind: Literal["files"]
    path: str
    pattern: str = "**/*"
    format: Literal["csv", "jsonl", "parquet"]
    partition_by: Literal["file_date", "timestamp", "batch"] = "file_date"
    batch_day: date | None = None
    delimiter: Annotated[str, Field(min_length=1, max_length=1)] = ","
    allow_outside: bool = False

    @model_validator(mode="after")
    def _batch_day_for_batches(self) -> FileSourceSpec:
        if self.batch_day is not None and self.partition_by != "batch":
            raise ValueError(f"batch_day is only read with `partition_by: batch`, not {self.partition_by}")
        return self


class PostgresSourceSpec(StrictModel):
    """A SQL query against PostgreSQL. The DSN is a secret: the spec names the environment variable holding
    it. The query selects the schema's columns for one day, with ``%(start)s`` and ``%(end)s`` bound."""

    name: str
    kind: Literal["postgres"]
    dsn_env: Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$")]
    query: str

    @field_validator("query")
    @classmethod
    def _binds_window(cls, query: str) -> str:
        if "%(start)s" not in query or "%(end)s" not in query:
            raise ValueError("the query must bind the day's window as %(start)s and %(end)s")
        return query


class DatabaseFileSourceSpec(StrictModel):
    """A SQL query against a DuckDB or SQLite file, with the day's window bound as two ``?`` parameters. ``path``
    follows the rules of a file source's (`FileSourceSpec`)."""

    name: str
    kind: Literal["duckdb", "sqlite"]
    path: str
    query: str
    allow_outside: bool = False

    @field_validator("query")
    @classmethod
    def _binds_window(cls, query: str) -> str:
        if query.count("?") != 2:
            raise ValueError("the query must bind the day's window as exactly two ? parameters (start, end)")
        return query


class PluginSourceSpec(StrictModel):
    """A source of a kind a third-party plug-in registers (`factory.plugins`, entry-point group
    ``factory.plugins``): its ``name``, ``kind`` and the ``options`` the plug-in reads. Whether a plug-in
    implements the kind is checked when the use case is built."""

    name: str
    kind: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]{0,60}$")]
    options: dict[str, Any] = Field(default_factory=dict)


def _by_kind(builtin: tuple[str, ...]) -> Discriminator:
    """A discriminator that sends the built-in kinds to their models and any other kind to `PluginSourceSpec`."""

    def tag(value: Any) -> str:
        kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
        return kind if kind in builtin else "plugin"

    return Discriminator(tag)


SourceSpec = Annotated[
    Annotated[DemoSourceSpec, Tag("demo")]
    | Annotated[FileSourceSpec, Tag("files")]
    | Annotated[PostgresSourceSpec, Tag("postgres")]
    | Annotated[DatabaseFileSourceSpec, Tag("duckdb")]
    | Annotated[DatabaseFileSourceSpec, Tag("sqlite")]
    | Annotated[PluginSourceSpec, Tag("plugin")],
    _by_kind(("demo", "files", "postgres", "duckdb", "sqlite")),
]


class AnnotationInboxSpec(StrictModel):
    """A folder where annotation files are dropped: Label Studio JSON exports (``*.json``) and CSVs of
    ``item_id, annotator, label, created_at`` (``*.csv``); other files are listed and skipped.

    ``path`` is absolute or relative to the data root, confined like a file source's (``allow_outside``).
    Every annotation is filed under the day of the item it labels; a file's rejects under the date in its
    name (``YYYY-MM-DD`` or ``YYYYMMDD``, as Label Studio names its exports), else the day the file was last
    modified.
    ``item_key`` is the task data key holding our item id in Label Studio tasks, ``choice_field`` the name of
    the Choices control to read (None: every choice), ``annotator_names`` maps Label Studio user ids (numbers)
    or emails to annotator names. ``gold`` is an optional CSV of ``item_id, label`` (same path rules): the
    gold set, whose items are fixed to their gold label.
    """

    path: str
    pattern: str = "**/*"
    item_key: str = "item_id"
    choice_field: str | None = None
    annotator_names: dict[int | str, str] = Field(default_factory=dict)
    delimiter: Annotated[str, Field(min_length=1, max_length=1)] = ","
    gold: str | None = None
    allow_outside: bool = False

    @field_validator("pattern")
    @classmethod
    def _relative_pattern(cls, pattern: str) -> str:
        return _relative_glob(pattern)


class FilesAnnotationSourceSpec(AnnotationInboxSpec):
    """The ``files`` annotation source: an annotation inbox (see `AnnotationInboxSpec`), named."""

    name: str = "inbox"
    kind: Literal["files"]


class DemoAnnotationSourceSpec(StrictModel):
    """The ``demo`` annotation source: the demo's simulated crowd labeling the items of the demo data source
    ``source`` (default: the use case's only demo source), ``labeling.annotations_per_item`` times each, with
    ``labeling.gold_share`` of them gold."""

    name: str = "crowd"
    kind: Literal["demo"]
    source: str | None = None


class ColumnAnnotationSourceSpec(StrictModel):
    """The ``column`` annotation source: pre-labeled data. The values of the schema's string column ``column``
    become annotations of the prepared items (provenance ``source``, annotator ``name``, weighing ``weight`` in
    Dawid-Skene, stamped with the item's timestamp). A value outside the classes is an annotation reject
    (``label_outside_taxonomy``); a null or empty value is no annotation (the item waits for other sources).
    The column may not be a text or feature column (the label would leak into the model's inputs)."""

    name: str = "given"
    kind: Literal["column"]
    column: str
    weight: Annotated[float, Field(gt=0, le=100)] = 1.0


AnnotationSourceSpec = Annotated[
    Annotated[DemoAnnotationSourceSpec, Tag("demo")]
    | Annotated[FilesAnnotationSourceSpec, Tag("files")]
    | Annotated[ColumnAnnotationSourceSpec, Tag("column")]
    | Annotated[PluginSourceSpec, Tag("plugin")],
    _by_kind(("demo", "files", "column")),
]


class DemoFeedbackSourceSpec(StrictModel):
    """The ``demo`` feedback source: the demo's support agents reviewing a share of the champion's predictions
    of the demo data source ``source`` (default: the use case's only demo source)."""

    name: str = "agents"
    kind: Literal["demo"]
    source: str | None = None


class FilesFeedbackSourceSpec(StrictModel):
    """The ``files`` feedback source: a folder where production corrections are dropped, as CSVs (``*.csv``)
    or JSON lines (``*.jsonl``) of ``item_id, corrected_label, corrected_at, reviewer``, or Label Studio JSON
    exports (``*.json``: the chosen class is the corrected label, the annotator the reviewer); other files are
    listed and skipped.

    ``path`` is absolute or relative to the data root, confined like a file source's. A correction is filed
    under the day of the item it corrects; a file's rejects (unknown item, label outside the taxonomy, bad
    timestamp, missing field, malformed line, unreadable file) under the date in its name (``YYYY-MM-DD`` or
    ``YYYYMMDD``), else the day it was last modified. Each file is read once per content hash: a copy of a file
    already read is skipped.
    ``item_key``, ``choice_field`` and ``annotator_names`` read Label Studio exports as for annotation inboxes.
    """

    name: str = "corrections"
    kind: Literal["files"]
    path: str
    pattern: str = "**/*"
    delimiter: Annotated[str, Field(min_length=1, max_length=1)] = ","
    item_key: str = "item_id"
    choice_field: str | None = None
    annotator_names: dict[int | str, str] = Field(default_factory=dict)
    allow_outside: bool = False

    @field_validator("pattern")
    @classmethod
    def _relative_pattern(cls, pattern: str) -> str:
        return _relative_glob(pattern)


FeedbackSourceSpec = Annotated[
    Annotated[DemoFeedbackSourceSpec, Tag("demo")]
    | Annotated[FilesFeedbackSourceSpec, Tag("files")]
    | Annotated[PluginSourceSpec, Tag("plugin")],
    _by_kind(("demo", "files")),
]


class FeedbackSpec(StrictModel):
    """Where production corrections come from. ``sources`` omitted: the demo agents when the use case has a
    demo data source, else none."""

    sources: tuple[FeedbackSourceSpec, ...] | None = None
