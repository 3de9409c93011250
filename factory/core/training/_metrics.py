"""Classification metrics as selection, model cards and promotion need them: fast, bootstrapped, per class,
per slice, and calibration error.

Labels are encoded once as indices into the taxonomy (`encode_labels`); every metric is read off a confusion
matrix, so a bootstrap resample costs one ``bincount``. Macro F1 is the mean over the whole taxonomy, a class
neither present nor predicted counting 0 (as ``sklearn.metrics.f1_score(labels=classes, zero_division=0)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from factory.core.training._inputs import MISSING

__all__ = [
    "ECE_BINS",
    "Interval",
    "SliceMask",
    "bootstrap_interval",
    "class_metrics",
    "encode_labels",
    "expected_calibration_error",
    "metric_of",
    "resampled_metric",
    "slice_masks",
    "slice_metrics",
]

ECE_BINS = 15
_CHUNK = 50  # bootstrap resamples per bincount, bounding memory to about 50 x rows integers


def encode_labels(labels: Sequence[Any], classes: Sequence[str]) -> np.ndarray:
    """Each label's index in `classes`; ValueError for a label outside the taxonomy."""
    index = {c: i for i, c in enumerate(classes)}
    try:
        return np.fromiter((index[str(label)] for label in labels), dtype=np.int64, count=len(labels))
    except KeyError as error:
        raise ValueError(f"label {error.args[0]!r} is not in the taxonomy") from None


def _confusions(truth: np.ndarray, predicted: np.ndarray, k: int, rows: np.ndarray) -> np.ndarray:
    """Confusion matrices (truth x predicted) of each row of resample indices `rows` (resamples x n)."""
    cells = (truth[rows] * k + predicted[rows]) + (np.arange(rows.shape[0]) * k * k)[:, None]
    return np.bincount(cells.ravel(), minlength=rows.shape[0] * k * k).reshape(rows.shape[0], k, k)


def _scores(confusion: np.ndarray, *, present_only: bool = False, classes: int | None = None) -> dict[str, np.ndarray]:
    """Accuracy and macro F1 of a stack of confusion matrices (resamples x k x k); with `present_only`, macro F1
    averages only the classes present or predicted; with `classes`, only the first `classes` codes are classes of
    the taxonomy (the others are labels outside it, a miss for every class)."""
    tp = np.diagonal(confusion, axis1=1, axis2=2).astype(float)
    denominator = confusion.sum(axis=2) + confusion.sum(axis=1)  # 2tp + fn + fp
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)[:, :classes]
    total = confusion.sum(axis=(1, 2))
    counted = (denominator[:, :classes] > 0).sum(axis=1) if present_only else np.full(len(f1), f1.shape[1])
    return {"accuracy": tp.sum(axis=1) / np.maximum(total, 1), "macro_f1": f1.sum(axis=1) / np.maximum(counted, 1)}


def metric_of(truth: np.ndarray, predicted: np.ndarray, k: int, metric: str, *, present_only: bool = False) -> float:
    """``accuracy`` or ``macro_f1`` of encoded labels over a taxonomy of `k` classes (with `present_only`, over
    the classes present or predicted, as in a slice)."""
    rows = np.arange(len(truth))[None, :]
    return float(_scores(_confusions(truth, predicted, k, rows), present_only=present_only)[metric][0])


def resampled_metric(
    truth: np.ndarray, predicted: np.ndarray, classes: int, metric: str, rows: np.ndarray
) -> np.ndarray:
    """``accuracy`` or ``macro_f1`` (over the `classes` of the taxonomy) of encoded labels under each row of
    resample indices `rows` (resamples x n). A code from `classes` up is a label outside the taxonomy: a miss for
    every class. The caller bounds memory by the number of resamples it passes at once."""
    width = max(classes, int(truth.max(initial=0)) + 1, int(predicted.max(initial=0)) + 1)
    return _scores(_confusions(truth, predicted, width, rows), classes=classes)[metric]


@dataclass(frozen=True)
class Interval:
    """A metric with its bootstrap standard error and percentile interval."""

    value: float
    se: float
    low: float
    high: float

    def rounded(self, digits: int = 4) -> dict[str, float]:
        return {k: round(v, digits) for k, v in vars(self).items()}

    def text(self, digits: int = 3) -> str:
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def bootstrap_interval(
    truth: np.ndarray, predicted: np.ndarray, k: int, metric: str, *, resamples: int, seed: int, level: float = 0.95
) -> Interval:
    """The metric on all rows, with the standard error and `level` percentile interval over `resamples` seeded
    resamples of the rows."""
    value = metric_of(truth, predicted, k, metric)
    if not len(truth):
        return Interval(value, 0.0, value, value)
    rng = np.random.default_rng(seed)
    draws: list[np.ndarray] = []
    for start in range(0, resamples, _CHUNK):
        rows = rng.integers(0, len(truth), size=(min(_CHUNK, resamples - start), len(truth)))
        draws.append(_scores(_confusions(truth, predicted, k, rows))[metric])
    values = np.concatenate(draws)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(value, float(values.std(ddof=1)), float(low), float(high))


def expected_calibration_error(proba: np.ndarray, truth: np.ndarray, columns: np.ndarray) -> float:
    """Top-label expected calibration error over `ECE_BINS` equal-width confidence bins: the row-weighted mean
    gap between confidence and accuracy. `columns` maps each probability column to its class index."""
    if not len(truth):
        return 0.0
    confidence = proba.max(axis=1)
    correct = columns[proba.argmax(axis=1)] == truth
    bins = np.minimum((confidence * ECE_BINS).astype(int), ECE_BINS - 1)
    counts = np.bincount(bins, minlength=ECE_BINS)
    gap = np.bincount(bins, weights=confidence, minlength=ECE_BINS) - np.bincount(
        bins, weights=correct.astype(float), minlength=ECE_BINS
    )
    return float(np.abs(gap).sum() / counts.sum())


def class_metrics(truth: np.ndarray, predicted: np.ndarray, classes: Sequence[str]) -> list[dict[str, Any]]:
    """Precision, recall, F1 and support (true rows) of every class of the taxonomy, in taxonomy order."""
    k = len(classes)
    confusion = _confusions(truth, predicted, k, np.arange(len(truth))[None, :])[0]
    tp = np.diagonal(confusion).astype(float)
    support, predicted_count = confusion.sum(axis=1), confusion.sum(axis=0)
    rows = []
    for i, name in enumerate(classes):
        precision = tp[i] / predicted_count[i] if predicted_count[i] else 0.0
        recall = tp[i] / support[i] if support[i] else 0.0
        denominator = support[i] + predicted_count[i]
        rows.append(
            {
                "class": name,
                "precision": float(precision),
                "recall": float(recall),
                "f1": float(2 * tp[i] / denominator) if denominator else 0.0,
                "support": int(support[i]),
            }
        )
    return rows


@dataclass(frozen=True)
class SliceMask:
    """The rows of one value of one slice column; `gated` when its support reaches the minimum."""

    column: str
    value: str
    mask: np.ndarray
    support: int
    gated: bool


def slice_masks(frame: pl.DataFrame, slices: Sequence[str], min_support: int) -> list[SliceMask]:
    """One boolean row mask per value of each slice column of `frame` (a missing value is the slice
    ``<missing>``), by column in the given order, then by value; a slice is gated when it has at least
    `min_support` rows. Pure: promotion scores champion and challenger on the same masks."""
    out = []
    for column in slices:
        values = frame[column].cast(pl.String).fill_null(MISSING).to_numpy()
        for value in sorted(set(values.tolist())):
            mask = values == value
            support = int(mask.sum())
            out.append(SliceMask(column, str(value), mask, support, support >= min_support))
    return out


def slice_metrics(
    masks: Sequence[SliceMask], truth: np.ndarray, predicted: np.ndarray, k: int, metric: str
) -> list[dict[str, Any]]:
    """The metric and accuracy of encoded labels in each slice, with its support and whether it is gated; macro F1
    in a slice averages the classes present or predicted in it (a channel without a class is not scored 0 on it)."""
    rows = []
    for s in masks:
        rows.append(
            {
                "column": s.column,
                "value": s.value,
                metric: metric_of(truth[s.mask], predicted[s.mask], k, metric, present_only=True),
                "accuracy": metric_of(truth[s.mask], predicted[s.mask], k, "accuracy"),
                "support": s.support,
                "gated": s.gated,
            }
        )
    return rows
