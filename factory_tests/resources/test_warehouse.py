"""The DuckDB warehouse adapter, on a real DuckDB file: declared tables only, typed reads, idempotent partition
writes, safe identifiers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

import factory
from factory.resources.ddl import existing_columns
from factory.resources.sql import identifier, render_sql
from factory.resources.tables import declare_use_case, tables_for
from factory.resources.warehouse import Warehouse
from factory.spec import UseCaseSpec, load_spec

UC = "ticket_triage"


@pytest.fixture(scope="module")
def spec() -> UseCaseSpec:
    loaded = load_spec(Path(factory.__file__).parent / "usecases" / f"{UC}.yaml")
    declare_use_case(loaded)
    return loaded


@pytest.fixture
def warehouse(tmp_path: Path, spec: UseCaseSpec) -> Warehouse:
    return Warehouse(database=str(tmp_path / "w.duckdb"))


def _gold(*items: str) -> pl.DataFrame:
    return pl.DataFrame({"item_id": list(items), "label": ["billing"] * len(items)})


def test_replacing_a_partition_is_idempotent_and_leaves_others(warehouse: Warehouse) -> None:
    warehouse.replace_partition(UC, "gold", "2026-01-01", _gold("a", "b"))
    warehouse.replace_partition(UC, "gold", "2026-01-02", _gold("c"))
    warehouse.replace_partition(UC, "gold", "2026-01-01", _gold("a", "b"))
    assert warehouse.read_table(UC, "gold").sort("item_id")["item_id"].to_list() == ["a", "b", "c"]
    assert warehouse.read_partition(UC, "gold", "2026-01-02")["item_id"].to_list() == ["c"]
    assert warehouse.read_before(UC, "gold", "2026-01-02")["item_id"].sort().to_list() == ["a", "b"]
    assert warehouse.read_range(UC, "gold", "2026-01-02", "2026-01-09")["item_id"].to_list() == ["c"]


def test_tables_are_created_with_the_declared_types(warehouse: Warehouse, spec: UseCaseSpec) -> None:
    scores = tables_for(spec)["annotator_report"]
    row = {n: None for n in scores.columns if n != "partition_key"} | {"annotator": "ann_01", "annotations": 3}
    warehouse.replace_partition(UC, "annotator_report", "2026-01-01", pl.DataFrame([row]))
    with warehouse.get_connection() as conn:
        columns = existing_columns(conn, UC, "annotator_report")
    assert list(columns) == list(scores.columns)
    assert columns["spammer"] == "BOOLEAN" and columns["gold_accuracy"] == "DOUBLE"  # declared, not inferred (NULL)


def test_missing_tables_and_partitions_read_as_typed_empty_frames(warehouse: Warehouse, spec: UseCaseSpec) -> None:
    labels = tables_for(spec)["labels"]
    assert warehouse.read_table(UC, "labels").schema == labels.schema
    empty = warehouse.read_partition(UC, "labels", "2026-01-01")
    assert empty.is_empty() and empty.schema == pl.Schema(
        {n: t for n, t in labels.schema.items() if n != "partition_key"}
    )
    warehouse.replace_partition(UC, "gold", "2026-01-01", _gold("a"))
    assert warehouse.read_partition(UC, "gold", "2026-01-05").columns == ["item_id", "label"]
    assert not warehouse.table_exists(UC, "labels")


def test_undeclared_tables_and_use_cases_are_refused(warehouse: Warehouse) -> None:
    with pytest.raises(ValueError, match="not in the table registry"):
        warehouse.replace_partition(UC, "scratch", "2026-01-01", _gold("a"))  # type: ignore[arg-type]  # the error under test
    with pytest.raises(ValueError, match="not in the table registry"):
        warehouse.read_table(UC, "scratch")  # type: ignore[arg-type]  # the error under test
    with pytest.raises(ValueError, match="no use case named 'nobody'"):
        warehouse.replace_partition("nobody", "gold", "2026-01-01", _gold("a"))


def test_frames_that_differ_from_the_declaration_are_refused(warehouse: Warehouse) -> None:
    with pytest.raises(ValueError, match=r"missing columns \['label'\]"):
        warehouse.replace_partition(UC, "gold", "2026-01-01", pl.DataFrame({"item_id": ["a"]}))
    with pytest.raises(ValueError, match=r"undeclared columns \['extra'\]"):
        warehouse.replace_partition(UC, "gold", "2026-01-01", _gold("a").with_columns(extra=pl.lit(1)))
    assert not warehouse.table_exists(UC, "gold")


def test_compatible_types_are_cast_and_incompatible_values_refused(warehouse: Warehouse) -> None:
    row = {"method": "ds", "labels": 3, "annotations": 9, "krippendorff_alpha_trusted": 1, "krippendorff_alpha": 1}
    row |= {"fleiss_kappa": 1, "spammers": "", "agreement_passed": True, "summary": "ok"}
    warehouse.replace_partition(UC, "label_quality", "2026-01-01", pl.DataFrame([row]).cast({"labels": pl.Int32}))
    back = warehouse.read_partition(UC, "label_quality", "2026-01-01")
    assert back.schema["labels"] == pl.Int64 and back.schema["fleiss_kappa"] == pl.Float64
    bad = pl.DataFrame([{**row, "labels": "three"}])
    with pytest.raises(ValueError, match="does not convert"):
        warehouse.replace_partition(UC, "label_quality", "2026-01-01", bad)
    assert warehouse.read_partition(UC, "label_quality", "2026-01-01")["labels"].to_list() == [3]


def test_timestamps_come_back_in_utc(warehouse: Warehouse, spec: UseCaseSpec) -> None:
    moment = datetime(2026, 1, 1, 12, tzinfo=UTC)
    declared = tables_for(spec)["drift_report"].rows_schema
    row = {"score": 0.1, "threshold": 0.2, "components": "{}", "rows": 1, "created_at": moment}
    frame = pl.DataFrame([{name: row.get(name) for name in declared}], schema=declared)
    warehouse.replace_partition(UC, "drift_report", "2026-01-01", frame)
    back = warehouse.read_table(UC, "drift_report")
    assert back.schema["created_at"] == pl.Datetime("us", "UTC")
    assert back["created_at"].to_list() == [moment]


def test_a_failed_write_rolls_back(warehouse: Warehouse, tmp_path: Path) -> None:
    warehouse.replace_partition(UC, "gold", "2026-01-01", _gold("a"))
    with duckdb.connect(str(tmp_path / "w.duckdb")) as conn:  # a constraint the next write breaks mid-transaction
        conn.execute(f"ALTER TABLE {identifier(UC)}.gold ALTER COLUMN label SET NOT NULL")
    with pytest.raises(duckdb.ConstraintException):
        warehouse.replace_partition(UC, "gold", "2026-01-01", pl.DataFrame({"item_id": ["b"], "label": [None]}))
    assert warehouse.read_partition(UC, "gold", "2026-01-01")["item_id"].to_list() == ["a"]


@pytest.mark.parametrize("bad", ['x"; DROP TABLE t; --', "Upper", "1starts_with_digit", "has space", ""])
def test_unsafe_identifiers_are_refused(warehouse: Warehouse, bad: str) -> None:
    with pytest.raises(ValueError, match="unsafe SQL identifier"):
        identifier(bad)
    with pytest.raises(ValueError, match="unsafe SQL identifier"):
        warehouse.replace_partition(bad, "gold", "2026-01-01", _gold("a"))


def test_values_are_bound_not_spliced() -> None:
    assert "?" in render_sql("delete_partition", schema="uc", table="t")
    assert "2026" not in render_sql("read_partition", schema="uc", table="t")


def test_a_read_opens_one_connection_and_nested_ones_share_it(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Opening a DuckDB file costs some 20 ms: a read (does the table exist, then its rows) opens one connection,
    and reads inside an open one reuse it; when the outer one closes, the file is free for another process."""
    warehouse.replace_partition(UC, "gold", "2026-01-01", _gold("a"))
    opened: list[str] = []
    real = duckdb.connect

    def counting(*args: Any, **kwargs: Any) -> duckdb.DuckDBPyConnection:
        opened.append("open")
        return real(*args, **kwargs)

    monkeypatch.setattr(duckdb, "connect", counting)
    assert warehouse.read_partition(UC, "gold", "2026-01-01")["item_id"].to_list() == ["a"]
    assert len(opened) == 1
    with warehouse.get_connection() as outer:
        assert warehouse.read_table(UC, "gold").height == 1
        assert warehouse.read_partition(UC, "gold", "2026-01-02").is_empty()
        with warehouse.get_connection() as inner:
            inner.execute("create table main.seen (x int)")
            assert outer.execute("select count(*) from main.seen").fetchall() == [(0,)], "one database instance"
    assert len(opened) == 2
    import subprocess
    import sys

    other = subprocess.run(
        [sys.executable, "-c", f"import duckdb; duckdb.connect({warehouse.database!r}).close()"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert other.returncode == 0, other.stderr
