"""Exact duplicates by content hash; near duplicates by MinHash/LSH with kept-row resolution."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest

from factory.core.preparation import (
    EMPTY_BIN,
    MinHashConfig,
    exact_duplicates,
    minhash_signatures,
    near_duplicates,
    signatures_from_series,
    signatures_to_series,
)
from factory.core.preparation import _dedup as dedup

CONFIG = MinHashConfig()
BASE = (
    "my order arrived with a cracked screen and the box was crushed on one side, the courier left it at "
    "the door in the rain and nobody rang the bell, i would like a replacement or a full refund please, "
    "i have attached photos of the damage and the label, my account is under the same email as always"
)
UNRELATED = (
    "how do i change the billing address on my subscription before the next invoice goes out? the form "
    "in settings keeps saying the postcode is invalid although it is the one printed on my bank card"
)


def shingles(text: str, size: int = 5) -> set[bytes]:
    data = text.encode()
    return {data[i : i + size] for i in range(len(data) - size + 1)}


def jaccard(a: str, b: str) -> float:
    left, right = shingles(a), shingles(b)
    return len(left & right) / len(left | right)


def no_prior() -> tuple[pl.Series, npt.NDArray[np.uint32]]:
    return pl.Series("id", [], dtype=pl.String), np.zeros((0, CONFIG.num_perm), dtype=np.uint32)


# --- exact ---------------------------------------------------------------------------------------------


def test_exact_duplicates_within_the_batch_point_at_the_first_row() -> None:
    frame = pl.DataFrame({"id": ["a", "b", "c", "d", "e"], "h": ["x", "y", "x", None, "x"], "line": [0, 1, 2, 3, 4]})
    prior = pl.DataFrame(schema={"id": pl.String, "h": pl.String})
    found = exact_duplicates(frame, id_col="id", hash_col="h", prior=prior, keep=("line",))
    assert found.to_dicts() == [
        {"line": 2, "id": "c", "duplicate_of": "a", "kind": "exact"},
        {"line": 4, "id": "e", "duplicate_of": "a", "kind": "exact"},
    ]


def test_exact_duplicates_against_prior_point_at_the_earliest_prior_row() -> None:
    frame = pl.DataFrame({"id": ["b", "c"], "h": ["y", "z"]})
    prior = pl.DataFrame({"id": ["p1", "p2", "p3"], "h": ["y", "y", "q"]})
    found = exact_duplicates(frame, id_col="id", hash_col="h", prior=prior)
    assert found.to_dicts() == [{"id": "b", "duplicate_of": "p1", "kind": "exact"}]


def test_exact_duplicates_of_an_empty_batch() -> None:
    frame = pl.DataFrame(schema={"id": pl.Int64, "h": pl.String})
    found = exact_duplicates(
        frame, id_col="id", hash_col="h", prior=pl.DataFrame(schema={"id": pl.Int64, "h": pl.String})
    )
    assert found.height == 0
    assert found.schema == pl.Schema({"id": pl.Int64, "duplicate_of": pl.Int64, "kind": pl.String})


# --- signatures ----------------------------------------------------------------------------------------


def test_signatures_shape_dtype_and_determinism() -> None:
    texts = pl.Series([BASE, UNRELATED, "tiny", None, ""])
    first = minhash_signatures(texts, CONFIG)
    assert first.shape == (5, CONFIG.num_perm)
    assert first.dtype == np.uint32
    assert np.array_equal(first, minhash_signatures(texts, CONFIG))
    # A text's signature does not depend on the rest of the batch: the prior index relies on it.
    assert np.array_equal(first[1], minhash_signatures(pl.Series([UNRELATED]), CONFIG)[0])
    assert (first[2:] == EMPTY_BIN).all()  # shorter than a shingle, null, empty
    assert not (first[:2] == EMPTY_BIN).any()
    assert not np.array_equal(first[:2], minhash_signatures(texts, MinHashConfig(seed=2))[:2])


def test_signatures_are_stable_values() -> None:
    # Stored signatures of earlier partitions must stay comparable: any change of hashing fails here.
    signature = minhash_signatures(pl.Series(["the quick brown fox jumps over the lazy dog"]), CONFIG)[0]
    assert signature[:4].tolist() == [657336128, 401158816, 401158816, 784893760]


def test_estimated_similarity_tracks_jaccard() -> None:
    edited = BASE.replace("cracked", "broken").replace("crushed", "dented")
    signatures = minhash_signatures(pl.Series([BASE, edited, UNRELATED]), CONFIG)
    estimate = float((signatures[0] == signatures[1]).mean())
    assert abs(estimate - jaccard(BASE, edited)) < 0.12
    assert float((signatures[0] == signatures[2]).mean()) < 0.2


@pytest.mark.parametrize("threads", [1, 3, 8])
def test_signatures_do_not_depend_on_batching(monkeypatch: pytest.MonkeyPatch, threads: int) -> None:
    texts = pl.Series([BASE * 3, "", UNRELATED, "abcd", BASE[:50], UNRELATED * 5, None])
    reference = minhash_signatures(texts, CONFIG)
    monkeypatch.setattr(dedup, "_THREADS", threads)  # the rows split differently between threads
    assert np.array_equal(minhash_signatures(texts, CONFIG), reference)
    alone = np.concatenate([minhash_signatures(texts.slice(row, 1), CONFIG) for row in range(texts.len())])
    assert np.array_equal(alone, reference)


def test_a_huge_text_is_signed() -> None:
    huge = ("lorem ipsum dolor sit amet " * 400_000)[:10_000_000]
    signatures = minhash_signatures(pl.Series([huge, "short text here"]), CONFIG)
    assert not (signatures == EMPTY_BIN).any()


def test_signature_list_column_round_trip() -> None:
    signatures = minhash_signatures(pl.Series([BASE, UNRELATED]), CONFIG)
    series = signatures_to_series("signature", signatures)
    assert series.dtype == pl.List(pl.UInt32)
    assert np.array_equal(signatures_from_series(series, CONFIG.num_perm), signatures)
    with pytest.raises(ValueError, match="num_perm=32"):
        signatures_from_series(series, 32)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 0.0}, "threshold"),
        ({"num_perm": 64, "bands": 10}, "divide"),
        ({"shingle_size": 0}, "shingle_size"),
        ({"num_perm": 0}, "num_perm"),
    ],
)
def test_bad_configs_are_rejected(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        MinHashConfig(**kwargs)


# --- near ----------------------------------------------------------------------------------------------


def test_an_edited_copy_is_a_near_duplicate_and_unrelated_text_is_not() -> None:
    edited = BASE.replace("cracked", "broken").replace("in the rain", "in the snow")
    assert jaccard(BASE, edited) > 0.8
    texts = pl.Series([BASE, UNRELATED, edited, UNRELATED.upper()])
    ids = pl.Series("id", ["t1", "t2", "t3", "t4"])
    prior_ids, prior_signatures = no_prior()
    found = near_duplicates(
        ids, minhash_signatures(texts, CONFIG), prior_ids=prior_ids, prior_signatures=prior_signatures, config=CONFIG
    )
    assert found.columns == ["id", "duplicate_of", "similarity", "kind"]
    assert found.select("id", "duplicate_of", "kind").to_dicts() == [{"id": "t3", "duplicate_of": "t1", "kind": "near"}]
    assert found["similarity"].dtype == pl.Float64
    assert found["similarity"].item() >= CONFIG.threshold


def test_near_duplicates_of_prior_rows() -> None:
    edited = BASE.replace("replacement", "new one")
    prior_ids = pl.Series("id", ["old"])
    found = near_duplicates(
        pl.Series("id", ["new", "other"]),
        minhash_signatures(pl.Series([edited, UNRELATED]), CONFIG),
        prior_ids=prior_ids,
        prior_signatures=minhash_signatures(pl.Series([BASE]), CONFIG),
        config=CONFIG,
    )
    assert found.select("id", "duplicate_of").to_dicts() == [{"id": "new", "duplicate_of": "old"}]


def crafted(base: npt.NDArray[np.uint32], changed: list[int], salt: int) -> npt.NDArray[np.uint32]:
    """A copy of `base` with the given bins replaced by distinct values."""
    row = base.copy()
    row[changed] = np.arange(len(changed), dtype=np.uint32) + np.uint32(1_000_000 * salt)
    return row


def test_chains_resolve_to_kept_rows() -> None:
    rng = np.random.default_rng(7)
    a = rng.integers(0, 2**31, CONFIG.num_perm, dtype=np.uint32)
    b = crafted(a, list(range(0, 8)), 1)  # 0.875 with a: a near duplicate of a
    c = crafted(b, list(range(8, 20)), 2)  # 0.81 with b, 0.69 with a: near only b, a duplicate
    d = crafted(b, [20, 21], 3)  # 0.97 with b, 0.84 with a, 0.78 with c: must point at a, never b
    ids = pl.Series("id", ["a", "b", "c", "d"])
    prior_ids, prior_signatures = no_prior()
    found = near_duplicates(
        ids, np.stack([a, b, c, d]), prior_ids=prior_ids, prior_signatures=prior_signatures, config=CONFIG
    )
    assert found.select("id", "duplicate_of").to_dicts() == [
        {"id": "b", "duplicate_of": "a"},
        {"id": "d", "duplicate_of": "a"},
    ]
    # c is similar only to b, a duplicate: it is compared with kept rows and kept.
    assert set(found["duplicate_of"]).isdisjoint(set(found["id"]))


def test_a_row_is_never_its_own_duplicate_and_results_are_deterministic() -> None:
    signatures = minhash_signatures(pl.Series([BASE, BASE, UNRELATED]), CONFIG)
    prior_ids = pl.Series("id", ["x"])
    found = near_duplicates(
        pl.Series("id", ["x", "y"]), signatures[1:], prior_ids=prior_ids, prior_signatures=signatures[:1], config=CONFIG
    )
    assert found.height == 0  # "x" again is not its own duplicate; "y" is unrelated
    twice = [
        near_duplicates(
            pl.Series("id", ["p", "q", "r"]),
            signatures,
            prior_ids=prior_ids[:0],
            prior_signatures=signatures[:0],
            config=CONFIG,
        )
        for _ in range(2)
    ]
    assert twice[0].equals(twice[1])
    assert twice[0].select("id", "duplicate_of").to_dicts() == [{"id": "q", "duplicate_of": "p"}]


def test_a_subset_of_rows_can_be_compared_without_copying() -> None:
    edited = BASE.replace("replacement", "new one")
    signatures = minhash_signatures(pl.Series([UNRELATED, BASE, "ignored filler text here", edited]), CONFIG)
    prior_ids, prior_signatures = no_prior()
    found = near_duplicates(
        pl.Series("id", ["base", "edited"]),
        signatures,
        prior_ids=prior_ids,
        prior_signatures=prior_signatures,
        config=CONFIG,
        rows=np.array([1, 3]),
    )
    assert found.select("id", "duplicate_of").to_dicts() == [{"id": "edited", "duplicate_of": "base"}]
    with pytest.raises(ValueError, match="rows must index"):
        near_duplicates(
            pl.Series("id", ["x"]),
            signatures,
            prior_ids=prior_ids,
            prior_signatures=prior_signatures,
            config=CONFIG,
            rows=np.array([9]),
        )


def test_shapes_are_checked() -> None:
    prior_ids, prior_signatures = no_prior()
    with pytest.raises(ValueError, match="2 ids but 1 signatures"):
        near_duplicates(
            pl.Series("id", ["a", "b"]),
            np.zeros((1, CONFIG.num_perm), dtype=np.uint32),
            prior_ids=prior_ids,
            prior_signatures=prior_signatures,
            config=CONFIG,
        )
    with pytest.raises(ValueError, match="shape"):
        near_duplicates(
            pl.Series("id", ["a"]),
            np.zeros((1, 32), dtype=np.uint32),
            prior_ids=prior_ids,
            prior_signatures=prior_signatures,
            config=CONFIG,
        )
