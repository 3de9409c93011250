"""Majority vote (`aggregate(method="mv")`), agreement statistics and annotator accuracy on textbook data."""

from __future__ import annotations

import math
from collections.abc import Sequence

import polars as pl
import pytest

from factory.core.labeling import aggregate
from factory.core.labeling._agreement import agreement_stats, annotator_quality

CLASSES = ["billing", "bug", "feature"]
DIGITS = ["1", "2", "3", "4", "5"]


def make_annotations(rows: Sequence[tuple[int, str, str | None]]) -> pl.DataFrame:
    """A long-form annotation frame from ``(item_id, annotator, label)`` tuples."""
    return pl.DataFrame(rows, schema={"item_id": pl.Int64, "annotator": pl.String, "label": pl.String}, orient="row")


def from_reliability_matrix(coders: list[str]) -> pl.DataFrame:
    """Annotations from Krippendorff's layout: one line per coder, one column per unit, ``*`` for missing."""
    rows: list[tuple[int, str, str | None]] = []
    for coder, line in enumerate(coders):
        rows += [(unit, f"coder{coder}", value) for unit, value in enumerate(line.split()) if value != "*"]
    return make_annotations(rows)


def from_count_table(table: list[list[int]]) -> pl.DataFrame:
    """Annotations from Fleiss' layout: one row per subject, the number of raters per category."""
    rows: list[tuple[int, str, str | None]] = []
    for subject, counts in enumerate(table):
        labels = [label for label, count in zip(DIGITS, counts, strict=True) for _ in range(count)]
        rows += [(subject, f"rater{rater}", label) for rater, label in enumerate(labels)]
    return make_annotations(rows)


def vote_labels(annotations: pl.DataFrame, classes: Sequence[str], gold: pl.DataFrame | None = None) -> pl.DataFrame:
    """The labels of `aggregate` by majority vote."""
    return aggregate(annotations, classes, method="mv", gold=gold).labels


def row(frame: pl.DataFrame, item_id: int) -> dict[str, object]:
    """The single row of ``frame`` for ``item_id``."""
    (found,) = frame.filter(pl.col("item_id") == item_id).to_dicts()
    return found


# The Fleiss (1971) example as tabulated on Wikipedia's "Fleiss' kappa" page: 10 subjects, 14 raters,
# 5 categories; P-bar = 0.378, P-e = 0.213, kappa = 0.210.
FLEISS_TABLE = [
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]

# Wikipedia's "Krippendorff's alpha" computational example: 3 coders, 15 units, nominal alpha = 0.691.
WIKIPEDIA_ALPHA = [
    "*  *  *  *  *  3  4  1  2  1  1  3  3  *  3",
    "1  *  2  1  3  3  4  3  *  *  *  *  *  *  *",
    "*  *  2  1  3  4  4  *  2  1  1  3  3  *  4",
]

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers, 12 units with
# missing values, nominal alpha = 0.743.
KRIPPENDORFF_2011 = [
    "1  2  3  3  2  1  4  1  2  *  *  *",
    "1  2  3  3  2  2  4  1  2  5  *  3",
    "*  3  3  3  2  3  4  2  2  5  1  *",
    "1  2  3  3  2  4  4  1  2  5  1  *",
]


def test_majority_vote_counts_votes_and_agreement() -> None:
    frame = make_annotations(
        [(1, "a", "bug"), (1, "b", "bug"), (1, "c", "billing"), (2, "a", "feature"), (2, "b", "feature")]
    )
    result = vote_labels(frame, CLASSES)
    assert result.columns == ["item_id", "label", "confidence", "n_annotations", "agreement", "source"]
    assert result.schema["confidence"] == pl.Float64
    assert result.schema["n_annotations"] == pl.Int64
    assert result.schema["agreement"] == pl.Float64
    assert row(result, 1) == {
        "item_id": 1,
        "label": "bug",
        "confidence": pytest.approx(2 / 3),
        "n_annotations": 3,
        "agreement": pytest.approx(1 / 3),
        "source": "vote",
    }
    assert row(result, 2)["confidence"] == 1.0
    assert row(result, 2)["agreement"] == 1.0


def test_majority_vote_breaks_ties_by_class_order() -> None:
    frame = make_annotations([(1, "a", "feature"), (1, "b", "bug"), (2, "a", "bug"), (2, "b", "feature")])
    assert vote_labels(frame, CLASSES).get_column("label").to_list() == ["bug", "bug"]
    assert vote_labels(frame, ["feature", "bug", "billing"]).get_column("label").to_list() == [
        "feature",
        "feature",
    ]


def test_majority_vote_gold_overrides_the_vote() -> None:
    frame = make_annotations([(1, "a", "bug"), (1, "b", "bug"), (2, "a", "bug")])
    gold = pl.DataFrame({"item_id": [1, 99], "label": ["billing", "bug"]})
    result = vote_labels(frame, CLASSES, gold=gold)
    assert row(result, 1) == {
        "item_id": 1,
        "label": "billing",
        "confidence": 1.0,
        "n_annotations": 2,
        "agreement": 1.0,
        "source": "gold",
    }
    assert row(result, 2)["source"] == "vote"
    assert 99 not in result.get_column("item_id").to_list()


def test_majority_vote_ignores_labels_outside_the_taxonomy() -> None:
    frame = make_annotations(
        [
            (1, "a", "spam"),
            (1, "b", "spam"),
            (1, "c", "bug"),
            (2, "a", "spam"),
            (3, "a", None),
            (3, "b", "feature"),
        ]
    )
    result = vote_labels(frame, CLASSES)
    assert result.get_column("item_id").to_list() == [1, 3]
    assert row(result, 1)["label"] == "bug"
    assert row(result, 1)["n_annotations"] == 1
    assert row(result, 1)["agreement"] is None
    assert row(result, 3)["confidence"] == 1.0


def test_majority_vote_keeps_gold_items_with_only_unknown_labels() -> None:
    frame = make_annotations([(1, "a", "spam")])
    result = vote_labels(frame, CLASSES, gold=pl.DataFrame({"item_id": [1], "label": ["bug"]}))
    assert row(result, 1)["label"] == "bug"
    assert row(result, 1)["n_annotations"] == 0


def test_majority_vote_is_sorted_by_item() -> None:
    frame = make_annotations([(item, "a", "bug") for item in (5, 3, 9, 1)])
    assert vote_labels(frame, CLASSES).get_column("item_id").to_list() == [1, 3, 5, 9]


@pytest.mark.parametrize(
    ("gold", "message"),
    [
        (pl.DataFrame({"item_id": [1], "label": ["spam"]}), "outside the taxonomy"),
        (pl.DataFrame({"item_id": [1, 1], "label": ["bug", "billing"]}), "listed twice"),
        (pl.DataFrame({"item_id": [1]}), "lacks columns"),
    ],
)
def test_majority_vote_rejects_bad_gold(gold: pl.DataFrame, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        vote_labels(make_annotations([(1, "a", "bug")]), CLASSES, gold=gold)


def test_majority_vote_rejects_duplicate_classes_and_missing_columns() -> None:
    with pytest.raises(ValueError, match="distinct"):
        vote_labels(make_annotations([(1, "a", "bug")]), ["bug", "bug"])
    with pytest.raises(ValueError, match="annotator"):
        vote_labels(pl.DataFrame({"item_id": [1], "label": ["bug"]}), CLASSES)


def test_fleiss_kappa_on_the_fleiss_1971_example() -> None:
    stats = agreement_stats(from_count_table(FLEISS_TABLE), DIGITS)
    assert stats.items == 10
    assert stats.annotations == 140
    assert stats.annotators == 14
    assert stats.mean_pairwise_agreement == pytest.approx(0.378, abs=5e-4)
    assert stats.fleiss_kappa == pytest.approx(0.210, abs=5e-4)


def test_krippendorff_alpha_on_the_wikipedia_example() -> None:
    stats = agreement_stats(from_reliability_matrix(WIKIPEDIA_ALPHA), DIGITS)
    assert stats.krippendorff_alpha == pytest.approx(0.691, abs=5e-4)
    assert stats.items == 13
    assert stats.annotations == 27


def test_krippendorff_alpha_on_the_2011_example_with_missing_values() -> None:
    stats = agreement_stats(from_reliability_matrix(KRIPPENDORFF_2011), DIGITS)
    assert stats.krippendorff_alpha == pytest.approx(0.743, abs=5e-4)


def test_perfect_agreement_gives_one() -> None:
    frame = make_annotations([(item, coder, CLASSES[item % 3]) for item in range(9) for coder in ("a", "b", "c")])
    stats = agreement_stats(frame, CLASSES)
    assert stats.mean_pairwise_agreement == 1.0
    assert stats.fleiss_kappa == pytest.approx(1.0)
    assert stats.krippendorff_alpha == pytest.approx(1.0)


def test_a_single_class_everywhere_counts_as_perfect_agreement() -> None:
    stats = agreement_stats(make_annotations([(item, coder, "bug") for item in range(3) for coder in "ab"]), CLASSES)
    assert (stats.fleiss_kappa, stats.krippendorff_alpha) == (1.0, 1.0)


def test_systematic_disagreement_is_below_chance() -> None:
    frame = make_annotations([(item, "a", "bug") for item in range(4)] + [(item, "b", "billing") for item in range(4)])
    stats = agreement_stats(frame, CLASSES)
    assert stats.mean_pairwise_agreement == 0.0
    assert stats.krippendorff_alpha < 0
    assert stats.fleiss_kappa < 0


def test_agreement_is_nan_without_pairable_items_and_ignores_unknown_labels() -> None:
    stats = agreement_stats(make_annotations([(1, "a", "bug"), (1, "b", "spam"), (2, "c", "feature")]), CLASSES)
    assert (stats.items, stats.annotations, stats.annotators) == (2, 2, 2)
    assert math.isnan(stats.krippendorff_alpha)
    assert math.isnan(stats.fleiss_kappa)
    assert math.isnan(stats.mean_pairwise_agreement)


def test_annotator_quality_against_a_reference() -> None:
    frame = make_annotations(
        [
            (1, "ann", "bug"),
            (2, "ann", "billing"),
            (3, "ann", "spam"),
            (1, "bob", "bug"),
            (4, "bob", "feature"),
            (4, "cid", "feature"),
        ]
    )
    reference = pl.DataFrame({"item_id": [1, 2, 3], "label": ["bug", "bug", "bug"]})
    result = annotator_quality(frame, reference)
    assert result.to_dicts() == [
        {"annotator": "ann", "n": 3, "accuracy": pytest.approx(1 / 3)},
        {"annotator": "bob", "n": 1, "accuracy": 1.0},
        {"annotator": "cid", "n": 0, "accuracy": None},
    ]
    assert result.schema["accuracy"] == pl.Float64
    assert result.schema["n"] == pl.Int64


def test_annotator_quality_rejects_an_ambiguous_reference() -> None:
    reference = pl.DataFrame({"item_id": [1, 1], "label": ["bug", "billing"]})
    with pytest.raises(ValueError, match="listed twice"):
        annotator_quality(make_annotations([(1, "a", "bug")]), reference)


def test_null_item_ids_are_rejected() -> None:
    frame = pl.DataFrame({"item_id": [1, None], "annotator": ["a", "b"], "label": ["bug", "bug"]})
    with pytest.raises(ValueError, match="null item_id"):
        vote_labels(frame, CLASSES)
    with pytest.raises(ValueError, match="null item_id"):
        agreement_stats(frame, CLASSES)


def test_empty_annotations_give_empty_results() -> None:
    stats = agreement_stats(make_annotations([]), CLASSES)
    assert (stats.items, stats.annotations, stats.annotators) == (0, 0, 0)
    assert math.isnan(stats.krippendorff_alpha)
    assert vote_labels(make_annotations([]), CLASSES).is_empty()
