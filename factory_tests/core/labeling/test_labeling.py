"""The labeling layer's own logic: annotation tables, weighted aggregation, the gates and the review batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from factory.core.labeling import (
    ANNOTATION_SCHEMA,
    REJECTS_SCHEMA,
    ReviewPolicy,
    aggregate,
    agreement_gate,
    classes_in_csv,
    combine,
    crowd_agreement,
    drift_gate,
    feedback_annotations,
    file_rejects,
    gold_accuracy_gate,
    read_annotations_csv,
    read_gold_csv,
    read_label_studio,
    review_annotators,
    review_queue,
    review_texts,
    spammer_gate,
    stamp,
)
from factory.core.labeling._annotation_table import latest_answers
from factory.core.training import ModelColumns
from factory_tests.helpers import number

CLASSES = ("a", "b", "c")
T0 = datetime(2026, 1, 1, 9, tzinfo=UTC)


def answers(rows: list[tuple[str, str, str]], minutes: int = 0) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "item_id": [r[0] for r in rows],
            "annotator": [r[1] for r in rows],
            "label": [r[2] for r in rows],
            "created_at": [T0 + timedelta(minutes=minutes + i) for i in range(len(rows))],
        }
    )


def crowd(items: int, accuracies: dict[str, float], seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every annotator labels every item; returns the annotations and the truth."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, len(CLASSES), items)
    rows = []
    for name, accuracy in accuracies.items():
        right = rng.random(items) < accuracy
        wrong = (truth + rng.integers(1, len(CLASSES), items)) % len(CLASSES)
        labels = np.where(right, truth, wrong)
        rows += [(f"i{n:04d}", name, CLASSES[label]) for n, label in enumerate(labels)]
    true = pl.DataFrame({"item_id": [f"i{n:04d}" for n in range(items)], "label": [CLASSES[t] for t in truth]})
    return stamp(answers(rows), origin="test"), true


def test_stamp_and_combine_give_one_table_without_repeats() -> None:
    first = stamp(answers([("1", "x", "a"), ("2", "x", "b")]), origin="export-1")
    again = stamp(answers([("1", "x", "a")]), origin="export-2")  # a later export repeats an annotation
    table = combine([again, first])
    assert table.schema == pl.Schema(ANNOTATION_SCHEMA)
    assert table.height == 2 and table["origin"].to_list() == ["export-2", "export-1"]
    assert set(table["provenance"]) == {"human"} and set(table["weight"]) == {1.0}
    assert combine([]).is_empty()


def test_latest_answer_per_item_and_annotator_wins() -> None:
    early = answers([("1", "x", "a")])
    late = answers([("1", "x", "b"), ("1", "y", "a")], minutes=60)
    kept = latest_answers(pl.concat([late, early]))
    assert sorted(kept.select("annotator", "label").rows()) == [("x", "b"), ("y", "a")]


def test_feedback_annotations_carry_their_weight() -> None:
    corrections = pl.DataFrame({"ticket_id": ["1"], "corrected_label": ["c"], "corrected_at": [T0]})
    rows = feedback_annotations(corrections, "ticket_id", 2.5)
    assert rows.row(0, named=True) | {"created_at": None} == {
        "item_id": "1",
        "annotator": "feedback",
        "label": "c",
        "created_at": None,
        "provenance": "feedback",
        "weight": 2.5,
        "origin": "feedback",
    }


def test_weighted_feedback_outvotes_the_crowd_in_dawid_skene_only() -> None:
    table, _ = crowd(300, {"p": 0.9, "q": 0.85, "r": 0.8}, seed=1)
    before = aggregate(table, CLASSES).labels
    target = before.filter(pl.col("source") == "ds").head(40)
    # Agents correct 40 items to another class, and confirm the crowd on 200 others (so DS learns they are reliable).
    corrections = target.select(
        pl.col("item_id").alias("ticket_id"),
        pl.col("label").replace_strict(dict(zip(CLASSES, ("b", "c", "a"), strict=True))).alias("corrected_label"),
        pl.lit(T0).alias("corrected_at"),
    )
    agreeing = before.filter(~pl.col("item_id").is_in(target["item_id"].implode())).head(200)
    confirmations = agreeing.select(
        pl.col("item_id").alias("ticket_id"), pl.col("label").alias("corrected_label"), pl.lit(T0).alias("corrected_at")
    )
    heavy = combine([table, feedback_annotations(pl.concat([corrections, confirmations]), "ticket_id", 4)])
    after = aggregate(heavy, CLASSES).labels.join(corrections, left_on="item_id", right_on="ticket_id")
    assert number((after["label"] == after["corrected_label"]).mean()) > 0.9
    weightless = heavy.with_columns(
        pl.when(pl.col("provenance") == "feedback").then(0.0).otherwise(1.0).alias("weight")
    )
    ignored = aggregate(weightless, CLASSES).labels.join(corrections, left_on="item_id", right_on="ticket_id")
    assert number((ignored["label"] == ignored["corrected_label"]).mean()) < 0.1
    voted = aggregate(heavy, CLASSES, method="mv")
    assert voted.method == "mv" and voted.annotator_accuracy.is_empty()


def test_gold_is_fixed_and_ds_reports_annotator_accuracy() -> None:
    table, truth = crowd(200, {"p": 0.9, "q": 0.7, "spam": 1 / 3})
    gold = truth.head(20).with_columns(pl.lit("c").alias("label"))
    result = aggregate(table, CLASSES, gold=gold)
    fixed = result.labels.join(gold, on="item_id", suffix="_gold")
    assert (fixed["label"] == "c").all() and fixed["confidence"].eq(1.0).all() and set(fixed["source"]) == {"gold"}
    accuracy = dict(result.annotator_accuracy.select("annotator", "accuracy").rows())
    assert accuracy["p"] > accuracy["q"] > accuracy["spam"]
    assert result.iterations > 0 and result.converged
    with pytest.raises(ValueError, match="unknown aggregation method"):
        aggregate(table, CLASSES, method="best")  # type: ignore[arg-type]  # the error under test


def test_agreement_gate_leaves_spammers_out_and_explains_itself() -> None:
    table, _ = crowd(300, {"p": 0.9, "q": 0.85, "r": 0.85, "spam": 1 / 3})
    with_spammer = agreement_gate(crowd_agreement(table, CLASSES), 0.6)
    without = agreement_gate(crowd_agreement(table, CLASSES, ["spam"]), 0.6)
    assert not with_spammer.passed and without.passed
    assert "leaving out spammer(s) spam" in without.summary and without.figures["spammers_left_out"] == "spam"
    assert "annotator report" in with_spammer.summary
    single = stamp(answers([("1", "x", "a"), ("2", "x", "b")]), origin="t")
    assert not agreement_gate(crowd_agreement(single, CLASSES), 0.6).passed
    assert "cannot be measured" in agreement_gate(crowd_agreement(single, CLASSES), 0.6).summary
    assert agreement_gate(crowd_agreement(single, CLASSES), 0.0).passed


def test_annotator_review_and_its_warning_gates() -> None:
    table, truth = crowd(300, {"p": 0.95, "q": 0.9, "r": 0.85, "spam": 1 / 3})
    consensus = aggregate(table, CLASSES, gold=truth.head(60)).labels
    review = review_annotators(table, consensus, CLASSES, truth.head(60))
    assert review.spammers == ["spam"]
    assert "### Annotators to look at" in review.report and review.pairs.height == 6
    assert not spammer_gate(review.scores).passed and "spam" in spammer_gate(review.scores).summary
    gold = gold_accuracy_gate(review.scores, 0.6, 20)
    assert not gold.passed and [row["annotator"] for row in gold.table] == ["spam"]
    assert gold_accuracy_gate(review.scores, 0.6, 1000).passed, "too few gold items to judge anyone"
    assert drift_gate(review.drift.alerts).passed
    empty = review_annotators(table.head(0), consensus.head(0), CLASSES)
    assert empty.scores.is_empty() and empty.report == ""


def test_gold_csv_and_class_inference() -> None:
    gold = read_gold_csv(b"item_id,label\n 1 ,a\n2,b\n", CLASSES)
    assert gold.rows() == [("1", "a"), ("2", "b")]
    for content, message in [
        (b"item,label\n1,a\n", "lacks columns"),
        (b"item_id,label\n1,z\n", "outside the classes"),
        (b"item_id,label\n1,a\n1,b\n", "twice"),
        (b"item_id,label\n1,\n", "without item_id or label"),
    ]:
        with pytest.raises(ValueError, match=message):
            read_gold_csv(content, CLASSES)
    assert classes_in_csv(b"item_id,annotator,label\n1,x, b \n2,x,a\n3,x,\n") == ("a", "b")


def test_reader_rejects_in_one_layout() -> None:
    csv = read_annotations_csv(b"item_id,annotator,label,created_at\n1,x,z,2026-01-01\n", CLASSES)
    export = read_label_studio(b'[{"id": 1, "data": {"item_id": "1"}, "annotations": [{"result": []}]}]', CLASSES)
    for imported, fmt in ((csv, "csv"), (export, "label_studio")):
        rejects = file_rejects(imported.rejects, file="f", fmt=fmt)
        assert rejects.schema == pl.Schema(REJECTS_SCHEMA) and rejects.height == 1
        assert rejects["position"].to_list() in ([2], [0])


def test_review_queue_skips_gold_and_prefers_the_production_model() -> None:
    rng = np.random.default_rng(5)
    words = {"a": "invoice charge", "b": "parcel tracking", "c": "login password"}
    items = [f"i{n:03d}" for n in range(120)]
    labels = [CLASSES[n % 3] for n in range(120)]
    texts = pl.DataFrame({"item_id": items, "text": [f"{words[label]} {rng.integers(1000)}" for label in labels]})
    labeled = pl.DataFrame(
        {
            "item_id": items,
            "label": labels,
            "confidence": [0.9] * 120,
            "agreement": [1.0 if n % 7 else 0.0 for n in range(120)],
            "source": ["gold" if n < 30 else "ds" for n in range(120)],
        }
    )
    predictions = pl.DataFrame({"item_id": items, "model_label": ["a"] * 120, "confidence": [0.3] * 120})
    batch = review_queue(labeled, texts, CLASSES, 20, ReviewPolicy(), predictions=predictions, folds=3)
    assert batch.queue.height == 20 and batch.issues.height == 120
    assert not batch.queue["item_id"].is_in(items[:30]).any()
    assert set(batch.queue["model_label"]) == {"a"} and set(batch.queue["confidence"]) == {0.3}
    assert review_queue(labeled.head(1), texts, CLASSES, 20).queue.is_empty()
    with pytest.raises(ValueError, match="have no text"):
        review_queue(labeled, texts.head(10), CLASSES, 20)


def test_without_text_the_review_queue_reads_the_features() -> None:
    """A tabular batch: the out-of-fold model is the features' linear candidate, so labels that contradict
    clear feature evidence come out as label issues, and the reviewer's text lists the features."""
    rng = np.random.default_rng(8)
    n = 300
    amount = rng.gamma(2.0, 500.0, n)
    region = rng.choice(["north", "south"], n)
    truth = np.where((amount > 1200) | (region == "south"), "b", "a")
    flipped = set(rng.choice(n, 12, replace=False).tolist())
    labels = ["a" if (k in flipped and t == "b") else "b" if k in flipped else str(t) for k, t in enumerate(truth)]
    items = [f"c{k:03d}" for k in range(n)]
    prepared = pl.DataFrame({"claim_id": items, "region": region.tolist(), "amount": amount.tolist()})
    texts = review_texts(prepared, "claim_id", (), ("region", "amount"))
    assert texts["text"][0].startswith("region: ") and "\namount: " in texts["text"][0]
    labeled = pl.DataFrame(
        {"item_id": items, "label": labels, "confidence": [0.9] * n, "agreement": [1.0] * n, "source": ["ds"] * n}
    )
    features = prepared.rename({"claim_id": "item_id"})
    columns = ModelColumns(categorical=("region",), numeric=("amount",))
    batch = review_queue(labeled, texts, ["a", "b"], 30, folds=5, features=features, columns=columns)
    found = set(batch.issues.filter(pl.col("is_issue"))["item_id"])
    assert len(found & {items[k] for k in flipped}) >= 9, "most flipped labels are found from the features"
    text_only = review_queue(labeled, texts, ["a", "b"], 30, folds=5)
    assert not text_only.issues["label_quality"].equals(batch.issues["label_quality"])
