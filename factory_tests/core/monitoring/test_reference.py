"""Reference statistics: bounded whatever the rows, a faithful JSON round trip, and the same drift from the
statistics as from the data they sketch."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from factory.core.monitoring import (
    PredictionReference,
    ReferenceStats,
    drift_against,
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


def test_prediction_reference_drives_label_and_confidence_drift() -> None:
    rng = np.random.default_rng(5)
    labels = pl.Series(rng.choice(["a", "b", "c"], 2000, p=[0.5, 0.3, 0.2]))
    confidence = pl.Series(rng.beta(8, 2, 2000))
    reference = PredictionReference.of(labels, confidence, macro_f1=0.8, accuracy=0.85)
    assert PredictionReference.from_json(reference.to_json()) == reference
    features = ReferenceStats.of(pl.DataFrame({"x": [1.0, 2.0]}), numeric=(), categorical=(), text=None, labels=None)
    today = pl.DataFrame({"x": np.zeros(500)})

    def run(day_labels: pl.Series, day_confidence: pl.Series) -> set[str]:
        result = drift_against(
            features,
            today,
            numeric=(),
            categorical=(),
            text=None,
            labels=day_labels,
            predictions=reference,
            confidence=day_confidence,
        )
        assert {"label_psi", "confidence_psi"} <= set(result.components)
        return {v.component for v in result.verdicts if v.drifted}

    calm_labels = pl.Series(rng.choice(["a", "b", "c"], 500, p=[0.5, 0.3, 0.2]))
    assert run(calm_labels, pl.Series(rng.beta(8, 2, 500))) == set()
    unsure = pl.Series(rng.beta(4, 2, 500))
    assert run(calm_labels, unsure) == {"prediction.confidence"}
    shifted = pl.Series(rng.choice(["a", "b", "c"], 500, p=[0.3, 0.3, 0.4]))
    assert run(shifted, pl.Series(rng.beta(8, 2, 500))) == {"prediction.label"}
