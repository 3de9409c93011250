"""Small typed numeric helpers over Polars series."""

from __future__ import annotations

import polars as pl

__all__ = ["mean"]


def mean(series: pl.Series) -> float:
    """The mean as a float; 0.0 for an empty or all-null series."""
    value = series.cast(pl.Float64).mean()
    return float(value) if isinstance(value, int | float) else 0.0
