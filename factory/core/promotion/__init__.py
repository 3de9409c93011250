"""Promotion: whether a challenger model replaces the champion, and the blessing record of the decision.

Pure logic, no Dagster: a paired bootstrap (and McNemar's exact test) compares two models' predictions on the
same rows (`paired_bootstrap`, whose docstring states the rule for "worse"); `slices` cuts a test split by the
spec's slice columns; the checks (`floor_check`, `split_evidence`, `feedback_evidence`, `redteam_checks`) and
`decide` make a `Blessing`, which the ``champion`` asset writes to MLflow and to its metadata.
"""

from __future__ import annotations

from factory.core.promotion._blessing import (
    EVIDENCE_CHECKS,
    FAIL,
    KEPT,
    NOT_EVALUATED,
    NOT_GATED,
    NOT_PROMOTED,
    PASS,
    PROMOTED,
    Blessing,
    Check,
    comparison_check,
    decide,
    evidence_gates,
    feedback_check,
    floor_check,
    redteam_checks,
    redteam_rates,
)
from factory.core.promotion._evidence import Bootstrap, feedback_evidence, split_evidence
from factory.core.promotion._paired import Comparison, Metric, mcnemar_exact, paired_bootstrap
from factory.core.promotion._slices import MISSING_VALUE, Slice, slices

__all__ = [
    "EVIDENCE_CHECKS",
    "FAIL",
    "KEPT",
    "MISSING_VALUE",
    "NOT_EVALUATED",
    "NOT_GATED",
    "NOT_PROMOTED",
    "PASS",
    "PROMOTED",
    "Blessing",
    "Bootstrap",
    "Check",
    "Comparison",
    "Metric",
    "Slice",
    "comparison_check",
    "decide",
    "evidence_gates",
    "feedback_check",
    "feedback_evidence",
    "floor_check",
    "mcnemar_exact",
    "paired_bootstrap",
    "redteam_checks",
    "redteam_rates",
    "slices",
    "split_evidence",
]
