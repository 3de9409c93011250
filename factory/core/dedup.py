"""Exact and near-duplicate detection.

Exact duplicates share a content hash (see `factory.core.normalize.content_hash`). Near duplicates are
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
* Hash functions are multiply-shift over 64-bit integers with constants derived from ``seed`` by
  SplitMix64: pure integer arithmetic, identical on every machine and in every library version, so
  signatures stored for earlier partitions stay comparable.

`near_duplicates` keeps rows greedily in order (prior rows first, then the batch): a batch row is a near
duplicate when its estimated Jaccard similarity with an earlier *kept* row reaches the threshold, and it
points at the most similar such row (ties: the earliest). Comparing only with kept rows is what resolves
chains: a pointer never targets a duplicate, every reported similarity is at least the threshold, and
no two kept rows are near duplicates of each other (up to the recall of LSH banding).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import polars as pl

__all__ = [
    "EMPTY_BIN",
    "MinHashConfig",
    "exact_duplicates",
    "minhash_signatures",
    "near_duplicates",
    "signatures_from_series",
    "signatures_to_series",
]

Signatures = npt.NDArray[np.uint32]

EMPTY_BIN = 0xFFFFFFFF  # value of a bin no shingle fell into; real values are below 2**31
_MASK64 = (1 << 64) - 1
_CHUNK_BYTES = 1 << 18  # bytes of text shingled at once: temporary arrays stay in the CPU cache
_SMALL_BUCKET = 4  # LSH buckets up to this size pair every member with every earlier member
_CROWDED_LEADERS = 1  # larger buckets pair their members with their first row only
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
    first = rows.group_by(hash_col).agg(
        pl.col(id_col).sort_by("_pos").first().alias("_batch_keep"), pl.col("_pos").min().alias("_first_pos")
    )
    kept_before = (
        prior.select(pl.col(id_col).cast(id_dtype).alias("_prior_keep"), hash_col)
        .filter(pl.col(hash_col).is_not_null())
        .unique(subset=[hash_col], keep="first", maintain_order=True)
        .with_columns(pl.lit(True).alias("_in_prior"))
    )
    joined = rows.join(first, on=hash_col, how="left").join(kept_before, on=hash_col, how="left")
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


class _Workspace:
    """Reusable scratch arrays for shingling: fresh multi-megabyte arrays per chunk would cost more in
    page faults than the arithmetic itself."""

    def __init__(self) -> None:
        self.capacity = 0
        self.hashed = np.empty(0, dtype=np.uint64)
        self.scratch = np.empty(0, dtype=np.uint64)
        self.index = np.empty(0, dtype=np.int64)
        self.values = np.empty(0, dtype=np.uint32)

    def ensure(self, size: int) -> None:
        if size > self.capacity:
            self.capacity = size
            self.hashed = np.empty(size, dtype=np.uint64)
            self.scratch = np.empty(size, dtype=np.uint64)
            self.index = np.empty(size, dtype=np.int64)
            self.values = np.empty(size, dtype=np.uint32)


def _shingle_hashes(source: npt.NDArray[np.uint8], count: int, config: MinHashConfig, work: _Workspace) -> None:
    """Hash the shingle starting at each of the first `count` bytes of `source` into ``work.hashed``.

    Up to 8 bytes are packed exactly into one integer; longer shingles fold further 8-byte words in with a
    multiply-add. The integer is then mixed with the MurmurHash3 64-bit finalizer (seeded by xor), whose
    output is close enough to a random permutation for an unbiased Jaccard estimate.
    """
    hashed, scratch = work.hashed[:count], work.scratch[:count]
    for start in range(0, config.shingle_size, 8):
        word = hashed if start == 0 else work.index[:count].view(np.uint64)
        np.copyto(word, source[start : start + count])
        for offset in range(start + 1, min(start + 8, config.shingle_size)):
            np.copyto(scratch, source[offset : offset + count])
            np.left_shift(scratch, _u64(8 * (offset - start)), out=scratch)
            np.bitwise_or(word, scratch, out=word)
        if start:
            np.multiply(hashed, _constant(config.seed, 1, odd=True), out=hashed)
            np.add(hashed, word, out=hashed)
    np.bitwise_xor(hashed, _constant(config.seed, 2), out=hashed)
    for multiplier in (0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53):
        np.right_shift(hashed, _u64(33), out=scratch)
        np.bitwise_xor(hashed, scratch, out=hashed)
        np.multiply(hashed, _u64(multiplier), out=hashed)
    np.right_shift(hashed, _u64(33), out=scratch)
    np.bitwise_xor(hashed, scratch, out=hashed)


def _chunk_signatures(
    data: npt.NDArray[np.uint8], offsets: npt.NDArray[np.int64], config: MinHashConfig, work: _Workspace
) -> Signatures:
    """Raw (undensified) one-permutation signatures of the texts delimited by `offsets` within `data`.

    The high 32 bits of a shingle's hash, scaled by ``num_perm``, give its bin (integer part) and its
    value (fractional part, halved so that no value reaches `EMPTY_BIN`).
    """
    rows = offsets.size - 1
    first, count = int(offsets[0]), int(offsets[-1] - offsets[0])
    source = data[first : first + count + config.shingle_size + 8]
    if source.size < count + config.shingle_size + 8:
        source = np.concatenate([source, np.zeros(config.shingle_size + 8, dtype=np.uint8)])
    work.ensure(count)
    _shingle_hashes(source, count, config, work)
    scaled, scratch, index, values = (
        work.hashed[:count],
        work.scratch[:count],
        work.index[:count],
        work.values[:count],
    )
    np.right_shift(scaled, _u64(32), out=scaled)
    np.multiply(scaled, _u64(config.num_perm), out=scaled)
    np.bitwise_and(scaled, _u64(0xFFFFFFFF), out=scratch)
    np.right_shift(scratch, _u64(1), out=scratch)
    np.copyto(values, scratch, casting="unsafe")
    starts, ends = offsets[:-1] - first, offsets[1:] - first
    tails = ends[:, None] - np.arange(1, config.shingle_size, dtype=np.int64)[None, :]
    values[tails[tails >= starts[:, None]]] = EMPTY_BIN  # windows that run past the end of their text
    index.fill(0)
    np.add.at(index, starts[1:][starts[1:] < count], config.num_perm)
    np.cumsum(index, out=index)
    np.right_shift(scaled, _u64(32), out=scratch)
    np.add(index, scratch.view(np.int64), out=index)
    flat = np.full(rows * config.num_perm, EMPTY_BIN, dtype=np.uint32)
    np.minimum.at(flat, index, values)
    return flat.reshape(rows, config.num_perm)


def _densify(signatures: Signatures, config: MinHashConfig) -> Signatures:
    """Fill the empty bins of rows that have at least one shingle (optimal densification).

    Empty bin j of a row takes the value of bin ``probes[j, t]`` for the first t where that bin is
    non-empty in the raw signature. Every row uses the same probe table, so two similar rows borrow from
    the same bins. After ``4 * num_perm`` unlucky probes (a row with one or two shingles) the bin takes
    the row's largest value.
    """
    empty = signatures == EMPTY_BIN
    empty_count = empty.sum(axis=1)
    partial = np.flatnonzero((empty_count > 0) & (empty_count < config.num_perm))
    if partial.size == 0:
        return signatures
    local_rows, bins = np.nonzero(empty[partial])
    rows = partial[local_rows]
    result = signatures.copy()
    probes = _probe_table(config.num_perm, config.seed)
    for step in range(probes.shape[1]):
        borrowed = signatures[rows, probes[bins, step]]
        found = borrowed != EMPTY_BIN
        result[rows[found], bins[found]] = borrowed[found]
        rows, bins = rows[~found], bins[~found]
        if rows.size == 0:
            return result
    largest = np.where(empty, np.uint32(0), signatures).max(axis=1)
    result[rows, bins] = largest[rows]
    return result


def minhash_signatures(texts: pl.Series, config: MinHashConfig) -> Signatures:
    """(n, num_perm) uint32 MinHash signatures of `texts` as given (null = empty); deterministic.

    A row with no shingle (shorter than ``shingle_size`` bytes) is all `EMPTY_BIN`.
    """
    data, offsets = _utf8_buffer(texts)
    work = _Workspace()
    parts: list[Signatures] = []
    first = 0
    while first < offsets.size - 1:
        limit = offsets[first] + _CHUNK_BYTES
        last = max(first + 1, int(np.searchsorted(offsets, limit, side="right")) - 1)
        parts.append(_chunk_signatures(data, offsets[first : last + 1], config, work))
        first = last
    raw = np.concatenate(parts) if parts else np.zeros((0, config.num_perm), dtype=np.uint32)
    return _densify(raw, config)


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


def _band_keys(signatures: Signatures, config: MinHashConfig) -> npt.NDArray[np.uint64]:
    """(n, bands) 64-bit hash of each band's values, the band index mixed in."""
    rows_per_band = config.num_perm // config.bands
    bands = signatures.reshape(signatures.shape[0], config.bands, rows_per_band)
    keys = np.empty((signatures.shape[0], config.bands), dtype=np.uint64)
    keys[:] = np.arange(1, config.bands + 1, dtype=np.uint64)
    multiplier = _constant(config.seed, 5, odd=True)
    shifted = np.empty_like(keys)
    for column in range(rows_per_band):
        np.bitwise_xor(keys, bands[:, :, column], out=keys)
        np.multiply(keys, multiplier, out=keys)
        np.right_shift(keys, _u64(29), out=shifted)
        np.bitwise_xor(keys, shifted, out=keys)
    return keys


def _bucket_runs(
    signatures: Signatures, config: MinHashConfig
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Members of LSH buckets holding two rows or more: rows grouped by bucket, rank and bucket size.

    Each membership is packed into one integer, bucket key in the high bits and row in the low bits, so
    that a single sort groups buckets with their rows ascending. Truncating the key to make room can
    merge two buckets: that only adds candidates, which verification then rejects.
    """
    row_bits = max(1, int(signatures.shape[0]).bit_length())
    usable = np.flatnonzero(~(signatures == EMPTY_BIN).all(axis=1)).astype(np.uint64)
    packed = _band_keys(signatures[usable], config)
    np.right_shift(packed, _u64(row_bits), out=packed)
    np.left_shift(packed, _u64(row_bits), out=packed)
    np.bitwise_or(packed, usable[:, None], out=packed)
    packed = np.sort(packed.reshape(-1))
    keys = packed >> _u64(row_bits)
    boundary = np.ones(keys.size + 1, dtype=bool)
    boundary[1:-1] = keys[1:] != keys[:-1]
    starts = np.flatnonzero(boundary)
    sizes = np.diff(starts)
    shared = sizes > 1
    members = packed[np.repeat(shared, sizes)]
    run_size = np.repeat(sizes[shared], sizes[shared])
    first_member = np.cumsum(sizes[shared]) - sizes[shared]
    rank = np.arange(members.size, dtype=np.int64) - np.repeat(first_member, sizes[shared])
    rows = (members & _u64((1 << row_bits) - 1)).astype(np.int64)
    return rows, rank, run_size


def _candidate_pairs(signatures: Signatures, batch_start: int, config: MinHashConfig) -> pl.DataFrame:
    """Pairs (earlier ``a``, later ``b``) sharing an LSH bucket, ``b`` in the batch, sorted by (b, a).

    In a bucket of at most `_SMALL_BUCKET` rows every earlier row is a candidate. A larger bucket is the
    signature of common text rather than of one pair of similar texts, so there only its first
    `_CROWDED_LEADERS` rows are: this keeps the work linear in the number of rows on repetitive data. A
    true near duplicate shares several buckets with its original (6.5 of 16 on average at Jaccard 0.8,
    more above), and on the demo stream this finds every row that the uncapped search finds.
    """
    rows, rank, size = _bucket_runs(signatures, config)
    earlier: list[npt.NDArray[np.int64]] = []
    later: list[npt.NDArray[np.int64]] = []
    for distance in range(1, _SMALL_BUCKET):
        member = np.flatnonzero((size <= _SMALL_BUCKET) & (rank + distance < size))
        earlier.append(rows[member])
        later.append(rows[member + distance])
    for leader in range(_CROWDED_LEADERS):
        member = np.flatnonzero((size > _SMALL_BUCKET) & (rank > leader))
        earlier.append(rows[member - rank[member] + leader])
        later.append(rows[member])
    first, second = np.concatenate(earlier), np.concatenate(later)
    wanted = (second >= batch_start) & (first < second)
    row_bits = max(1, int(signatures.shape[0]).bit_length())
    codes = np.sort((second[wanted] << row_bits) | first[wanted])
    codes = codes[np.concatenate([[True], codes[1:] != codes[:-1]])] if codes.size else codes
    return pl.DataFrame(
        {"a": codes & ((1 << row_bits) - 1), "b": codes >> row_bits}, schema={"a": pl.Int64, "b": pl.Int64}
    )


def _similarities(
    signatures: Signatures, left: npt.NDArray[np.int64], right: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]:
    """Estimated Jaccard similarity of each pair: the share of bins where the signatures agree."""
    result = np.empty(left.size, dtype=np.float64)
    for start in range(0, left.size, _PAIR_CHUNK):
        stop = start + _PAIR_CHUNK
        equal = np.take(signatures, left[start:stop], axis=0) == np.take(signatures, right[start:stop], axis=0)
        result[start:stop] = np.add.reduce(equal, axis=1, dtype=np.int32) / signatures.shape[1]
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
) -> pl.DataFrame:
    """Near duplicates among batch rows, against earlier batch rows and prior rows.

    Returns one row per near duplicate, in batch order: ``<ids.name>``, ``duplicate_of`` (a kept row:
    a prior row or an earlier non-duplicate batch row), ``similarity`` (estimated Jaccard, Float64, at
    least ``config.threshold``) and ``kind`` = "near". A row never points at a row with its own id.
    """
    _check_shapes(ids, signatures, prior_ids, prior_signatures, config)
    everything = np.concatenate([prior_signatures, signatures]).astype(np.uint32, copy=False)
    all_ids = pl.concat([prior_ids.cast(ids.dtype), ids], rechunk=True)
    batch_start = prior_signatures.shape[0]
    pairs = _candidate_pairs(everything, batch_start, config)
    left, right = pairs["a"].to_numpy(), pairs["b"].to_numpy()
    edges = pairs.with_columns(similarity=pl.Series(_similarities(everything, left, right)))
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
    prior_ids: pl.Series,
    prior_signatures: Signatures,
    config: MinHashConfig,
) -> None:
    for label, labels, sigs in (("batch", ids, signatures), ("prior", prior_ids, prior_signatures)):
        if sigs.ndim != 2 or sigs.shape[1] != config.num_perm:
            raise ValueError(f"{label} signatures must have shape (n, {config.num_perm}), got {sigs.shape}")
        if sigs.shape[0] != labels.len():
            raise ValueError(f"{label} has {labels.len()} ids but {sigs.shape[0]} signatures")
