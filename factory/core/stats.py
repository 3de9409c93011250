"""Small typed numeric helpers over Polars series and NumPy arrays."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl

__all__ = ["mean", "stratified_sample"]


def mean(series: pl.Series) -> float:
    """The mean as a float; 0.0 for an empty or all-null series."""
    value = series.cast(pl.Float64).mean()
    return float(value) if isinstance(value, int | float) else 0.0


def stratified_sample(codes: npt.NDArray[np.int64], cap: int, seed: int, *, at_least: int = 1) -> npt.NDArray[np.bool_]:
    """Which rows of class codes ``codes`` to keep: all of them up to ``cap``, else a stratified sample of exactly
    ``cap``: rows ordered by their rank within their class (shuffled with ``seed``) over the class size, so each
    class's first rows come first and every class keeps its share; the first ``at_least`` rows of every class
    (all of a smaller one) come before any other, so a rare class keeps enough rows for that many folds while
    the cap allows. ``ValueError`` for a cap under 1."""
    if cap < 1:
        raise ValueError(f"the sample cap must be at least 1, got {cap}")
    keep = np.ones(codes.size, dtype=np.bool_)
    if codes.size <= cap:
        return keep
    order = np.random.default_rng(seed).permutation(codes.size)
    order = order[np.argsort(codes[order], kind="stable")]
    sizes = np.bincount(codes)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    ranks = np.arange(codes.size) - starts[codes[order]]
    position = ranks / sizes[codes[order]] + (ranks >= at_least)  # the guaranteed rows sort under 1
    chosen = order[np.argsort(position, kind="stable")[:cap]]
    keep[:] = False
    keep[chosen] = True
    return keep
