"""Performance without labels (estimated) and with the labels production sent back (realized).

`estimate_performance` follows the idea of NannyML's confidence-based performance estimation (CBPE): when the
model's class probabilities are calibrated (ours are, by temperature scaling), a row predicted as class ``c``
with probability vector ``p`` is a true positive of ``c`` with probability ``p[c]`` and a false negative of
each other class ``j`` with probability ``p[j]``. Summing those over the rows gives the expected confusion
matrix (expected counts, truth by predicted), and accuracy and macro F1 are read off it as from a real one,
with the same conventions as training's metrics (macro F1 over the whole taxonomy, a class neither expected
nor predicted counting 0). The estimate is as good as the calibration; it cannot see a change in what a
label means (concept drift) because the probabilities cannot.

`estimate_standard_error` is the sampling error of that estimate: the same rows drawn again with replacement
(a bootstrap), so a day of 300 rows carries a wider margin than a day of 30,000.

`realized_performance` scores the predictions that were corrected in production against the corrections, and
`realized_standard_error` is that score's sampling error over the corrected rows (a bootstrap too: a binomial
error fits accuracy, but macro F1 over a class with a handful of corrected rows moves 1.5 to 1.8 times as far in
the draws measured).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import polars as pl

from factory.core.training import bootstrap_interval, encode_labels, metric_of

__all__ = [
    "drop_error",
    "estimate_performance",
    "estimate_standard_error",
    "realized_performance",
    "realized_standard_error",
    "thin_class_error",
]

BOOTSTRAP_DRAWS = 200
"""Resamples behind `estimate_standard_error`: its own error is then about 5% of the figure."""

BOOTSTRAP_ROWS = 20_000
"""At most this many rows are resampled (a seeded subsample of a larger day, the error scaled back by the square
root of the ratio): the error of an estimate over more rows is far under any margin that matters."""


def estimate_performance(probabilities: npt.NDArray[np.float64], classes: Sequence[str]) -> tuple[float, float]:
    """Expected ``(macro_f1, accuracy)`` of the predictions (argmax of each row) of calibrated class
    probabilities (rows x classes, columns in the order of ``classes``). ValueError for no rows or a width
    other than the number of classes."""
    proba = np.asarray(probabilities, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] != len(classes):
        raise ValueError(f"probabilities must be rows x {len(classes)} classes, got shape {proba.shape}")
    if not proba.shape[0]:
        raise ValueError("no rows to estimate performance on")
    proba = proba / np.maximum(proba.sum(axis=1, keepdims=True), np.finfo(np.float64).tiny)
    predicted = proba.argmax(axis=1)
    k = proba.shape[1]
    # expected[j, c]: expected count of rows of true class j predicted as c.
    expected = np.zeros((k, k))
    np.add.at(expected.T, predicted, proba)
    tp = np.diagonal(expected)
    denominator = expected.sum(axis=0) + expected.sum(axis=1)  # 2tp + fp + fn
    f1 = np.divide(2 * tp, denominator, out=np.zeros(k), where=denominator > 0)
    return float(f1.mean()), float(tp.sum() / proba.shape[0])


def estimate_standard_error(
    probabilities: npt.NDArray[np.float64], classes: Sequence[str], *, seed: int = 0
) -> tuple[float, float]:
    """Bootstrap standard errors of `estimate_performance`'s ``(macro_f1, accuracy)`` over the rows: the spread
    of the estimate when the same number of rows is drawn again from the day. ``(0.0, 0.0)`` for a single row.
    Cost: `BOOTSTRAP_DRAWS` estimates over at most `BOOTSTRAP_ROWS` rows."""
    proba = np.asarray(probabilities, dtype=np.float64)
    estimate_performance(proba, classes)  # the same shape checks
    rows = proba.shape[0]
    if rows < 2:
        return 0.0, 0.0
    generator = np.random.default_rng(seed)
    sample = proba if rows <= BOOTSTRAP_ROWS else proba[generator.choice(rows, BOOTSTRAP_ROWS, replace=False)]
    n = sample.shape[0]
    draws = np.array(
        [estimate_performance(sample[generator.integers(0, n, n)], classes) for _ in range(BOOTSTRAP_DRAWS)]
    )
    scale = np.sqrt(n / rows)
    return float(draws[:, 0].std(ddof=1) * scale), float(draws[:, 1].std(ddof=1) * scale)


def realized_performance(predicted: pl.Series, corrected: pl.Series, classes: Sequence[str]) -> tuple[float, float]:
    """``(macro_f1, accuracy)`` of the predicted labels against production's corrected labels (pairs with a
    null dropped). ValueError when no pair is left or a label is outside the taxonomy."""
    truth, guess = _pairs(predicted, corrected, classes)
    k = len(classes)
    return metric_of(truth, guess, k, "macro_f1"), metric_of(truth, guess, k, "accuracy")


def realized_standard_error(
    predicted: pl.Series, corrected: pl.Series, classes: Sequence[str], *, seed: int = 0
) -> tuple[float, float]:
    """Standard errors of `realized_performance`'s ``(macro_f1, accuracy)``: the spread of the score when the
    same number of corrected rows is drawn again (`BOOTSTRAP_DRAWS` resamples), and for macro F1 at least the
    conservative `thin_class_error`: a bootstrap cannot see what the sample lacks (when a rare class's few
    corrected rows hold no correct prediction, every resample agrees on an F1 of 0 for it). ValueError as
    `realized_performance`."""
    truth, guess = _pairs(predicted, corrected, classes)
    k = len(classes)
    f1 = bootstrap_interval(truth, guess, k, "macro_f1", resamples=BOOTSTRAP_DRAWS, seed=seed)
    accuracy = bootstrap_interval(truth, guess, k, "accuracy", resamples=BOOTSTRAP_DRAWS, seed=seed)
    return max(f1.se, thin_class_error(np.bincount(truth, minlength=k))), accuracy.se


def thin_class_error(class_rows: npt.NDArray[np.int64]) -> float:
    """A conservative standard error of a macro F1 over rows with ``class_rows`` true rows per class: each present
    class's F1 read as a proportion over its own rows at its widest (a variance of 1 / (4 n)), averaged over the
    taxonomy. It does not look at how well a class scores, so it is above the true spread when classes score
    well: 283 corrected claims, 6 of them of the rare class: 0.061, where random draws of as many rows spread by
    0.045; 351 tickets spread evenly over 13 classes: 0.027. Under it the realized figure prices only drops that
    even its thinnest class could not make by chance."""
    present = class_rows[class_rows > 0].astype(np.float64)
    return float(np.sqrt(np.sum(0.25 / present)) / len(class_rows)) if len(class_rows) else 0.0


def drop_error(day_error: tuple[float, float], test_error: tuple[float | None, float | None]) -> tuple[float, float]:
    """The standard errors of a day's ``(macro_f1, accuracy)`` drop from the test figures: the day's figure and
    the test split's each carry a sampling error, independent, so they add in quadrature (the day's alone where
    the test's is unknown)."""
    return (
        float(np.hypot(day_error[0], test_error[0] or 0.0)),
        float(np.hypot(day_error[1], test_error[1] or 0.0)),
    )


def _pairs(predicted: pl.Series, corrected: pl.Series, classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The corrected and predicted class codes of the pairs without a null."""
    pairs = pl.DataFrame({"predicted": predicted, "corrected": corrected}).drop_nulls()
    if pairs.is_empty():
        raise ValueError("no corrected prediction to score")
    return encode_labels(pairs["corrected"].to_list(), classes), encode_labels(pairs["predicted"].to_list(), classes)
