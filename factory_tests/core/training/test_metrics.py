"""The fast metrics selection and promotion read agree with scikit-learn, bootstrap reproducibly, and slice rows
as the spec declares."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from factory.core.training import (
    MISSING,
    bootstrap_interval,
    class_metrics,
    encode_labels,
    expected_calibration_error,
    metric_of,
    slice_masks,
    slice_metrics,
)

CLASSES = ["a", "b", "c", "d"]  # "d" is never present nor predicted: macro F1 counts it as 0, as sklearn does


def _labels(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n)
    predicted = np.where(rng.random(n) < 0.7, truth, rng.integers(0, 3, n))
    return truth, predicted


def test_metrics_match_scikit_learn_over_the_taxonomy() -> None:
    truth, predicted = _labels(500, 1)
    assert metric_of(truth, predicted, 4, "macro_f1") == pytest.approx(
        f1_score(truth, predicted, labels=range(4), average="macro", zero_division=0)
    )
    assert metric_of(truth, predicted, 4, "accuracy") == pytest.approx(accuracy_score(truth, predicted))
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=range(4), zero_division=0)
    rows = class_metrics(truth, predicted, CLASSES)
    assert [r["class"] for r in rows] == CLASSES
    assert np.allclose([r["precision"] for r in rows], precision)
    assert np.allclose([r["recall"] for r in rows], recall)
    assert np.allclose([r["f1"] for r in rows], f1)
    assert [r["support"] for r in rows] == support.tolist()


def test_bootstrap_interval_is_seeded_and_brackets_the_value() -> None:
    truth, predicted = _labels(400, 2)
    first = bootstrap_interval(truth, predicted, 4, "macro_f1", resamples=200, seed=5)
    assert first == bootstrap_interval(truth, predicted, 4, "macro_f1", resamples=200, seed=5)
    assert first.low < first.value < first.high and 0 < first.se < 0.1
    wider = bootstrap_interval(truth[:50], predicted[:50], 4, "macro_f1", resamples=200, seed=5)
    assert wider.se > first.se


def test_expected_calibration_error_is_the_weighted_gap_between_confidence_and_accuracy() -> None:
    rng = np.random.default_rng(3)
    confidence = rng.uniform(0.5, 1.0, 20_000)
    truth = np.zeros(20_000, dtype=np.int64)
    correct = rng.random(20_000) < confidence
    proba = np.column_stack(
        [np.where(correct, confidence, 1 - confidence), np.where(correct, 1 - confidence, confidence)]
    )
    columns = np.array([0, 1])
    assert expected_calibration_error(proba, truth, columns) < 0.02  # calibrated by construction
    sure = np.column_stack([np.ones(20_000), np.zeros(20_000)])
    assert expected_calibration_error(sure[:0], truth[:0], columns) == 0.0
    assert expected_calibration_error(sure, np.where(correct, 0, 1), columns) == pytest.approx(1 - correct.mean())


def test_labels_outside_the_taxonomy_are_an_error() -> None:
    assert encode_labels(["b", "a"], CLASSES).tolist() == [1, 0]
    with pytest.raises(ValueError, match="'z' is not in the taxonomy"):
        encode_labels(["a", "z"], CLASSES)


def test_slice_masks_cover_every_value_with_missing_as_a_slice_and_gate_by_support() -> None:
    frame = pl.DataFrame({"channel": ["chat", "email", None, "chat", "chat"], "tier": ["x", "x", "y", "y", "y"]})
    masks = slice_masks(frame, ["channel", "tier"], min_support=3)
    assert [(m.column, m.value, m.support, m.gated) for m in masks] == [
        ("channel", MISSING, 1, False),
        ("channel", "chat", 3, True),
        ("channel", "email", 1, False),
        ("tier", "x", 2, False),
        ("tier", "y", 3, True),
    ]
    assert masks[1].mask.tolist() == [True, False, False, True, True]
    truth = np.array([0, 1, 2, 0, 1])
    predicted = np.array([0, 1, 2, 0, 0])
    rows = slice_metrics(masks, truth, predicted, 4, "macro_f1")
    chat = rows[1]
    assert chat["support"] == 3 and chat["accuracy"] == pytest.approx(2 / 3)
    # in a slice, macro F1 averages the classes present or predicted there (0 and 1), not the whole taxonomy
    assert chat["macro_f1"] == pytest.approx(f1_score([0, 1, 0], [0, 0, 0], average="macro", zero_division=0))
