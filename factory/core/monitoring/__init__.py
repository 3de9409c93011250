"""Monitoring: reference statistics stored at publish, drift of a day of traffic against them, performance
estimated without labels and realized from feedback, and the retrain decision they drive."""

from __future__ import annotations

from factory.core.monitoring._drift import (
    DriftResult,
    DriftThresholds,
    Verdict,
    drift_against,
    js_divergence,
    psi,
)
from factory.core.monitoring._performance import (
    drop_error,
    estimate_performance,
    estimate_standard_error,
    realized_performance,
    realized_standard_error,
)
from factory.core.monitoring._reference import (
    CategoricalSketch,
    NumericSketch,
    PredictionReference,
    ReferenceStats,
    TextSketch,
    dataset_reference,
    term_counts,
)
from factory.core.monitoring._retrain_policy import (
    RULES,
    Decision,
    DriftObservation,
    Economics,
    decide,
)

__all__ = [
    "RULES",
    "CategoricalSketch",
    "Decision",
    "DriftObservation",
    "DriftResult",
    "DriftThresholds",
    "Economics",
    "NumericSketch",
    "PredictionReference",
    "ReferenceStats",
    "TextSketch",
    "Verdict",
    "dataset_reference",
    "decide",
    "drift_against",
    "drop_error",
    "estimate_performance",
    "estimate_standard_error",
    "js_divergence",
    "psi",
    "realized_performance",
    "realized_standard_error",
    "term_counts",
]
