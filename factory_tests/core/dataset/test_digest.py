"""Frame digests: blind to row order, sensitive to every cell, column name and dtype, stable over time."""

from __future__ import annotations

import datetime as dt
import hashlib
import struct

import polars as pl
import pytest

from factory.core.dataset import frame_digest

Cell = int | float | str | dt.date | None


@pytest.fixture
def frame() -> pl.DataFrame:
    """A small frame with the dtypes a dataset carries."""
    return pl.DataFrame(
        {
            "id": [3, 1, 2, 4],
            "text": ["refund please", "app crashes", None, ""],
            "score": [0.5, -0.0, float("nan"), None],
            "day": [dt.date(2026, 1, 7), dt.date(2026, 1, 6), None, dt.date(2026, 1, 8)],
            "label": pl.Series(["billing", "bug", "bug", "feature"], dtype=pl.Categorical),
            "tags": [["a"], [], None, ["b", "c"]],
        }
    )


def test_digest_is_a_sha256_hex(frame: pl.DataFrame) -> None:
    digest = frame_digest(frame, ["id"])
    assert len(digest) == 64
    assert int(digest, 16) >= 0


def test_row_order_does_not_matter(frame: pl.DataFrame) -> None:
    expected = frame_digest(frame, ["id"])
    assert frame_digest(frame.reverse(), ["id"]) == expected
    assert frame_digest(frame.sample(fraction=1.0, shuffle=True, seed=7), ["id"]) == expected


def test_row_order_does_not_matter_with_repeated_keys() -> None:
    frame = pl.DataFrame({"group": ["a", "a", "b", "a"], "value": [3, 1, 2, 1]})
    expected = frame_digest(frame, ["group"])
    for seed in range(5):
        assert frame_digest(frame.sample(fraction=1.0, shuffle=True, seed=seed), ["group"]) == expected
    assert frame_digest(frame, []) == frame_digest(frame.reverse(), [])


def test_chunked_hashing_is_order_independent_on_many_rows() -> None:
    frame = pl.DataFrame({"id": range(120_000), "text": [f"row {i}" for i in range(120_000)]})
    assert frame_digest(frame, ["id"]) == frame_digest(frame.reverse(), ["id"])


@pytest.mark.parametrize(
    ("column", "index", "value"),
    [
        ("text", 0, "refund please!"),
        ("text", 2, ""),
        ("text", 3, None),
        ("score", 0, 0.5000000000000001),
        ("score", 1, 0.0),
        ("score", 2, None),
        ("score", 3, float("nan")),
        ("id", 0, 5),
        ("day", 2, dt.date(1970, 1, 1)),
    ],
)
def test_one_changed_cell_changes_the_digest(frame: pl.DataFrame, column: str, index: int, value: Cell) -> None:
    changed = frame.with_columns(frame.get_column(column).scatter(index, value))
    assert frame_digest(changed, ["id"]) != frame_digest(frame, ["id"])


def test_changed_categorical_and_nested_cells_change_the_digest(frame: pl.DataFrame) -> None:
    relabeled = frame.with_columns(pl.Series("label", ["billing", "bug", "bug", "bug"], dtype=pl.Categorical))
    retagged = frame.with_columns(pl.Series("tags", [["a"], [], None, ["c", "b"]]))
    assert frame_digest(relabeled, ["id"]) != frame_digest(frame, ["id"])
    assert frame_digest(retagged, ["id"]) != frame_digest(frame, ["id"])


def test_added_or_removed_row_changes_the_digest(frame: pl.DataFrame) -> None:
    assert frame_digest(frame.head(3), ["id"]) != frame_digest(frame, ["id"])
    assert frame_digest(pl.concat([frame, frame.head(1)]), ["id"]) != frame_digest(frame, ["id"])


def test_schema_changes_change_the_digest(frame: pl.DataFrame) -> None:
    expected = frame_digest(frame, ["id"])
    assert frame_digest(frame.rename({"text": "body"}), ["id"]) != expected
    assert frame_digest(frame.with_columns(pl.col("id").cast(pl.Int32)), ["id"]) != expected
    assert frame_digest(frame.with_columns(pl.col("score").cast(pl.Float32)), ["id"]) != expected
    assert frame_digest(frame.with_columns(pl.col("label").cast(pl.String)), ["id"]) != expected
    assert frame_digest(frame.drop("tags"), ["id"]) != expected


def test_same_values_in_another_dtype_differ() -> None:
    ints = pl.DataFrame({"id": [1, 2]})
    assert frame_digest(ints, ["id"]) != frame_digest(ints.cast({"id": pl.UInt64}), ["id"])
    assert frame_digest(ints, ["id"]) != frame_digest(ints.cast({"id": pl.String}), ["id"])


def test_binary_columns_are_supported() -> None:
    frame = pl.DataFrame({"id": [1, 2], "payload": [b"\x00\xff", None]})
    changed = frame.with_columns(pl.Series("payload", [b"\x00\xfe", None]))
    assert frame_digest(frame, ["id"]) != frame_digest(changed, ["id"])


def test_empty_frames_differ_by_schema() -> None:
    empty = pl.DataFrame(schema={"id": pl.Int64, "text": pl.String})
    assert frame_digest(empty, ["id"]) != frame_digest(empty.rename({"text": "body"}), ["id"])


def test_unknown_key_column_is_an_error(frame: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match="missing_key"):
        frame_digest(frame, ["missing_key"])


def golden_frame() -> pl.DataFrame:
    """The frame whose digest is pinned below."""
    return pl.DataFrame(
        {
            "id": [2, 1],
            "text": ["été", None],
            "score": [0.1, float("inf")],
            "day": [dt.date(2026, 1, 7), None],
            "flag": [True, None],
        }
    )


def float_bits(value: float) -> int:
    """The IEEE-754 binary64 bit pattern of ``value`` as an unsigned integer."""
    (bits,) = struct.unpack(">Q", struct.pack(">d", value))
    return int(bits)


def test_digest_is_the_documented_serialization() -> None:
    columns = '[["id", "Int64"], ["text", "String"], ["score", "Float64"], ["day", "Date"], ["flag", "Boolean"]]'
    header = '{"format": "factory-frame-digest/1", "columns": ' + columns + "}\n"
    days = (dt.date(2026, 1, 7) - dt.date(1970, 1, 1)).days
    rows = (
        f'{{"id":1,"text":null,"score":{float_bits(float("inf"))},"day":null,"flag":null}}\n'
        f'{{"id":2,"text":"été","score":{float_bits(0.1)},"day":{days},"flag":true}}\n'
    )
    expected = hashlib.sha256((header + rows).encode()).hexdigest()
    assert frame_digest(golden_frame(), ["id"]) == expected


def test_golden_digest_is_stable_across_versions() -> None:
    """If this fails after an upgrade, every recorded dataset digest would change: bump the format instead."""
    assert frame_digest(golden_frame(), ["id"]) == GOLDEN


GOLDEN = "791ff50410d878fc4da5b6a6867d21770a57fe028923cef8d206d97d35ec929f"
