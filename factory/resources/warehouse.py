"""The DuckDB warehouse: one file under ``FACTORY_HOME``, one schema per use case.

DuckDB allows one writer per file. Connections are short-lived and opened with backoff (inherited from
``DuckDBResource``), and the assets that write share the ``warehouse`` concurrency pool, so two runs never
hold the file at once. Partition writes are idempotent: a partition's rows are replaced in one transaction.

Every table is declared in ``factory.resources.tables``: the warehouse creates it with the declared types,
refuses to write a table that is not declared or a frame whose columns differ from the declaration
(compatible types are cast), and reads a missing table or partition as a typed empty frame. The first
connection a process opens to a file applies the pending schema migrations (``factory.resources.migrations``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
import duckdb
import polars as pl
from dagster_duckdb import DuckDBResource

from factory.resources.ddl import conform_table
from factory.resources.migrations import migrate
from factory.resources.runs import record_owner
from factory.resources.sql import identifier, render_sql
from factory.resources.tables import PARTITION_KEY, Table, TableName, declared_table

__all__ = ["Warehouse", "conform_frame"]

_MIGRATED: set[str] = set()
_MIGRATING = threading.Lock()
_HELD = threading.local()
"""The connection each thread holds open, by database file (`Warehouse.get_connection`)."""


def conform_frame(table: Table, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with exactly the declared columns, in order, cast to the declared types; ``ValueError`` if its
    columns differ from the declaration or a value does not convert."""
    declared = list(table.columns)
    missing = [c for c in declared if c not in frame.columns]
    unknown = [c for c in frame.columns if c not in table.columns]
    if missing or unknown:
        raise ValueError(
            f"frame does not match the declaration of table {table.name}: "
            f"missing columns {missing}, undeclared columns {unknown}"
        )
    try:
        return frame.select(pl.col(name).cast(dtype, strict=True) for name, dtype in table.columns.items())
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as error:
        raise ValueError(f"frame does not convert to the declared types of table {table.name}: {error}") from error


class Warehouse(DuckDBResource):
    """Read and write Polars frames in the use case's DuckDB schema."""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """A run that opens the warehouse records its process in its tags (however it was launched), so a later
        run can tell that it died holding the ``warehouse`` pool slot."""
        if context.instance is not None and context.run is not None:
            record_owner(context.instance, context.run)

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection to the file, opened with backoff; the first one in a process migrates the file. Inside
        another ``get_connection`` of the same thread the outer connection is reused: opening one costs some
        20 ms however small the file (DuckDB starts a database instance each time), and a read is two
        statements (does the table exist, then the rows), a night's runs some thousands. A nested one is a
        cursor of the outer connection (the same database instance, its own statements and transaction)."""
        held: dict[str, duckdb.DuckDBPyConnection] = _HELD.__dict__.setdefault("connections", {})
        if self.database in held:
            cursor = held[self.database].cursor()  # the same database instance, its own statement state
            try:
                yield cursor
            finally:
                cursor.close()
            return
        with super().get_connection() as conn:
            if self.database not in _MIGRATED:
                with _MIGRATING:
                    if self.database not in _MIGRATED:
                        migrate(conn)
                        _MIGRATED.add(self.database)
            held[self.database] = conn
            try:
                yield conn
            finally:
                del held[self.database]

    def table_exists(self, schema: str, table: str) -> bool:
        with self.get_connection() as conn:
            row = conn.execute(render_sql("table_exists"), [schema, table]).fetchone()
        return bool(row and row[0])

    def replace_partition(self, schema: str, table: TableName, partition_key: str, frame: pl.DataFrame) -> int:
        """Replace every row of ``partition_key`` in ``schema.table`` with ``frame``; return rows written."""
        stamped = frame.with_columns(pl.lit(partition_key).alias(PARTITION_KEY))
        return self._replace(schema, table, stamped, delete_sql="delete_partition", params=[partition_key])

    def replace_source_partition(
        self, schema: str, table: TableName, partition_key: str, source: str, frame: pl.DataFrame
    ) -> int:
        """Replace the rows one source delivered for ``partition_key``; other sources' rows stay."""
        stamped = frame.with_columns(pl.lit(source).alias("source"), pl.lit(partition_key).alias(PARTITION_KEY))
        return self._replace(
            schema, table, stamped, delete_sql="delete_source_partition", params=[partition_key, source]
        )

    def append_partition(self, schema: str, table: TableName, partition_key: str, frame: pl.DataFrame) -> int:
        """Add ``frame``'s rows to ``partition_key`` of ``schema.table``, keeping the rows already there (for a
        log such as ``retrain_decisions``, whose key includes a timestamp); return rows written."""
        stamped = frame.with_columns(pl.lit(partition_key).alias(PARTITION_KEY))
        return self._replace(schema, table, stamped, delete_sql=None, params=[])

    def replace_table(self, schema: str, table: TableName, frame: pl.DataFrame) -> int:
        """Replace the whole content of ``schema.table`` with ``frame``."""
        return self._replace(schema, table, frame, delete_sql="delete_all", params=[])

    def _replace(
        self, schema: str, table_name: TableName, frame: pl.DataFrame, *, delete_sql: str | None, params: list[Any]
    ) -> int:
        identifier(schema)
        table = declared_table(schema, table_name)
        arrow = conform_frame(table, frame).to_arrow()
        names = {"schema": schema, "table": table_name}
        with self.get_connection() as conn:
            conn.register("incoming", arrow)
            conn.execute("BEGIN TRANSACTION")
            try:
                conform_table(conn, schema, table, retype=False)
                if delete_sql is not None:
                    conn.execute(render_sql(delete_sql, **names), params)
                conn.execute(render_sql("insert_incoming", **names))
                conn.execute("COMMIT")
            except Exception:
                conn.execute("ROLLBACK")
                raise
            finally:
                conn.unregister("incoming")
        return frame.height

    def query(self, sql_name: str, params: list[Any] | None = None, **identifiers: str) -> pl.DataFrame:
        """Run ``sql/<sql_name>.sql`` with bound ``params`` and return a Polars frame."""
        with self.get_connection() as conn:
            table = conn.sql(render_sql(sql_name, **identifiers), params=params or None).to_arrow_table()
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        return _utc(frame)

    def read_partition(self, schema: str, table: TableName, partition_key: str) -> pl.DataFrame:
        """The rows of one partition, without ``partition_key``; typed and empty when there are none."""
        return self._read(schema, table, "read_partition", [partition_key]).drop(PARTITION_KEY)

    def read_table(self, schema: str, table: TableName) -> pl.DataFrame:
        """Every row of ``schema.table``; typed and empty when the table does not exist yet."""
        return self._read(schema, table, "read_table", [])

    def read_before(self, schema: str, table: TableName, partition_key: str) -> pl.DataFrame:
        """Every row of partitions strictly earlier than ``partition_key`` (partition keys are ISO dates)."""
        return self._read(schema, table, "read_before", [partition_key]).drop(PARTITION_KEY)

    def read_range(self, schema: str, table: TableName, first: str, last: str) -> pl.DataFrame:
        """The rows of the partitions from ``first`` to ``last``, both included, without ``partition_key``."""
        return self._read(schema, table, "read_range", [first, last]).drop(PARTITION_KEY)

    def read_rows(
        self, schema: str, table_name: TableName, sql_name: str, params: list[Any], **identifiers: str
    ) -> pl.DataFrame:
        """The rows of ``schema.table`` that ``sql/<sql_name>.sql`` selects (with ``{schema}``, ``{table}`` and
        ``identifiers`` filled in), typed as the table is declared; typed and empty when the table does not exist.
        """
        return self._read(schema, table_name, sql_name, params, **identifiers)

    def _read(
        self, schema: str, table_name: TableName, sql_name: str, params: list[Any], **identifiers: str
    ) -> pl.DataFrame:
        table = declared_table(schema, table_name)
        with self.get_connection():
            if not self.table_exists(schema, table_name):
                return table.empty()
            frame = self.query(sql_name, params, schema=schema, table=table_name, **identifiers)
        return frame.select(
            pl.col(n).cast(t) if n in frame.columns else pl.lit(None, t).alias(n) for n, t in table.columns.items()
        )


def _utc(frame: pl.DataFrame) -> pl.DataFrame:
    """DuckDB returns TIMESTAMPTZ in its session zone (``Etc/UTC`` here); the factory speaks ``UTC``."""
    zoned = [n for n, t in frame.schema.items() if isinstance(t, pl.Datetime) and t.time_zone not in (None, "UTC")]
    return frame.with_columns(pl.col(n).dt.convert_time_zone("UTC") for n in zoned) if zoned else frame
