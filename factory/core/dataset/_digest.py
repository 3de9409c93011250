"""Order-independent content digest of a Polars frame.

The digest is the hex SHA-256 of a canonical serialization:

1. a header line, the JSON of ``{"format": ..., "columns": [[name, dtype], ...]}`` in column order, so a
   renamed, added, removed or reordered column, or a changed dtype, changes the digest;
2. the rows, sorted by ``key_columns`` (and, only when those keys repeat, by every column, so ties are
   broken canonically too), written as NDJSON by Polars in chunks of 50,000 rows and fed to the hash
   incrementally.

Before writing, top-level columns are mapped to exact forms that do not depend on Polars' text formatting:
floats become the integer bit pattern of the IEEE-754 value (so ``NaN``, ``inf``, ``-0.0`` and null stay
distinct, which the JSON writer alone would merge into ``null``), temporal columns become their physical
integer (days, or ticks in the unit the dtype names), Categorical and Enum become their text, Binary becomes
hex. Strings, integers, booleans and decimals are written by Polars as JSON strings, integers and literals,
whose form is fixed by the JSON grammar.

Why NDJSON and not Arrow IPC or ``pl.hash_rows``: the hash functions of Polars are documented as unstable
across versions, and IPC bytes carry buffer layout, padding and metadata that change with writers and
chunking. Caveats that remain: the header uses ``str(dtype)`` (stable across the Polars versions we have
used, but a change there would change every digest; the golden test in ``factory_tests/core/test_digest.py``
catches it), and values nested inside List, Array or Struct columns go through Polars' JSON writer as they
are, so a nested NaN or infinity is written as ``null``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

import numpy as np
import polars as pl

__all__ = ["frame_digest"]

_FORMAT = "factory-frame-digest/1"
_CHUNK_ROWS = 50_000


def frame_digest(frame: pl.DataFrame, key_columns: Sequence[str]) -> str:
    """Return the hex SHA-256 of ``frame``'s schema and rows, independent of row order.

    ``key_columns`` fix the row order that is hashed; they need not be unique (ties are sorted by every
    column), but unique keys make the sort cheap. The digest is a function of the content and of the key
    columns chosen.
    """
    missing = [name for name in key_columns if name not in frame.columns]
    if missing:
        raise ValueError(f"key columns {missing} are not in the frame (columns: {frame.columns})")
    hasher = hashlib.sha256(_header(frame.schema).encode())
    rows = _canonical_order(_canonical_values(frame), list(key_columns))
    for chunk in rows.iter_slices(n_rows=_CHUNK_ROWS):
        hasher.update(chunk.write_ndjson().encode())
    return hasher.hexdigest()


def _header(schema: pl.Schema) -> str:
    """Describe the columns, in order, with their dtypes."""
    columns = [[name, str(dtype)] for name, dtype in schema.items()]
    return json.dumps({"format": _FORMAT, "columns": columns}, ensure_ascii=True) + "\n"


def _canonical_values(frame: pl.DataFrame) -> pl.DataFrame:
    """Replace each top-level column by an exact, writer-independent representation."""
    return pl.DataFrame([_canonical_series(frame.get_column(name)) for name in frame.columns])


def _canonical_series(series: pl.Series) -> pl.Series:
    """Exact representation of one column (see the module docstring)."""
    dtype = series.dtype
    if dtype.is_float():
        return _float_bits(series)
    if dtype.is_temporal():
        return series.to_physical()
    if isinstance(dtype, (pl.Categorical, pl.Enum)):
        return series.cast(pl.String)
    if dtype == pl.Binary:
        return series.bin.encode("hex")
    if dtype == pl.Object:
        raise TypeError(f"column {series.name!r} has dtype Object, which has no canonical serialization")
    return series


def _float_bits(series: pl.Series) -> pl.Series:
    """The IEEE-754 bit pattern of each float as an unsigned integer, keeping nulls as nulls."""
    values = np.ascontiguousarray(series.to_numpy())
    bits = pl.Series(series.name, values.view(np.dtype(f"uint{values.itemsize * 8}")))
    return pl.select(pl.when(series.is_null()).then(None).otherwise(bits).alias(series.name)).to_series()


def _canonical_order(frame: pl.DataFrame, key_columns: list[str]) -> pl.DataFrame:
    """Sort by the keys; when they repeat (or there are none), by every column, keys first."""
    if key_columns and not frame.select(key_columns).is_duplicated().any():
        return frame.sort(key_columns, nulls_last=True)
    others = [name for name in frame.columns if name not in key_columns]
    order = key_columns + others
    return frame.sort(order, nulls_last=True) if order else frame
