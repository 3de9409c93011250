"""Whole-file rejects: one raw row standing for a file that cannot be taken."""

from __future__ import annotations

import polars as pl
import pytest

from factory.core.ingestion import FILE_PAYLOAD_BYTES, PROVENANCE, file_reject, split_for_preparation


def test_a_file_reject_is_one_raw_row_with_reason_detail_and_payload() -> None:
    frame = file_reject(
        ["id", "text"], file="a.parquet", reason="unreadable_file", detail="a.parquet: bad", data=b"hi\xff"
    )
    assert frame.columns == ["id", "text", *PROVENANCE]
    row = frame.row(0, named=True)
    assert row == {
        "id": None,
        "text": None,
        "_file": "a.parquet",
        "_line": 0,
        "_reject_reason": "unreadable_file",
        "_reject_detail": "a.parquet: bad",
        "_payload": "hi\\xff",
    }
    split = split_for_preparation(frame.with_columns(source=pl.lit("s")), ["id", "text"], "id")
    assert split.parseable.is_empty() and split.rejected["reason"].to_list() == ["unreadable_file"]


def test_a_large_file_keeps_only_the_start_of_its_bytes() -> None:
    data = b"x" * (FILE_PAYLOAD_BYTES + 10)
    frame = file_reject(["id"], file="big.csv", reason="no_file_date", detail="big.csv: no date", data=data)
    assert frame["_payload"].item() == "x" * FILE_PAYLOAD_BYTES
    assert frame["_reject_detail"].item().endswith(f"(payload: the first 65,536 of {len(data):,} bytes)")


def test_an_unknown_reason_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown file reject reason"):
        file_reject(["id"], file="a.csv", reason="bad", detail="", data=b"")
