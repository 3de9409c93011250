"""Blessing records in MLflow: every promotion decision, promote or not, on the challenger's model version.

The full record (`factory.core.promotion.Blessing` as JSON) is an artifact of the challenger's run,
``blessings/<UTC timestamp>.json``; the model version carries tags for a glance in the MLflow UI and for
`factory model list`: ``blessing.decision`` (promoted, not promoted, kept), ``blessing.reason`` (the sentence,
cut to ``MAX_TAG_VALUE`` characters) and ``blessing.record`` (the artifact's path, the latest decision's).
"""

from __future__ import annotations

from mlflow.exceptions import MlflowException

from factory.core.promotion import Blessing
from factory.resources.tracking import ModelRecord, Tracking

__all__ = ["DECISION_TAG", "MAX_TAG_VALUE", "REASON_TAG", "RECORD_TAG", "latest_blessing", "write_blessing"]

DECISION_TAG = "blessing.decision"
REASON_TAG = "blessing.reason"
RECORD_TAG = "blessing.record"
MAX_TAG_VALUE = 5000
"""Longest tag value written; MLflow allows 8,000 on a run tag and more on a model-version tag."""


def _stamp(decided_at: str) -> str:
    """``2026-01-05T10:00:00.123456+00:00`` as ``20260105T100000123456Z``: sortable, a safe file name."""
    digits = "".join(c for c in decided_at.split("+")[0] if c.isdigit())
    return f"{digits[:8]}T{digits[8:]}Z"


def write_blessing(tracking: Tracking, challenger: ModelRecord, blessing: Blessing) -> str:
    """Log ``blessing`` on the challenger's run and tag its model version; returns the artifact's path."""
    path = f"blessings/{_stamp(blessing.decided_at)}.json"
    tracking.add_to_run(challenger.run_id, {path: blessing.to_json()})
    reason = blessing.reason if len(blessing.reason) <= MAX_TAG_VALUE else blessing.reason[: MAX_TAG_VALUE - 1] + "…"
    tracking.tag_version(
        challenger.name,
        challenger.version,
        {DECISION_TAG: blessing.decision, REASON_TAG: reason, RECORD_TAG: path},
    )
    return path


def latest_blessing(tracking: Tracking, record: ModelRecord) -> Blessing | None:
    """The blessing the version's ``blessing.record`` tag points at; None when it has none (or it is gone)."""
    path = record.tags.get(RECORD_TAG)
    if not path:
        return None
    try:
        return Blessing.from_json(tracking.run_documents(record.run_id, path))
    except (MlflowException, OSError, ValueError, KeyError, TypeError):  # a record removed or not ours
        return None
