"""Profiling a data file for a new use case: each column's type, as preparation would read it, and its role.

`profile_columns` reads a bounded sample of the file as text (every value a string, as ingestion lands it) and
decides, column by column:

- the type (``integer``, ``float``, ``timestamp`` or ``string``): the narrowest type that every non-blank
  sample value parses as with preparation's own parsers, so no sampled row would be quarantined for its type;
- the role: the label column, the id, timestamp and group keys (given, or inferred: an ``id`` or ``*_id``
  column whose sample values are all present and distinct is the id; the first timestamp column with no blank
  is the timestamp; a group is never guessed), then the model inputs:
  ``text`` (free text: strings of several words on average, or the columns given as text), ``categorical``
  (strings with at most `CATEGORICAL_MAX_VALUES` distinct values that repeat), ``numeric`` (integers and
  floats), or ``unused`` (anything else, with the reason: identifiers and codes, other timestamps, empty
  columns, names the caller cannot use).

Nothing here reads a file: the caller samples it and says which names it may declare.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Literal

import polars as pl

from factory.core.preparation._normalize import normalize_series
from factory.core.preparation._prepare import _parse_timestamps
from factory.core.preparation._rules import ColumnType

__all__ = ["CATEGORICAL_MAX_VALUES", "ColumnProfile", "Role", "profile_columns"]

Role = Literal["label", "id", "timestamp", "group", "text", "categorical", "numeric", "unused"]

CATEGORICAL_MAX_VALUES = 50
"""A string column with at most this many distinct sample values, each seen twice on average, is categorical."""

_TEXT_MIN_WORDS = 2.0
"""Mean words per value from which a high-cardinality string column counts as free text (codes, ids and
e-mail addresses have one)."""

_KEYLIKE = re.compile(r"(^|_)id$", re.IGNORECASE)
_DATE_START = re.compile(r"^\s*\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class ColumnProfile:
    """One column: its declared type, its role and why (``note``), and what the sample showed."""

    name: str
    type: ColumnType
    role: Role
    distinct: int
    note: str = ""


def _non_blank(values: pl.Series) -> pl.Series:
    texts = values.cast(pl.String)
    return texts.filter(texts.is_not_null() & (texts.str.strip_chars() != ""))


def column_type(values: pl.Series) -> ColumnType:
    """The narrowest type every non-blank value parses as (``string`` for a column without any value)."""
    present = _non_blank(values).str.strip_chars()
    if present.is_empty():
        return "string"
    if present.str.to_integer(strict=False).null_count() == 0:
        return "integer"
    as_float = present.cast(pl.Float64, strict=False)
    if as_float.null_count() == 0 and bool(as_float.is_finite().all()):
        return "float"
    if bool(present.str.contains(_DATE_START.pattern).all()) and _parse_timestamps(present).null_count() == 0:
        return "timestamp"
    return "string"


def _distinct(values: pl.Series) -> int:
    present = _non_blank(values)
    return present.n_unique() if not present.is_empty() else 0


def _complete(values: pl.Series) -> bool:
    return _non_blank(values).len() == values.len()


def _input_role(name: str, kind: ColumnType, values: pl.Series, text_given: bool) -> tuple[Role, str]:
    """The model-input role of a column that holds no key and no label."""
    present = _non_blank(values)
    if present.is_empty():
        return "unused", "no value in the sample"
    if _KEYLIKE.search(name):
        return "unused", "an identifier, not a feature"
    if kind == "timestamp":
        return "unused", "a timestamp other than the use case's"
    if kind in ("integer", "float"):
        return "numeric", ""
    distinct = present.n_unique()
    if distinct <= CATEGORICAL_MAX_VALUES and distinct * 2 <= present.len():
        return "categorical", f"{distinct} distinct values"
    counts = normalize_series(present).str.count_matches(r"\S+")
    words = int(counts.sum()) / counts.len()
    if words >= _TEXT_MIN_WORDS and not text_given:
        return "text", f"{words:.1f} words per value on average"
    if text_given:
        return "unused", "many distinct values, not among the given text columns"
    return "unused", "many distinct one-word values (codes or identifiers)"


def profile_columns(
    sample: pl.DataFrame,
    *,
    label: str,
    usable: Callable[[str], str | None],
    key_name: Callable[[str], bool],
    text: Collection[str] | None = None,
    id_column: str | None = None,
    timestamp: str | None = None,
    group: str | None = None,
) -> tuple[ColumnProfile, ...]:
    """Type and role of every column of ``sample``, in its order (see the module docstring).

    ``usable(name)`` says why a column may not be declared (a reserved name, say), or None when it may;
    ``key_name(name)`` whether a name can be an id, timestamp or group key. ``ValueError`` names what is wrong
    with the given roles: a column that is not in the sample or cannot be declared, the label given as an
    input or a key, a timestamp that does not parse, or no model input at all.
    """
    names = sample.columns
    given = {"label": label, "id": id_column, "timestamp": timestamp, "group": group}
    roles: dict[str, Role] = {}
    for role, column in given.items():
        if column is None:
            continue
        if column not in names:
            raise ValueError(f"the {role} column {column!r} is not in the data (columns: {names})")
        if role != "label" and column == label:
            raise ValueError(f"the label column {column!r} cannot also be the {role} key")
        if column in roles and role != "group":
            raise ValueError(f"column {column!r} cannot be both the {roles[column]} and the {role}")
        roles.setdefault(column, role)  # type: ignore[arg-type]  # role is one of the Role literals
    for column in text or ():
        if column not in names:
            raise ValueError(f"the text column {column!r} is not in the data (columns: {names})")
        if column == label:
            raise ValueError(f"the label column {column!r} cannot also be a text column: the model would see it")
        if column in roles:
            raise ValueError(f"column {column!r} is the {roles[column]} key; it cannot also be a text column")
        roles[column] = "text"
    for column, role in roles.items():
        reason = usable(column)
        if reason is not None:
            raise ValueError(f"the {role} column {column!r} cannot be declared: {reason}")
        if role in ("id", "timestamp", "group") and not key_name(column):
            raise ValueError(
                f"the {role} column {column!r} must be named with lower-case letters, digits and underscores "
                "(it is used as an SQL identifier); rename it in the file"
            )
    types: dict[str, ColumnType] = {name: "string" if name == label else column_type(sample[name]) for name in names}
    if timestamp is not None and types[timestamp] != "timestamp":
        raise ValueError(
            f"the timestamp column {timestamp!r} does not hold ISO-8601 timestamps (YYYY-MM-DD, optionally with "
            "a time and offset) in every sampled row"
        )
    if id_column is not None and types[id_column] not in ("string", "integer"):
        types[id_column] = "string"
    free = [n for n in names if n not in roles and usable(n) is None]
    if id_column is None:
        found = next(
            (
                n
                for n in [*free, *([group] if group is not None and roles[group] == "group" else [])]
                if _KEYLIKE.search(n)
                and key_name(n)
                and types[n] in ("string", "integer")
                and _complete(sample[n])
                and sample[n].n_unique() == sample.height
            ),
            None,
        )
        if found is not None:
            roles[found] = "id"  # the group column too, when it is unique: it is then the id and the group
            free = [n for n in free if n != found]
    if timestamp is None:
        found = next((n for n in free if types[n] == "timestamp" and key_name(n) and _complete(sample[n])), None)
        if found is not None:
            roles[found] = "timestamp"
    profiles = []
    for name in names:
        distinct = _distinct(sample[name])
        if name in roles:
            inferred = given.get(roles[name]) != name and roles[name] != "text"
            note = "inferred" if inferred else "given"
            profiles.append(ColumnProfile(name, types[name], roles[name], distinct, note))
            continue
        reason = usable(name)
        if reason is not None:
            profiles.append(ColumnProfile(name, types[name], "unused", distinct, f"left out: {reason}"))
            continue
        role, note = _input_role(name, types[name], sample[name], text is not None)
        profiles.append(ColumnProfile(name, types[name], role, distinct, note))
    if not any(p.role in ("text", "categorical", "numeric") for p in profiles):
        raise ValueError(
            "no column can be a model input (no free text, categorical or numeric column besides the label and "
            "keys); name the text columns with --text"
        )
    return tuple(profiles)
