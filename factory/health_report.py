"""``factory health NAME``: the health table the ``factory_health`` asset stored, printed for a terminal.

It reads the stored rows (the newest day, or the day asked for) instead of recomputing them, and prints the
overall verdict first, then each layer's verdict, the KPIs that need attention with what is behind them, and the
whole table. Every value from data is escaped for the terminal (`factory.core.safe_text.terminal_text`).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from factory.core.health import Verdict, worst
from factory.core.safe_text import terminal_text
from factory.resources.warehouse import Warehouse

__all__ = ["HealthReport", "health_report"]

_COLUMNS = (("layer", 12), ("kpi", 16), ("shown", 31), ("trend", 40), ("bounds", 26), ("verdict", 7))
_HEADERS = {"kpi": "KPI", "shown": "today"}


@dataclass(frozen=True)
class HealthReport:
    """The stored health of one day: its overall verdict and the lines to print."""

    day: str
    verdict: Verdict
    lines: list[str]


def _verdict(text: str) -> Verdict:
    known: dict[str, Verdict] = {"green": "green", "yellow": "yellow", "red": "red", "info": "info"}
    return known.get(text, "n/a")


def _cell(value: object, width: int) -> str:
    text = terminal_text("" if value is None else value)
    return text if len(text) <= width else text[: width - 1] + "…"


def health_report(warehouse: Warehouse, use_case: str, day: str | None = None) -> HealthReport:
    """The stored health of ``use_case`` on ``day`` (default: the newest day stored); ``ValueError`` when
    nothing is stored for it."""
    stored = warehouse.read_table(use_case, "factory_health")
    if stored.is_empty():
        raise ValueError(f"no health stored for {use_case} yet: run its daily job (the factory_health asset)")
    chosen = day or str(stored["partition_key"].max())
    rows = stored.filter(pl.col("partition_key") == chosen).sort("position")
    if rows.is_empty():
        days = stored["partition_key"].unique().sort()
        raise ValueError(f"no health stored for {use_case} on {chosen}; stored days: {days[0]} to {days[-1]}")
    verdicts = [_verdict(v) for v in rows["verdict"].to_list()]
    overall = worst(verdicts)
    layers: dict[str, list[Verdict]] = {}
    for layer, verdict in zip(rows["layer"].to_list(), verdicts, strict=True):
        layers.setdefault(layer, []).append(verdict)
    lines = [
        f"{terminal_text(use_case)} health on {chosen}: {overall.upper()}",
        "layers: " + ", ".join(f"{layer} {worst(found)}" for layer, found in layers.items()),
    ]
    attention = rows.filter(pl.col("verdict").is_in(["red", "yellow"]))
    if attention.height:
        lines.append("needs attention:")
        for row in attention.sort("verdict", "position", descending=[False, False]).iter_rows(named=True):
            note = f": {terminal_text(row['note'])}" if row["note"] else ""
            lines.append(
                f"  {row['verdict']:<6} {row['layer']} / {row['kpi']} = {terminal_text(row['shown'])} "
                f"({terminal_text(row['bounds'])}){note}"
            )
    else:
        lines.append("needs attention: nothing")
    lines.append("")
    lines.append("  ".join(f"{_HEADERS.get(name, name):<{width}}" for name, width in _COLUMNS).rstrip())
    for row in rows.iter_rows(named=True):
        lines.append("  ".join(f"{_cell(row[name], width):<{width}}" for name, width in _COLUMNS).rstrip())
    return HealthReport(chosen, overall, lines)
