"""Landing: how delivered records become raw rows, and how a day's raw rows enter preparation.

A raw row is everything a source delivered for one record: the schema's columns as text, where it came
from (``_file``, ``_line``), and, when the record could not even be parsed (bad UTF-8, a malformed CSV
line), the reason and the raw payload instead of columns. Keeping those rejects in ``raw`` is what lets
the preparation layer prove that every delivered record ends in exactly one place.

A file that cannot be taken at all (`FILE_REJECT_REASONS`: it does not parse as its format, or, for a
source partitioned by file date, its name holds no usable date) lands as one reject row for the whole
file, ``_line`` 0, with the reason, a detail naming the problem and the start of its bytes as payload
(`file_reject`); the other files of the day go on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import polars as pl

__all__ = [
    "FILE_PAYLOAD_BYTES",
    "FILE_REJECT_REASONS",
    "PROVENANCE",
    "SplitRaw",
    "as_raw",
    "day_of_timestamps",
    "fallback_day",
    "file_reject",
    "split_for_preparation",
]

PROVENANCE = ("_file", "_line", "_reject_reason", "_reject_detail", "_payload")
FILE_REJECT_REASONS: tuple[str, ...] = ("unreadable_file", "bad_file_date", "no_file_date")
"""Reason codes of a whole file set aside: not its format or not readable as it (a text file named
``.parquet``, a CSV header that is not UTF-8), a date in its name that is no calendar date (``2026-02-30``),
no date in its name where the source is partitioned by file date."""
FILE_PAYLOAD_BYTES = 64 * 1024
"""How much of a rejected file's bytes its reject row keeps as payload (the file itself stays where it is)."""


def as_raw(
    rows: pl.DataFrame, columns: Sequence[str], *, file: str | None = None, rejects: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Parsed rows (schema columns as text plus ``_line``) and parser rejects as one raw frame."""
    text = [pl.col(c).cast(pl.String) if c in rows.columns else pl.lit(None, pl.String).alias(c) for c in columns]
    parsed = rows.select(
        *text,
        pl.lit(file, pl.String).alias("_file"),
        pl.col("_line").cast(pl.Int64),
        pl.lit(None, pl.String).alias("_reject_reason"),
        pl.lit(None, pl.String).alias("_reject_detail"),
        pl.lit(None, pl.String).alias("_payload"),
    )
    if rejects is None or rejects.is_empty():
        return parsed
    failed = rejects.select(
        *(pl.lit(None, pl.String).alias(c) for c in columns),
        pl.lit(file, pl.String).alias("_file"),
        pl.col("_line").cast(pl.Int64),
        pl.col("reason").alias("_reject_reason"),
        pl.col("detail").alias("_reject_detail"),
        pl.col("payload").alias("_payload"),
    )
    return pl.concat([parsed, failed]).sort("_line")


def file_reject(columns: Sequence[str], *, file: str, reason: str, detail: str, data: bytes) -> pl.DataFrame:
    """One raw reject row standing for the whole `file` (``_line`` 0): `reason` from `FILE_REJECT_REASONS`,
    `detail` for a person, and the first `FILE_PAYLOAD_BYTES` of `data` as payload (undecodable bytes as
    ``\\x..`` escapes)."""
    if reason not in FILE_REJECT_REASONS:
        raise ValueError(f"unknown file reject reason {reason!r}; expected one of {list(FILE_REJECT_REASONS)}")
    head = data[:FILE_PAYLOAD_BYTES].decode("utf-8", errors="backslashreplace")
    if len(data) > FILE_PAYLOAD_BYTES:
        detail += f" (payload: the first {FILE_PAYLOAD_BYTES:,} of {len(data):,} bytes)"
    rejects = pl.DataFrame({"_line": [0], "reason": [reason], "detail": [detail], "payload": [head]})
    return as_raw(pl.DataFrame({"_line": []}), columns, file=file, rejects=rejects)


def day_of_timestamps(values: pl.Series) -> pl.Series:
    """The UTC day of each ISO-8601 timestamp text; null where it does not parse."""
    parsed = values.str.to_datetime(time_zone="UTC", strict=False, time_unit="us")
    return parsed.dt.date()


@dataclass(frozen=True)
class SplitRaw:
    """A day's raw rows, readied for ``prepare_batch``: identity ``_line`` is the row's position in the day."""

    parseable: pl.DataFrame  # schema columns + _line (identity)
    rejected: pl.DataFrame  # quarantine rows for records that never parsed, in the quarantine's shape
    provenance: pl.DataFrame  # _line (identity) -> source, source_file, source_line


def split_for_preparation(raw: pl.DataFrame, columns: Sequence[str], id_column: str) -> SplitRaw:
    """Give every raw row of a day one identity, and set aside the rows a parser already rejected."""
    ordered = raw.sort("source", "_file", "_line", nulls_last=True).with_row_index("_identity")
    ordered = ordered.with_columns(pl.col("_identity").cast(pl.Int64))
    provenance = ordered.select(
        pl.col("_identity").alias("_line"),
        "source",
        pl.col("_file").alias("source_file"),
        pl.col("_line").alias("source_line"),
    )
    bad = pl.col("_reject_reason").is_not_null()
    parseable = ordered.filter(~bad).select(*columns, pl.col("_identity").alias("_line"))
    rejected = ordered.filter(bad).select(
        pl.col("_identity").alias("_line"),
        pl.lit(None, pl.String).alias(id_column),
        pl.col("_reject_reason").alias("reason"),
        pl.col("_reject_detail").alias("detail"),
        pl.col("_payload").alias("payload"),
    )
    return SplitRaw(parseable, rejected, provenance)


def fallback_day(file_date: date | None, days: pl.Series) -> date | None:
    """Where a file's rows without a usable timestamp go: its file date, else its earliest dated row."""
    if file_date is not None:
        return file_date
    present = days.drop_nulls()
    return present.min() if present.len() else None  # type: ignore[return-value]
