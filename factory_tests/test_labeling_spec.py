"""The labeling section of the use-case spec: defaults, and contradictions named with the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from factory.spec import SpecError, load_spec
from factory_tests.helpers import SHIPPED_SPEC


def _shipped() -> dict[str, Any]:
    data = yaml.safe_load(SHIPPED_SPEC.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_shipped_labeling_section() -> None:
    labeling = load_spec(SHIPPED_SPEC).labeling
    assert labeling.method == "ds" and labeling.feedback_weight == 2.0
    assert labeling.imports is not None and labeling.imports.path == "inbox/ticket_triage"
    assert labeling.review.budget == 100 and sum(labeling.review.quotas.values()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"method": "best"}, "labeling.method"),
        ({"drift_window": "1 day"}, "drift_window must be a number of hours, days or weeks"),
        ({"annotators": []}, "must name at least one annotator"),
        ({"annotators": ["a", "a"]}, "annotators repeated"),
        ({"feedback_weight": -1}, "labeling.feedback_weight"),
        ({"review": {"quotas": {"vibes": 0.5}}}, "unknown reasons ['vibes']"),
        ({"review": {"quotas": {"label_error": 0.8, "rare_class": 0.5}}}, "more than the whole budget"),
        ({"review": {"folds": 1}}, "labeling.review.folds"),
        ({"imports": {"path": "inbox", "pattern": "../elsewhere/*"}}, "without '..'"),
        ({"imports": {"pattern": "*.csv"}}, "labeling.imports.path"),
    ],
)
def test_contradictions_are_named(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    data = _shipped()
    data["labeling"].update(change)
    path = tmp_path / "ticket_triage.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(SpecError) as error:
        load_spec(path)
    assert message in str(error.value)


def test_label_studio_user_ids_and_emails_map_to_names(tmp_path: Path) -> None:
    data = _shipped()
    data["labeling"]["imports"]["annotator_names"] = {3: "amara", "bruno@example.com": "bruno"}
    path = tmp_path / "ticket_triage.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    imports = load_spec(path).labeling.imports
    assert imports is not None
    names = imports.annotator_names
    assert names == {3: "amara", "bruno@example.com": "bruno"}
