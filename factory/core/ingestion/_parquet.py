"""Parquet: columns rendered as text, binary columns read as UTF-8."""

from __future__ import annotations

import json
from collections.abc import Sequence

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from factory.core.ingestion._common import (
    DEFAULT_MAX_FIELD_BYTES,
    LINE,
    Parsed,
    _check_limit,
    _empty_rows,
    _expected,
    _Rejects,
    _size_detail,
    _utf8_detail,
)
from factory.core.ingestion._text import _arrow_column_as_text, _binary_as_text, _payload_default

# --- Parquet ---------------------------------------------------------------------------------------------


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
