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

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

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


# --- CSV -------------------------------------------------------------------------------------------------


def _char(char: str) -> str:
    """`char` as a regex escape both Python's ``re`` and Rust's ``regex`` read the same way."""
    return f"\\U{ord(char):08X}"


def _field_pattern(delimiter: str, *, capture: bool) -> str:
    """One field: quoted (quotes doubled inside) or literal (not starting with a quote, no delimiter)."""
    d = _char(delimiter)
    group = "(" if capture else "(?:"
    return f'"{group}[^"]*(?:""[^"]*)*)"|{group}(?:[^"{d}\\n][^{d}\\n]*)?)'


def _line_pattern(delimiter: str) -> str:
    """A well-formed single-line record of any number of fields (for Polars)."""
    one = f"(?:{_field_pattern(delimiter, capture=False)})"
    return f"^{one}(?:{_char(delimiter)}{one})*$"


def _token_pattern(delimiter: str) -> str:
    """The delimiter and one field: in a well-formed record prefixed with the delimiter, the matches are its fields."""
    return f"{_char(delimiter)}(?:{_field_pattern(delimiter, capture=False)})"


def _tokenizer(delimiter: str) -> re.Pattern[str]:
    """Python twin of the Polars patterns: groups are quoted content, literal content, separator."""
    return re.compile(f"(?:{_field_pattern(delimiter, capture=True)})({_char(delimiter)}|\\Z)")


_MISPLACED_QUOTE = (
    "misplaced quote: a field that starts with a quote must end with a quote followed by the delimiter or the "
    "end of the line"
)


def _tokenize(record: str, tokenizer: re.Pattern[str]) -> list[str] | None:
    """The fields of `record`, or None when it is not well formed (Python twin of the Polars path)."""
    fields: list[str] = []
    position = 0
    while True:
        match = tokenizer.match(record, position)
        if match is None:
            return None
        quoted, literal, separator = match.group(1, 2, 3)
        fields.append(quoted.replace('""', '"') if quoted is not None else literal)
        if not separator:
            return fields
        position = match.end()


def _count_detail(width: int, found: int) -> str:
    return f"expected {width} fields as in the header, found {found}"


def _malformed_detail(record: str, tokenizer: re.Pattern[str], width: int) -> str:
    fields = _tokenize(record, tokenizer)
    return _MISPLACED_QUOTE if fields is None else _count_detail(width, len(fields))


@dataclass(frozen=True)
class _Header:
    names: list[str]
    positions: dict[str, int]  # expected column -> field index
    extra: tuple[str, ...]
    missing: tuple[str, ...]


def _header(lines: _Lines, index: int, expected: tuple[str, ...], tokenizer: re.Pattern[str]) -> _Header:
    where = f"line {index + 1} (the header)"
    if index in lines.raw:
        raise ValueError(f"{where} is {_utf8_detail(lines.raw[index])}")
    names = _tokenize(lines.get(index), tokenizer)
    if names is None:
        raise ValueError(f"{where} is not a well-formed CSV record (check its quotes)")
    doubled = sorted({name for name in names if name in expected and names.count(name) > 1})
    if doubled:
        raise ValueError(f"{where} names expected column(s) {', '.join(map(repr, doubled))} more than once")
    present = set(names)
    return _Header(
        names=names,
        positions={name: names.index(name) for name in expected if name in present},
        extra=tuple(dict.fromkeys(name for name in names if name not in expected)),
        missing=tuple(name for name in expected if name not in present),
    )


def _frame_multiline(
    lines: _Lines, odd: np.ndarray[Any, np.dtype[np.intp]], width: int, tokenizer: re.Pattern[str]
) -> tuple[list[tuple[int, list[str], str]], _Rejects, np.ndarray[Any, np.dtype[np.bool_]]]:
    """Visit the lines with an odd number of quotes (see the module docstring, step 2).

    Returns the records read here (first line index, fields, record text), the rejects, and a mask of the
    lines this step has dealt with.
    """
    done = np.zeros(len(lines), dtype=bool)
    records: list[tuple[int, list[str], str]] = []
    rejects = _Rejects()
    position = 0
    while position < len(odd):
        start = int(odd[position])
        if position + 1 < len(odd):
            end = int(odd[position + 1])
            record = lines.record(start, end)
            fields = _tokenize(record, tokenizer)
            if fields is not None and len(fields) == width:
                done[start : end + 1] = True
                invalid = [i for i in range(start, end + 1) if i in lines.raw]
                if invalid:
                    detail = f"line {invalid[0] + 1} of this record is {_utf8_detail(lines.raw[invalid[0]])}"
                    rejects.add(start + 1, "invalid_utf8", detail, _payload(record.encode("utf-8", "surrogateescape")))
                else:
                    records.append((start, fields, record))
                position += 2
                continue
        done[start] = True
        position += 1
        if start in lines.raw:
            rejects.add(start + 1, "invalid_utf8", _utf8_detail(lines.raw[start]), _payload(lines.raw[start]))
            continue
        alone = lines.get(start)
        fields = _tokenize(alone, tokenizer)
        if fields is not None and len(fields) == width:  # a literal quote inside an unquoted field
            records.append((start, fields, alone))
        elif fields is not None:
            rejects.add(start + 1, "malformed_line", _malformed_detail(alone, tokenizer, width), alone)
        else:
            rejects.add(start + 1, "malformed_line", _unterminated_detail(end_of_file=position >= len(odd)), alone)
    return records, rejects, done


def _unterminated_detail(*, end_of_file: bool) -> str:
    if end_of_file:
        return "unterminated quote: a quoted field opens on this line and no closing quote follows before the end"
    return "unterminated quote: a quoted field opens on this line and does not close into a well-formed record"


def _tokenize_lines(
    records: pl.DataFrame, delimiter: str, width: int, wanted: dict[str, int]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Single-line records (``_line``, ``_record``) tokenized in Polars (step 3 of the module docstring).

    Returns the well-formed records with the fields named in `wanted` (column -> field index), ``_line`` and
    ``_record``, and the malformed ones with ``_line``, ``_record`` and ``detail``.
    """
    checked = records.with_columns(pl.col("_record").str.contains(_line_pattern(delimiter)).alias("_ok"))
    well = checked.filter(pl.col("_ok")).with_columns(
        (pl.lit(delimiter) + pl.col("_record")).str.extract_all(_token_pattern(delimiter)).alias("_tokens")
    )
    counts = well["_tokens"].list.len()
    good = well.filter(counts == width)
    miscounted = well.filter(counts != width)
    malformed = pl.concat(
        [
            checked.filter(~pl.col("_ok")).select(LINE, "_record", detail=pl.lit(_MISPLACED_QUOTE)),
            miscounted.select(
                LINE,
                "_record",
                detail=pl.format(
                    "expected {} fields as in the header, found {}", pl.lit(width), pl.col("_tokens").list.len()
                ),
            ),
        ]
    )
    tokens = good["_tokens"].explode().str.slice(len(delimiter))
    quoted = tokens.str.starts_with('"')
    inner = tokens.str.slice(1, tokens.str.len_chars() - 2).str.replace_all('""', '"', literal=True)
    values = pl.select(pl.when(quoted).then(inner).otherwise(tokens)).to_series()
    fields = [values.gather_every(width, offset).alias(name) for name, offset in wanted.items()]
    return good.select(LINE, "_record").with_columns(fields), malformed


def parse_csv(
    data: bytes, columns: Sequence[str], *, delimiter: str = ",", max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES
) -> Parsed:
    """Parse CSV bytes with a header line into the `columns` (see the module docstring for the dialect)."""
    expected = _expected(columns)
    _check_limit(max_field_bytes)
    if len(delimiter) != 1 or delimiter in '"\r\n':
        raise ValueError(f"the delimiter must be one character other than a quote or a line break, got {delimiter!r}")
    _reject_utf16(data)
    data = data.removeprefix(_BOM)
    if not data:
        return Parsed(rows=_empty_rows(expected), rejects=_Rejects().frame(), missing_columns=expected)
    lines = _split_lines(data)
    blank = (lines.text == "").fill_null(False).to_numpy()
    filled = np.flatnonzero(~blank)
    if filled.size == 0:
        return Parsed(
            rows=_empty_rows(expected),
            rejects=_Rejects().frame(),
            missing_columns=expected,
            skipped_blank=len(lines),
        )
    tokenizer = _tokenizer(delimiter)
    first = int(filled[0])
    header = _header(lines, first, expected, tokenizer)
    width = len(header.names)

    quotes = lines.text.str.count_matches('"', literal=True).fill_null(0).to_numpy().copy()
    for index, piece in lines.raw.items():
        quotes[index] = piece.count(b'"')
    quotes[: first + 1] = 0
    records, rejects, done = _frame_multiline(lines, np.flatnonzero(quotes % 2 == 1), width, tokenizer)
    done[: first + 1] = True
    skipped_blank = int((blank & ~done).sum()) + first
    done |= blank

    invalid = [index for index in sorted(lines.raw) if not done[index]]
    for index in invalid:
        rejects.add(index + 1, "invalid_utf8", _utf8_detail(lines.raw[index]), _payload(lines.raw[index]))
        done[index] = True
    single = np.flatnonzero(~done)
    fields = {name: header.positions[name] for name in expected if name in header.positions}
    records_frame = pl.DataFrame(
        [pl.Series(LINE, single + 1, dtype=pl.Int64), lines.text.gather(single).alias("_record")]
    )
    tokenized, malformed = _tokenize_lines(records_frame, delimiter, width, fields)
    for line, record, detail in malformed.iter_rows():
        rejects.add(line, "malformed_line", detail, record)
    parsed = pl.concat(
        [
            tokenized.select(*fields, LINE, "_record"),
            pl.DataFrame(
                {
                    **{name: [values[position] for _, values, _ in records] for name, position in fields.items()},
                    LINE: [start + 1 for start, _, _ in records],
                    "_record": [record for _, _, record in records],
                },
                schema={**dict.fromkeys(fields, pl.String), LINE: pl.Int64, "_record": pl.String},
            ),
        ]
    )
    parsed = _reject_large(parsed, list(fields), max_field_bytes, rejects)
    rows = parsed.select(
        *(pl.col(name) if name in fields else pl.lit(None, pl.String).alias(name) for name in expected), LINE
    ).sort(LINE)
    return Parsed(
        rows=rows,
        rejects=rejects.frame(),
        extra_columns=header.extra,
        missing_columns=header.missing,
        skipped_blank=skipped_blank,
    )


def _reject_large(parsed: pl.DataFrame, names: list[str], limit: int, rejects: _Rejects) -> pl.DataFrame:
    """`parsed` without the records holding a value over `limit` bytes, which go to `rejects`."""
    if not names:
        return parsed
    large = pl.any_horizontal(pl.col(name).str.len_bytes() > limit for name in names).fill_null(False)
    for row in parsed.filter(large).iter_rows(named=True):
        name = next(n for n in names if row[n] is not None and len(row[n].encode("utf-8")) > limit)
        detail = _size_detail(name, len(row[name].encode("utf-8")), limit)
        rejects.add(row[LINE], "field_too_large", detail, row["_record"])
    return parsed.filter(~large)


# --- JSON Lines ------------------------------------------------------------------------------------------


class _Number(str):
    """A JSON number, kept exactly as written."""

    __slots__ = ()


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"key {key!r} appears twice in one object")
            seen.add(key)
    return result


_DECODER = json.JSONDecoder(
    parse_int=_Number, parse_float=_Number, parse_constant=_no_constant, object_pairs_hook=_object
)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def _compact(value: Any) -> str:
    """Compact JSON for a decoded value, numbers as written."""
    if isinstance(value, _Number):
        return str.__str__(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        items = (json.dumps(key, ensure_ascii=False) + ":" + _compact(item) for key, item in value.items())
        return "{" + ",".join(items) + "}"
    return "[" + ",".join(_compact(item) for item in value) + "]"


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return _compact(value)


def _json_problem(line: str) -> tuple[dict[str, str | None] | None, str]:
    """The object on `line` with its values as text, or None and why it is not one."""
    try:
        decoded = _DECODER.decode(line)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc.msg} at column {exc.colno}"
    except ValueError as exc:
        return None, f"not valid JSON: {exc}"
    except RecursionError:
        return None, "not valid JSON: nested too deeply"
    if not isinstance(decoded, dict):
        kind = {list: "an array", _Number: "a number", str: "a string", bool: "a boolean"}.get(type(decoded), "null")
        return None, f"the line holds {kind}, not a JSON object"
    try:
        values = {key: _json_text(value) for key, value in decoded.items()}
    except RecursionError:
        return None, "not valid JSON: nested too deeply"
    if _SURROGATE_ESCAPE.search(line):
        for text in (*values, *(value for value in values.values() if value is not None)):
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                return None, "a string holds an unpaired UTF-16 surrogate escape (\\ud800-\\udfff)"
    return values, ""


def _too_large(value: str | None, limit: int) -> int | None:
    """The byte size of `value` when it is over `limit`, else None (encodes only when it has to)."""
    if value is None or len(value) * 4 <= limit:
        return None
    size = len(value.encode("utf-8"))
    return size if size > limit else None


def parse_jsonl(data: bytes, columns: Sequence[str], *, max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES) -> Parsed:
    """Parse JSON Lines: one object a line, keys are columns (see the module docstring)."""
    expected = _expected(columns)
    _check_limit(max_field_bytes)
    _reject_utf16(data)
    data = data.removeprefix(_BOM)
    if not data:
        return Parsed(rows=_empty_rows(expected), rejects=_Rejects().frame(), missing_columns=expected)
    lines = _split_lines(data)
    rejects = _Rejects()
    values: dict[str, list[str | None]] = {name: [] for name in expected}
    numbers: list[int] = []
    keys: dict[str, None] = {}
    skipped_blank = 0
    for index, line in enumerate(lines.text.to_list()):
        if line is None:
            raw = lines.raw[index]
            rejects.add(index + 1, "invalid_utf8", _utf8_detail(raw), _payload(raw))
            continue
        if not line.strip(" \t\r"):
            skipped_blank += 1
            continue
        record, problem = _json_problem(line)
        if record is None:
            rejects.add(index + 1, "malformed_json", problem, line)
            continue
        keys.update(dict.fromkeys(record))
        sizes = ((name, _too_large(record.get(name), max_field_bytes)) for name in expected)
        large = next(((name, size) for name, size in sizes if size is not None), None)
        if large is not None:
            rejects.add(index + 1, "field_too_large", _size_detail(*large, max_field_bytes), line)
            continue
        for name in expected:
            values[name].append(record.get(name))
        numbers.append(index + 1)
    rows = pl.DataFrame({**values, LINE: numbers}, schema={**dict.fromkeys(expected, pl.String), LINE: pl.Int64})
    return Parsed(
        rows=rows,
        rejects=rejects.frame(),
        extra_columns=tuple(key for key in keys if key not in expected),
        missing_columns=tuple(name for name in expected if name not in keys),
        skipped_blank=skipped_blank,
    )


# --- Parquet ---------------------------------------------------------------------------------------------


def _binary_as_text(values: pl.Series) -> tuple[pl.Series, list[int]]:
    """UTF-8 text of a Binary column, null where invalid, and the positions of the invalid values."""
    texts: list[str | None] = []
    invalid: list[int] = []
    for index, value in enumerate(values.to_list()):
        if value is None:
            texts.append(None)
            continue
        try:
            texts.append(value.decode("utf-8"))
        except UnicodeDecodeError:
            texts.append(None)
            invalid.append(index)
    return pl.Series(values.name, texts, dtype=pl.String), invalid


def _arrow_column_as_text(column: pa.ChunkedArray, name: str, *, keep_binary: bool = False) -> pl.Series:
    """One Arrow column as text; Arrow types Polars cannot hold are rendered value by value.

    With `keep_binary`, a Binary column is returned as it is, for a caller that decodes it as UTF-8.
    """
    try:
        series = pl.Series(name, column)
    except (pl.exceptions.PolarsError, pa.ArrowException, TypeError, ValueError):
        return values_as_text(column.to_pylist()).alias(name)
    if keep_binary and isinstance(series.dtype, pl.Binary):
        return series
    return text_column(series)


def parse_parquet(data: bytes, columns: Sequence[str], *, max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES) -> Parsed:
    """Parse a Parquet file; typed values become text as `text_column` renders them; ``_line`` is 0-based."""
    expected = _expected(columns)
    _check_limit(max_field_bytes)
    if not data:
        return Parsed(rows=_empty_rows(expected), rejects=_Rejects().frame(), missing_columns=expected)
    try:
        with pq.ParquetFile(pa.BufferReader(data)) as file:  # not read_table: its dataset layer is slow to load
            table = file.read()
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"not a readable Parquet file: {exc}") from exc
    names = table.column_names
    doubled = sorted({name for name in names if name in expected and names.count(name) > 1})
    if doubled:
        raise ValueError(f"the Parquet schema names expected column(s) {', '.join(map(repr, doubled))} twice")
    present = [name for name in expected if name in names]
    texts = {name: _arrow_column_as_text(table.column(name), name, keep_binary=True) for name in present}
    rejects = _Rejects()
    bad: dict[int, tuple[str, str]] = {}
    for name in present:
        if isinstance(texts[name].dtype, pl.Binary):
            raw_values = texts[name]
            texts[name], invalid = _binary_as_text(raw_values)
            for index in invalid:
                value = raw_values[index]
                bad.setdefault(index, ("invalid_utf8", f"column {name!r} is {_utf8_detail(value)}"))
    frame = pl.DataFrame(
        [*(texts[name] for name in present), pl.Series(LINE, range(table.num_rows), dtype=pl.Int64)]
    ).with_columns(pl.lit(None, pl.String).alias(name) for name in expected if name not in texts)
    large = frame.filter(
        pl.any_horizontal(pl.col(name).str.len_bytes() > max_field_bytes for name in present).fill_null(False)
    )
    for row in large.iter_rows(named=True):
        name = next(n for n in present if row[n] is not None and len(row[n].encode("utf-8")) > max_field_bytes)
        detail = _size_detail(name, len(row[name].encode("utf-8")), max_field_bytes)
        bad.setdefault(row[LINE], ("field_too_large", detail))
    if bad:
        originals = table.select(present).take(pa.array(sorted(bad))).to_pylist()
        for index, original in zip(sorted(bad), originals, strict=True):
            payload = json.dumps(original, ensure_ascii=False, separators=(",", ":"), default=_payload_default)
            rejects.add(index, *bad[index], payload)
    rows = frame.filter(~pl.col(LINE).is_in(list(bad))).select(*expected, LINE)
    return Parsed(
        rows=rows,
        rejects=rejects.frame(),
        extra_columns=tuple(dict.fromkeys(name for name in names if name not in expected)),
        missing_columns=tuple(name for name in expected if name not in names),
    )


def parse(
    data: bytes,
    fmt: Literal["csv", "jsonl", "parquet"],
    columns: Sequence[str],
    *,
    max_field_bytes: int = DEFAULT_MAX_FIELD_BYTES,
) -> Parsed:
    """Parse `data` in format `fmt` (CSV with a comma delimiter)."""
    if fmt == "csv":
        return parse_csv(data, columns, max_field_bytes=max_field_bytes)
    if fmt == "jsonl":
        return parse_jsonl(data, columns, max_field_bytes=max_field_bytes)
    if fmt == "parquet":
        return parse_parquet(data, columns, max_field_bytes=max_field_bytes)
    raise ValueError(f"unknown format {fmt!r}; expected one of 'csv', 'jsonl', 'parquet'")


# --- typed values as text --------------------------------------------------------------------------------


def _datetime_text(series: pl.Series) -> pl.Series:
    dtype = series.dtype
    assert isinstance(dtype, pl.Datetime)
    if dtype.time_zone is not None:
        series = series.dt.convert_time_zone("UTC")
    offset = "%:z" if dtype.time_zone is not None else ""
    base = "%Y-%m-%dT%H:%M:%S"
    fraction = series.dt.nanosecond()
    return pl.select(
        pl.when(fraction == 0)
        .then(series.dt.to_string(base + offset))
        .when(fraction % 1000 == 0)
        .then(series.dt.to_string(base + "%.6f" + offset))
        .otherwise(series.dt.to_string(base + "%.9f" + offset))
    ).to_series()


def _time_text(series: pl.Series) -> pl.Series:
    fraction = series.dt.nanosecond()
    return pl.select(
        pl.when(fraction == 0)
        .then(series.dt.to_string("%H:%M:%S"))
        .when(fraction % 1000 == 0)
        .then(series.dt.to_string("%H:%M:%S%.6f"))
        .otherwise(series.dt.to_string("%H:%M:%S%.9f"))
    ).to_series()


def _nested_text(series: pl.Series) -> pl.Series:
    encoded = series.to_frame("v").select(pl.struct("v").struct.json_encode()).to_series()
    inner = encoded.str.slice(5, encoded.str.len_chars() - 6)  # strip '{"v":' and '}'
    return pl.select(pl.when(series.is_null()).then(None).otherwise(inner)).to_series()


def text_column(series: pl.Series) -> pl.Series:
    """`series` rendered as text (see "Text rendering" in the module docstring), same name, nulls kept."""
    dtype = series.dtype
    if isinstance(dtype, pl.String):
        result = series
    elif isinstance(dtype, pl.Datetime):
        result = _datetime_text(series)
    elif isinstance(dtype, pl.Date):
        result = series.dt.to_string("%Y-%m-%d")
    elif isinstance(dtype, pl.Time):
        result = _time_text(series)
    elif isinstance(dtype, pl.Duration):
        result = series.dt.to_string("iso")
    elif isinstance(dtype, pl.Binary):
        result = pl.select(pl.lit("\\x") + series.bin.encode("hex")).to_series()
    elif isinstance(dtype, (pl.List, pl.Array, pl.Struct)):
        result = _nested_text(series)
    elif isinstance(dtype, pl.Object):
        result = pl.Series(values=[None if v is None else str(v) for v in series.to_list()], dtype=pl.String)
    else:  # numbers, booleans, decimals, categoricals, enums and nulls cast to text as written
        result = series.cast(pl.String)
    return result.alias(series.name)


def _decimal_text(value: Decimal) -> str:
    return format(value, "f")


def _json_default(value: object) -> str:
    """Leaves json.dumps cannot write itself, as text."""
    text = values_as_text([value])[0]
    assert isinstance(text, str)
    return text


def _payload_default(value: object) -> str:
    """Like `_json_default`, but bytes as they read in UTF-8 (invalid bytes backslash-escaped), for payloads."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return _json_default(value)


def values_as_text(values: Sequence[object]) -> pl.Series:
    """Python values (as SQL drivers return them) rendered as text, like `text_column` renders typed columns.

    Values are grouped by type and each group is rendered at once, so a dynamically typed column (SQLite)
    renders every value the way a typed column of its type would.
    """
    out: list[str | None] = [None] * len(values)
    groups: dict[str, tuple[list[int], list[Any]]] = {}

    def later(kind: str, index: int, value: Any) -> None:
        positions, items = groups.setdefault(kind, ([], []))
        positions.append(index)
        items.append(value)

    for index, value in enumerate(values):
        if value is None:
            continue
        if isinstance(value, str):
            out[index] = str.__str__(value)
        elif isinstance(value, bool):
            out[index] = "true" if value else "false"
        elif isinstance(value, int):
            out[index] = int.__repr__(value)
        elif isinstance(value, float):
            later("float", index, value)
        elif isinstance(value, Decimal):
            out[index] = _decimal_text(value)
        elif isinstance(value, datetime):
            if value.tzinfo is not None and value.utcoffset() is not None:
                later("datetime_utc", index, value.astimezone(UTC).replace(tzinfo=None))
            else:
                later("datetime", index, value)
        elif isinstance(value, (date, time)):
            out[index] = value.isoformat()
        elif isinstance(value, timedelta):
            later("duration", index, value)
        elif isinstance(value, (bytes, bytearray, memoryview)):
            out[index] = "\\x" + bytes(value).hex()
        elif isinstance(value, (dict, list, tuple)):
            out[index] = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)
        else:
            out[index] = str(value)
    dtypes: dict[str, pl.DataType] = {
        "float": pl.Float64(),
        "datetime": pl.Datetime("us"),
        "datetime_utc": pl.Datetime("us"),
        "duration": pl.Duration("us"),
    }
    for kind, (positions, items) in groups.items():
        series = pl.Series(values=items, dtype=dtypes[kind])
        if kind == "datetime_utc":
            series = series.dt.replace_time_zone("UTC")
        for position, text in zip(positions, text_column(series).to_list(), strict=True):
            out[position] = text
    return pl.Series(values=out, dtype=pl.String)


def _check_result_names(names: Sequence[str]) -> None:
    doubled = sorted({name for name in names if list(names).count(name) > 1})
    if doubled:
        raise ValueError(f"the result names column(s) {', '.join(map(repr, doubled))} more than once: alias them")
    if LINE in names:
        raise ValueError(f"the result has a column named {LINE!r}, which is reserved for row numbers: alias it")


def rows_as_text(names: Sequence[str], rows: Sequence[Sequence[object]]) -> pl.DataFrame:
    """Rows of Python values (a SQL result) as an all-String frame plus ``_line`` (0-based row index).

    Raises ValueError when a column name repeats or is ``_line``: the query should alias it.
    """
    _check_result_names(names)
    columns = [values_as_text([row[k] for row in rows]).alias(name) for k, name in enumerate(names)]
    return pl.DataFrame([*columns, pl.Series(LINE, range(len(rows)), dtype=pl.Int64)])


def arrow_as_text(table: pa.Table) -> pl.DataFrame:
    """An Arrow table (a SQL result) as an all-String frame plus ``_line`` (0-based row index).

    Raises ValueError when a column name repeats or is ``_line``: the query should alias it.
    """
    names = table.column_names
    _check_result_names(names)
    columns = [_arrow_column_as_text(table.column(k), name) for k, name in enumerate(names)]
    return pl.DataFrame([*columns, pl.Series(LINE, range(table.num_rows), dtype=pl.Int64)])
