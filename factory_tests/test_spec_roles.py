"""Optional schema roles and batch file sources in the spec: each of id, timestamp and group may be omitted and
gets its derived column or default; a name clash with a derived column, a timestamp partitioning without a
timestamp and a ``batch_day`` outside a batch source are errors that say what to do."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from factory.spec import FileSourceSpec, SpecError, UseCaseSpec, load_spec
from factory_tests.helpers import SHIPPED_SPEC, text_label_spec


def _byo(**schema: Any) -> dict[str, Any]:
    """A text and label use case fed by a batch file, with the given schema roles only."""
    source = {"name": "export", "kind": "files", "path": "export.csv", "format": "csv", "partition_by": "batch"}
    data: dict[str, Any] = text_label_spec("ticket_triage", source, ("billing", "refund"))
    extra = schema.pop("extra", [])
    data["schema"] = {**schema, "columns": [*data["schema"]["columns"], *extra]}
    return data


def _load(tmp_path: Path, data: dict[str, Any]) -> UseCaseSpec:
    path = tmp_path / "ticket_triage.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return load_spec(path)


def test_every_role_omitted_gets_its_derived_column_and_the_group_is_the_id(tmp_path: Path) -> None:
    schema = _load(tmp_path, _byo()).schema
    assert (schema.id, schema.timestamp, schema.group) == ("row_id", "arrived_at", "row_id")
    assert schema.delivered_columns() == ["text", "category"]
    assert schema.column_names() == ["text", "category", "row_id", "arrived_at"]
    assert schema.derived_columns() == {"row_id": "content_hash", "arrived_at": "arrival_day"}
    by_name = {c.name: c for c in schema.columns}
    assert (by_name["row_id"].type, by_name["arrived_at"].type) == ("string", "timestamp")
    assert by_name["row_id"].required and by_name["arrived_at"].required


@pytest.mark.parametrize(
    ("roles", "expected", "derived"),
    [
        ({"timestamp": "seen", "group": "text"}, ("row_id", "seen", "text"), ["row_id"]),
        ({"id": "text", "group": "seen"}, ("text", "arrived_at", "seen"), ["arrived_at"]),
        ({"id": "text", "timestamp": "seen"}, ("text", "seen", "text"), []),
    ],
)
def test_each_role_can_be_omitted_alone(
    tmp_path: Path, roles: dict[str, str], expected: tuple[str, str, str], derived: list[str]
) -> None:
    data = _byo(**roles, extra=[{"name": "seen", "type": "timestamp", "required": True}])
    schema = _load(tmp_path, data).schema
    assert (schema.id, schema.timestamp, schema.group) == expected
    assert list(schema.derived_columns()) == derived
    assert schema.delivered_columns() == ["text", "category", "seen"]


def test_a_loaded_spec_round_trips_through_its_dump(tmp_path: Path) -> None:
    spec = _load(tmp_path, _byo())
    again = UseCaseSpec.model_validate(spec.model_dump(by_alias=True))
    assert again == spec


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["schema"]["columns"].append({"name": "row_id"}),
            "schema.id is omitted, so the factory derives a column 'row_id'",
        ),
        (
            lambda d: d["schema"]["columns"].append({"name": "arrived_at", "type": "timestamp"}),
            "declare `timestamp: arrived_at` if it is your timestamp column, or rename it",
        ),
        (
            lambda d: d["schema"].update(
                id="text", columns=[{"name": "text", "required": True, "derived": "content_hash"}]
            ),
            "`derived: content_hash` is set by the factory",
        ),
        (lambda d: d.update(feature_columns=["row_id"]), "columns the factory derives, not model inputs"),
        (lambda d: d["sources"][0].update(partition_by="timestamp"), "schema.timestamp is omitted"),
        (lambda d: d["sources"][0].update(partition_by="file_date", batch_day="2026-01-02"), "batch_day is only"),
    ],
)
def test_role_and_batch_contradictions_are_named(tmp_path: Path, change: Any, message: str) -> None:
    data = _byo()
    change(data)
    with pytest.raises(SpecError) as error:
        _load(tmp_path, data)
    assert message in str(error.value)


def test_a_column_named_like_a_derived_one_is_fine_as_that_role(tmp_path: Path) -> None:
    data = _byo(id="row_id", extra=[{"name": "row_id", "required": True}])
    schema = _load(tmp_path, data).schema
    assert schema.id == "row_id" and "row_id" in schema.delivered_columns()
    assert list(schema.derived_columns()) == ["arrived_at"]


def test_the_shipped_spec_declares_every_role() -> None:
    schema = load_spec(SHIPPED_SPEC).schema
    assert schema.derived_columns() == {}
    assert schema.delivered_columns() == schema.column_names()


def test_a_batch_source_reads_its_day(tmp_path: Path) -> None:
    data = _byo()
    data["sources"][0]["batch_day"] = "2026-01-02"
    source = _load(tmp_path, data).sources[0]
    assert isinstance(source, FileSourceSpec)
    assert (source.partition_by, source.batch_day) == ("batch", date(2026, 1, 2))
