"""Production corrections read from CSV, JSON Lines and Label Studio exports: every record ends as one
correction or one reject with its reason."""

from __future__ import annotations

import json

import polars as pl
import pytest

from factory.core.labeling import CORRECTIONS_SCHEMA, FEEDBACK_REJECT_REASONS, feedback_format, read_feedback

CLASSES = ("billing", "refund", "outage")
KNOWN = ("A1", "A2", "A3")


def test_csv_corrections_and_every_reject_reason() -> None:
    data = (
        b"item_id,corrected_label,corrected_at,reviewer\n"
        b"A1,refund,2026-01-02T08:00:00Z,kim\n"
        b"A2, billing ,2026-01-02T09:00:00,kim\n"  # spaces stripped; no offset reads as UTC
        b"ZZ,refund,2026-01-02T08:00:00Z,kim\n"  # unknown_item
        b"A3,vibes,2026-01-02T08:00:00Z,kim\n"  # label_outside_taxonomy
        b"A3,refund,tomorrow,kim\n"  # bad_timestamp
        b"A3,refund,2026-01-02T08:00:00Z,\n"  # missing_field
        b'A3,"refund,2026-01-02T08:00:00Z,kim\n'  # malformed_line: an unterminated quote
    )
    read = read_feedback(data, "csv", CLASSES, KNOWN, file="f.csv")
    assert read.corrections.schema == pl.Schema(CORRECTIONS_SCHEMA)
    assert read.corrections["item_id"].to_list() == ["A1", "A2"]
    assert read.corrections["corrected_label"].to_list() == ["refund", "billing"]
    assert str(read.corrections["corrected_at"].dtype.time_zone) == "UTC"  # type: ignore[attr-defined]
    assert read.rejects["reason"].to_list() == [
        "unknown_item",
        "label_outside_taxonomy",
        "bad_timestamp",
        "missing_field",
        "malformed_line",
    ]
    assert read.rejects["position"].to_list() == [4, 5, 6, 7, 8]
    assert set(read.rejects["file"]) == {"f.csv"} and read.records == 7
    assert set(read.rejects["reason"]) <= set(FEEDBACK_REJECT_REASONS)


def test_jsonl_lines_that_are_not_objects_are_malformed_lines() -> None:
    good = {"item_id": "A1", "corrected_label": "outage", "corrected_at": "2026-01-02T08:00:00Z", "reviewer": "lee"}
    lines = [json.dumps(good), "[1, 2]", '{"item_id": "A2"', json.dumps({**good, "reviewer": None})]
    read = read_feedback("\n".join(lines).encode(), "jsonl", CLASSES, KNOWN)
    assert read.corrections["reviewer"].to_list() == ["lee"]
    assert read.rejects["reason"].to_list() == ["malformed_line", "malformed_line", "missing_field"]


def test_label_studio_exports_name_the_reviewer() -> None:
    task = {
        "id": 1,
        "data": {"item_id": "A2"},
        "annotations": [
            {
                "id": 5,
                "completed_by": 3,
                "created_at": "2026-01-02T08:00:00Z",
                "result": [{"type": "choices", "from_name": "label", "value": {"choices": ["refund"]}}],
            }
        ],
    }
    read = read_feedback(json.dumps([task]).encode(), "label_studio", CLASSES, KNOWN, annotator_names={3: "kim"})
    assert read.corrections.rows() == [("A2", "refund", read.corrections["corrected_at"][0], "kim")]
    assert read.rejects.is_empty()


@pytest.mark.parametrize(
    ("data", "fmt"),
    [(b"id,label\n1,billing\n", "csv"), (b"{not json", "label_studio"), ("a,b\n".encode("utf-16"), "csv")],
)
def test_unreadable_files_raise(data: bytes, fmt: str) -> None:
    with pytest.raises(ValueError):
        read_feedback(data, fmt, CLASSES, KNOWN)  # type: ignore[arg-type]


def test_format_by_suffix() -> None:
    assert [feedback_format(n) for n in ("a.CSV", "b.jsonl", "c.json", "d.txt")] == [
        "csv",
        "jsonl",
        "label_studio",
        None,
    ]
