"""Shared fixtures: a temporary FACTORY_HOME and a small, fast variant of the ticket_triage spec."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from factory.paths import REPO_ROOT
from factory.spec import UseCaseSpec, load_spec

SHIPPED_SPEC = REPO_ROOT / "factory" / "usecases" / "ticket_triage.yaml"


def small_spec(rows_per_day: int = 600, drift_day: str = "2026-01-03") -> UseCaseSpec:
    """ticket_triage with fewer rows a day and the drift on day 3; the dataset and quality floors are lowered
    to what two small days can clear (macro F1 on a ~120-row test split over 13 classes is noisy)."""
    spec = load_spec(SHIPPED_SPEC)
    source = spec.demo_source.model_copy(
        update={"rows_per_day": rows_per_day, "drift_start": date.fromisoformat(drift_day)}
    )
    gates = spec.gates.model_copy(update={"min_rows": 300, "quality_floor": 0.5})
    return spec.model_copy(update={"sources": (source,), "gates": gates})


@pytest.fixture
def factory_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "factory_home"
    home.mkdir()
    monkeypatch.setenv("FACTORY_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("FACTORY_WAREHOUSE", raising=False)
    yield home
