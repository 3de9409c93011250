"""The time the sensors read: the wall clock, or a fixed moment that a simulation sets.

The drift sensor's cooldown and the time it files a decision under come from this resource, never from
``datetime.now`` directly, so that ``factory simulate`` can evaluate the real sensor a simulated day at a time.
"""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

__all__ = ["Clock"]


class Clock(dg.ConfigurableResource["Clock"]):
    """``now()``: the current UTC time, or ``frozen_at`` (an ISO timestamp with its offset) when set."""

    frozen_at: str | None = None

    def now(self) -> datetime:
        if self.frozen_at is None:
            return datetime.now(UTC)
        moment = datetime.fromisoformat(self.frozen_at)
        if moment.tzinfo is None:
            raise ValueError(f"clock frozen_at {self.frozen_at!r} has no UTC offset")
        return moment.astimezone(UTC)
