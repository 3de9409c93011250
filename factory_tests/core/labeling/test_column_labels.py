"""Pre-labeled data: a label column becomes annotations by the source, aggregated with the crowd's, and the
agreement gate passes items labeled only by the column while saying agreement cannot be measured. The labels
of rows removed as duplicates count for the item kept, and copies labeled differently are a label conflict."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import polars as pl
import pytest

from factory.core.labeling import (
    ANNOTATION_SCHEMA,
    CONFLICTS_SCHEMA,
    REJECTS_SCHEMA,
    SOURCE,
    ColumnLabels,
    aggregate,
    agreement_gate,
    column_annotations,
    combine,
    conflicts_report,
    crowd_agreement,
    label_conflicts,
    stamp,
)

CLASSES = ("a", "b", "c")
MOMENT = datetime(2026, 1, 1, 10, tzinfo=UTC)


def _items(labels: list[str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ticket_id": [f"T{i}" for i in range(len(labels))],
            "created_at": [MOMENT] * len(labels),
            "body": [f"text {i}" for i in range(len(labels))],
            "category": labels,
        },
        schema={
            "ticket_id": pl.String,
            "created_at": pl.Datetime("us", "UTC"),
            "body": pl.String,
            "category": pl.String,
        },
    )


def _column(labels: list[str | None], weight: float = 1.0, duplicates: pl.DataFrame | None = None) -> ColumnLabels:
    return column_annotations(
        _items(labels),
        id_column="ticket_id",
        timestamp_column="created_at",
        label_column="category",
        classes=CLASSES,
        name="given",
        weight=weight,
        duplicates=duplicates,
    )


def _read(labels: list[str | None], weight: float = 1.0) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    read = _column(labels, weight)
    return read.annotations, read.rejects, read.unlabeled


def test_a_label_column_becomes_annotations_rejects_and_unlabeled_items() -> None:
    made, rejects, unlabeled = _read(["a", " b ", "zebra", None, "", "c"], weight=2.5)
    assert made.schema == pl.Schema(ANNOTATION_SCHEMA)
    assert made.select("item_id", "label").rows() == [("T0", "a"), ("T1", "b"), ("T5", "c")]
    assert set(made["provenance"]) == {SOURCE} and set(made["annotator"]) == {"given"}
    assert set(made["weight"]) == {2.5} and set(made["origin"]) == {"column:category"}
    assert made["created_at"].to_list() == [MOMENT] * 3
    assert rejects.schema == pl.Schema(REJECTS_SCHEMA)
    assert rejects.select("task_id", "reason").rows() == [("T2", "label_outside_taxonomy")]
    assert "zebra" in rejects["detail"].item() and '"category": "zebra"' in rejects["payload"].item()
    assert unlabeled == 2, "null and blank labels are no annotation, not rejects"


def test_missing_columns_are_named() -> None:
    with pytest.raises(ValueError, match=r"lack column\(s\) \['category'\]"):
        column_annotations(
            _items(["a"]).drop("category"),
            id_column="ticket_id",
            timestamp_column="created_at",
            label_column="category",
            classes=CLASSES,
            name="given",
            weight=1.0,
        )


def test_given_labels_aggregate_with_the_crowd_and_pass_the_agreement_gate() -> None:
    given, _, _ = _read(["a", "b", "c", "a"])
    alone = aggregate(given, CLASSES)
    assert alone.labels.sort("item_id").select("item_id", "label").rows() == [
        ("T0", "a"),
        ("T1", "b"),
        ("T2", "c"),
        ("T3", "a"),
    ]
    # The crowd on T3 outvotes the given label; elsewhere the given label stands.
    crowd = pl.DataFrame(
        {
            "item_id": ["T3"] * 3,
            "annotator": ["p", "q", "r"],
            "label": ["b"] * 3,
            "created_at": [MOMENT] * 3,
        }
    )
    both = aggregate(combine([given, stamp(crowd, origin="t")]), CLASSES, method="mv")
    assert dict(both.labels.select("item_id", "label").rows())["T3"] == "b"

    no_humans = crowd_agreement(given.filter(pl.col("provenance") == "human"), CLASSES)
    passed = agreement_gate(no_humans, 0.6, given=given.height)
    assert passed.passed and "cannot be measured" in passed.summary
    assert "given by the data's label column" in passed.summary
    assert passed.figures["given_labels"] == 4
    assert not agreement_gate(no_humans, 0.6).passed, "without given labels, unmeasurable agreement still blocks"


# --- labels of removed duplicates, and label conflicts -------------------------------------------------------


def _duplicates(rows: list[tuple[str, str, str | None]]) -> pl.DataFrame:
    """Rows of the duplicates table: (duplicate id, kept id, label), on day 2026-01-01, lines 10, 11, ..."""
    return pl.DataFrame(
        {
            "_line": [10 + i for i in range(len(rows))],
            "ticket_id": [r[0] for r in rows],
            "duplicate_of": [r[1] for r in rows],
            "kind": ["near"] * len(rows),
            "category": [r[2] for r in rows],
            "partition_key": ["2026-01-01"] * len(rows),
        },
        schema={
            "_line": pl.Int64,
            "ticket_id": pl.String,
            "duplicate_of": pl.String,
            "kind": pl.String,
            "category": pl.String,
            "partition_key": pl.String,
        },
    )


def test_the_labels_of_removed_duplicates_become_annotations_of_the_kept_item() -> None:
    copies = _duplicates(
        [
            ("D1", "T0", "a"),  # agrees with the kept row
            ("D2", "T1", "b"),  # disagrees
            ("D3", "T1", "b"),
            ("D4", "T2", "zebra"),  # outside the taxonomy: a reject, naming the duplicate
            ("D5", "T2", None),  # no label: nothing
            ("D6", "T3", "c"),  # the kept row is unlabeled: the copy's label stands
            ("D7", "T9", "a"),  # a duplicate of an item of another day: not this day's
        ]
    )
    read = _column(["a", "a", "c", None], 2.0, copies)
    made = read.annotations
    assert made.schema == pl.Schema(ANNOTATION_SCHEMA)
    assert read.from_duplicates == 4 and read.unlabeled == 1
    assert made.filter(pl.col("origin") != "column:category").select("item_id", "label", "origin").rows() == [
        ("T0", "a", "column:category duplicate D1 (2026-01-01, row 10)"),
        ("T1", "b", "column:category duplicate D2 (2026-01-01, row 11)"),
        ("T1", "b", "column:category duplicate D3 (2026-01-01, row 12)"),
        ("T3", "c", "column:category duplicate D6 (2026-01-01, row 15)"),
    ]
    assert set(made["annotator"]) == {"given"} and set(made["weight"]) == {2.0} and set(made["provenance"]) == {SOURCE}
    assert made["created_at"].to_list() == [MOMENT] * made.height, "a copy's label is dated like the kept item"
    assert read.rejects.select("task_id", "reason").rows() == [("T2", "label_outside_taxonomy")]
    assert json.loads(read.rejects["payload"].item()) == {"item_id": "T2", "category": "zebra", "duplicate": "D4"}

    # Every copy counts: the kept row's "a" is outvoted by its two duplicates' "b" (same source, same weight).
    stacked = combine([made])
    assert stacked.height == made.height, "no copy is taken for a repeat of another"
    labels = dict(aggregate(stacked, CLASSES).labels.select("item_id", "label").rows())
    assert labels == {"T0": "a", "T1": "b", "T2": "c", "T3": "c"}
    votes = dict(aggregate(stacked, CLASSES, method="mv").labels.select("item_id", "n_annotations").rows())
    assert votes == {"T0": 2, "T1": 3, "T2": 1, "T3": 1}


def test_a_label_conflict_names_the_item_the_labels_and_the_rows_and_agreeing_copies_raise_none() -> None:
    read = _column(["a", "a", "c"], 2.0, _duplicates([("D1", "T0", "a"), ("D2", "T1", "b"), ("D3", "T1", "b")]))
    crowd = stamp(
        pl.DataFrame(
            {"item_id": ["T0", "T0"], "annotator": ["p", "q"], "label": ["a", "c"], "created_at": [MOMENT] * 2}
        ),
        origin="inbox.csv",
    )
    conflicts = label_conflicts(combine([read.annotations, crowd]))
    assert conflicts.schema == pl.Schema(CONFLICTS_SCHEMA)
    assert conflicts.select("item_id", "annotator", "n_rows").rows() == [("T1", "given", 3)], (
        "T0's copies agree (people disagreeing is no label conflict)"
    )
    record = conflicts.row(0, named=True)
    assert json.loads(record["labels"]) == {"b": 2, "a": 1}
    assert json.loads(record["rows"]) == [
        {"origin": "column:category", "label": "a"},
        {"origin": "column:category duplicate D2 (2026-01-01, row 11)", "label": "b"},
        {"origin": "column:category duplicate D3 (2026-01-01, row 12)", "label": "b"},
    ]
    report = conflicts_report(conflicts)
    assert "1 item(s) carry different labels" in report and "| T1 | given | 3 | b x2, a x1 |" in report
    assert "text" not in report, "ids, labels and row references only"
    assert label_conflicts(read.annotations.filter(pl.col("item_id") != "T1")).is_empty()
    assert "no item was labeled differently" in conflicts_report(label_conflicts(crowd))


def test_duplicates_missing_a_column_are_named() -> None:
    with pytest.raises(ValueError, match=r"duplicates lack column\(s\) \['category'\]"):
        _column(["a"], 1.0, _duplicates([("D1", "T0", "a")]).drop("category"))
    with pytest.raises(ValueError, match=r"annotations lack column\(s\) \['origin'\]"):
        label_conflicts(_read(["a"])[0].drop("origin"))
