"""CSV: a delimiter-aware tokenizer that keeps every malformed line as a reject with its reason."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from factory.core.ingestion._common import (
    _BOM,
    DEFAULT_MAX_FIELD_BYTES,
    LINE,
    Parsed,
    _check_limit,
    _empty_rows,
    _expected,
    _Lines,
    _payload,
    _reject_utf16,
    _Rejects,
    _size_detail,
    _split_lines,
    _utf8_detail,
)

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
