"""Derived columns: the id and timestamp of data that has none, filled in when a day's raw rows land.

A use case may omit its id or timestamp role (`factory.spec.SchemaSpec`); the factory then adds a column no
source delivers and fills it here, for every source kind alike, before the rows are written to ``raw``:

``content_hash`` (the id, column ``row_id``)
    `ID_PREFIX` (``h``) followed by the first `ID_HEX_DIGITS` hex digits of the SHA-256 of the row's delivered
    values: for each delivered column in declared order, the value as delivered text (the raw layout's text,
    before any cleaning), UTF-8 encoded, written as ``<length in bytes>:<bytes>,``, and a missing value
    (null) written as ``~,``. The length prefix makes the encoding unambiguous whatever the values hold
    (delimiters, newlines, ``~``), and an empty value (``0:,``) differs from a missing one. Example: values
    ``("a,b", None, "")`` hash the bytes ``3:a,b,~,0:,``, and the id is ``h7d90eff390bd56478ee2``. The id
    depends only on the row's content, so it is stable across runs, machines and file order, and two
    identical rows get the same id: preparation then counts the second as a duplicate of the first. The
    leading letter keeps preparation's PII detector from ever reading an id as an IBAN (about 4 in 100,000
    bare hex strings pass for one), which would pseudonymize or quarantine it.
``arrival_day`` (the timestamp, column ``arrived_at``)
    Midnight UTC of the day the rows land in (the partition day), as ISO 8601 text
    (``2026-01-05T00:00:00+00:00``).

Rows a parser rejected (``_reject_reason`` set) have no values to hash; their derived columns stay null.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from datetime import date

import polars as pl

__all__ = ["ID_HEX_DIGITS", "ID_PREFIX", "content_hash_ids", "with_derived"]

ID_HEX_DIGITS = 20
"""Hex digits kept of a content-hash id (80 bits: a collision among a billion rows has odds below 1e-6)."""
ID_PREFIX = "h"
"""The letter a content-hash id starts with."""


def _encoded(columns: Sequence[str], present: Sequence[str]) -> pl.Expr:
    parts: list[pl.Expr] = []
    for column in columns:
        value = pl.col(column).cast(pl.String) if column in present else pl.lit(None, pl.String)
        parts.append(
            pl.when(value.is_null())
            .then(pl.lit("~,"))
            .otherwise(pl.concat_str(value.str.len_bytes().cast(pl.String), pl.lit(":"), value, pl.lit(",")))
        )
    return pl.concat_str(parts) if parts else pl.lit("")


def content_hash_ids(frame: pl.DataFrame, columns: Sequence[str]) -> pl.Series:
    """The content-hash id of each row of `frame` over `columns` (see the module docstring); a column the
    frame lacks counts as missing in every row (the raw asset's ``schema_readable`` check reports it)."""
    encoded = frame.select(_encoded(columns, frame.columns).alias("encoded"))["encoded"]
    digests = [ID_PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()[:ID_HEX_DIGITS] for text in encoded]
    return pl.Series("row_id", digests, dtype=pl.String)


def with_derived(raw: pl.DataFrame, delivered: Sequence[str], derived: Mapping[str, str], day: date) -> pl.DataFrame:
    """`raw` (the raw layout) with each derived column (name -> ``content_hash`` or ``arrival_day``) filled for
    the rows that parsed, replacing whatever a source put there; rejected rows keep it null."""
    parsed = pl.col("_reject_reason").is_null()
    fills: list[pl.Expr] = []
    for name, how in derived.items():
        if how == "content_hash":
            value = pl.Series(name, content_hash_ids(raw, delivered), dtype=pl.String)
            fills.append(pl.when(parsed).then(pl.lit(value)).otherwise(None).alias(name))
        elif how == "arrival_day":
            stamp = f"{day.isoformat()}T00:00:00+00:00"
            fills.append(pl.when(parsed).then(pl.lit(stamp, pl.String)).otherwise(None).alias(name))
        else:
            raise ValueError(f"unknown derivation {how!r} of column {name!r}")
    return raw.with_columns(fills) if fills else raw
