"""The labeling section of the use-case spec: defaults, and contradictions named with the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from factory.resources.tables import tables_for
from factory.spec import ColumnAnnotationSourceSpec, FilesAnnotationSourceSpec, SpecError, load_spec
from factory_tests.helpers import SHIPPED_SPEC


def _shipped() -> dict[str, Any]:
    data = yaml.safe_load(SHIPPED_SPEC.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_shipped_labeling_section() -> None:
    labeling = load_spec(SHIPPED_SPEC).labeling
    assert labeling.method == "ds" and labeling.feedback_weight == 2.0
    files = [s for s in load_spec(SHIPPED_SPEC).annotation_sources if isinstance(s, FilesAnnotationSourceSpec)]
    assert len(files) == 1 and files[0].path == "inbox/ticket_triage"
    quotas = dict(labeling.review.quotas)
    assert labeling.review.budget == 100 and quotas.pop("label_conflict") == 0.2, "conflicts first, own share"
    assert sum(quotas.values()) == pytest.approx(1.0)
    # the demo's days hold fewer labeled items than the cap; the fast model serves any number of classes
    assert labeling.review.enabled and labeling.review.max_fit_rows == 5_000
    assert labeling.review.fast_from_classes == 2


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
        ({"review": {"max_fit_rows": 1}}, "labeling.review.max_fit_rows"),
        ({"review": {"enabled": "sometimes"}}, "labeling.review.enabled"),
        ({"imports": {"path": "inbox", "pattern": "../elsewhere/*"}}, "without '..'"),
        ({"imports": {"pattern": "*.csv"}}, "labeling.imports.path"),
    ],
)
def test_contradictions_are_named(tmp_path: Path, change: dict[str, Any], message: str) -> None:
    data = _shipped()
    if "imports" in change:
        del data["labeling"]["sources"]  # the older form stands alone
    data["labeling"].update(change)
    path = tmp_path / "ticket_triage.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(SpecError) as error:
        load_spec(path)
    assert message in str(error.value)


def test_label_studio_user_ids_and_emails_map_to_names(tmp_path: Path) -> None:
    data = _shipped()
    data["labeling"]["sources"][1]["annotator_names"] = {3: "amara", "bruno@example.com": "bruno"}
    path = tmp_path / "ticket_triage.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    names = next(
        s for s in load_spec(path).annotation_sources if isinstance(s, FilesAnnotationSourceSpec)
    ).annotator_names
    assert names == {3: "amara", "bruno@example.com": "bruno"}


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "ticket_triage.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_the_older_imports_form_is_the_demo_crowd_and_a_files_source(tmp_path: Path) -> None:
    data = _shipped()
    del data["labeling"]["sources"], data["feedback"]
    data["labeling"]["imports"] = {"path": "inbox/old", "gold": "gold.csv"}
    spec = load_spec(_write(tmp_path, data))
    assert [(s.name, s.kind) for s in spec.annotation_sources] == [("crowd", "demo"), ("inbox", "files")]
    files = spec.annotation_sources[1]
    assert isinstance(files, FilesAnnotationSourceSpec) and files.path == "inbox/old" and files.gold == "gold.csv"
    assert [(s.name, s.kind) for s in spec.feedback_sources] == [("agents", "demo")]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["labeling"].update(imports={"path": "x"}), "give one or the other"),
        (lambda d: d["labeling"]["sources"].append({"kind": "files", "path": "x"}), "names repeated"),
        (lambda d: d["labeling"]["sources"].append({"kind": "Crowd Source", "name": "xx"}), "sources.2.plugin.kind"),
        (
            lambda d: d["labeling"]["sources"].append({"kind": "crowd", "name": "xx", "url": "x"}),
            "sources.2.plugin.url",
        ),
        (lambda d: d["labeling"]["sources"][0].update(source="nowhere"), "a demo data source named 'nowhere'"),
        (lambda d: d["feedback"]["sources"][1].update(path=None), "feedback.sources.1.files.path"),
        (lambda d: d["feedback"]["sources"][1].update(pattern="../up"), "without '..'"),
        (lambda d: d["feedback"]["sources"][0].update(name="Bad Name"), "must be lower-case"),
    ],
)
def test_plugin_source_mistakes_are_named(tmp_path: Path, edit: Any, message: str) -> None:
    data = _shipped()
    edit(data)
    with pytest.raises(SpecError) as error:
        load_spec(_write(tmp_path, data))
    assert message in str(error.value)


def test_a_kind_no_plugin_implements_fails_when_the_use_case_is_built(tmp_path: Path) -> None:
    from factory.defs import build_use_case

    data = _shipped()
    data["feedback"]["sources"].append({"kind": "zendesk", "name": "tickets_desk", "options": {"view": 3}})
    spec = load_spec(_write(tmp_path, data))
    plugin = spec.feedback_sources[-1]
    assert plugin.kind == "zendesk" and plugin.options == {"view": 3}  # type: ignore[union-attr]
    with pytest.raises(SpecError, match=r"ticket_triage: no plug-in implements the feedback source kind 'zendesk'"):
        build_use_case(spec)


def _with_label_column(tmp_path: Path, column: str) -> Path:
    data = _shipped()
    data["schema"]["columns"].append({"name": "category", "type": "string"})
    data["schema"]["columns"].append({"name": "Kind", "type": "string"})
    data["labeling"]["sources"] = [{"name": "given", "kind": "column", "column": column, "weight": 2.0}]
    path = tmp_path / "ticket_triage.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ("nowhere", "names column 'nowhere', which is not among the schema's columns"),
        ("created_at", "must have type string, not timestamp"),
        ("channel", "is a text or feature column; a label used as a model input leaks"),
        ("body", "is a text or feature column"),
        ("customer_id", "is the schema's id, timestamp or group key"),
        ("Kind", "would collide with a column of the duplicates table, which keeps a removed row's label"),
    ],
)
def test_a_label_column_must_be_a_declared_string_column_out_of_the_inputs(
    tmp_path: Path, column: str, message: str
) -> None:
    with pytest.raises(SpecError) as error:
        load_spec(_with_label_column(tmp_path, column))
    assert message in str(error.value)


def test_a_declared_label_column_loads(tmp_path: Path) -> None:
    spec = load_spec(_with_label_column(tmp_path, "category"))
    (source,) = spec.annotation_sources
    assert isinstance(source, ColumnAnnotationSourceSpec)
    assert (source.name, source.column, source.weight) == ("given", "category", 2.0)
    assert spec.label_columns == ("category",)
    assert "category" in tables_for(spec)["duplicates"].columns, "a duplicate keeps the label it carried"
    assert "category" not in tables_for(load_spec(SHIPPED_SPEC))["duplicates"].columns


def test_quotas_given_without_label_conflict_keep_its_default_share(tmp_path: Path) -> None:
    data = _shipped()
    data["labeling"]["review"] = {"quotas": {"label_error": 1.0}}
    path = tmp_path / "ticket_triage.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert load_spec(path).labeling.review.quotas == {"label_conflict": 0.2, "label_error": 1.0}
    data["labeling"]["review"] = {"quotas": {"label_error": 1.0, "label_conflict": 0}}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert load_spec(path).labeling.review.quotas["label_conflict"] == 0, "0 turns the reason's share off"


def test_a_column_named_label_is_declared_only_as_the_data_s_labels(tmp_path: Path) -> None:
    data = _shipped()
    data["schema"]["columns"].append({"name": "Label", "type": "string"})
    path = tmp_path / "ticket_triage.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(SpecError, match=r"column 'Label' is a name the factory adds .* `column` annotation source"):
        load_spec(path)
    data["labeling"]["sources"] = [{"name": "given", "kind": "column", "column": "Label"}]
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert [s.column for s in load_spec(path).annotation_sources] == ["Label"]  # type: ignore[union-attr]
