"""JSON Lines: one object per line, values rendered as text exactly as written."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import polars as pl

from factory.core.ingestion._common import (
    _BOM,
    DEFAULT_MAX_FIELD_BYTES,
    LINE,
    Parsed,
    _check_limit,
    _empty_rows,
    _expected,
    _payload,
    _reject_utf16,
    _Rejects,
    _size_detail,
    _split_lines,
    _utf8_detail,
)

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
