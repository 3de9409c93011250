"""Performance estimated from calibrated probabilities (CBPE) is close to the truth; realized performance is
the metric of the corrected predictions."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import accuracy_score, f1_score

from factory.core.monitoring import (
    _performance,
    estimate_performance,
    estimate_standard_error,
    realized_performance,
    realized_standard_error,
)
from factory.core.training import bootstrap_interval, encode_labels

CLASSES = ["a", "b", "c", "d"]


def calibrated(rows: int, seed: int, sharpness: float) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities of a perfectly calibrated model and true labels drawn from them."""
    rng = np.random.default_rng(seed)
    proba = rng.dirichlet(np.full(len(CLASSES), 1.0 / sharpness), size=rows)
    truth = (proba.cumsum(axis=1) > rng.random(rows)[:, None]).argmax(axis=1)
    return proba, truth


@pytest.mark.parametrize(("seed", "sharpness"), [(1, 1.0), (2, 3.0), (3, 0.5)])
def test_estimate_is_close_to_the_truth_of_a_calibrated_model(seed: int, sharpness: float) -> None:
    proba, truth = calibrated(20_000, seed, sharpness)
    predicted = proba.argmax(axis=1)
    macro_f1, accuracy = estimate_performance(proba, CLASSES)
    assert accuracy == pytest.approx(accuracy_score(truth, predicted), abs=0.01)
    assert macro_f1 == pytest.approx(f1_score(truth, predicted, average="macro"), abs=0.015)


def test_estimate_sees_a_drop_in_confidence() -> None:
    sure, _ = calibrated(5000, 4, 3.0)
    unsure, _ = calibrated(5000, 5, 0.7)
    assert estimate_performance(unsure, CLASSES)[0] < estimate_performance(sure, CLASSES)[0] - 0.1


def test_standard_error_matches_the_spread_of_fresh_samples() -> None:
    """The bootstrap error of one day's estimate is the spread the estimate shows over many days of the same
    traffic, and shrinks with the square root of the rows."""
    spread = np.std([estimate_performance(calibrated(300, seed, 1.0)[0], CLASSES) for seed in range(200)], axis=0)
    error = np.mean([estimate_standard_error(calibrated(300, seed, 1.0)[0], CLASSES) for seed in range(900, 905)], 0)
    assert error == pytest.approx(spread, rel=0.25)
    larger = estimate_standard_error(calibrated(4800, 7, 1.0)[0], CLASSES)
    assert np.asarray(larger) == pytest.approx(error / 4, rel=0.3)


def test_standard_error_of_a_large_day_is_scaled_from_a_subsample(monkeypatch: pytest.MonkeyPatch) -> None:
    proba = calibrated(4000, 8, 1.0)[0]
    whole = estimate_standard_error(proba, CLASSES)
    monkeypatch.setattr(_performance, "BOOTSTRAP_ROWS", 1000)
    assert estimate_standard_error(proba, CLASSES) == pytest.approx(whole, rel=0.25)


def test_standard_error_of_one_row_is_zero_and_a_wrong_shape_is_refused() -> None:
    assert estimate_standard_error(np.array([[0.7, 0.1, 0.1, 0.1]]), CLASSES) == (0.0, 0.0)
    with pytest.raises(ValueError, match="4 classes"):
        estimate_standard_error(np.ones((3, 2)) / 2, CLASSES)


def test_estimate_rejects_a_wrong_shape() -> None:
    with pytest.raises(ValueError, match="4 classes"):
        estimate_performance(np.ones((3, 2)) / 2, CLASSES)
    with pytest.raises(ValueError, match="no rows"):
        estimate_performance(np.zeros((0, 4)), CLASSES)


def test_realized_performance_scores_the_corrected_predictions() -> None:
    predicted = pl.Series(["a", "a", "b", "c", None])
    corrected = pl.Series(["a", "b", "b", "c", "d"])
    macro_f1, accuracy = realized_performance(predicted, corrected, CLASSES)
    assert accuracy == pytest.approx(0.75)
    expected = f1_score(["a", "b", "b", "c"], ["a", "a", "b", "c"], labels=CLASSES, average="macro", zero_division=0)
    assert macro_f1 == pytest.approx(expected)
    with pytest.raises(ValueError, match="no corrected"):
        realized_performance(pl.Series([None], dtype=pl.String), pl.Series(["a"]), CLASSES)
    with pytest.raises(ValueError, match="taxonomy"):
        realized_performance(pl.Series(["z"]), pl.Series(["a"]), CLASSES)


def test_the_realized_error_of_macro_f1_is_the_spread_of_the_figure_not_a_binomial_one() -> None:
    """300 corrected rows from a population with a class at 3%: the bootstrap error of their macro F1 is within a
    third of the figure's spread over fresh draws of 300 rows, well over the binomial error of those rows;
    the realized error is that bootstrap error or the conservative thin-class bound, whichever is larger."""
    rng = np.random.default_rng(3)
    truth_all = rng.choice(CLASSES, size=200_000, p=[0.6, 0.27, 0.1, 0.03])
    guess_all = np.where(rng.random(truth_all.size) < 0.2, rng.choice(CLASSES, size=truth_all.size), truth_all)

    def draw(n: int) -> tuple[pl.Series, pl.Series]:
        rows = rng.choice(truth_all.size, size=n, replace=False)
        return pl.Series(guess_all[rows].tolist()), pl.Series(truth_all[rows].tolist())

    spread = float(np.std([realized_performance(*draw(300), CLASSES)[0] for _ in range(300)], ddof=1))
    predicted, corrected = draw(300)
    macro_f1, _ = realized_performance(predicted, corrected, CLASSES)
    truth, guess = encode_labels(corrected.to_list(), CLASSES), encode_labels(predicted.to_list(), CLASSES)
    bootstrap = bootstrap_interval(truth, guess, 4, "macro_f1", resamples=_performance.BOOTSTRAP_DRAWS, seed=0).se
    assert abs(bootstrap - spread) < spread / 3
    assert bootstrap > 1.3 * (macro_f1 * (1 - macro_f1) / 300) ** 0.5
    bound = _performance.thin_class_error(np.bincount(truth, minlength=4))
    assert realized_standard_error(predicted, corrected, CLASSES)[0] == pytest.approx(max(bootstrap, bound))
    assert realized_standard_error(*draw(30_000), CLASSES)[0] < spread / 5
    with pytest.raises(ValueError, match="no corrected"):
        realized_standard_error(pl.Series([None], dtype=pl.String), pl.Series(["a"]), CLASSES)


def test_a_rare_class_without_a_correct_prediction_keeps_the_realized_error_wide() -> None:
    """Six rare rows, none predicted right: every bootstrap resample agrees on an F1 of 0 for the class, so the
    bootstrap alone would call the figure precise; the conservative thin-class bound keeps its error at the
    class's size."""
    truth = ["a"] * 200 + ["b"] * 55 + ["c"] * 22 + ["d"] * 6
    guess = truth[:277] + ["a"] * 6
    f1_se, _ = realized_standard_error(pl.Series(guess), pl.Series(truth), CLASSES)
    assert f1_se == pytest.approx(_performance.thin_class_error(np.array([200, 55, 22, 6])))
    assert f1_se > 0.06
