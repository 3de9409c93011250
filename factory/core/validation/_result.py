"""What a dataset gate returns: a `GateResult` that also says how much it matters and which rows failed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from factory.core.gates import GateResult

__all__ = ["GateOutcome", "Severity", "outcome"]

Severity = Literal["error", "warn"]


@dataclass(frozen=True)
class GateOutcome(GateResult):
    """A `GateResult` with a severity, the thresholds it applied and the rows it failed on.

    It *is* a `GateResult`, so everything that renders or asserts gate results takes it as is; the extra
    fields are also copied into ``figures`` (``severity``, the thresholds, ``failing_ids``) so that the
    Dagster metadata shows them without special handling. ``failing_ids`` and ``sample`` are bounded (the
    config's ``sample_rows``) and PII-free: ids, labels, splits and numbers, never text.
    """

    severity: Severity = "error"
    thresholds: dict[str, float | int | str] = field(default_factory=dict)
    failing_ids: tuple[str, ...] = ()
    sample: tuple[dict[str, Any], ...] = ()

    @property
    def blocking(self) -> bool:
        """Failed with severity ``error``: the dataset must not be published."""
        return not self.passed and self.severity == "error"


def outcome(
    name: str,
    passed: bool,
    summary: str,
    *,
    severity: Severity,
    figures: Mapping[str, float | int | str] | None = None,
    thresholds: Mapping[str, float | int | str] | None = None,
    table: Sequence[Mapping[str, Any]] = (),
    failing_ids: Sequence[str] = (),
    sample: Sequence[Mapping[str, Any]] = (),
) -> GateOutcome:
    """Build a `GateOutcome`, mirroring severity, thresholds and failing ids into ``figures``."""
    merged: dict[str, float | int | str] = {"severity": severity, **(figures or {}), **(thresholds or {})}
    if failing_ids:
        merged["failing_ids"] = ", ".join(failing_ids)
    return GateOutcome(
        name=name,
        passed=passed,
        summary=summary,
        figures=merged,
        table=[dict(row) for row in table],
        severity=severity,
        thresholds=dict(thresholds or {}),
        failing_ids=tuple(failing_ids),
        sample=tuple(dict(row) for row in sample),
    )
