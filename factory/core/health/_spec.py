"""The bounds of the health view's KPIs and the inventory's readiness rules, read from a use case's spec."""

from __future__ import annotations

from factory.core.health._inventory import ReadinessRules
from factory.core.health._verdict import Bounds
from factory.spec import HEALTH_LOWER_IS_WORSE, HealthBounds, UseCaseSpec

__all__ = ["health_bounds", "readiness_rules"]

_BOUNDED = (
    "rows_in",
    "quarantine_rate",
    "duplicate_rate",
    "pii_row_share",
    "annotations",
    "agreement",
    "spammers",
    "champion_metric",
    "drift_score",
    "estimated_drop",
    "realized_drop",
)


def _defaults(spec: UseCaseSpec) -> dict[str, HealthBounds]:
    """The bounds derived from other sections when ``health`` leaves them out: agreement against the label gate's
    floor, the champion's metric against the quality floor, the drift score against the drift threshold."""
    floor, threshold, agreement = spec.gates.quality_floor, spec.drift.threshold, spec.labeling.agreement_floor
    return {
        "agreement": HealthBounds(yellow=min(agreement + 0.1, 1.0), red=agreement),
        "champion_metric": HealthBounds(yellow=min(floor + 0.05, 1.0), red=floor),
        "drift_score": HealthBounds(yellow=threshold, red=2 * threshold),
    }


def health_bounds(spec: UseCaseSpec) -> dict[str, Bounds]:
    """Every bounded KPI's `Bounds`, by KPI name."""
    defaults = _defaults(spec)
    found: dict[str, Bounds] = {}
    for name in _BOUNDED:
        given = getattr(spec.health, name)
        chosen = given if isinstance(given, HealthBounds) else defaults[name]
        found[name] = Bounds(chosen.yellow, chosen.red, lower_is_worse=name in HEALTH_LOWER_IS_WORSE)
    return found


def readiness_rules(spec: UseCaseSpec) -> ReadinessRules:
    """The inventory's rules: a source is fixed first from the red quarantine rate or duplicate rate (never, when
    the spec leaves that bound out), ready from ``health.ready_coverage``."""
    health = spec.health
    return ReadinessRules(
        max_quarantine_rate=health.quarantine_rate.red if health.quarantine_rate.red is not None else float("inf"),
        max_duplicate_share=health.duplicate_rate.red if health.duplicate_rate.red is not None else float("inf"),
        ready_coverage=health.ready_coverage,
    )
