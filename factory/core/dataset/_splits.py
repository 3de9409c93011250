"""Deterministic train/validation/test assignment by hashing a group key.

A key's split is a function of ``(salt, key, fractions)`` and nothing else: not of the row order, of the
other keys in the batch, of the process, or of the Polars version. That is what keeps the test split sacred
(DESIGN.md, invariant 4): as data grows, an existing key never moves, and every row that shares a group key
lands in the same split.

The hash is BLAKE2b (``hashlib``, 8-byte digest) of the UTF-8 bytes of ``f"{salt}:{key}"``. The top 53 bits
of the digest, read big-endian, give a float ``u`` in ``[0, 1)`` exactly representable in float64. The split
names are sorted alphabetically and laid out on ``[0, 1)`` in that order with the given widths, so the
result does not depend on the insertion order of the ``fractions`` mapping (a reformatted YAML file cannot
reshuffle the splits). Changing a fraction, the salt or a split name does move keys: treat them as part of
the dataset version.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import polars as pl

__all__ = ["assign_split", "hold_out_after"]

_DIGEST_BYTES = 8
_MANTISSA_BITS = 53
_FRACTION_TOLERANCE = 1e-9


def assign_split(keys: pl.Series, fractions: Mapping[str, float], salt: str) -> pl.Series:
    """Return the split name of every key, as a String series named ``split`` aligned with ``keys``.

    ``keys`` must be a String, Categorical, Enum or integer series without nulls (integers are hashed
    through their decimal text, so ``42`` and ``"42"`` land in the same split). ``fractions`` maps split
    names to non-negative widths that sum to 1. Only the unique keys are hashed; the result is joined back,
    so a million rows take about a second.
    """
    edges, names = _split_edges(fractions)
    text_keys = _canonical_keys(keys)
    unique_keys = text_keys.unique()
    positions = _unit_interval(unique_keys.to_list(), salt)
    index = np.minimum(np.searchsorted(edges, positions, side="right"), len(names) - 1)
    unique_splits = pl.Series("split", np.asarray(names, dtype=object)[index], dtype=pl.String)
    return text_keys.replace_strict(unique_keys, unique_splits, return_dtype=pl.String).alias("split")


def hold_out_after(splits: pl.Series, times: pl.Series, after: datetime, split: str = "test") -> pl.Series:
    """Move the rows stamped at or after `after` to `split` (a time holdout); other rows keep theirs.

    The cutoff is a fixed moment, not "the last N days": a row's split still depends on that row alone,
    so it never moves as data grows. A group whose rows straddle the cutoff lands in two splits on
    purpose (a time holdout measures the future, where a known customer may write again); the leakage
    gate reports it. Null times are not held out.
    """
    if splits.len() != times.len():
        raise ValueError(f"{splits.len()} splits but {times.len()} times")
    cutoff = after if after.tzinfo else after.replace(tzinfo=UTC)
    late = pl.select((pl.lit(times) >= pl.lit(cutoff)).fill_null(False)).to_series()
    return pl.select(pl.when(late).then(pl.lit(split)).otherwise(pl.lit(splits))).to_series().alias(splits.name)


def _split_edges(fractions: Mapping[str, float]) -> tuple[npt.NDArray[np.float64], list[str]]:
    """Validate the fractions and return the right edges of each split's interval, in name order."""
    if not fractions:
        raise ValueError("fractions is empty: give at least one split, e.g. {'train': 1.0}")
    bad = {name: value for name, value in fractions.items() if not math.isfinite(value) or value < 0}
    if bad:
        raise ValueError(f"split fractions must be finite and non-negative, got {bad}")
    total = math.fsum(fractions.values())
    if not math.isclose(total, 1.0, rel_tol=0.0, abs_tol=_FRACTION_TOLERANCE):
        raise ValueError(f"split fractions must sum to 1, got {total!r} from {dict(fractions)}")
    names = sorted(fractions)
    edges = np.cumsum([fractions[name] for name in names], dtype=np.float64)
    edges[-1] = 1.0
    return edges, names


def _canonical_keys(keys: pl.Series) -> pl.Series:
    """Turn keys into the text that is hashed, rejecting nulls and dtypes without a stable text form."""
    dtype = keys.dtype
    if not (dtype == pl.String or dtype.is_integer() or isinstance(dtype, (pl.Categorical, pl.Enum))):
        raise TypeError(
            f"split keys must be String, Categorical, Enum or integer, got {dtype} for {keys.name!r}: "
            "cast them to a stable text form first"
        )
    nulls = keys.null_count()
    if nulls:
        raise ValueError(f"{nulls} null split key(s) in {keys.name!r}: every row needs a group key")
    return keys.cast(pl.String)


def _unit_interval(keys: list[str], salt: str) -> npt.NDArray[np.float64]:
    """Map each key to a float in [0, 1) from the BLAKE2b digest of ``f"{salt}:{key}"``."""
    digests = b"".join([hashlib.blake2b(f"{salt}:{key}".encode(), digest_size=_DIGEST_BYTES).digest() for key in keys])
    words = np.frombuffer(digests, dtype=">u8").astype(np.uint64)
    top_bits = words >> np.uint64(_DIGEST_BYTES * 8 - _MANTISSA_BITS)
    return top_bits.astype(np.float64) * 2.0**-_MANTISSA_BITS
