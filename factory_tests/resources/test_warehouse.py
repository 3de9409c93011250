"""The DuckDB warehouse adapter, on a real DuckDB file: idempotent partition writes, safe identifiers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from factory.resources.sql import identifier, render_sql
from factory.resources.warehouse import Warehouse


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse(database=str(tmp_path / "w.duckdb"))


def test_replacing_a_partition_is_idempotent_and_leaves_others(warehouse: Warehouse) -> None:
    warehouse.replace_partition("uc", "t", "2026-01-01", pl.DataFrame({"a": [1, 2]}))
    warehouse.replace_partition("uc", "t", "2026-01-02", pl.DataFrame({"a": [3]}))
    warehouse.replace_partition("uc", "t", "2026-01-01", pl.DataFrame({"a": [1, 2]}))
    assert warehouse.read_table("uc", "t").sort("a")["a"].to_list() == [1, 2, 3]
    assert warehouse.read_partition("uc", "t", "2026-01-02")["a"].to_list() == [3]
    assert warehouse.read_before("uc", "t", "2026-01-02")["a"].sort().to_list() == [1, 2]


def test_missing_tables_read_as_empty(warehouse: Warehouse) -> None:
    assert warehouse.read_table("uc", "nothing").is_empty()
    assert warehouse.read_partition("uc", "nothing", "2026-01-01").is_empty()
    assert not warehouse.table_exists("uc", "nothing")


def test_timestamps_come_back_in_utc(warehouse: Warehouse) -> None:
    moment = datetime(2026, 1, 1, 12, tzinfo=UTC)
    warehouse.replace_table("uc", "ts", pl.DataFrame({"at": [moment]}))
    back = warehouse.read_table("uc", "ts")
    assert back.schema["at"] == pl.Datetime("us", "UTC")
    assert back["at"].to_list() == [moment]


def test_a_failed_write_rolls_back(warehouse: Warehouse) -> None:
    warehouse.replace_partition("uc", "t", "2026-01-01", pl.DataFrame({"a": [1]}))
    with pytest.raises(Exception, match=r"(?i)conversion|cast|convert"):
        warehouse.replace_partition("uc", "t", "2026-01-01", pl.DataFrame({"a": ["not a number"]}))
    assert warehouse.read_partition("uc", "t", "2026-01-01")["a"].to_list() == [1]


@pytest.mark.parametrize("bad", ['x"; DROP TABLE t; --', "Upper", "1starts_with_digit", "has space", ""])
def test_unsafe_identifiers_are_refused(warehouse: Warehouse, bad: str) -> None:
    with pytest.raises(ValueError, match="unsafe SQL identifier"):
        identifier(bad)
    with pytest.raises(ValueError, match="unsafe SQL identifier"):
        warehouse.replace_partition(bad, "t", "2026-01-01", pl.DataFrame({"a": [1]}))


def test_values_are_bound_not_spliced() -> None:
    assert "?" in render_sql("delete_partition", schema="uc", table="t")
    assert "2026" not in render_sql("read_partition", schema="uc", table="t")
