"""The health chart: one panel per KPI with a value in its trend, written as a PNG and returned; nothing when there
is nothing to draw."""

from __future__ import annotations

from pathlib import Path

from factory.core.health import Bounds, Kpi, window
from factory.resources.charts import chart_file, health_chart


def test_the_chart_is_a_png_of_the_kpis_with_values(factory_home: Path) -> None:
    days = window("2026-01-10", 5)
    kpis = [
        Kpi("preparation", "quarantine_rate", 0.3, "30%", (None, 0.01, 0.02, None, 0.3), Bounds(0.05, 0.2)),
        Kpi("model", "promotion", None, "promoted"),  # nothing to draw
    ]
    path = chart_file("ticket_triage", days[-1])
    assert path == factory_home / "ticket_triage" / "health" / "health-2026-01-10.png"
    png = health_chart(kpis, days, path)
    assert png is not None and png.startswith(b"\x89PNG") and path.read_bytes() == png
    assert len(png) < 60_000  # small enough to embed in the asset's metadata


def test_no_chart_without_a_value(factory_home: Path) -> None:
    path = chart_file("ticket_triage", "2026-01-10")
    assert health_chart([Kpi("model", "promotion", None, "none yet")], window("2026-01-10", 3), path) is None
    assert not path.exists()
