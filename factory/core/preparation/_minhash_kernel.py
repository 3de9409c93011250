"""The MinHash inner loop, compiled with Numba: one pass over each text's bytes, no temporary arrays.

`signatures` computes exactly what `factory.core.preparation` documents (byte shingles packed little-endian into
64-bit words, folded and mixed with the MurmurHash3 finalizer, one-permutation binning, optimal
densification), row by row. It replaced a NumPy formulation of the same arithmetic that needed about twenty
passes over per-shingle temporary arrays; compiled, the loop touches each byte once and runs without the
GIL, so two threads hash two halves of a batch at once (`bench/prepare.py` measures the whole step).

All arithmetic is on unsigned 64-bit integers: Numba, like NumPy, would turn a mix of signed and unsigned
64-bit operands into floating point, so every constant is a ``np.uint64``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numba import njit

__all__ = ["EMPTY_BIN", "signatures"]

EMPTY_BIN = np.uint32(0xFFFFFFFF)  # value of a bin no shingle fell into; real values are below 2**31

_FMIX_1 = np.uint64(0xFF51AFD7ED558CCD)
_FMIX_2 = np.uint64(0xC4CEB9FE1A85EC53)
_LOW_32 = np.uint64(0xFFFFFFFF)
_ZERO = np.uint64(0)
_ONE = np.uint64(1)
_EIGHT = np.uint64(8)
_SHIFT_32 = np.uint64(32)
_SHIFT_33 = np.uint64(33)


@njit(nogil=True, cache=True, inline="always")
def _word(data: npt.NDArray[np.uint8], start: int, width: int) -> np.uint64:
    """The `width` (1-8) bytes of `data` from `start`, little-endian."""
    value = _ZERO
    for index in range(width):
        value |= np.uint64(data[start + index]) << (_EIGHT * np.uint64(index))
    return value


@njit(nogil=True, cache=True, inline="always")
def _mix(word: np.uint64, seed: np.uint64) -> np.uint64:
    """MurmurHash3's 64-bit finalizer of `word` xor `seed`."""
    value = word ^ seed
    value ^= value >> _SHIFT_33
    value *= _FMIX_1
    value ^= value >> _SHIFT_33
    value *= _FMIX_2
    value ^= value >> _SHIFT_33
    return value


@njit(nogil=True, cache=True)
def _raw_row(
    data: npt.NDArray[np.uint8],
    start: int,
    end: int,
    shingle_size: int,
    fold: np.uint64,
    seed: np.uint64,
    out: npt.NDArray[np.uint32],
) -> None:
    """The un-densified signature of ``data[start:end]`` into `out` (bins no shingle hit stay empty)."""
    out[:] = EMPTY_BIN
    if end - start < shingle_size:
        return
    if shingle_size <= 8:
        _rolling_shingles(data, start, end, shingle_size, seed, out)
        return
    num_perm = np.uint64(out.size)
    for position in range(start, end - shingle_size + 1):
        hashed = _word(data, position, 8)
        for offset in range(8, shingle_size, 8):
            hashed = hashed * fold + _word(data, position + offset, min(8, shingle_size - offset))
        _keep_minimum(_mix(hashed, seed), num_perm, out)


@njit(nogil=True, cache=True, inline="always")
def _keep_minimum(hashed: np.uint64, num_perm: np.uint64, out: npt.NDArray[np.uint32]) -> None:
    """Bin and value from the high 32 bits of `hashed` scaled by ``num_perm``; keep the bin's minimum."""
    scaled = (hashed >> _SHIFT_32) * num_perm
    # An unconditional store of the minimum: a branch here would be mispredicted about half the time.
    out[scaled >> _SHIFT_32] = min(out[scaled >> _SHIFT_32], np.uint32((scaled & _LOW_32) >> _ONE))


@njit(nogil=True, cache=True)
def _rolling_shingles(
    data: npt.NDArray[np.uint8], start: int, end: int, shingle_size: int, seed: np.uint64, out: npt.NDArray[np.uint32]
) -> None:
    """Shingles of at most 8 bytes: the word rolls along the text, one new byte per position."""
    num_perm = np.uint64(out.size)
    top = _EIGHT * np.uint64(shingle_size - 1)
    word = _word(data, start, shingle_size - 1) << _EIGHT  # the loop shifts this down and adds the last byte
    for position in range(start, end - shingle_size + 1):
        word = (word >> _EIGHT) | (np.uint64(data[position + shingle_size - 1]) << top)
        _keep_minimum(_mix(word, seed), num_perm, out)


@njit(nogil=True, cache=True)
def _densify_row(raw: npt.NDArray[np.uint32], probes: npt.NDArray[np.intp], out: npt.NDArray[np.uint32]) -> None:
    """Optimal densification: empty bin j takes raw bin ``probes[j, t]`` for the first non-empty t.

    After every probe fails (a text with one or two shingles) the bin takes the row's largest value. A row
    without any shingle stays empty.
    """
    largest = np.uint32(0)
    filled = 0
    for value in raw:
        if value != EMPTY_BIN:
            filled += 1
            largest = max(largest, value)
    for bin_ in range(raw.size):
        value = raw[bin_]
        if value == EMPTY_BIN and filled > 0:
            value = largest
            for step in range(probes.shape[1]):
                borrowed = raw[probes[bin_, step]]
                if borrowed != EMPTY_BIN:
                    value = borrowed
                    break
        out[bin_] = value


@njit(nogil=True, cache=True)
def signatures(
    data: npt.NDArray[np.uint8],
    offsets: npt.NDArray[np.int64],
    shingle_size: int,
    fold: np.uint64,
    seed: np.uint64,
    probes: npt.NDArray[np.intp],
    out: npt.NDArray[np.uint32],
) -> None:
    """Write into ``out[i]`` the densified signature of the text ``data[offsets[i]:offsets[i + 1]]``."""
    raw = np.empty(out.shape[1], dtype=np.uint32)
    for row in range(out.shape[0]):
        _raw_row(data, offsets[row], offsets[row + 1], shingle_size, fold, seed, raw)
        _densify_row(raw, probes, out[row])


@njit(nogil=True, cache=True)
def bucket_pairs(
    packed: npt.NDArray[np.uint64], row_bits: int, batch_start: int, small: int, leaders: int
) -> npt.NDArray[np.int64]:
    """Candidate pairs of one LSH band, each packed as ``later << row_bits | earlier``.

    `packed` holds ``bucket key << row_bits | row`` sorted ascending, so each bucket is a run with its rows
    in order. A bucket of at most `small` rows pairs every two members; a larger one pairs each member with
    its first `leaders` rows only. Only pairs whose later row is in the batch (``>= batch_start``) count.
    """
    row_mask = (np.uint64(1) << np.uint64(row_bits)) - np.uint64(1)
    shift = np.uint64(row_bits)
    out = np.empty(packed.size * max(small - 1, leaders), dtype=np.int64)
    count = 0
    start = 0
    while start < packed.size:
        key = packed[start] >> shift
        stop = start + 1
        while stop < packed.size and packed[stop] >> shift == key:
            stop += 1
        heads = stop if stop - start <= small else min(start + leaders, stop)
        for first in range(start, heads):
            earlier = np.int64(packed[first] & row_mask)
            for second in range(first + 1, stop):
                later = np.int64(packed[second] & row_mask)
                if later >= batch_start:
                    out[count] = (later << row_bits) | earlier
                    count += 1
        start = stop
    return out[:count]
