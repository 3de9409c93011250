"""KPIs, their bounds and verdicts, trends over a window of days, and the worst-wins rule.

A KPI is one figure of one layer for one day (``today``) with its daily values over the window (``trend``,
oldest first, ``None`` where a day has none). Its verdict comes from its bounds: for a rate or a count, at or
above ``red`` is red and at or above ``yellow`` is yellow; for a level (agreement, a metric) the same below the
bounds. A KPI without bounds is information (``info``), and one without a value today is ``n/a``: neither counts
toward a layer's verdict. A failed blocking gate forces its layer's gate KPI red. A layer's verdict is the worst
of its KPIs, the overall verdict the worst layer.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

__all__ = [
    "LAYERS",
    "Bounds",
    "GateFailure",
    "Kpi",
    "Verdict",
    "gate_kpi",
    "layer_verdicts",
    "overall",
    "sparkline",
    "trend_text",
    "window",
    "worst",
]

Verdict = Literal["green", "yellow", "red", "info", "n/a"]

LAYERS = ("preparation", "labeling", "dataset", "model", "monitoring")
"""The layers the health view judges, in the order it shows them."""

_RANK: dict[str, int] = {"n/a": 0, "info": 1, "green": 2, "yellow": 3, "red": 4}
_BLOCKS = "▁▂▃▄▅▆▇█"
_GAP = "·"


@dataclass(frozen=True)
class Bounds:
    """Yellow and red bounds of a KPI; ``lower_is_worse`` for levels such as agreement or a model metric."""

    yellow: float | None = None
    red: float | None = None
    lower_is_worse: bool = False

    @property
    def bounded(self) -> bool:
        return self.yellow is not None or self.red is not None

    def judge(self, value: float | None) -> Verdict:
        if not self.bounded:
            return "info"
        if value is None or math.isnan(value):
            return "n/a"
        if self._crosses(value, self.red):
            return "red"
        if self._crosses(value, self.yellow):
            return "yellow"
        return "green"

    def _crosses(self, value: float, bound: float | None) -> bool:
        if bound is None:
            return False
        return value < bound if self.lower_is_worse else value >= bound

    def describe(self) -> str:
        """The bounds as a person reads them: ``yellow ≥ 0.05, red ≥ 0.2`` or ``yellow < 0.8``; ``-`` when none."""
        sign = "<" if self.lower_is_worse else "≥"
        parts = [
            f"{name} {sign} {bound:g}"
            for name, bound in (("yellow", self.yellow), ("red", self.red))
            if bound is not None
        ]
        return ", ".join(parts) or "-"


@dataclass(frozen=True)
class Kpi:
    """One KPI of one layer for one day: the value judged (``None`` when there is none), what is shown as
    today's value, the daily values over the window, the bounds and a note (what is behind the figure)."""

    layer: str
    name: str
    value: float | None
    shown: str
    trend: tuple[float | None, ...] = ()
    bounds: Bounds = field(default_factory=Bounds)
    note: str = ""
    forced: Verdict | None = None

    @property
    def verdict(self) -> Verdict:
        return self.forced if self.forced is not None else self.bounds.judge(self.value)


@dataclass(frozen=True)
class GateFailure:
    """A blocking gate whose newest evaluation for a day (or, for an unpartitioned asset, overall) failed."""

    layer: str
    asset: str
    check: str
    partition: str | None
    summary: str

    def describe(self) -> str:
        where = f" ({self.partition})" if self.partition else ""
        return f"{self.asset}/{self.check}{where}"


def gate_kpi(layer: str, failures: Sequence[GateFailure], gates: tuple[int, int]) -> Kpi:
    """The ``blocking_gates`` KPI of a layer: red naming the gates that failed in the window, green when none of
    them did; ``gates`` is (evaluated, declared): ``info`` when the layer declares none or none was evaluated."""
    mine = [f for f in failures if f.layer == layer]
    if mine:
        names = sorted({f.describe() for f in mine})
        shown = (
            f"{len(mine)} failed: " + ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        )
        note = "; ".join(f"{f.describe()}: {f.summary}" for f in mine[:5])
        return Kpi(layer, "blocking_gates", float(len(mine)), shown, note=note, forced="red")
    evaluated, declared = gates
    if not declared:
        return Kpi(layer, "blocking_gates", None, "none declared", forced="info")
    if not evaluated:
        return Kpi(layer, "blocking_gates", None, f"none of {declared} evaluated yet", forced="info")
    return Kpi(layer, "blocking_gates", 0.0, f"{evaluated} of {declared} evaluated, all passed", forced="green")


def worst(verdicts: Iterable[Verdict]) -> Verdict:
    """The worst verdict; ``n/a`` when there is nothing to judge (information only)."""
    found: Verdict = "n/a"
    for verdict in verdicts:
        if _RANK[verdict] > _RANK[found]:
            found = verdict
    return found


def layer_verdicts(kpis: Iterable[Kpi]) -> dict[str, Verdict]:
    """Each layer's verdict, the worst of its KPIs, in `LAYERS` order (then any other layer)."""
    by_layer: dict[str, list[Verdict]] = {}
    for kpi in kpis:
        by_layer.setdefault(kpi.layer, []).append(kpi.verdict)
    order = [*[layer for layer in LAYERS if layer in by_layer], *sorted(set(by_layer) - set(LAYERS))]
    return {layer: worst(by_layer[layer]) for layer in order}


def overall(kpis: Iterable[Kpi]) -> Verdict:
    """The overall verdict: the worst layer."""
    return worst(layer_verdicts(kpis).values())


def window(day: str, days: int) -> list[str]:
    """The ISO days of the window ending on ``day`` (included), oldest first."""
    last = date.fromisoformat(day)
    return [(last - timedelta(days=back)).isoformat() for back in range(days - 1, -1, -1)]


def sparkline(values: Sequence[float | None]) -> str:
    """One unicode block per value scaled between the window's minimum and maximum; ``·`` where a day has none."""
    present = [v for v in values if v is not None and not math.isnan(v)]
    if not present:
        return _GAP * len(values)
    low, high = min(present), max(present)
    span = high - low
    marks = []
    for value in values:
        if value is None or math.isnan(value):
            marks.append(_GAP)
        else:
            marks.append(_BLOCKS[round((value - low) / span * (len(_BLOCKS) - 1)) if span else 0])
    return "".join(marks)


def trend_text(values: Sequence[float | None]) -> str:
    """A trend as text: the sparkline from the first day with a value (days before it are not drawn), then the
    first and last values present (``0.01→0.04``)."""
    present = [v for v in values if v is not None and not math.isnan(v)]
    if not present:
        return "-"
    start = next(i for i, v in enumerate(values) if v is not None and not math.isnan(v))
    ends = f"{_short(present[0])}→{_short(present[-1])}" if len(present) > 1 else _short(present[0])
    return f"{sparkline(values[start:])} {ends}"


def _short(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() and abs(value) >= 1 else f"{value:.3g}"
