"""DuckDB DDL from the table registry: create a declared table, bring an existing one to its declaration.

Identifiers go through ``factory.resources.sql.identifier``; types come from a fixed map of the Polars
types the registry uses, never from user input.
"""

from __future__ import annotations

import duckdb
import polars as pl

from factory.resources.sql import identifier
from factory.resources.tables import Table

__all__ = ["column", "conform_table", "create_table", "duckdb_type", "existing_columns"]

_SCALARS: dict[type[pl.DataType], str] = {
    pl.String: "VARCHAR",
    pl.Int64: "BIGINT",
    pl.Int32: "INTEGER",
    pl.UInt32: "UINTEGER",
    pl.Float64: "DOUBLE",
    pl.Boolean: "BOOLEAN",
    pl.Date: "DATE",
}


def duckdb_type(dtype: pl.DataType) -> str:
    """The DuckDB type of a registry column, spelled as ``information_schema.columns.data_type`` spells it."""
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return "TIMESTAMP"
        if dtype.time_zone != "UTC":
            raise ValueError(f"timestamps are stored in UTC, not {dtype.time_zone}")
        return "TIMESTAMP WITH TIME ZONE"
    if isinstance(dtype, pl.List):
        inner = dtype.inner
        return f"{duckdb_type(inner if isinstance(inner, pl.DataType) else inner())}[]"
    name = _SCALARS.get(type(dtype))
    if name is None:
        raise ValueError(f"no DuckDB type declared for Polars type {dtype}")
    return name


def column(name: str) -> str:
    """A column name as a quoted SQL identifier: column names come from use-case specs and may hold any
    character, so they are escaped (a doubled quote) rather than pattern-checked like schema and table names."""
    if not name or "\0" in name:
        raise ValueError(f"unusable column name: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def existing_columns(conn: duckdb.DuckDBPyConnection, schema: str, table: str) -> dict[str, str]:
    """Column name -> DuckDB type of ``schema.table`` (empty when the table does not exist)."""
    rows = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
        [schema, table],
    ).fetchall()
    return {str(name): str(kind) for name, kind in rows}


def create_table(conn: duckdb.DuckDBPyConnection, schema: str, table: Table) -> None:
    """``CREATE TABLE IF NOT EXISTS`` with the declared columns and types (in the declared order)."""
    columns = ", ".join(f"{column(n)} {duckdb_type(t)}" for n, t in table.columns.items())
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {identifier(schema)}")
    conn.execute(f"CREATE TABLE IF NOT EXISTS {identifier(schema)}.{identifier(table.name)} ({columns})")


def conform_table(conn: duckdb.DuckDBPyConnection, schema: str, table: Table, *, retype: bool) -> list[str]:
    """Create ``table`` if missing, add declared columns it lacks, and (``retype``) cast columns whose type
    differs from the declaration. Columns that are not declared stay (reads leave them out). Returns the
    changes made, one line each; a value that does not convert raises and the caller's transaction rolls back.
    """
    have = existing_columns(conn, schema, table.name)
    if not have:
        create_table(conn, schema, table)
        return [f"created {schema}.{table.name}"]
    qualified = f"{identifier(schema)}.{identifier(table.name)}"
    changes: list[str] = []
    for name, dtype in table.columns.items():
        wanted = duckdb_type(dtype)
        if name not in have:
            conn.execute(f"ALTER TABLE {qualified} ADD COLUMN {column(name)} {wanted}")
            changes.append(f"{schema}.{table.name}: added {name} {wanted}")
        elif retype and have[name] != wanted:
            conn.execute(f"ALTER TABLE {qualified} ALTER COLUMN {column(name)} SET DATA TYPE {wanted}")
            changes.append(f"{schema}.{table.name}: {name} {have[name]} -> {wanted}")
    return changes
