"""The rules a prepared row must satisfy: declared columns with their types, the key roles, the partition."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import polars as pl

from factory.core.preparation._dedup import MinHashConfig

__all__ = ["DTYPES", "LINE", "ColumnRule", "ColumnType", "PrepareRules", "as_utc"]

ColumnType = Literal["string", "timestamp", "integer", "float"]
LINE = "_line"
DTYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "timestamp": pl.Datetime("us", "UTC"),
    "integer": pl.Int64(),
    "float": pl.Float64(),
}


@dataclass(frozen=True)
class ColumnRule:
    """A declared column: type, whether it is required, allowed values, maximum length in characters."""

    name: str
    type: ColumnType
    required: bool = False
    values: tuple[str, ...] | None = None
    max_length: int | None = None

    def __post_init__(self) -> None:
        if self.type not in DTYPES:
            raise ValueError(f"column {self.name!r}: unknown type {self.type!r}; expected one of {list(DTYPES)}")
        if self.values is not None:
            object.__setattr__(self, "values", tuple(self.values))
            if self.type != "string":
                raise ValueError(f"column {self.name!r}: allowed values only apply to string columns")
        if self.max_length is not None and (self.type != "string" or self.max_length < 1):
            raise ValueError(f"column {self.name!r}: max_length must be a positive length of a string column")


@dataclass(frozen=True)
class PrepareRules:
    """What a prepared row must look like, for one partition (naive datetimes are read as UTC).

    ``label_columns`` are the columns holding a label given with the data (pre-labeled data): a row removed as
    a duplicate keeps their values in ``duplicates``, so its label still counts for the row kept.
    ``feature_columns`` are the model's other inputs. With any, a row whose text columns are all empty is
    kept (the features still describe it; a ``required`` text column still is required). ``text_columns``
    may be empty when ``feature_columns`` is not (a tabular use case). A row's content (its content hash,
    what exact duplicates share) is its text when text is what a row is about (no feature column, or a
    required text column), else all its inputs: text and features (`content_columns`). Near duplicates are
    looked for only when the content is text (their MinHash reads words; `text_is_content`)."""

    columns: tuple[ColumnRule, ...]
    id_column: str
    timestamp_column: str
    text_columns: tuple[str, ...]
    partition_start: datetime
    partition_end: datetime
    future_tolerance: timedelta = timedelta(days=1)
    minhash: MinHashConfig = field(default_factory=MinHashConfig)
    custom_pii: Mapping[str, str] = field(default_factory=dict)
    group_column: str | None = None
    label_columns: tuple[str, ...] = ()
    pseudonym_key: bytes | None = field(default=None, repr=False)  # a secret: never in a repr or a log
    feature_columns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(self.columns))
        object.__setattr__(self, "text_columns", tuple(self.text_columns))
        object.__setattr__(self, "label_columns", tuple(self.label_columns))
        object.__setattr__(self, "feature_columns", tuple(self.feature_columns))
        object.__setattr__(self, "partition_start", as_utc(self.partition_start))
        object.__setattr__(self, "partition_end", as_utc(self.partition_end))
        names = [rule.name for rule in self.columns]
        problems = [f"column {name!r} is declared twice" for name in sorted(set(names)) if names.count(name) > 1]
        types = {rule.name: rule.type for rule in self.columns}
        if types.get(self.id_column) not in ("string", "integer"):
            problems.append(f"id column {self.id_column!r} must be a declared string or integer column")
        if types.get(self.timestamp_column) != "timestamp":
            problems.append(f"timestamp column {self.timestamp_column!r} must be a declared timestamp column")
        if not self.text_columns and not self.feature_columns:
            problems.append("at least one text or feature column is needed")
        problems += [
            f"feature column {name!r} must be a declared column" for name in self.feature_columns if name not in types
        ]
        problems += [
            f"text column {name!r} must be a declared string column"
            for name in self.text_columns
            if types.get(name) != "string"
        ]
        if self.id_column in self.text_columns:
            problems.append(f"id column {self.id_column!r} cannot be a text column")
        if self.group_column is not None and self.group_column not in types:
            problems.append(f"group column {self.group_column!r} must be a declared column")
        problems += [
            f"label column {name!r} must be a declared string column that is no text column"
            for name in self.label_columns
            if types.get(name) != "string" or name in self.text_columns
        ]
        if self.partition_end < self.partition_start:
            problems.append("partition_end is before partition_start")
        if self.future_tolerance < timedelta(0):
            problems.append("future_tolerance is negative")
        if problems:
            raise ValueError("inconsistent preparation rules: " + "; ".join(problems))

    @property
    def text_is_content(self) -> bool:
        """Whether a row's content is its text: there is text, and no feature or a required text column."""
        required = any(self.rule(name).required for name in self.text_columns)
        return bool(self.text_columns) and (not self.feature_columns or required)

    @property
    def content_columns(self) -> tuple[str, ...]:
        """The columns whose values make a row's content (class docstring)."""
        return self.text_columns if self.text_is_content else (*self.text_columns, *self.feature_columns)

    def rule(self, name: str) -> ColumnRule:
        """The rule of column `name`."""
        return next(rule for rule in self.columns if rule.name == name)


def as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
