"""Exact and near-duplicate detection.

Exact duplicates share a content hash (see `factory.core.preparation.content_hash`). Near duplicates are
found with MinHash and LSH banding:

* Shingles are the overlapping ``shingle_size``-byte windows of the UTF-8 text (5 by default: character
  5-grams for ASCII text). Byte shingles make shingling a few NumPy passes over the Arrow buffer instead of
  a Python loop; for non-ASCII text a shingle may hold a partial character, which changes nothing about
  the Jaccard estimate. A text shorter than one shingle has no shingles and is never a near duplicate
  (exact deduplication still sees it).
* The signature is computed with one-permutation hashing (Li, Owen & Zhang 2012): each shingle is hashed
  once, the hash picks one of ``num_perm`` bins and the signature keeps the minimum value per bin. Empty
  bins (short texts) are filled by optimal densification (Shrivastava 2017): a fixed, seeded probe
  sequence per bin borrows the value of the first non-empty bin. The probability that two signatures
  agree in a bin is their Jaccard similarity, as with ``num_perm`` independent permutations, at the cost
  of one hash per shingle instead of ``num_perm``.
* A shingle's bytes are packed into a 64-bit integer and mixed with the MurmurHash3 finalizer, seeded
  with constants derived from ``seed`` by SplitMix64: pure integer arithmetic, identical on every machine
  and in every library version, so signatures stored for earlier partitions stay comparable (a test pins
  the values). The loop over bytes is compiled with Numba (`factory.core.preparation`).

`near_duplicates` finds candidates by LSH banding (``bands`` bands of ``num_perm // bands`` bins; rows
sharing a band's values share a bucket) and confirms them by the estimated Jaccard similarity (the
share of equal bins) reaching ``threshold``. Buckets of more than `_SMALL_BUCKET` rows are the mark of
common text rather than of one pair of similar texts; there only the first row is a candidate, which
keeps the work linear on repetitive data. Rows are kept greedily in order (prior rows first, then the
batch): a batch row is a near duplicate when it is similar enough to an earlier *kept* row, and it
points at the most similar such row (ties: the earliest). Comparing only with kept rows is what resolves
chains: a pointer never targets a duplicate, every reported similarity is at least the threshold, and
no two kept rows are near duplicates of each other (up to the recall of LSH banding).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import polars as pl

from factory.core.preparation import _minhash_kernel as kernel

__all__ = [
    "EMPTY_BIN",
    "MinHashConfig",
    "Signatures",
    "exact_duplicates",
    "minhash_signatures",
    "near_duplicates",
    "signatures_from_series",
    "signatures_to_series",
]

Signatures = npt.NDArray[np.uint32]

EMPTY_BIN = 0xFFFFFFFF  # value of a bin no shingle fell into; real values are below 2**31
_MASK64 = (1 << 64) - 1
_SMALL_BUCKET = 4  # LSH buckets up to this size pair every member with every earlier member
_CROWDED_LEADERS = 1  # larger buckets pair their members with their first row only
_THREADS = 2  # the target machine has two cores
_KEY_BLOCK = 1 << 15  # rows per block when hashing bands
_PAIR_CHUNK = 1 << 16  # pairs compared at once: the gathered signatures stay in the CPU cache


@dataclass(frozen=True)
class MinHashConfig:
    """MinHash/LSH parameters. ``num_perm // bands`` rows per band; byte shingles of ``shingle_size``."""

    threshold: float = 0.8
    num_perm: int = 64
    bands: int = 16
    shingle_size: int = 5
    seed: int = 1

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"MinHash threshold must be in (0, 1], got {self.threshold}")
        if not 1 <= self.num_perm <= 1 << 16:
            raise ValueError(f"num_perm must be in [1, 65536], got {self.num_perm}")
        if self.bands < 1 or self.num_perm % self.bands != 0:
            raise ValueError(f"bands ({self.bands}) must be positive and divide num_perm ({self.num_perm})")
        if self.shingle_size < 1:
            raise ValueError(f"shingle_size must be positive, got {self.shingle_size}")


# --- exact duplicates ----------------------------------------------------------------------------------


def exact_duplicates(
    frame: pl.DataFrame, *, id_col: str, hash_col: str, prior: pl.DataFrame, keep: Sequence[str] = ()
) -> pl.DataFrame:
    """One row per exact duplicate in `frame`: ``<id_col>``, ``duplicate_of``, ``kind`` = "exact".

    A row is a duplicate when its hash is in `prior` (it then points at the first prior row with that
    hash) or appeared earlier in `frame` (it points at the first batch row with that hash). Rows with a
    null hash are never duplicates. Output rows follow the input order; the columns named in `keep`
    (e.g. a line number) are carried from `frame` and come first.
    """
    id_dtype = frame.schema[id_col]
    rows = frame.select(*keep, id_col, hash_col).with_row_index("_pos").filter(pl.col(hash_col).is_not_null())
    rows = rows.with_columns(
        pl.col(id_col).first().over(hash_col).alias("_batch_keep"),
        pl.col("_pos").first().over(hash_col).alias("_first_pos"),
    )
    kept_before = (
        prior.select(pl.col(id_col).cast(id_dtype).alias("_prior_keep"), hash_col)
        .filter(pl.col(hash_col).is_not_null())
        .unique(subset=[hash_col], keep="first", maintain_order=True)
        .with_columns(pl.lit(True).alias("_in_prior"))
    )
    if kept_before.is_empty():
        joined = rows.with_columns(pl.lit(None, dtype=id_dtype).alias("_prior_keep"), pl.lit(None).alias("_in_prior"))
    else:
        joined = rows.join(kept_before, on=hash_col, how="left", maintain_order="left")
    in_prior = pl.col("_in_prior").fill_null(False)
    duplicates = joined.filter(in_prior | (pl.col("_pos") != pl.col("_first_pos")))
    return duplicates.sort("_pos").select(
        *keep,
        id_col,
        pl.when(in_prior).then(pl.col("_prior_keep")).otherwise(pl.col("_batch_keep")).alias("duplicate_of"),
        pl.lit("exact", dtype=pl.String).alias("kind"),
    )


# --- hashing helpers -----------------------------------------------------------------------------------


def _splitmix64(value: int) -> int:
    value = (value + 0x9E3779B97F4A7C15) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


def _constant(seed: int, index: int, *, odd: bool = False) -> np.uint64:
    value = _splitmix64((seed * 0x100 + index) & _MASK64)
    return np.uint64(value | 1 if odd else value)


def _u64(value: int) -> np.uint64:
    return np.uint64(value)


@lru_cache(maxsize=8)
def _probe_table(num_perm: int, seed: int) -> npt.NDArray[np.intp]:
    """Densification probes: column t of row j is the t-th bin that empty bin j borrows from."""
    rounds = 4 * num_perm
    values = [_splitmix64((seed << 32) ^ (bin_ << 16) ^ step) for bin_ in range(num_perm) for step in range(rounds)]
    table = np.array([value % num_perm for value in values], dtype=np.intp).reshape(num_perm, rounds)
    table.setflags(write=False)
    return table


def _utf8_buffer(texts: pl.Series) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.int64]]:
    """The UTF-8 bytes of all texts back to back, and the n+1 offsets delimiting each text."""
    array = texts.cast(pl.String).fill_null("").rechunk().to_arrow()
    if str(array.type) != "large_string":
        array = array.cast("large_string")
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    return data, offsets


def minhash_signatures(texts: pl.Series, config: MinHashConfig) -> Signatures:
    """(n, num_perm) uint32 MinHash signatures of `texts` as given (null = empty); deterministic.

    A row with no shingle (shorter than ``shingle_size`` bytes) is all `EMPTY_BIN`. The compiled kernel
    (`factory.core.preparation`) runs on two halves of the rows at once; it releases the GIL.
    """
    data, offsets = _utf8_buffer(texts)
    rows = offsets.size - 1
    signatures = np.empty((rows, config.num_perm), dtype=np.uint32)
    fold, seed = _constant(config.seed, 1, odd=True), _constant(config.seed, 2)
    probes = _probe_table(config.num_perm, config.seed)
    step = max(1, -(-rows // _THREADS))

    def sign(first: int) -> None:
        last = min(first + step, rows)
        kernel.signatures(
            data, offsets[first : last + 1], config.shingle_size, fold, seed, probes, signatures[first:last]
        )

    with ThreadPoolExecutor(max_workers=_THREADS) as pool:
        list(pool.map(sign, range(0, rows, step)))
    return signatures


def signatures_to_series(name: str, signatures: Signatures) -> pl.Series:
    """Signatures as a ``List(UInt32)`` Series (the storage format of the prior index)."""
    return pl.Series(name, signatures.astype(np.uint32, copy=False)).cast(pl.List(pl.UInt32))


def signatures_from_series(series: pl.Series, num_perm: int) -> Signatures:
    """Signatures stored as a list column back to an (n, num_perm) array; ValueError on a width mismatch."""
    if series.len() == 0:
        return np.zeros((0, num_perm), dtype=np.uint32)
    if series.null_count() or not (series.list.len() == num_perm).all():
        raise ValueError(
            f"stored signatures must all hold num_perm={num_perm} values; the MinHash configuration changed "
            "or the prior index is corrupt"
        )
    array = series.cast(pl.Array(pl.UInt32, num_perm)).to_numpy()
    return np.ascontiguousarray(array, dtype=np.uint32)


# --- near duplicates -----------------------------------------------------------------------------------


def _band_keys(signatures: Signatures, config: MinHashConfig) -> npt.NDArray[np.uint32]:
    """(bands, n) 32-bit hash of each band's values, the band index mixed in.

    Rows are hashed in blocks that stay in the CPU cache; the result is laid out band by band so that
    each band is one contiguous array. Two different bands' values colliding in 32 bits only add a
    candidate pair, which verification rejects.
    """
    rows_per_band = config.num_perm // config.bands
    keys = np.empty((config.bands, signatures.shape[0]), dtype=np.uint32)
    multiplier = _constant(config.seed, 5, odd=True)
    for start in range(0, signatures.shape[0], _KEY_BLOCK):
        block = signatures[start : start + _KEY_BLOCK].reshape(-1, config.bands, rows_per_band)
        mixed = np.empty(block.shape[:2], dtype=np.uint64)
        mixed[:] = np.arange(1, config.bands + 1, dtype=np.uint64)
        shifted = np.empty_like(mixed)
        for column in range(rows_per_band):
            np.bitwise_xor(mixed, block[:, :, column], out=mixed)
            np.multiply(mixed, multiplier, out=mixed)
            np.right_shift(mixed, _u64(29), out=shifted)
            np.bitwise_xor(mixed, shifted, out=mixed)
        keys[:, start : start + _KEY_BLOCK] = (mixed >> _u64(32)).T
    return keys


def _has_shingles(signatures: Signatures) -> npt.NDArray[np.bool_]:
    """Rows with at least one shingle: densification fills every bin of such a row, so bin 0 tells."""
    has: npt.NDArray[np.bool_] = signatures[:, 0] != EMPTY_BIN
    return has


@dataclass(frozen=True)
class _Stacked:
    """Prior rows, then the selected batch rows, under one row index, without copying the signatures."""

    prior: Signatures
    batch: Signatures
    selected: npt.NDArray[np.int64]  # the batch rows taking part, in order

    @property
    def rows(self) -> int:
        return int(self.prior.shape[0] + self.selected.size)

    def band_keys(self, config: MinHashConfig) -> npt.NDArray[np.uint32]:
        """(bands, rows) band keys of prior and selected batch rows."""
        batch = _band_keys(self.batch, config)[:, self.selected]
        return np.concatenate([_band_keys(self.prior, config), batch], axis=1)

    def usable(self) -> npt.NDArray[np.int64]:
        """Rows with at least one shingle."""
        return np.flatnonzero(np.concatenate([_has_shingles(self.prior), _has_shingles(self.batch)[self.selected]]))

    def low_bytes(self) -> npt.NDArray[np.uint8]:
        """The low byte of every bin of every row: a quarter of the memory, for a quick first comparison."""
        out = np.empty((self.rows, self.batch.shape[1]), dtype=np.uint8)
        offset = self.prior.shape[0]
        for start in range(0, self.rows, _KEY_BLOCK):
            stop = min(start + _KEY_BLOCK, self.rows)
            prior_stop = min(stop, offset)
            if start < prior_stop:
                np.copyto(out[start:prior_stop], self.prior[start:prior_stop], casting="unsafe")
            if stop > offset:
                block = np.take(self.batch, self.selected[max(start, offset) - offset : stop - offset], axis=0)
                np.copyto(out[max(start, offset) : stop], block, casting="unsafe")
        return out

    def take(self, index: npt.NDArray[np.int64]) -> Signatures:
        offset = self.prior.shape[0]
        out = np.empty((index.size, self.batch.shape[1]), dtype=np.uint32)
        in_prior = index < offset
        out[in_prior] = np.take(self.prior, index[in_prior], axis=0)
        out[~in_prior] = np.take(self.batch, self.selected[index[~in_prior] - offset], axis=0)
        return out


def _band_pairs(
    keys: npt.NDArray[np.uint32], rows: npt.NDArray[np.int64], row_bits: int, batch_start: int
) -> npt.NDArray[np.int64]:
    """Candidate pairs of one band, each packed as ``later << row_bits | earlier``.

    Each row is packed with its bucket key into one integer, key in the high bits, so that a single sort
    groups buckets with their rows ascending; the compiled `minhash_kernel.bucket_pairs` walks the runs.
    """
    packed = keys.astype(np.uint64)
    np.left_shift(packed, _u64(row_bits), out=packed)
    np.bitwise_or(packed, rows.astype(np.uint64), out=packed)
    packed.sort()
    pairs: npt.NDArray[np.int64] = kernel.bucket_pairs(packed, row_bits, batch_start, _SMALL_BUCKET, _CROWDED_LEADERS)
    return pairs


def _candidate_pairs(signatures: _Stacked, batch_start: int, config: MinHashConfig) -> pl.DataFrame:
    """Pairs (earlier ``a``, later ``b``) sharing an LSH bucket, ``b`` in the batch, sorted by (b, a).

    In a bucket of at most `_SMALL_BUCKET` rows every earlier row is a candidate. A larger bucket is the
    signature of common text rather than of one pair of similar texts, so there only its first
    `_CROWDED_LEADERS` rows are: this keeps the work linear in the number of rows on repetitive data. A
    true near duplicate shares several buckets with its original (6.5 of 16 on average at Jaccard 0.8,
    more above), and on the demo stream this finds every row that the uncapped search finds. Bands are
    processed one at a time, which keeps the temporary arrays small.
    """
    row_bits = max(1, signatures.rows.bit_length())
    usable = signatures.usable()
    keys = signatures.band_keys(config)
    with ThreadPoolExecutor(max_workers=_THREADS) as pool:
        per_band = pool.map(
            lambda band: _band_pairs(keys[band, usable], usable, row_bits, batch_start), range(config.bands)
        )
        codes = np.concatenate(list(per_band))
    codes.sort()
    codes = codes[np.concatenate([[True], codes[1:] != codes[:-1]])] if codes.size else codes
    return pl.DataFrame(
        {"a": codes & ((1 << row_bits) - 1), "b": codes >> row_bits}, schema={"a": pl.Int64, "b": pl.Int64}
    )


def _similarities(
    signatures: _Stacked, left: npt.NDArray[np.int64], right: npt.NDArray[np.int64], threshold: float
) -> npt.NDArray[np.float64]:
    """Estimated Jaccard similarity (share of equal bins) of each pair reaching `threshold`; 0.0 for the rest.

    Most candidate pairs fall short, and they are rejected on the low bytes of the bins first (one cache
    line per row instead of four): equal bins always have equal low bytes, so a pair whose low bytes
    agree in too few bins cannot reach the threshold. Only the survivors are compared in full.
    """
    result = np.zeros(left.size, dtype=np.float64)
    low = signatures.low_bytes()
    width = low.shape[1]

    def compare(start: int) -> None:
        stop = start + _PAIR_CHUNK
        pair_left, pair_right = left[start:stop], right[start:stop]
        rough = np.add.reduce(low[pair_left] == low[pair_right], axis=1, dtype=np.int32) / width
        keep = np.flatnonzero(rough >= threshold)
        equal = signatures.take(pair_left[keep]) == signatures.take(pair_right[keep])
        result[start + keep] = np.add.reduce(equal, axis=1, dtype=np.int32) / width

    with ThreadPoolExecutor(max_workers=_THREADS) as pool:
        list(pool.map(compare, range(0, left.size, _PAIR_CHUNK)))
    return result


def _resolve(edges: pl.DataFrame, batch_start: int) -> dict[int, tuple[int, float]]:
    """Greedy in row order: a batch row points at its most similar earlier row that is kept."""
    ordered = edges.sort(["b", "similarity", "a"], descending=[False, True, False])
    duplicate_of: dict[int, tuple[int, float]] = {}
    for later, earlier, similarity in zip(
        ordered["b"].to_list(), ordered["a"].to_list(), ordered["similarity"].to_list(), strict=True
    ):
        if later in duplicate_of:
            continue
        if earlier < batch_start or earlier not in duplicate_of:
            duplicate_of[later] = (earlier, similarity)
    return duplicate_of


def near_duplicates(
    ids: pl.Series,
    signatures: Signatures,
    *,
    prior_ids: pl.Series,
    prior_signatures: Signatures,
    config: MinHashConfig,
    rows: npt.NDArray[np.int64] | None = None,
) -> pl.DataFrame:
    """Near duplicates among batch rows, against earlier batch rows and prior rows.

    Returns one row per near duplicate, in batch order: ``<ids.name>``, ``duplicate_of`` (a kept row:
    a prior row or an earlier non-duplicate batch row), ``similarity`` (estimated Jaccard, Float64, at
    least ``config.threshold``) and ``kind`` = "near". A row never points at a row with its own id.
    `rows` (optional) selects, in order, the rows of `signatures` that `ids` label: a subset of a large
    signature array without copying it.
    """
    selected = np.arange(signatures.shape[0], dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
    _check_shapes(ids, signatures, selected, prior_ids, prior_signatures, config)
    batch = signatures.astype(np.uint32, copy=False)
    everything = _Stacked(prior_signatures.astype(np.uint32, copy=False), batch, selected)
    all_ids = pl.concat([prior_ids.cast(ids.dtype), ids], rechunk=True)
    batch_start = prior_signatures.shape[0]
    pairs = _candidate_pairs(everything, batch_start, config)
    left, right = pairs["a"].to_numpy(), pairs["b"].to_numpy()
    edges = pairs.with_columns(similarity=pl.Series(_similarities(everything, left, right, config.threshold)))
    edges = edges.filter(pl.col("similarity") >= config.threshold)
    edges = edges.filter(all_ids.gather(edges["a"]) != all_ids.gather(edges["b"]))
    resolved = _resolve(edges, batch_start)
    later = sorted(resolved)
    return pl.DataFrame(
        {
            ids.name: all_ids.gather(later),
            "duplicate_of": all_ids.gather([resolved[row][0] for row in later]),
            "similarity": pl.Series([resolved[row][1] for row in later], dtype=pl.Float64),
            "kind": pl.Series(["near"] * len(later), dtype=pl.String),
        }
    )


def _check_shapes(
    ids: pl.Series,
    signatures: Signatures,
    selected: npt.NDArray[np.int64],
    prior_ids: pl.Series,
    prior_signatures: Signatures,
    config: MinHashConfig,
) -> None:
    for label, labels, sigs, count in (
        ("batch", ids, signatures, selected.size),
        ("prior", prior_ids, prior_signatures, prior_signatures.shape[0]),
    ):
        if sigs.ndim != 2 or sigs.shape[1] != config.num_perm:
            raise ValueError(f"{label} signatures must have shape (n, {config.num_perm}), got {sigs.shape}")
        if count != labels.len():
            raise ValueError(f"{label} has {labels.len()} ids but {count} signatures")
    if selected.size and (selected.min() < 0 or selected.max() >= signatures.shape[0]):
        raise ValueError("rows must index the batch signatures")
