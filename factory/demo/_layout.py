"""What the demo streams share: seeded generators, the layout of a day (sizes, times, time order) and the
choice of the rows a duplicate repeats.

A day is laid out in *layout rows*: ``base`` clean rows, then ``malformed`` rows (damaged later), then the
duplicate rows (``exact``, then ``near``). Each layout row gets a time of day; rows are numbered and written
out in time order.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
import polars as pl

__all__ = [
    "Sizes",
    "Skeleton",
    "Sources",
    "day_rng",
    "duplicate_sources",
    "ledger",
    "normalized",
    "numbered_ids",
    "skeleton",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def day_rng(seed: int, day: date | None, purpose: str) -> np.random.Generator:
    """A NumPy generator seeded by a digest of ``(seed, day ordinal, purpose)``; ``day=None`` for all days."""
    ordinal = 0 if day is None else day.toordinal()
    digest = hashlib.blake2b(f"{seed}|{ordinal}|{purpose}".encode(), digest_size=16).digest()
    return np.random.default_rng(np.random.SeedSequence(int.from_bytes(digest, "little")))


@dataclass(frozen=True)
class Sizes:
    """How many layout rows of each kind a day has."""

    base: int
    malformed: int
    exact: int
    near: int

    @property
    def content(self) -> int:
        return self.base + self.malformed

    @property
    def duplicates(self) -> int:
        return self.exact + self.near

    @property
    def total(self) -> int:
        return self.content + self.duplicates


def normalized(weights: Sequence[float] | FloatArray) -> FloatArray:
    """``weights`` divided by their sum."""
    array: FloatArray = np.asarray(weights, dtype=np.float64)
    total = float(array.sum())
    return array / total


@dataclass(frozen=True)
class Skeleton:
    """A day's layout: every layout row's second of the day, the time order and each row's place in it."""

    sizes: Sizes
    seconds: IntArray
    order: IntArray
    position: IntArray


def skeleton(day: date, seed: int, sizes: Sizes, hourly_weights: Sequence[float]) -> Skeleton:
    """Times of the layout rows: an hour drawn by ``hourly_weights``, then a second within it."""
    rng = day_rng(seed, day, "times")
    hours = rng.choice(24, size=sizes.total, p=normalized(hourly_weights))
    seconds = (hours * 3600 + rng.integers(0, 3600, size=sizes.total)).astype(np.int64)
    order = np.argsort(seconds, kind="stable").astype(np.int64)
    position = np.empty_like(order)
    position[order] = np.arange(len(order), dtype=np.int64)
    return Skeleton(sizes=sizes, seconds=seconds, order=order, position=position)


@dataclass(frozen=True)
class Sources:
    """For each duplicate row: whether it repeats a row of yesterday, and which clean row (layout index)."""

    previous: BoolArray
    row: IntArray


def duplicate_sources(day: date, seed: int, layout: Skeleton, previous_share: float) -> Sources:
    """For each duplicate row, the clean row it copies: an earlier one of the day, or (``previous_share`` of
    them, and those with no earlier clean row) one of yesterday."""
    sizes = layout.sizes
    rng = day_rng(seed, day, "duplicates")
    base_seconds = layout.seconds[: sizes.base]
    by_time = np.argsort(base_seconds, kind="stable")
    earlier = np.searchsorted(base_seconds[by_time], layout.seconds[sizes.content :], side="left")
    previous = (rng.random(sizes.duplicates) < previous_share) | (earlier == 0)
    same_day = by_time[np.minimum((rng.random(sizes.duplicates) * earlier).astype(np.int64), sizes.base - 1)]
    yesterday = rng.integers(0, sizes.base, size=sizes.duplicates)
    return Sources(previous=previous, row=np.where(previous, yesterday, same_day).astype(np.int64))


def ledger(entries: Sequence[tuple[int, str, str]]) -> pl.DataFrame:
    """The injected-value ledger of ``(row, kind, detail)`` entries."""
    return pl.DataFrame(
        {
            "row": [entry[0] for entry in entries],
            "kind": [entry[1] for entry in entries],
            "detail": [entry[2] for entry in entries],
        },
        schema={"row": pl.Int64, "kind": pl.String, "detail": pl.String},
    )


def numbered_ids(name: str, prefix: str, numbers: IntArray, width: int) -> pl.Series:
    """Ids ``prefix`` followed by each number, zero-padded to ``width`` digits."""
    digits = pl.Series(name, numbers, dtype=pl.Int64).cast(pl.String).str.zfill(width)
    return (prefix + digits).alias(name)
