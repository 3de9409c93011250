"""What every reader shares: the parse outcome, reject bookkeeping, limits and line splitting."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

LINE = "_line"
DEFAULT_MAX_FIELD_BYTES = 16 * 1024 * 1024
REJECT_REASONS: tuple[str, ...] = ("invalid_utf8", "malformed_line", "malformed_json", "field_too_large")
"""Reason codes of `Parsed.rejects`."""

_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_REJECT_SCHEMA = {LINE: pl.Int64, "reason": pl.String, "detail": pl.String, "payload": pl.String}


@dataclass(frozen=True)
class Parsed:
    """The outcome of parsing one file; see the module docstring for what each part holds."""

    rows: pl.DataFrame
    rejects: pl.DataFrame
    extra_columns: tuple[str, ...] = ()
    missing_columns: tuple[str, ...] = ()
    skipped_blank: int = 0

    @property
    def records(self) -> int:
        """Every record read: rows, rejects and skipped blank lines (the header is not a record)."""
        return self.rows.height + self.rejects.height + self.skipped_blank


@dataclass
class _Rejects:
    lines: list[int] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    payloads: list[str] = field(default_factory=list)

    def add(self, line: int, reason: str, detail: str, payload: str) -> None:
        self.lines.append(line)
        self.reasons.append(reason)
        self.details.append(detail)
        self.payloads.append(payload)

    def frame(self) -> pl.DataFrame:
        frame = pl.DataFrame(
            {LINE: self.lines, "reason": self.reasons, "detail": self.details, "payload": self.payloads},
            schema=_REJECT_SCHEMA,
        )
        return frame.sort(LINE)


# --- shared ----------------------------------------------------------------------------------------------


def _expected(columns: Sequence[str]) -> tuple[str, ...]:
    if isinstance(columns, str):
        raise TypeError("columns must be a sequence of column names, not one string")
    names = tuple(columns)
    problems = [f"column {name!r} is expected twice" for name in sorted(set(names)) if names.count(name) > 1]
    problems += [f"{LINE!r} is reserved for line numbers" for name in names if name == LINE]
    problems += ["a column name is empty" for name in names if not name]
    if problems:
        raise ValueError("; ".join(problems))
    return names


def _check_limit(max_field_bytes: int) -> None:
    if max_field_bytes < 1:
        raise ValueError(f"max_field_bytes must be positive, got {max_field_bytes}")


def _empty_rows(columns: Sequence[str]) -> pl.DataFrame:
    return pl.DataFrame(schema={**dict.fromkeys(columns, pl.String), LINE: pl.Int64})


def _reject_utf16(data: bytes) -> None:
    if data.startswith(_UTF16_BOMS):
        raise ValueError("the file starts with a UTF-16 byte-order mark; only UTF-8 is read: convert it to UTF-8")


def _payload(raw: bytes) -> str:
    return raw.decode("utf-8", "backslashreplace")


def _utf8_detail(raw: bytes) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.end].hex(" ")
        return f"not valid UTF-8: byte(s) {bad} at byte offset {exc.start} ({exc.reason})"
    return "not valid UTF-8"


def _size_detail(name: str, size: int, limit: int) -> str:
    return f"column {name!r} holds {size:,} bytes, over the limit of {limit:,} bytes"


@dataclass(frozen=True)
class _Lines:
    """Physical lines without their terminator (``\\n``, and a ``\\r`` before it)."""

    text: pl.Series  # String; null where the line is not valid UTF-8
    had_cr: np.ndarray[Any, np.dtype[np.bool_]]
    raw: dict[int, bytes]  # the bytes (terminator stripped) of the lines that are not valid UTF-8

    def __len__(self) -> int:
        return self.text.len()

    def get(self, index: int) -> str:
        """Line `index` as text; bytes that are not UTF-8 are kept as lone surrogates (surrogateescape)."""
        raw = self.raw.get(index)
        if raw is not None:
            return raw.decode("utf-8", "surrogateescape")
        value = self.text[index]
        assert isinstance(value, str)
        return value

    def record(self, start: int, end: int) -> str:
        """Lines `start` to `end` (inclusive) joined by their own line breaks, as `get` renders each line."""
        texts = self.text.slice(start, end - start + 1).to_list()
        parts = [
            (self.get(index) if text is None else text) + ("\r" if self.had_cr[index] and index < end else "")
            for index, text in enumerate(texts, start)
        ]
        return "\n".join(parts)


def _split_lines(data: bytes) -> _Lines:
    """Split `data` (BOM already stripped, not empty) into lines, decoding in one pass when it is valid UTF-8."""
    raw: dict[int, bytes] = {}
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        decoded: list[str | None] = []
        for index, piece in enumerate(data.split(b"\n")):
            try:
                decoded.append(piece.decode("utf-8"))
            except UnicodeDecodeError:
                decoded.append(None)
                raw[index] = piece
        lines = pl.Series("line", decoded, dtype=pl.String)
    else:
        lines = pl.Series("line", [text]).str.split("\n").explode()
    if data.endswith(b"\n"):
        lines = lines.head(lines.len() - 1)
    had_cr = lines.str.ends_with("\r").fill_null(False).to_numpy().copy()
    for index, piece in raw.items():
        had_cr[index] = piece.endswith(b"\r")
        raw[index] = piece.removesuffix(b"\r")
    return _Lines(text=lines.str.strip_suffix("\r"), had_cr=had_cr, raw=raw)
