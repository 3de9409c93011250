"""When drift asks for a retrain: the sensor's decision, with a reason a person can read.

The rules, in the order they are checked (the first that applies wins):

1. no drift report yet: skip;
2. the latest report's partition already triggered a retrain: skip (one request per partition);
3. the score is under the threshold (``score < threshold``, or NaN): skip;
4. the last retrain request is younger than the cooldown: skip, saying when the next one is allowed;
5. otherwise (the score is at or over the threshold) fire, with the run key ``drift-<partition>``,
   so that Dagster de-duplicates repeated ticks.

Times must all be timezone-aware or all naive; mixing them raises ``TypeError`` (from Python's comparison).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["Decision", "DriftObservation", "decide"]


@dataclass(frozen=True)
class DriftObservation:
    """The drift score of one daily partition and when it was computed."""

    partition: str
    score: float
    created_at: datetime


@dataclass(frozen=True)
class Decision:
    """Whether to request a retrain, why, and the run key of the request."""

    fire: bool
    reason: str
    run_key: str | None


def decide(
    latest: DriftObservation | None,
    *,
    threshold: float,
    cooldown: timedelta,
    now: datetime,
    last_fired_at: datetime | None,
    last_fired_partition: str | None,
) -> Decision:
    """Apply the rules of the module docstring to the latest drift observation."""
    if cooldown < timedelta(0):
        raise ValueError(f"cooldown must not be negative, got {cooldown}")
    if latest is None:
        return _skip("no drift report yet: nothing to compare with the threshold")
    if latest.partition == last_fired_partition:
        return _skip(f"drift {latest.score:.2f} on {latest.partition} was already acted on: {_fired(last_fired_at)}")
    if math.isnan(latest.score) or latest.score < threshold:
        return _skip(f"drift {latest.score:.2f} on {latest.partition} is under the threshold {threshold:.2f}")
    if last_fired_at is not None and now - last_fired_at < cooldown:
        return _skip(_cooldown_reason(now - last_fired_at, cooldown))
    return Decision(
        fire=True,
        reason=(
            f"drift {latest.score:.2f} on {latest.partition} is {_relation(latest.score, threshold)} "
            f"the threshold {threshold:.2f}"
        ),
        run_key=f"drift-{latest.partition}",
    )


def _skip(reason: str) -> Decision:
    """A decision not to fire."""
    return Decision(fire=False, reason=reason, run_key=None)


def _relation(score: float, threshold: float) -> str:
    """How a firing score compares with the threshold, in words."""
    return "at" if score == threshold else "over"


def _fired(last_fired_at: datetime | None) -> str:
    """When the previous retrain was requested, as a phrase."""
    if last_fired_at is None:
        return "a retrain was requested for it"
    return f"a retrain was requested for it at {last_fired_at.isoformat(timespec='minutes')}"


def _cooldown_reason(elapsed: timedelta, cooldown: timedelta) -> str:
    """The cooldown message, in hours with one decimal."""
    return (
        f"cooldown: last retrain requested {_hours(elapsed):.1f} h ago, "
        f"next allowed in {_hours(cooldown - elapsed):.1f} h"
    )


def _hours(span: timedelta) -> float:
    """A time span in hours."""
    return span.total_seconds() / 3600.0
