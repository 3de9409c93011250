"""Slices of a test split as promotion reads them: the row positions of each value of each slice column, with
their support (the slices themselves are `factory.core.training.slice_masks`, as the model card reports them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from numpy.typing import NDArray

from factory.core.training import MISSING, slice_masks

__all__ = ["MISSING_VALUE", "Slice", "slices"]

MISSING_VALUE = MISSING
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
    present = [column for column in columns if column in frame.columns]
    return [
        Slice(m.column, m.value, np.flatnonzero(m.mask).astype(np.int64), m.gated)
        for m in slice_masks(frame, present, min_support)
    ]
