"""The paired bootstrap and McNemar's test, against scikit-learn's metrics and hand-counted cases."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score

from factory.core.promotion import Comparison, Metric, mcnemar_exact, paired_bootstrap

CLASSES = ("a", "b", "c", "d")


def _truth(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [CLASSES[i] for i in rng.integers(0, len(CLASSES), n)]


def _noisy(truth: list[str], error_rate: float, seed: int) -> list[str]:
    """``truth`` with a share of rows moved to the next class."""
    rng = np.random.default_rng(seed)
    wrong = rng.random(len(truth)) < error_rate
    return [CLASSES[(CLASSES.index(t) + 1) % len(CLASSES)] if w else t for t, w in zip(truth, wrong, strict=True)]


def _compare(
    truth: list[str], old: list[str], new: list[str], metric: Metric = "macro_f1", tolerance: float = 0.0
) -> Comparison:
    return paired_bootstrap(
        truth, old, new, classes=CLASSES, metric=metric, resamples=500, confidence=0.95, tolerance=tolerance, seed=3
    )


def test_identical_models_differ_by_zero_and_are_not_worse() -> None:
    truth = _truth(400)
    model = _noisy(truth, 0.3, seed=1)
    result = _compare(truth, model, list(model))
    assert result.difference == 0 and result.low == 0 and result.high == 0
    assert not result.worse
    assert result.challenger_only == result.champion_only == 0 and result.mcnemar_p == 1.0


def test_a_clearly_worse_model_is_worse_and_the_observed_figures_are_sklearns() -> None:
    truth = _truth(600)
    old, new = _noisy(truth, 0.1, seed=1), _noisy(truth, 0.4, seed=2)
    result = _compare(truth, old, new)
    expected_old = f1_score(truth, old, labels=list(CLASSES), average="macro", zero_division=0)
    expected_new = f1_score(truth, new, labels=list(CLASSES), average="macro", zero_division=0)
    assert result.champion == pytest.approx(expected_old) and result.challenger == pytest.approx(expected_new)
    assert result.difference == pytest.approx(expected_new - expected_old)
    assert result.low < result.difference < result.high < 0
    assert result.worse and result.mcnemar_p < 1e-6
    accuracy = _compare(truth, old, new, metric="accuracy")
    assert accuracy.difference == pytest.approx(accuracy_score(truth, new) - accuracy_score(truth, old))
    assert accuracy.worse


def test_a_better_model_is_not_worse_and_a_tolerance_absorbs_a_small_loss() -> None:
    truth = _truth(600)
    old, new = _noisy(truth, 0.3, seed=1), _noisy(truth, 0.1, seed=2)
    assert not _compare(truth, old, new).worse
    slightly = _noisy(truth, 0.33, seed=4)
    result = _compare(truth, old, slightly, tolerance=0.5)
    assert result.high > -0.5 and not result.worse


def test_seeded_and_bounded_in_memory_by_blocks() -> None:
    truth = _truth(300)
    old, new = _noisy(truth, 0.2, seed=1), _noisy(truth, 0.25, seed=2)
    first, second = _compare(truth, old, new), _compare(truth, old, new)
    assert (first.low, first.high) == (second.low, second.high)


def test_labels_outside_the_taxonomy_count_as_misses_and_classes_absent_count_zero() -> None:
    truth = ["a", "a", "b", "zz"]
    predicted = ["a", "zz", "b", "zz"]
    result = _compare(truth, predicted, predicted)
    assert result.challenger == pytest.approx(
        f1_score(truth, predicted, labels=list(CLASSES), average="macro", zero_division=0)
    )


def test_no_rows_and_mismatched_rows() -> None:
    empty = _compare([], [], [])
    assert empty.n == 0 and not empty.worse and np.isnan(empty.difference)
    with pytest.raises(ValueError, match="one prediction per row"):
        _compare(["a"], ["a"], [])


def test_mcnemar_exact() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(0, 10) == pytest.approx(2 * 0.5**10)
    assert mcnemar_exact(1, 9) == pytest.approx(2 * 11 * 0.5**10)
