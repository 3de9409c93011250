"""Monitoring: drift between the training data and a day of traffic, and the retrain decision it drives."""

from __future__ import annotations

from factory.core.monitoring._drift import (
    DriftResult,
    drift_report,
    feature_drift,
    js_divergence,
    psi,
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
    "Decision",
    "DriftObservation",
    "DriftResult",
    "Economics",
    "decide",
    "drift_report",
    "feature_drift",
    "js_divergence",
    "psi",
    "term_counts",
]
