"""Tests of the demo streams behind a ``demo`` data source: the ticket stream is exactly what it was before
the streams became pluggable, and the crowd, gold set and agents work on the claims stream's truth."""

from __future__ import annotations

import hashlib
from datetime import date

import polars as pl
import pytest

from factory.demo.annotators import ANNOTATORS, Taxonomy, annotate, gold_labels
from factory.demo.claims import CLAIM_CLASSES, CLAIM_CONFUSABLE
from factory.demo.feedback import corrections
from factory.demo.generators import GENERATORS, generator
from factory.demo.tickets import DemoConfig
from factory.spec import DemoSourceSpec
from factory_tests.helpers import number

START = date(2026, 1, 1)


def digest(frame: pl.DataFrame) -> str:
    return hashlib.sha256(frame.write_csv().encode()).hexdigest()[:16]


def test_the_ticket_stream_its_crowd_and_its_agents_are_unchanged() -> None:
    """Digests taken before the streams became pluggable; the quick demo's dataset digest depends on them."""
    stream = generator("tickets")
    config = DemoConfig(drift_start=date(2026, 1, 4))
    day = date(2026, 1, 5)
    truth = stream.truth(day, config)
    predictions = truth.select("ticket_id", pl.col("category").alias("predicted_label"))
    made = (
        stream.raw(day, config),
        truth,
        annotate(truth, day, config, START, stream.taxonomy),
        gold_labels(truth, config, stream.taxonomy),
        corrections(predictions, truth, day, config, stream.taxonomy),
    )
    assert [digest(frame) for frame in made] == [
        "917f663a1b81f7b0",
        "cb6ff93532aa318a",
        "eb81717aded19fcc",
        "643dc16e2b896a80",
        "7e8152c064e03c26",
    ]


def test_the_crowd_labels_claims_with_the_claim_classes() -> None:
    stream = generator("claims")
    config = DemoConfig(seed=11, rows_per_day=3000)
    truth = stream.truth(START, config)
    made = annotate(truth, START, config, START, stream.taxonomy)
    assert made.height == truth.height * config.annotations_per_item
    assert set(made["label"]) == set(CLAIM_CLASSES)
    scored = made.join(truth, left_on="item_id", right_on="claim_id", suffix="_true")
    accuracy = dict(scored.group_by("annotator").agg((pl.col("label") == pl.col("label_true")).mean()).iter_rows())
    spammer = next(p.name for p in ANNOTATORS if p.kind == "spammer")
    assert accuracy[spammer] < 0.4
    assert min(v for name, v in accuracy.items() if name != spammer) > 0.75
    wrong = scored.filter((pl.col("label") != pl.col("label_true")) & (pl.col("annotator") != spammer))
    confused = wrong.filter(pl.col("label") == pl.col("label_true").replace_strict(CLAIM_CONFUSABLE))
    assert number(confused.height / wrong.height) > 0.6


def test_gold_and_corrections_read_the_claims_truth() -> None:
    stream = generator("claims")
    config = DemoConfig(seed=11)
    truth = stream.truth(START, config)
    gold = gold_labels(truth, config, stream.taxonomy)
    assert 0.03 < gold.height / truth.height < 0.07
    assert (
        gold.join(truth, left_on="item_id", right_on="claim_id")
        .filter(pl.col("label") != pl.col("label_right"))
        .is_empty()
    )
    predictions = truth.select("claim_id", pl.lit("approve").alias("predicted_label"))
    reviewed = corrections(predictions, truth, START, config, stream.taxonomy)
    assert reviewed.columns == ["claim_id", "predicted_label", "corrected_label", "corrected_at"]
    assert 0.07 < reviewed.height / truth.height < 0.13
    assert set(reviewed["corrected_label"]) <= set(CLAIM_CLASSES)


def test_an_unknown_generator_is_an_error_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match="tickets, claims"):
        generator("weather")
    assert set(GENERATORS) == {"tickets", "claims"}


def test_a_taxonomy_rejects_confusions_outside_its_classes() -> None:
    with pytest.raises(ValueError, match="outside the taxonomy"):
        Taxonomy(("a", "b"), {"a": "c"}, id_column="id", label_column="label")


def test_a_demo_source_generates_tickets_unless_told_otherwise() -> None:
    assert DemoSourceSpec(name="t", kind="demo").generator == "tickets"
    assert DemoSourceSpec(name="c", kind="demo", generator="claims").generator == "claims"
    with pytest.raises(ValueError, match="generator"):
        DemoSourceSpec.model_validate({"name": "x", "kind": "demo", "generator": "weather"})
