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
    Decision,
    DriftObservation,
    decide,
)

__all__ = [
    "Decision",
    "DriftObservation",
    "DriftResult",
    "decide",
    "drift_report",
    "feature_drift",
    "js_divergence",
    "psi",
    "term_counts",
]
