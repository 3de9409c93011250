"""Hash-based split assignment: determinism, proportions, stability as data grows, groups kept whole."""

from __future__ import annotations

import hashlib
import itertools
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from factory.core.dataset import assign_split

FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}


def keys(count: int, start: int = 0) -> pl.Series:
    """``count`` distinct string keys."""
    return pl.Series("key", [f"customer-{i}" for i in range(start, start + count)])


def test_same_input_same_output_and_aligned_with_keys() -> None:
    batch = keys(1000)
    first = assign_split(batch, FRACTIONS, salt="v1")
    assert first.dtype == pl.String
    assert first.len() == batch.len()
    assert first.equals(assign_split(batch, FRACTIONS, salt="v1"))
    assert set(first.unique().to_list()) == set(FRACTIONS)


def documented_split(key: str, salt: str) -> str:
    """The split of ``key`` for FRACTIONS computed from the module docstring, independently of the code."""
    digest = hashlib.blake2b(f"{salt}:{key}".encode(), digest_size=8).digest()
    position = (int.from_bytes(digest, "big") >> 11) / 2**53
    # Splits are laid out in name order: test [0, 0.1), train [0.1, 0.9), validation [0.9, 1).
    return "test" if position < 0.1 else "train" if position < 0.9 else "validation"


def test_matches_the_documented_hash() -> None:
    batch = keys(300)
    expected = [documented_split(key, "v1") for key in batch.to_list()]
    assert assign_split(batch, FRACTIONS, salt="v1").to_list() == expected


def test_stable_across_processes() -> None:
    script = (
        "import polars as pl;"
        "from factory.core.dataset import assign_split;"
        "print(','.join(assign_split(pl.Series([f'customer-{i}' for i in range(200)]),"
        " {'train': 0.8, 'validation': 0.1, 'test': 0.1}, salt='v1').to_list()))"
    )
    other = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert other.stdout.strip().split(",") == assign_split(keys(200), FRACTIONS, salt="v1").to_list()


def test_proportions_on_100k_keys() -> None:
    shares = assign_split(keys(100_000), FRACTIONS, salt="v1").value_counts(normalize=True, name="share")
    observed = dict(zip(shares.get_column("split").to_list(), shares.get_column("share").to_list(), strict=True))
    for name, fraction in FRACTIONS.items():
        # Binomial standard deviation at 100k keys is at most 0.0013; 0.005 is about four of them.
        assert observed[name] == pytest.approx(fraction, abs=0.005)


def test_a_key_never_moves_when_the_key_set_grows() -> None:
    old = keys(5000)
    grown = pl.concat([keys(20_000, start=5000), old.reverse(), keys(3000, start=40_000)])
    before = dict(zip(old.to_list(), assign_split(old, FRACTIONS, "v1").to_list(), strict=True))
    after = dict(zip(grown.to_list(), assign_split(grown, FRACTIONS, "v1").to_list(), strict=True))
    assert all(after[key] == split for key, split in before.items())


def test_rows_of_one_group_never_cross_splits() -> None:
    groups = pl.Series("group", [f"thread-{i % 700}" for i in range(10_000)])
    frame = pl.DataFrame({"group": groups, "split": assign_split(groups, FRACTIONS, "v1")})
    per_group = frame.group_by("group").agg(pl.col("split").n_unique().alias("splits"))
    assert per_group.get_column("splits").max() == 1
    assert per_group.height == 700


def test_salt_and_fraction_order() -> None:
    batch = keys(2000)
    reordered = {"test": 0.1, "train": 0.8, "validation": 0.1}
    assert assign_split(batch, reordered, "v1").equals(assign_split(batch, FRACTIONS, "v1"))
    assert not assign_split(batch, FRACTIONS, "v2").equals(assign_split(batch, FRACTIONS, "v1"))


def test_integer_keys_hash_as_their_text_and_zero_fraction_is_empty() -> None:
    numbers = pl.Series("id", list(range(500)))
    as_text = numbers.cast(pl.String)
    assert assign_split(numbers, FRACTIONS, "v1").equals(assign_split(as_text, FRACTIONS, "v1"))
    no_validation = {"train": 0.9, "validation": 0.0, "test": 0.1}
    assert "validation" not in assign_split(numbers, no_validation, "v1").to_list()


@pytest.mark.parametrize(
    "fractions",
    [
        {"train": 0.8, "test": 0.1},
        {"train": 0.8, "test": 0.3},
        {"train": 1.1, "test": -0.1},
        {"train": float("nan"), "test": 0.1},
        {},
    ],
)
def test_fractions_must_be_a_partition_of_one(fractions: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="fraction"):
        assign_split(keys(3), fractions, "v1")


def test_null_keys_are_rejected() -> None:
    with pytest.raises(ValueError, match="null"):
        assign_split(pl.Series("key", ["a", None]), FRACTIONS, "v1")


def test_float_keys_are_rejected() -> None:
    with pytest.raises(TypeError, match="Float64"):
        assign_split(pl.Series("key", [1.5]), FRACTIONS, "v1")


def _versions(holdout: datetime | None) -> list[pl.DataFrame]:
    """Three growing dataset versions assembled from a stream of tickets (new days and late arrivals)."""
    from factory.core.dataset import DatasetLayout, assemble

    layout = DatasetLayout("ticket_id", "created_at", "customer_id", ("body",), ())
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = pl.DataFrame(
        {
            "ticket_id": [f"T{i:05d}" for i in range(3_000)],
            "created_at": [start + timedelta(hours=3 * i) for i in range(3_000)],
            "customer_id": [f"C{i % 700:04d}" for i in range(3_000)],
            "body": ["text"] * 3_000,
            "label": ["billing"] * 3_000,
            "label_confidence": [1.0] * 3_000,
            "label_source": ["ds"] * 3_000,
            "partition_key": ["2026-01-01"] * 3_000,
        }
    )
    # Version n holds the first 1,000 * n tickets, shuffled: order must not matter either.
    return [
        assemble(rows.head(1_000 * n).sample(fraction=1.0, shuffle=True, seed=n), layout, FRACTIONS, "s", holdout)
        for n in (1, 2, 3)
    ]


@pytest.mark.parametrize("holdout", [None, datetime(2026, 5, 1, tzinfo=UTC)])
def test_membership_is_stable_across_versions(holdout: datetime | None) -> None:
    versions = _versions(holdout)
    for earlier, later in itertools.pairwise(versions):
        joined = earlier.select("ticket_id", "split").join(
            later.select("ticket_id", pl.col("split").alias("later")), on="ticket_id", how="left"
        )
        assert joined["later"].null_count() == 0
        assert (joined["split"] == joined["later"]).all(), "a ticket changed split as the dataset grew"
    last = versions[-1]
    if holdout is None:
        assert last.group_by("customer_id").agg(pl.col("split").n_unique()).get_column("split").max() == 1
    else:
        late = last.filter(pl.col("created_at") >= holdout)
        assert late.height > 0 and (late["split"] == "test").all()
        early = last.filter(pl.col("created_at") < holdout)
        assert set(early["split"].unique()) == {"train", "validation", "test"}
