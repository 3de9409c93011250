"""Shared fixtures: a temporary FACTORY_HOME and a small, fast variant of the ticket_triage spec."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from factory.paths import package_path
from factory.spec import UseCaseSpec, load_spec

SHIPPED_SPEC = package_path("usecases", "ticket_triage.yaml")
CSV_HEADER = "ticket_id,created_at,customer_id,channel,subject,body"

# Distinct ticket texts, far apart enough that none is a near duplicate of another.
TICKET_TEXTS = [
    "My invoice shows a double charge for the annual plan",
    "The parcel was supposed to arrive Monday and tracking has not moved since",
    "I cannot log in after resetting my password twice this morning",
    "The mobile app crashes whenever I open the settings screen",
    "Please cancel my subscription at the end of this billing period",
    "Do you ship the blue model to Canada and how long does it take",
    "Our whole team lost access to the shared dashboard after the update",
    "Requesting a refund for the headphones that arrived with a cracked case",
    "Is there a way to export all my invoices as a single spreadsheet",
    "The checkout page keeps timing out when I pay with a gift card",
    "How do I add a second admin to our company account",
    "The discount code from your newsletter is rejected at checkout",
]


def small_spec(rows_per_day: int = 600, drift_day: str = "2026-01-03") -> UseCaseSpec:
    """ticket_triage with fewer rows a day and the drift on day 3; the dataset and quality floors are lowered
    to what two small days can clear (macro F1 on a ~120-row test split over 13 classes is noisy)."""
    spec = load_spec(SHIPPED_SPEC)
    source = spec.demo_source.model_copy(
        update={"rows_per_day": rows_per_day, "drift_start": date.fromisoformat(drift_day)}
    )
    gates = spec.gates.model_copy(update={"min_rows": 300, "quality_floor": 0.5, "min_class_examples": 1})
    return spec.model_copy(update={"sources": (source,), "gates": gates})


@pytest.fixture
def factory_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "factory_home"
    home.mkdir()
    monkeypatch.setenv("FACTORY_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("FACTORY_WAREHOUSE", raising=False)
    yield home
