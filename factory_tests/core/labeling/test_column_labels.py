"""Pre-labeled data: a label column becomes annotations by the source, aggregated with the crowd's, and the
agreement gate passes items labeled only by the column while saying agreement cannot be measured."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from factory.core.labeling import (
    ANNOTATION_SCHEMA,
    REJECTS_SCHEMA,
    SOURCE,
    aggregate,
    agreement_gate,
    column_annotations,
    combine,
    crowd_agreement,
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


def _read(labels: list[str | None], weight: float = 1.0) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    read = column_annotations(
        _items(labels),
        id_column="ticket_id",
        timestamp_column="created_at",
        label_column="category",
        classes=CLASSES,
        name="given",
        weight=weight,
    )
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
