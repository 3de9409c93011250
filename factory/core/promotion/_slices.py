"""Slices of a test split: the rows of each value of each slice column, with their support."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from numpy.typing import NDArray

__all__ = ["MISSING_VALUE", "Slice", "slices"]

MISSING_VALUE = "(missing)"
"""The value a row without a value in a slice column is grouped under."""


@dataclass(frozen=True)
class Slice:
    """The rows (positions in the frame) where ``column`` holds ``value``; ``gated`` when there are at least the
    minimum support of them."""

    column: str
    value: str
    rows: NDArray[np.int64]
    gated: bool

    @property
    def name(self) -> str:
        return f"{self.column}={self.value}"

    @property
    def support(self) -> int:
        return int(self.rows.size)


def slices(frame: pl.DataFrame, columns: Sequence[str], min_support: int) -> list[Slice]:
    """Every value of every slice column present in ``frame``, by column then value; a column the frame lacks
    gives none (the caller reports it)."""
    out = []
    for column in columns:
        if column not in frame.columns:
            continue
        values = frame[column].cast(pl.String).fill_null(MISSING_VALUE).to_numpy()
        for value in sorted(set(values.tolist())):
            rows = np.flatnonzero(values == value).astype(np.int64)
            out.append(Slice(column, str(value), rows, rows.size >= min_support))
    return out
