"""The DuckDB warehouse: one file under ``FACTORY_HOME``, one schema per use case.

DuckDB allows one writer per file. Connections are short-lived and opened with backoff (inherited from
``DuckDBResource``), and the assets that write share the ``warehouse`` concurrency pool, so two runs never
hold the file at once. Partition writes are idempotent: a partition's rows are replaced in one transaction.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from dagster_duckdb import DuckDBResource

from factory.resources.sql import identifier, render_sql

__all__ = ["Warehouse"]


class Warehouse(DuckDBResource):
    """Read and write Polars frames in the use case's DuckDB schema."""

    def table_exists(self, schema: str, table: str) -> bool:
        with self.get_connection() as conn:
            row = conn.execute(render_sql("table_exists"), [schema, table]).fetchone()
        return bool(row and row[0])

    def replace_partition(self, schema: str, table: str, partition_key: str, frame: pl.DataFrame) -> int:
        """Replace every row of ``partition_key`` in ``schema.table`` with ``frame``; return rows written."""
        stamped = frame.with_columns(pl.lit(partition_key).alias("partition_key"))
        return self._replace(schema, table, stamped, delete_sql="delete_partition", params=[partition_key])

    def replace_source_partition(
        self, schema: str, table: str, partition_key: str, source: str, frame: pl.DataFrame
    ) -> int:
        """Replace the rows one source delivered for ``partition_key``; other sources' rows stay."""
        stamped = frame.with_columns(pl.lit(source).alias("source"), pl.lit(partition_key).alias("partition_key"))
        return self._replace(
            schema, table, stamped, delete_sql="delete_source_partition", params=[partition_key, source]
        )

    def replace_table(self, schema: str, table: str, frame: pl.DataFrame) -> int:
        """Replace the whole content of ``schema.table`` with ``frame``."""
        return self._replace(schema, table, frame, delete_sql="delete_all", params=[])

    def _replace(self, schema: str, table: str, frame: pl.DataFrame, *, delete_sql: str, params: list[Any]) -> int:
        names = {"schema": schema, "table": table}
        arrow = frame.to_arrow()
        with self.get_connection() as conn:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {identifier(schema)}")
            conn.register("incoming", arrow)
            conn.execute("BEGIN TRANSACTION")
            try:
                conn.execute(render_sql("create_like_incoming", **names))
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

    def read_partition(self, schema: str, table: str, partition_key: str) -> pl.DataFrame:
        if not self.table_exists(schema, table):
            return pl.DataFrame()
        return self.query("read_partition", [partition_key], schema=schema, table=table).drop("partition_key")

    def read_table(self, schema: str, table: str) -> pl.DataFrame:
        if not self.table_exists(schema, table):
            return pl.DataFrame()
        return self.query("read_table", schema=schema, table=table)

    def read_before(self, schema: str, table: str, partition_key: str) -> pl.DataFrame:
        """Every row of partitions strictly earlier than ``partition_key`` (partition keys are ISO dates)."""
        if not self.table_exists(schema, table):
            return pl.DataFrame()
        return self.query("read_before", [partition_key], schema=schema, table=table).drop("partition_key")


def _utc(frame: pl.DataFrame) -> pl.DataFrame:
    """DuckDB returns TIMESTAMPTZ in its session zone (``Etc/UTC`` here); the factory speaks ``UTC``."""
    zoned = [n for n, t in frame.schema.items() if isinstance(t, pl.Datetime) and t.time_zone not in (None, "UTC")]
    return frame.with_columns(pl.col(n).dt.convert_time_zone("UTC") for n in zoned) if zoned else frame
