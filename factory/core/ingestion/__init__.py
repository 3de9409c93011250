"""Ingestion: bytes from a source in, all-String raw rows out (CSV, JSON Lines, Parquet), every bad record
accounted for; the derived id and timestamp of data without them; and how landed rows enter preparation."""

from __future__ import annotations

from factory.core.ingestion._derived import ID_HEX_DIGITS, ID_PREFIX, content_hash_ids, with_derived
from factory.core.ingestion._landing import (
    FILE_PAYLOAD_BYTES,
    FILE_REJECT_REASONS,
    PROVENANCE,
    SplitRaw,
    as_raw,
    day_of_timestamps,
    fallback_day,
    file_reject,
    split_for_preparation,
)
from factory.core.ingestion._readers import (
    DEFAULT_MAX_FIELD_BYTES,
    LINE,
    REJECT_REASONS,
    Parsed,
    arrow_as_text,
    parse,
    parse_csv,
    parse_jsonl,
    parse_parquet,
    rows_as_text,
    text_column,
    values_as_text,
)

__all__ = [
    "DEFAULT_MAX_FIELD_BYTES",
    "FILE_PAYLOAD_BYTES",
    "FILE_REJECT_REASONS",
    "ID_HEX_DIGITS",
    "ID_PREFIX",
    "LINE",
    "PROVENANCE",
    "REJECT_REASONS",
    "Parsed",
    "SplitRaw",
    "arrow_as_text",
    "as_raw",
    "content_hash_ids",
    "day_of_timestamps",
    "fallback_day",
    "file_reject",
    "parse",
    "parse_csv",
    "parse_jsonl",
    "parse_parquet",
    "rows_as_text",
    "split_for_preparation",
    "text_column",
    "values_as_text",
    "with_derived",
]
