"""The use-case spec: the shipped file loads; bad files fail with messages that name the problem."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from factory.spec import SpecError, load_spec, load_specs
from factory_tests.helpers import SHIPPED_SPEC


def _write(tmp_path: Path, data: object, name: str = "ticket_triage") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _shipped() -> dict[str, object]:
    data = yaml.safe_load(SHIPPED_SPEC.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_shipped_spec_loads() -> None:
    spec = load_spec(SHIPPED_SPEC)
    assert spec.name == "ticket_triage"
    assert len(spec.labeling.classes) >= 12
    assert spec.schema.group == "customer_id"
    assert [s.name for s in load_specs(SHIPPED_SPEC.parent)] == ["claims_review", "ticket_triage"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["schema"].update(id="nope"), "schema.id names 'nope'"),
        (lambda d: d["splits"].update(test=0.5), "must sum to 1"),
        (lambda d: d.update(text_columns=["body", "missing_col"]), "missing_col"),
        (lambda d: d["labeling"].update(classes=["a", "a", "b"]), "classes repeated"),
        (lambda d: d["gates"].update(min_class_share=0.2), "no dataset could pass"),
        (lambda d: d.update(unexpected_key=1), "unexpected_key"),
        (lambda d: d["custom_pii"].update(BROKEN="(unclosed"), "not a valid regular expression"),
        (lambda d: d["near_duplicates"].update(num_perm=64, bands=5), "multiple of bands"),
        (lambda d: d.update(text_columns=[], feature_columns=[]), "cannot both be empty"),
        (lambda d: d.update(text_columns=[]), "complement_nb reads text, and the use case has no text_columns"),
        (
            lambda d: d.update(feature_columns=[]) or d["models"].update(candidates=["hist_gb"]),
            "hist_gb reads features",
        ),
        (lambda d: d.update(feature_columns=["created_at"]), "feature_columns must have type string"),
        (lambda d: d.update(feature_columns=["channel", "body"]), "both text and feature columns: ['body']"),
        (lambda d: d["models"].update(candidates=["forest"]), "models.candidates"),
        (lambda d: d["drift"].update(release=0.3), "drift.release (0.3) must not exceed drift.threshold (0.2)"),
        (
            lambda d: (
                d.update(text_columns=[], feature_columns=["channel"])
                or d["models"].update(candidates=["majority", "tfidf_svm"])
            ),
            "tfidf_svm reads text, and the use case has no text_columns",
        ),
    ],
)
def test_contradictions_are_named(tmp_path: Path, change: Callable[[dict[str, Any]], object], message: str) -> None:
    data = _shipped()
    change(data)
    with pytest.raises(SpecError) as error:
        load_spec(_write(tmp_path, data))
    assert message in str(error.value)
    assert "ticket_triage.yaml" in str(error.value)


def test_a_tabular_use_case_needs_no_text_and_gets_tabular_candidates(tmp_path: Path) -> None:
    """Feature columns alone are inputs: their kind follows their type, and without ``models.candidates`` the
    candidates are the tabular ones."""
    data: dict[str, Any] = _shipped()
    data["schema"]["columns"] += [{"name": "amount", "type": "float"}, {"name": "items", "type": "integer"}]
    data.update(text_columns=[], feature_columns=["channel", "amount", "items"])
    data["models"].pop("candidates")
    spec = load_spec(_write(tmp_path, data))
    assert spec.text_columns == ()
    assert spec.categorical_features == ("channel",) and spec.numeric_features == ("amount", "items")
    assert spec.models.candidates == ("majority", "onehot_logreg", "hist_gb")
    data.update(text_columns=["subject", "body"])
    assert load_spec(_write(tmp_path, data)).models.candidates == (
        "majority",
        "complement_nb",
        "tfidf_logreg",
        "tfidf_svm",
    )


def test_the_text_ladder_candidates_are_accepted_by_name(tmp_path: Path) -> None:
    data: dict[str, Any] = _shipped()
    data["models"].update(candidates=["majority", "tfidf_svm"])
    spec = load_spec(_write(tmp_path, data))
    assert spec.models.candidates == ("majority", "tfidf_svm")


def test_not_yaml_and_not_a_mapping(tmp_path: Path) -> None:
    broken = tmp_path / "ticket_triage.yaml"
    broken.write_text("name: [unclosed", encoding="utf-8")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(broken)
    with pytest.raises(SpecError, match="must be a mapping"):
        load_spec(_write(tmp_path, ["a", "list"]))


def test_file_name_must_match_use_case(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="file name must match"):
        load_spec(_write(tmp_path, _shipped(), name="other_name"))


def test_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no use-case files"):
        load_specs(tmp_path)


def test_dates_may_count_back_from_today(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``N days ago`` counts back from FACTORY_TODAY (pinned by the tests to 2026-01-09), else the UTC date."""
    shipped = load_spec(SHIPPED_SPEC)
    assert shipped.demo_source is not None
    assert (str(shipped.start_date), str(shipped.demo_source.drift_start)) == ("2026-01-01", "2026-01-07")
    monkeypatch.setenv("FACTORY_TODAY", "2026-03-01")
    assert str(load_spec(SHIPPED_SPEC).start_date) == "2026-02-21"
    data = _shipped()
    data["start_date"] = "3 days ago"
    assert str(load_spec(_write(tmp_path, data)).start_date) == "2026-02-26"
    data["start_date"] = "soon"
    with pytest.raises(SpecError, match="start_date"):
        load_spec(_write(tmp_path, data))
    monkeypatch.setenv("FACTORY_TODAY", "March")
    with pytest.raises(SpecError, match="FACTORY_TODAY='March' is not a YYYY-MM-DD date"):
        load_spec(SHIPPED_SPEC)
