"""The spec checker knows the runtime (issue 11, case 5): reserved column names, the regex engine of custom PII
patterns, SQL identifiers, repeated YAML keys, input paths confined to the data root, and a bad spec in the
use-case directory that disables its own use case only."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from factory.cli import main
from factory.paths import factory_data, resolve_input
from factory.resources.landing import resolve_path
from factory.resources.sources import SourceError
from factory.resources.tables import tables_for
from factory.spec import SpecError, check_specs, load_spec, load_specs
from factory.spec_checks import RESERVED_COLUMNS, RESERVED_ID_COLUMNS
from factory_tests.helpers import SHIPPED_SPEC

Edit = Callable[[dict[str, Any]], object]


def _shipped() -> dict[str, Any]:
    data = yaml.safe_load(SHIPPED_SPEC.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _write(folder: Path, data: dict[str, Any], name: str = "ticket_triage") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**data, "name": name}), encoding="utf-8")
    return path


def _add_column(name: str, **extra: object) -> Edit:
    return lambda d: d["schema"]["columns"].append({"name": name, **extra})


def _rename_column(old: str, new: str) -> Edit:
    def edit(d: dict[str, Any]) -> None:
        for column in d["schema"]["columns"]:
            if column["name"] == old:
                column["name"] = new
        for role in ("id", "timestamp", "group"):
            if d["schema"][role] == old:
                d["schema"][role] = new

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_add_column("source"), "column 'source' is a name the factory adds"),
        (_add_column("partition_key"), "column 'partition_key' is a name the factory adds"),
        (_add_column("content_hash"), "column 'content_hash' is a name the factory adds"),
        (_add_column("Source"), "column 'Source' is a name the factory adds"),
        (_add_column("split"), "column 'split' is a name the factory adds"),
        (_add_column("_line"), "names starting with '_' are reserved"),
        (_add_column("_file"), "names starting with '_' are reserved"),
        (_add_column("_reject_reason"), "names starting with '_' are reserved"),
        (_add_column("Body"), "columns equal but for case"),
        (_add_column("body_truncated"), "collides with the flag preparation adds for 'body'"),
        (_rename_column("ticket_id", "TicketId"), "schema.id column 'TicketId' must be lower-case"),
        (_rename_column("customer_id", "customer id"), "schema.group column 'customer id' must be lower-case"),
        (_rename_column("ticket_id", "reason"), "schema.id column 'reason' is a name of a column the factory keeps"),
    ],
)
def test_column_names_the_runtime_cannot_take_are_refused(tmp_path: Path, edit: Edit, message: str) -> None:
    data = _shipped()
    edit(data)
    with pytest.raises(SpecError) as error:
        load_spec(_write(tmp_path, data))
    assert message in str(error.value)


def test_the_reserved_names_cover_every_column_the_registry_adds() -> None:
    """Every column a table adds next to the declared columns is reserved: for tables that carry all declared
    columns, for every column; for tables that carry only the id, for the id column."""
    spec = load_spec(SHIPPED_SPEC)
    declared = set(spec.schema.column_names())
    for table in tables_for(spec).values():
        carried = declared & set(table.columns)
        added = {c for c in table.columns if c not in declared and not c.startswith("_")}
        added -= {f"{c}_truncated" for c in declared}
        if carried == declared:
            assert added <= RESERVED_COLUMNS, table.name
        elif carried == {spec.schema.id}:
            assert added <= RESERVED_COLUMNS | RESERVED_ID_COLUMNS, table.name


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (r"(?<=ACCT-)\d{8}", "look-around, including look-ahead and look-behind, is not supported"),
        (r"(\d)\1{7}", "backreferences are not supported"),
        (r"\d*", "matches the empty string"),
        ("(unclosed", "not a valid regular expression"),
    ],
)
def test_custom_pii_patterns_compile_with_the_engine_that_runs_them(tmp_path: Path, pattern: str, message: str) -> None:
    data = _shipped()
    data["custom_pii"] = {"ACCOUNT_NUMBER": pattern}
    with pytest.raises(SpecError) as error:
        load_spec(_write(tmp_path, data))
    assert message in str(error.value)
    assert "Rust regex engine" in str(error.value)
    assert "This error occurred" not in str(error.value)


def test_a_repeated_key_is_refused_with_its_lines(tmp_path: Path) -> None:
    text = SHIPPED_SPEC.read_text(encoding="utf-8")
    path = tmp_path / "ticket_triage.yaml"
    path.write_text(text + "\nlabeling:\n  classes: [a, b]\n", encoding="utf-8")
    with pytest.raises(SpecError) as error:
        load_spec(path)
    first = 1 + text.splitlines().index("labeling:")
    assert "found the key 'labeling' a second time" in str(error.value)
    assert f"first on line {first}" in str(error.value)
    assert f"line {len(text.splitlines()) + 2}" in str(error.value)
    nested = text.replace("  method: ds ", "  method: mv\n  method: ds ")
    path.write_text(nested, encoding="utf-8")
    with pytest.raises(SpecError, match="found the key 'method' a second time"):
        load_spec(path)


def _files_source(path: str, **extra: object) -> Edit:
    source = {"name": "drop", "kind": "files", "path": path, "format": "csv", **extra}
    return lambda d: d["sources"].append(source)


def _inbox(**fields: object) -> Edit:
    return lambda d: d["labeling"]["sources"][1].update(fields)


@pytest.mark.usefixtures("factory_home")
@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_files_source("/etc"), "sources.1 (drop).path: path '/etc'"),
        (_files_source("../../../../../../../etc"), "is outside the data root"),
        (lambda d: d["sources"].append({"name": "db", "kind": "sqlite", "path": "/etc/x.db", "query": "? ?"}), "/etc"),
        (_inbox(path="/etc"), "source 'inbox' path: path '/etc'"),
        (_inbox(gold="/etc/passwd"), "source 'inbox' gold: path '/etc/passwd'"),
        (lambda d: d["feedback"]["sources"][1].update(path="/etc"), "source 'corrections' path"),
    ],
)
def test_input_paths_outside_the_data_root_are_refused(tmp_path: Path, edit: Edit, message: str) -> None:
    data = _shipped()
    edit(data)
    with pytest.raises(SpecError) as error:
        load_spec(_write(tmp_path, data))
    assert message in str(error.value)
    assert "allow_outside: true" in str(error.value)


def test_allow_outside_and_paths_under_the_roots_pass(factory_home: Path, tmp_path: Path) -> None:
    data = _shipped()
    _files_source("/etc", allow_outside=True)(data)
    _inbox(path=str(factory_home / "inbox"), gold="gold/ticket_triage.csv")(data)
    spec = load_spec(_write(tmp_path, data))
    assert [s.name for s in spec.sources] == ["tickets", "drop"]
    assert resolve_path("/etc", allow_outside=True) == Path("/etc")
    with pytest.raises(SourceError, match="allow_outside"):
        resolve_path("/etc")


def test_relative_inputs_resolve_against_the_data_root(
    factory_home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    assert factory_data() == factory_home.parent / "factory-data"
    assert resolve_input("inbox/x") == factory_home.parent / "factory-data" / "inbox" / "x"
    (factory_home / "legacy").mkdir()
    with caplog.at_level(logging.WARNING):
        assert resolve_input("legacy") == factory_home / "legacy"
    assert "move it to the data root" in caplog.text
    data = factory_home.parent / "elsewhere"
    monkeypatch.setenv("FACTORY_DATA", str(data))
    assert resolve_input("inbox") == data / "inbox"
    with pytest.raises(ValueError, match="outside the data root"):
        resolve_input(str(factory_home.parent / "other"))


def _directory_with_a_bad_spec(folder: Path) -> Path:
    folder.mkdir()
    good = _shipped()
    _write(folder, good)
    bad = _shipped()
    bad["schema"]["columns"].append({"name": "source"})
    bad["custom_pii"] = {"ACCOUNT_NUMBER": r"(?<=x)y"}
    return _write(folder, bad, name="broken_case")


def test_a_bad_spec_disables_only_its_use_case(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bad = _directory_with_a_bad_spec(tmp_path / "usecases")
    loaded = check_specs(bad.parent)
    assert [s.name for s in loaded.specs] == ["ticket_triage"]
    assert list(loaded.invalid) == [bad]
    assert "column 'source'" in loaded.invalid[bad] and "look-around" in loaded.invalid[bad]
    with caplog.at_level(logging.WARNING):
        assert [s.name for s in load_specs(bad.parent)] == ["ticket_triage"]
    assert "use case disabled" in caplog.text and "broken_case.yaml" in caplog.text
    bad.parent.joinpath("ticket_triage.yaml").unlink()
    with pytest.raises(SpecError, match=r"broken_case\.yaml"):
        load_specs(bad.parent)


def test_check_spec_on_a_directory_reports_every_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = _directory_with_a_bad_spec(tmp_path / "usecases")
    assert main(["check-spec", str(bad.parent)]) == 2
    out, err = capsys.readouterr()
    assert "use case 'ticket_triage' is valid" in out
    assert "1 valid, 1 invalid" in out
    assert "broken_case.yaml" in err and "column 'source'" in err
    assert main(["check-spec", str(bad.parent / "ticket_triage.yaml")]) == 0


@pytest.mark.usefixtures("factory_home")
def test_the_code_location_loads_the_good_use_cases_and_lists_the_bad(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from factory.defs import build_definitions

    bad = _directory_with_a_bad_spec(tmp_path / "usecases")
    unbuildable = _shipped()
    unbuildable["feedback"]["sources"].append({"name": "desk", "kind": "zendesk"})
    _write(bad.parent, unbuildable, name="plugin_case")
    monkeypatch.setenv("FACTORY_USECASES", str(bad.parent))
    defs = build_definitions()
    assert defs.resolve_job_def("ticket_triage_daily") is not None
    listed = str(defs.metadata["invalid_use_cases"].value)
    assert "broken_case.yaml" in listed and "column 'source'" in listed
    assert "plugin_case.yaml" in listed and "no plug-in implements the feedback source kind 'zendesk'" in listed
