"""Charts of the health view, drawn with matplotlib (object API and the Agg canvas: no global pyplot state, no
display) and written under ``FACTORY_HOME/<use_case>/health/``.

`health_chart` draws one small panel per KPI with a daily trend: the window's values, the KPI's yellow and red
bounds as dashed lines, the panel titled with the KPI and today's verdict in its colour. The PNG's bytes are
returned too, so the asset can embed a copy in its markdown metadata.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from factory.core.health import Kpi
from factory.paths import factory_home

__all__ = ["chart_file", "health_chart"]

_COLOURS = {"green": "#2e7d32", "yellow": "#f9a825", "red": "#c62828", "info": "#546e7a", "n/a": "#9e9e9e"}
_COLUMNS = 4


def chart_file(schema: str, day: str) -> Path:
    """Where the health chart of ``day`` is written."""
    return factory_home().joinpath(schema, "health", f"health-{day}.png")


def _plotted(kpis: Sequence[Kpi]) -> list[Kpi]:
    """The KPIs with a value on some day of their trend (a first day draws a single point)."""
    return [k for k in kpis if any(v is not None and not math.isnan(v) for v in k.trend)]


def health_chart(kpis: Sequence[Kpi], days: Sequence[str], path: Path, *, dpi: int = 60) -> bytes | None:
    """Draw the trends of ``kpis`` over ``days`` into the PNG file ``path`` and return its bytes; None (and no
    file) when no KPI has a value to draw."""
    shown = _plotted(kpis)
    if not shown:
        return None
    rows = math.ceil(len(shown) / _COLUMNS)
    figure = Figure(figsize=(3.2 * _COLUMNS, 2.1 * rows), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    positions = list(range(len(days)))
    for index, kpi in enumerate(shown):
        axes = figure.add_subplot(rows, _COLUMNS, index + 1)
        points = [
            (x, v)
            for x, v in zip(positions, kpi.trend[-len(days) :], strict=False)
            if v is not None and not math.isnan(v)
        ]
        axes.plot([x for x, _ in points], [v for _, v in points], marker=".", color=_COLOURS[kpi.verdict])
        for name, bound in (("yellow", kpi.bounds.yellow), ("red", kpi.bounds.red)):
            if bound is not None:
                axes.axhline(bound, linestyle="--", linewidth=1, color=_COLOURS[name])
        axes.set_title(f"{kpi.layer}: {kpi.name} ({kpi.verdict})", fontsize=9, color=_COLOURS[kpi.verdict])
        axes.set_xticks([0, len(days) - 1], [days[0][5:], days[-1][5:]], fontsize=7)
        axes.tick_params(axis="y", labelsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")
    return path.read_bytes()
