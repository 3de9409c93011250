"""Bytes in, raw rows out: CSV, JSON Lines and Parquet parsed into all-String frames, every bad record accounted for.

A parser answers with a `Parsed`: ``rows`` holds the expected columns (all ``pl.String``, in the order asked
for) plus ``_line``; ``rejects`` holds every record that could not become a row, with a reason code from
`REJECT_REASONS`, a detail a person can act on and the raw record as text. Nothing is dropped silently:

    records in the file == rows.height + rejects.height + skipped_blank

(for CSV the header is not a record, and a record whose quoted field spans several physical lines is one
record, numbered by its first line).

Whole-file problems have no row-level answer and raise ValueError naming the problem: a CSV header that is
not valid UTF-8 or not well formed, an expected column named twice in a header, a file that is UTF-16, a
Parquet file that cannot be opened. An empty or zero-byte file is not a problem: it parses to zero rows.

A missing expected column is not a reject: it comes through as null in every row (the preparation layer
quarantines required nulls as ``missing_required``) and is reported in ``missing_columns``. Columns present
but not expected are left out of ``rows`` and reported in ``extra_columns``. ``max_field_bytes`` applies to
the values of expected columns (the values that would be stored).

CSV dialect and how it is read
------------------------------
RFC 4180 with one common leniency: fields are separated by a one-character delimiter; a field that starts
with a double quote is quoted (``""`` inside it is one quote; it may hold delimiters and line breaks) and must
end with a quote followed by the delimiter or the end of the record; a field that does not start with a quote
is taken literally up to the next delimiter, quote characters included (``5'11"``). Lines end in ``\\n`` or
``\\r\\n``; a line that is empty is skipped (counted in ``skipped_blank``; in a one-column file too, where it
could have meant an empty value). The first non-empty line is the header. Empty fields are empty strings, not
nulls. ``_line`` is the 1-based physical line where a record starts (the header is a line, not a record).

One parser serves clean and dirty files alike, so a line gets the same verdict whatever else the file holds:

1. Lines are split and decoded in one pass (Polars); only if the file is not valid UTF-8 are lines decoded
   one by one to find the bad ones.
2. Records are framed by quote parity: a line with an even number of quote characters is a record on its
   own; a line with an odd number opens a quoted field that the next odd line closes. Only odd lines are
   visited in Python. If the lines from one odd line to the next do not form a well-formed record with the
   header's number of fields, the opening line alone is rejected ``malformed_line`` (an unterminated quote)
   and reading resumes on the next line, so one stray quote costs one line, not the rest of the file. (The
   price of resuming: when a genuine multi-line record is broken some other way, its continuation lines are
   read as records of their own, and each becomes a row or a reject on its own merits.)
3. Single-line records are tokenized in Polars (Rust), whatever the number of columns: one regular
   expression checks that a record is well formed, a second one (``extract_all`` over the record prefixed
   with the delimiter) cuts it into fields, and the field count is compared with the header's.

On the 2-core reference machine this reads 100k lines of ~300 characters, every one with a quoted field, in
about half a second (``bench/`` holds no benchmark for it yet).

JSON Lines
----------
Every non-blank line must be one JSON object; anything else is ``malformed_json`` (as are duplicate keys,
``NaN``/``Infinity`` and strings holding an unpaired surrogate escape). Values become text: strings as they
are, numbers exactly as written, ``true``/``false``, null as null, arrays and objects as compact JSON. A key
missing from some objects is null there; ``missing_columns`` lists the expected keys no object has, and
``extra_columns`` the other keys, in order of first appearance. Lines that hold only whitespace are blank.
Parquet rows are numbered from 0 (``_line`` is the row index).

Text rendering of typed values (Parquet, SQL sources)
-----------------------------------------------------
`text_column` and `values_as_text` define one rendering for typed values: integers and decimals in full,
floats in their shortest round-trip form, booleans as ``true``/``false``, timestamps as ISO 8601 (with an
offset, in UTC, when the value is zone-aware; fractional seconds only when non-zero), dates and times in ISO
8601, durations as ISO 8601 durations, nested values as compact JSON, and bytes (from SQL) as ``\\x`` plus hex,
PostgreSQL's text form of ``bytea``. Parquet binary columns are read as UTF-8 text (old writers store strings
that way) and a value that is not valid UTF-8 rejects its row ``invalid_utf8``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from factory.core.ingestion._common import DEFAULT_MAX_FIELD_BYTES, LINE, REJECT_REASONS, Parsed
from factory.core.ingestion._csv import parse_csv
from factory.core.ingestion._jsonl import parse_jsonl
from factory.core.ingestion._parquet import parse_parquet
from factory.core.ingestion._text import arrow_as_text, rows_as_text, text_column, values_as_text

__all__ = [
    "DEFAULT_MAX_FIELD_BYTES",
    "LINE",
    "REJECT_REASONS",
    "Parsed",
    "arrow_as_text",
    "parse",
    "parse_csv",
    "parse_jsonl",
    "parse_parquet",
    "rows_as_text",
    "text_column",
    "values_as_text",
]


def parse(
    data: bytes,
    fmt: Literal["csv", "jsonl", "parquet"],
    columns: Sequence[str],
    *,
    delimiter: str = ",",
    max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES,
) -> Parsed:
    """Parse `data` in format `fmt` (`delimiter` separates the fields of a CSV; other formats ignore it)."""
    if fmt == "csv":
        return parse_csv(data, columns, delimiter=delimiter, max_field_bytes=max_field_bytes)
    if fmt == "jsonl":
        return parse_jsonl(data, columns, max_field_bytes=max_field_bytes)
    if fmt == "parquet":
        return parse_parquet(data, columns, max_field_bytes=max_field_bytes)
    raise ValueError(f"unknown format {fmt!r}; expected one of 'csv', 'jsonl', 'parquet'")
