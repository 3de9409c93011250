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
_PANEL_INCHES = (3.2, 2.1)
"""Width and height of one KPI's panel."""
_MARGIN_INCHES = {"left": 0.45, "right": 0.1, "top": 0.3, "bottom": 0.3, "between_rows": 0.55, "between_columns": 0.5}
"""Fixed room around the panels for tick labels and titles: matplotlib's constrained layout measured every text
to find it, and was half of the chart's cost (15 of 35 s over a simulated month of daily charts)."""


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
    width, height = _PANEL_INCHES[0] * _COLUMNS, _PANEL_INCHES[1] * rows
    room = _MARGIN_INCHES
    figure = Figure(figsize=(width, height), dpi=dpi)
    figure.subplots_adjust(
        left=room["left"] / width,
        right=1 - room["right"] / width,
        top=1 - room["top"] / height,
        bottom=room["bottom"] / height,
        hspace=room["between_rows"] / (_PANEL_INCHES[1] - room["between_rows"]),
        wspace=room["between_columns"] / (_PANEL_INCHES[0] - room["between_columns"]),
    )
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
