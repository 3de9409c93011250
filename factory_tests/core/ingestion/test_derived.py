"""Derived columns: the content-hash id is the documented SHA-256 (a fixed value, so it is stable across runs
and machines), depends on the row only (not on its position or file order), tells a missing value from an
empty one and a delimiter inside a value from two values; the arrival day is midnight UTC of the day; rows a
parser rejected keep both null."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date

import polars as pl

from factory.core.ingestion import ID_HEX_DIGITS, ID_PREFIX, as_raw, content_hash_ids, with_derived
from factory.core.preparation import residue

COLUMNS = ["text", "category"]
DERIVED = {"row_id": "content_hash", "arrived_at": "arrival_day"}


def _raw(rows: Sequence[tuple[str | None, str | None]]) -> pl.DataFrame:
    frame = pl.DataFrame(
        {"_line": list(range(1, len(rows) + 1)), "text": [r[0] for r in rows], "category": [r[1] for r in rows]},
        schema={"_line": pl.Int64, "text": pl.String, "category": pl.String},
    )
    return as_raw(frame, COLUMNS, file="export.csv")


def _documented(encoded: bytes) -> str:
    return ID_PREFIX + hashlib.sha256(encoded).hexdigest()[:ID_HEX_DIGITS]


def test_the_id_is_the_documented_sha256_of_length_prefixed_values() -> None:
    ids = content_hash_ids(_raw([("a,b", None), ("Köln", "")]), COLUMNS).to_list()
    assert ids == [_documented(b"3:a,b,~,"), _documented("5:Köln,0:,".encode())]
    assert ids[0] == "h960957aa711dd70ef580", "a fixed value: the same in every run, on every machine"
    three = content_hash_ids(_raw([("a,b", None)]).with_columns(pl.lit("").alias("third")), [*COLUMNS, "third"])
    assert three.item() == "h7d90eff390bd56478ee2", "the example of the module docstring"


def test_no_id_looks_like_personal_data_to_preparation() -> None:
    rows = [(f"row {i}", None) for i in range(100_000)]
    ids = content_hash_ids(_raw(rows), COLUMNS)
    bare = ids.str.slice(len(ID_PREFIX))
    assert int((residue(bare) > 0).sum()) > 0, "some bare hex strings pass for an IBAN"
    assert int((residue(ids) > 0).sum()) == 0


def test_the_id_depends_on_the_row_only_and_separates_what_text_joins_would_not() -> None:
    rows = [
        ("refund please", "billing"),
        ("a,b", "c"),
        ("a", "b,c"),
        ("x", None),
        ("x", ""),
        ("refund please", "billing"),
    ]
    forward = content_hash_ids(_raw(rows), COLUMNS).to_list()
    backward = content_hash_ids(_raw(rows[::-1]), COLUMNS).to_list()
    assert forward == backward[::-1], "independent of row and file order"
    assert forward[0] == forward[5], "identical rows share an id"
    assert len(set(forward[1:5])) == 4, "a delimiter inside a value, and a missing versus an empty value, differ"
    assert all(len(i) == len(ID_PREFIX) + ID_HEX_DIGITS for i in forward)


def test_derived_columns_are_filled_for_parsed_rows_and_null_for_rejects() -> None:
    parsed = pl.DataFrame({"_line": [1], "text": ["hello"], "category": ["billing"]})
    rejects = pl.DataFrame({"_line": [2], "reason": ["malformed_line"], "detail": ["quote"], "payload": ['"x']})
    raw = as_raw(parsed, COLUMNS, file="f.csv", rejects=rejects)
    filled = with_derived(raw, COLUMNS, DERIVED, date(2026, 1, 5)).sort("_line")
    assert filled["arrived_at"].to_list() == ["2026-01-05T00:00:00+00:00", None]
    assert filled["row_id"].to_list() == [content_hash_ids(raw.head(1), COLUMNS).item(), None]
    assert filled.columns[: len(raw.columns)] == raw.columns


def test_a_value_a_source_put_in_a_derived_column_is_replaced_and_no_derivation_changes_nothing() -> None:
    raw = _raw([("hello", "billing")]).with_columns(pl.lit("forged").alias("row_id"))
    assert with_derived(raw, COLUMNS, DERIVED, date(2026, 1, 5))["row_id"].item() != "forged"
    assert with_derived(raw, COLUMNS, {}, date(2026, 1, 5)).equals(raw)
    empty = with_derived(_raw([]), COLUMNS, DERIVED, date(2026, 1, 5))
    assert empty.height == 0 and {"row_id", "arrived_at"} <= set(empty.columns)


def test_a_column_the_source_did_not_deliver_counts_as_missing() -> None:
    raw = _raw([("hello", None)])
    assert content_hash_ids(raw.drop("category"), COLUMNS).item() == content_hash_ids(raw, COLUMNS).item()
