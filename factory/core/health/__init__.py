"""Factory health: KPIs per layer with trends and green / yellow / red verdicts, and the data inventory.

Pure logic (Polars in, dataclasses and frames out); the Dagster wiring is `factory.defs.health`.
"""

from __future__ import annotations

from factory.core.health._inventory import INVENTORY_SCHEMA, ReadinessRules, inventory
from factory.core.health._kpis import ChampionState, DatasetState, HealthInputs, RetrainRun, health_kpis
from factory.core.health._spec import health_bounds, readiness_rules
from factory.core.health._verdict import (
    LAYERS,
    Bounds,
    GateFailure,
    Kpi,
    Verdict,
    gate_kpi,
    layer_verdicts,
    overall,
    sparkline,
    trend_text,
    window,
    worst,
)

__all__ = [
    "INVENTORY_SCHEMA",
    "LAYERS",
    "Bounds",
    "ChampionState",
    "DatasetState",
    "GateFailure",
    "HealthInputs",
    "Kpi",
    "ReadinessRules",
    "RetrainRun",
    "Verdict",
    "gate_kpi",
    "health_bounds",
    "health_kpis",
    "inventory",
    "layer_verdicts",
    "overall",
    "readiness_rules",
    "sparkline",
    "trend_text",
    "window",
    "worst",
]
