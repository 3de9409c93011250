"""Reference statistics: bounded whatever the rows, a faithful JSON round trip, and the same drift from the
statistics as from the data they sketch."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from factory.core.monitoring import (
    PredictionReference,
    ReferenceStats,
    drift_against,
    estimate_performance,
)


def frame(rows: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    words = np.array([f"word{k}" for k in range(20_000)])
    return pl.DataFrame(
        {
            "amount": rng.lognormal(3.0, 1.0, rows),
            "code": np.char.add("code", rng.integers(0, 5_000, rows).astype(str)),
            "text": [" ".join(words[rng.integers(0, 20_000, 8)]) for _ in range(rows)],
            "label": rng.choice(["a", "b", "c"], rows),
        }
    )


def stats_of(data: pl.DataFrame) -> ReferenceStats:
    return ReferenceStats.of(data, numeric=("amount",), categorical=("code",), text=data["text"], labels=data["label"])


def test_json_round_trip_gives_equal_statistics_and_the_same_drift() -> None:
    data = frame(3000, 1)
    stats = stats_of(data)
    again = ReferenceStats.from_json(stats.to_json())
    assert again == stats
    assert again.to_json() == stats.to_json()
    day = frame(400, 2)
    kwargs = {"numeric": ("amount",), "categorical": ("code",), "text": day["text"], "labels": day["label"]}
    assert drift_against(again, day, **kwargs) == drift_against(stats, day, **kwargs)  # type: ignore[arg-type]


def test_size_is_bounded_whatever_the_rows() -> None:
    """Vocabulary of 20,000 terms and 5,000 categories: the statistics keep at most 5,000 terms, 200 categories
    (plus <other>), 20 bins and a sample of 2,000 texts, so 10 times the rows is not a bigger file."""
    small, large = stats_of(frame(4000, 1)), stats_of(frame(40_000, 1))
    assert large.text is not None and len(large.text.terms) == 5000 and len(large.text.sample) == 2000
    assert len(large.categorical["code"].counts) == 201
    assert len(large.numeric["amount"].counts) == 20 and len(large.numeric["amount"].edges) == 19
    assert len(large.to_json()) < 1.2 * len(small.to_json()) and len(large.to_json()) < 400_000


def test_other_formats_and_empty_frames_are_refused() -> None:
    with pytest.raises(ValueError, match="format"):
        ReferenceStats.from_json(b'{"format": 99}')
    with pytest.raises(ValueError, match="at least one row"):
        ReferenceStats.of(pl.DataFrame({"x": []}), numeric=("x",), categorical=(), text=None, labels=None)
    with pytest.raises(ValueError, match="lacks columns"):
        ReferenceStats.of(pl.DataFrame({"x": [1]}), numeric=("y",), categorical=(), text=None, labels=None)


CLASSES = ["a", "b", "c"]


def probabilities(rows: int, seed: int, mix: tuple[float, ...] = (0.5, 0.3, 0.2), sharp: float = 8.0) -> np.ndarray:
    """Class probabilities leaning (by ``sharp``) towards a class drawn from ``mix``."""
    rng = np.random.default_rng(seed)
    alpha = np.ones((rows, 3))
    alpha[np.arange(rows), rng.choice(3, rows, p=np.array(mix))] += sharp
    draws = rng.gamma(alpha)
    proba: np.ndarray = draws / draws.sum(axis=1, keepdims=True)
    return proba


def test_prediction_reference_drives_label_and_confidence_drift() -> None:
    reference = PredictionReference.of(probabilities(2000, 5), CLASSES, macro_f1=0.8, accuracy=0.85)
    assert PredictionReference.from_json(reference.to_json()) == reference
    assert reference.rows == sum(reference.labels.values()) == 2000
    features = ReferenceStats.of(pl.DataFrame({"x": [1.0, 2.0]}), numeric=(), categorical=(), text=None, labels=None)
    today = pl.DataFrame({"x": np.zeros(500)})

    def drifted(proba: np.ndarray) -> set[str]:
        result = drift_against(
            features,
            today,
            numeric=(),
            categorical=(),
            text=None,
            labels=pl.Series(np.array(CLASSES)[proba.argmax(axis=1)]),
            predictions=reference,
            confidence=pl.Series(proba.max(axis=1)),
        )
        assert {"label_psi", "confidence_psi"} <= set(result.components)
        return {v.component for v in result.verdicts if v.drifted}

    assert drifted(probabilities(500, 6)) == set()
    assert drifted(probabilities(500, 7, sharp=2.0)) == {"prediction.confidence"}
    assert "prediction.label" in drifted(probabilities(500, 8, mix=(0.2, 0.3, 0.5)))


def test_the_anchored_estimate_reads_the_test_figure_on_a_calm_day_and_a_drop_as_a_drop() -> None:
    reference = PredictionReference.of(probabilities(3000, 5), CLASSES, macro_f1=0.8, accuracy=0.85)
    calm = reference.anchored(estimate_performance(probabilities(3000, 6), CLASSES))
    assert calm == pytest.approx((0.8, 0.85), abs=0.02)
    unsure = reference.anchored(estimate_performance(probabilities(3000, 7, sharp=2.0), CLASSES))
    assert unsure[0] < 0.7 and unsure[1] < 0.75
    assert reference.anchored((0.0, 0.0))[0] >= 0.0


def test_the_anchored_error_adds_the_test_splits_error_to_the_days() -> None:
    """A test split of 150 rows carries a sampling error of its own; the drop's error is both, in quadrature.
    A reference stored before the errors were (no keys in its JSON) still loads and counts the day's alone."""
    small = PredictionReference.of(probabilities(150, 5), CLASSES, macro_f1=0.8, accuracy=0.85)
    assert small.estimated_macro_f1_se is not None and 0.005 < small.estimated_macro_f1_se < 0.1
    day = (0.03, 0.02)
    combined = small.anchored_error(day)
    assert combined[0] == pytest.approx(float(np.hypot(0.03, small.estimated_macro_f1_se)))
    assert combined[0] > day[0] and combined[1] > day[1]
    document = json.loads(small.to_json())
    del document["estimated_macro_f1_se"], document["estimated_accuracy_se"]
    older = PredictionReference.from_json(json.dumps(document).encode())
    assert older.estimated_macro_f1_se is None and older.anchored_error(day) == day
