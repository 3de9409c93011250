"""The evidence for a promotion and the blessing record every decision writes.

A decision is made of checks. Each check names what it measures, its threshold, the measured values, an
interval where there is one, and a verdict: ``pass``, ``fail`` (blocks the promotion), ``not gated`` (measured
but too thin to decide on: a slice under the minimum support, too little feedback) or ``not evaluated`` (nothing
to measure: no red-team results, a slice column absent from the data). The challenger is promoted only when no
check fails; `decide` applies the rules that come before any evidence (the quality floor, the first champion,
a version already champion, a version a rollback demoted) in that order.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from factory.core.gates import GateResult
from factory.core.promotion._paired import Comparison, mcnemar_exact
from factory.core.training import decode_key

__all__ = [
    "EVIDENCE_CHECKS",
    "FAIL",
    "KEPT",
    "NOT_EVALUATED",
    "NOT_GATED",
    "NOT_PROMOTED",
    "PASS",
    "PROMOTED",
    "Blessing",
    "Check",
    "comparison_check",
    "decide",
    "evidence_gates",
    "feedback_check",
    "floor_check",
    "redteam_checks",
    "redteam_rates",
]

PASS, FAIL, NOT_GATED, NOT_EVALUATED = "pass", "fail", "not gated", "not evaluated"
PROMOTED, NOT_PROMOTED, KEPT = "promoted", "not promoted", "kept"

_REDTEAM_KEY = re.compile(r"redteam\.(.+)\.failure_rate")
_LABELS = {"macro_f1": "macro F1", "accuracy": "accuracy"}


def _round(value: float) -> float:
    return round(value, 4) if value == value else value  # value == value: not NaN


@dataclass(frozen=True)
class Check:
    """One piece of evidence. ``kind`` is ``quality_floor``, ``overall``, ``slice``, ``feedback`` or
    ``redteam``; ``name`` says which (``overall``, ``channel=chat``, a red-team test)."""

    kind: str
    name: str
    verdict: str
    threshold: float | None
    measured: dict[str, float | int | str] = field(default_factory=dict)
    interval: tuple[float, float] | None = None
    detail: str = ""

    def row(self) -> dict[str, Any]:
        """A flat row for a table: kind, name, verdict, threshold, measured values, interval, detail."""
        interval = f"[{self.interval[0]:+.4f}, {self.interval[1]:+.4f}]" if self.interval else ""
        return {
            "check": self.kind,
            "name": self.name,
            "verdict": self.verdict,
            "threshold": "" if self.threshold is None else self.threshold,
            "measured": ", ".join(f"{k} {v}" for k, v in self.measured.items()),
            "interval": interval,
            "detail": self.detail,
        }


def floor_check(metric: str, value: float, floor: float) -> Check:
    """The challenger's test metric (as registered) is at least ``floor``."""
    passed = value == value and value >= floor
    return Check(
        "quality_floor",
        "test split",
        PASS if passed else FAIL,
        floor,
        {f"challenger_{metric}": _round(value)},
        detail=f"test {_LABELS.get(metric, metric)} {value:.4f} {'>=' if passed else '<'} floor {floor}",
    )


def _measured(comparison: Comparison) -> dict[str, float | int | str]:
    return {
        "n": comparison.n,
        "challenger": _round(comparison.challenger),
        "champion": _round(comparison.champion),
        "difference": _round(comparison.difference),
        "mcnemar_p": _round(comparison.mcnemar_p),
    }


def comparison_check(kind: str, name: str, comparison: Comparison, *, gated: bool = True, why: str = "") -> Check:
    """A paired comparison as a check: ``fail`` when the challenger is worse beyond the tolerance (`Comparison`),
    ``not gated`` when ``gated`` is false (``why`` says why), ``not evaluated`` without rows."""
    label = _LABELS.get(comparison.metric, comparison.metric)
    if comparison.n == 0:
        return Check(kind, name, NOT_EVALUATED, comparison.tolerance, {"n": 0}, detail="no rows to compare on")
    interval = (_round(comparison.low), _round(comparison.high))
    said = f"{label} {comparison.describe()} at {comparison.confidence:.0%} over {comparison.n} rows"
    if not gated:
        verdict, detail = NOT_GATED, f"{said}: {why or 'not gated'}"
    elif comparison.worse:
        verdict = FAIL
        detail = f"{said}: worse by more than {comparison.tolerance:g} (upper end below {-comparison.tolerance:g})"
    else:
        verdict, detail = PASS, f"{said}: not shown worse by more than {comparison.tolerance:g}"
    return Check(kind, name, verdict, comparison.tolerance, _measured(comparison), interval, detail)


def feedback_check(comparison: Comparison, *, min_feedback: int, window: str) -> Check:
    """The paired comparison on production corrections (``window`` names the days), gated only with at least
    ``min_feedback`` corrected items."""
    if comparison.n < min_feedback:
        check = comparison_check("feedback", window, comparison, gated=False)
        return Check(
            check.kind,
            check.name,
            NOT_GATED,
            check.threshold,
            check.measured,
            check.interval,
            f"not enough feedback (n={comparison.n} < min_feedback {min_feedback}): not gated",
        )
    return comparison_check("feedback", window, comparison)


def redteam_rates(metrics: Mapping[str, float]) -> dict[str, float]:
    """The red-team failure rate per test from a version's run metrics (``redteam.<test>.failure_rate``, the
    key encoded for MLflow as `encode_key` encodes it)."""
    rates = {}
    for key, value in metrics.items():
        found = _REDTEAM_KEY.fullmatch(key)
        if found:
            rates[decode_key(found.group(1)) or found.group(1)] = float(value)
    return rates


def redteam_checks(
    challenger: Mapping[str, float] | None,
    champion: Mapping[str, float] | None,
    margin: float,
    *,
    changes: Mapping[str, tuple[int, int]] | None = None,
    confidence: float = 0.95,
) -> list[Check]:
    """Per red-team test, the challenger's failure rate minus the champion's (on the same suite) is at most
    ``margin``. With ``changes`` (per test, the cases the challenger breaks and fixes against the champion, case by
    case), a rise over the margin fails only when it is more than chance: McNemar's exact test on those discordant
    cases, significant at ``confidence`` (one case of 32 golden ones is not evidence). Without them the rise alone
    decides. Missing results are ``not evaluated``, never a failure: no results for either model give one such
    check; a test only one model was run on gives one for that test."""
    if not challenger or not champion:
        missing = "the challenger" if not challenger else "the champion"
        return [Check("redteam", "suite", NOT_EVALUATED, margin, detail=f"no red-team results for {missing}")]
    checks = []
    for test in sorted(set(challenger) | set(champion)):
        new, old = challenger.get(test), champion.get(test)
        if new is None or old is None:
            side = "the challenger" if new is None else "the champion"
            checks.append(Check("redteam", test, NOT_EVALUATED, margin, detail=f"not run on {side}"))
            continue
        rise = new - old
        measured: dict[str, Any] = {"challenger": _round(new), "champion": _round(old), "rise": _round(rise)}
        detail = f"failure rate {old:.3f} -> {new:.3f} ({rise:+.3f}, margin {margin:g})"
        passed = rise <= margin + 1e-12
        if changes is not None and test in changes:
            broken, fixed = changes[test]
            p_value = mcnemar_exact(broken, fixed)
            measured |= {"broken": broken, "fixed": fixed, "mcnemar_p": _round(p_value)}
            detail += f"; {broken} broken, {fixed} fixed, McNemar p={p_value:.3f}"
            passed = passed or broken <= fixed or p_value >= 1 - confidence
        checks.append(Check("redteam", test, PASS if passed else FAIL, margin, measured, detail=detail))
    return checks


@dataclass(frozen=True)
class Blessing:
    """The record of one promotion decision: what was compared (use case, dataset, both versions, metric), each
    check, the decision (``promoted``, ``not promoted``, or ``kept`` for the version already champion) and
    a one-sentence reason."""

    use_case: str
    decided_at: str
    dataset_version: str
    dataset_commit: str
    challenger: str
    champion: str | None
    metric: str
    decision: str
    reason: str
    checks: tuple[Check, ...] = ()

    @property
    def promoted(self) -> bool:
        return self.decision == PROMOTED

    def to_json(self) -> str:
        data = asdict(self)
        data["checks"] = [asdict(c) for c in self.checks]
        return json.dumps(data, ensure_ascii=False, sort_keys=True, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Blessing:
        data = json.loads(text)
        checks = tuple(
            Check(**{**c, "interval": tuple(c["interval"]) if c.get("interval") else None}) for c in data["checks"]
        )
        return cls(**{**data, "checks": checks})

    def rows(self) -> list[dict[str, Any]]:
        return [c.row() for c in self.checks]

    def evidence(self) -> str:
        """The evidence on one line: ``macro F1 +0.021 [+0.008, +0.035]; slices ok (4 gated); feedback 812 items
        +0.015; red team ok``; empty when nothing was compared."""
        by_kind: dict[str, list[Check]] = {}
        for check in self.checks:
            by_kind.setdefault(check.kind, []).append(check)
        parts = []
        for check in by_kind.get("overall", []):
            shown = f"{check.measured['difference']:+.3f}" if "difference" in check.measured else "-"
            if check.interval:
                shown += f" [{check.interval[0]:+.3f}, {check.interval[1]:+.3f}]"
            parts.append(
                f"{_LABELS.get(self.metric, self.metric)} {shown}" + (" WORSE" if check.verdict == FAIL else "")
            )
        if "slice" in by_kind:
            found = by_kind["slice"]
            gated = [c for c in found if c.verdict in (PASS, FAIL)]
            failed = [c.name for c in found if c.verdict == FAIL]
            parts.append(
                f"slices worse: {', '.join(failed)} ({len(gated)} gated)"
                if failed
                else f"slices ok ({len(gated)} gated)"
            )
        for check in by_kind.get("feedback", []):
            n = check.measured.get("n", 0)
            if check.verdict == NOT_GATED:
                parts.append(f"feedback {n} items: not gated")
            elif check.verdict == NOT_EVALUATED:
                parts.append("feedback: none")
            else:
                diff = check.measured.get("difference", float("nan"))
                parts.append(f"feedback {n} items {float(diff):+.3f}" + (" WORSE" if check.verdict == FAIL else ""))
        if "redteam" in by_kind:
            found = by_kind["redteam"]
            failed = [c.name for c in found if c.verdict == FAIL]
            if failed:
                parts.append(f"red team worse: {', '.join(failed)}")
            elif all(c.verdict == NOT_EVALUATED for c in found):
                parts.append("red team not evaluated")
            else:
                parts.append("red team ok")
        return "; ".join(parts)

    def headline(self) -> str:
        """``v2 promoted over v1 — <evidence>``, or the reason when nothing was compared."""
        evidence = self.evidence()
        if not evidence:
            return self.reason
        over = f" over v{self.champion}" if self.champion else ""
        verb = {PROMOTED: "promoted", KEPT: "kept"}.get(self.decision, "not promoted")
        return f"v{self.challenger} {verb}{over} — {evidence}"


def _failures(checks: Sequence[Check]) -> list[Check]:
    return [c for c in checks if c.verdict == FAIL]


def decide(
    *,
    challenger: str,
    champion: str | None,
    floor: Check,
    demoted: str | None,
    evidence: Sequence[Check] = (),
) -> tuple[str, str]:
    """The decision and its one-sentence reason. In order: below the floor, not promoted; no champion yet,
    promoted; already champion, kept; demoted by a rollback (``demoted`` says when, who, why), not promoted;
    otherwise promoted unless a check of ``evidence`` failed."""
    new = f"v{challenger}"
    if floor.verdict == FAIL:
        return NOT_PROMOTED, f"{new} fails the quality floor: {floor.detail}"
    if champion is None:
        return PROMOTED, f"first champion: {new} ({floor.detail})"
    if champion == challenger:
        return KEPT, f"{new} is already the champion"
    if demoted is not None:
        return NOT_PROMOTED, f"{new} was rolled back ({demoted}): not promoted again"
    failed = _failures(evidence)
    if failed:
        named = "; ".join(f"{c.kind} {c.name}: {c.detail}" for c in failed)
        return NOT_PROMOTED, f"{new} does not replace v{champion}: {named}"
    gated = [c for c in evidence if c.verdict == PASS]
    return PROMOTED, f"{new} replaces v{champion}: no check shows it worse ({len(gated)} checks passed)"


EVIDENCE_CHECKS = {
    "not_worse_overall": "overall",
    "not_worse_in_gated_slices": "slice",
    "not_worse_on_feedback": "feedback",
    "redteam_within_margin": "redteam",
}
"""The champion asset's checks (check name -> kind of evidence), each over the blessing's checks of one kind. They
warn (a challenger found worse is a decision, not a broken asset) and pass, saying so, when nothing was compared."""


def evidence_gates(blessing: Blessing, *, had_champion: bool) -> list[GateResult]:
    """One gate per kind of evidence (`EVIDENCE_CHECKS`) over the blessing's checks of that kind: failed when
    any failed, passed saying so when nothing of that kind was compared."""
    out = []
    for name, kind in EVIDENCE_CHECKS.items():
        found = [c for c in blessing.checks if c.kind == kind]
        if not found:
            why = blessing.reason if had_champion else "no champion to compare with"
            out.append(GateResult(name, True, f"not compared: {why}"))
            continue
        failed = [c for c in found if c.verdict == FAIL]
        shown = failed or found
        summary = "; ".join(f"{c.name}: {c.verdict} ({c.detail})" for c in shown[:5])
        counts: dict[str, float | int | str] = {
            v: sum(c.verdict == v for c in found) for v in sorted({c.verdict for c in found})
        }
        out.append(GateResult(name, not failed, summary, counts, [c.row() for c in found]))
    return out
