"""Typed values as text: one rendering shared by Parquet, SQL sources and JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import polars as pl
import pyarrow as pa

from factory.core.ingestion._common import LINE

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
