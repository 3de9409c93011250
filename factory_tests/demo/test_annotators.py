"""Tests of the simulated annotators and the gold set."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from factory.demo import ANNOTATORS, CATEGORIES, DemoConfig, annotate, gold_labels, truth_for
from factory.demo.annotators import CONFUSABLE, accuracy_on
from factory_tests.helpers import number

START = date(2026, 1, 1)
CONFIG = DemoConfig(rows_per_day=6000)


@pytest.fixture(scope="module")
def truth() -> pl.DataFrame:
    return truth_for(START, CONFIG)


def scored(annotations: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    return annotations.join(truth, left_on="item_id", right_on="ticket_id", how="left").with_columns(
        (pl.col("label") == pl.col("category")).alias("correct")
    )


def accuracy_by_annotator(annotations: pl.DataFrame, truth: pl.DataFrame) -> dict[str, float]:
    table = scored(annotations, truth).group_by("annotator").agg(pl.col("correct").mean())
    return dict(zip(table["annotator"], table["correct"], strict=True))


def test_profiles_match_the_brief() -> None:
    kinds = [profile.kind for profile in ANNOTATORS]
    assert kinds.count("reliable") == 4
    assert kinds.count("spammer") == 1
    assert kinds.count("decaying") == 1
    reliable = sorted((profile.accuracy for profile in ANNOTATORS if profile.kind == "reliable"), reverse=True)
    assert reliable == pytest.approx([0.95, 0.90, 0.85, 0.78])
    assert len({profile.name for profile in ANNOTATORS}) == len(ANNOTATORS)
    decaying = next(profile for profile in ANNOTATORS if profile.kind == "decaying")
    assert accuracy_on(decaying, 0) == pytest.approx(0.92)
    assert accuracy_on(decaying, 100) == pytest.approx(0.3)


def test_annotations_have_the_promised_schema(truth: pl.DataFrame) -> None:
    annotations = annotate(truth.head(10), START, CONFIG, START)
    expected: dict[str, pl.DataType] = {
        "item_id": pl.String(),
        "annotator": pl.String(),
        "label": pl.String(),
        "created_at": pl.Datetime("us", "UTC"),
    }
    assert annotations.schema == pl.Schema(expected)
    assert annotations["created_at"].dt.date().eq(START).all()


def test_each_item_gets_distinct_annotators(truth: pl.DataFrame) -> None:
    annotations = annotate(truth, START, CONFIG, START)
    per_item = annotations.group_by("item_id").agg(pl.len(), pl.col("annotator").n_unique().alias("distinct"))
    assert per_item.height == truth.height
    assert (per_item["len"] == CONFIG.annotations_per_item).all()
    assert (per_item["distinct"] == CONFIG.annotations_per_item).all()
    assert annotations["label"].is_in(CATEGORIES).all()
    assert set(annotations["annotator"]) == {profile.name for profile in ANNOTATORS}


def test_annotations_are_deterministic_and_independent_of_the_batch(truth: pl.DataFrame) -> None:
    annotations = annotate(truth, START, CONFIG, START)
    assert annotate(truth, START, CONFIG, START).equals(annotations)
    subset = truth.slice(100, 50)
    alone = annotate(subset, START, CONFIG, START)
    assert alone.equals(annotations.filter(pl.col("item_id").is_in(subset["ticket_id"].implode())))
    assert not annotate(truth, START + timedelta(days=1), CONFIG, START).equals(annotations)


def test_measured_accuracy_is_close_to_the_profiles(truth: pl.DataFrame) -> None:
    measured = accuracy_by_annotator(annotate(truth, START, CONFIG, START), truth)
    for profile in ANNOTATORS:
        expected = accuracy_on(profile, 0)
        tolerance = 0.05 if profile.kind == "reliable" else 0.04
        assert measured[profile.name] == pytest.approx(expected, abs=tolerance), profile.name


def test_spammer_labels_at_random(truth: pl.DataFrame) -> None:
    spammer = next(profile.name for profile in ANNOTATORS if profile.kind == "spammer")
    labels = annotate(truth, START, CONFIG, START).filter(pl.col("annotator") == spammer)["label"]
    shares = labels.value_counts(normalize=True)["proportion"]
    assert shares.len() == len(CATEGORIES)
    assert number(shares.max()) < 2.5 / len(CATEGORIES)


def test_decaying_annotator_gets_worse(truth: pl.DataFrame) -> None:
    decaying = next(profile.name for profile in ANNOTATORS if profile.kind == "decaying")
    day_zero = accuracy_by_annotator(annotate(truth, START, CONFIG, START), truth)[decaying]
    later = START + timedelta(days=10)
    day_ten = accuracy_by_annotator(annotate(truth, later, CONFIG, START), truth)[decaying]
    assert day_ten < day_zero - 0.15
    assert day_ten == pytest.approx(0.62, abs=0.05)


def test_mistakes_are_mostly_related_categories(truth: pl.DataFrame) -> None:
    reliable = [profile.name for profile in ANNOTATORS if profile.kind == "reliable"]
    wrong = scored(annotate(truth, START, CONFIG, START), truth).filter(
        pl.col("annotator").is_in(reliable) & ~pl.col("correct") & pl.col("category").is_in(list(CONFUSABLE))
    )
    related = wrong.select((pl.col("label") == pl.col("category").replace_strict(dict(CONFUSABLE))).mean()).item()
    assert 0.6 < related < 0.85


def test_annotate_rejects_bad_input(truth: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match="annotators"):
        annotate(truth, START, DemoConfig(annotations_per_item=7), START)
    bad = pl.DataFrame({"ticket_id": ["T1"], "category": ["weather"]})
    with pytest.raises(ValueError, match="weather"):
        annotate(bad, START, CONFIG, START)


def test_gold_is_a_stable_share_with_true_labels(truth: pl.DataFrame) -> None:
    gold = gold_labels(truth, CONFIG)
    assert gold.columns == ["item_id", "label"]
    assert gold.height / truth.height == pytest.approx(CONFIG.gold_share, abs=0.01)
    checked = gold.join(truth, left_on="item_id", right_on="ticket_id")
    assert checked.height == gold.height
    assert (checked["label"] == checked["category"]).all()
    subset = truth.slice(0, 1000)
    assert gold_labels(subset, CONFIG).equals(gold.filter(pl.col("item_id").is_in(subset["ticket_id"].implode())))
    assert gold_labels(truth, CONFIG).equals(gold)
