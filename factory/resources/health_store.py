"""What the health view and the data inventory read from the warehouse: per-source, per-day counts aggregated in
DuckDB (so a long history is never loaded into memory), the window's labeling and monitoring figures, and the
health rows stored on earlier days. A table not written yet reads as no rows."""

from __future__ import annotations

import re

import polars as pl

from factory.core.preparation import PII_TYPES, placeholder
from factory.resources.tables import TableName
from factory.resources.warehouse import Warehouse
from factory.spec import UseCaseSpec

__all__ = ["SOURCE_COUNTS", "daily_counts", "quarantine_reasons", "source_counts", "spammers"]

SOURCE_COUNTS = ("raw", "prepared", "quarantined", "duplicates", "pii_rows", "labeled")
"""The per-source, per-day figures `source_counts` returns, after ``source, partition_key``."""

_KEYS = {"source": pl.String, "partition_key": pl.String}


def _named(name: str, frame: pl.DataFrame | None) -> pl.DataFrame:
    """A ``source, partition_key, n`` query result with ``n`` renamed ``name`` (no rows when there was no table)."""
    if frame is None or frame.is_empty():
        return pl.DataFrame(schema={**_KEYS, name: pl.Int64})
    return frame.select(
        pl.col("source").cast(pl.String),
        pl.col("partition_key").cast(pl.String),
        pl.col("n").cast(pl.Int64).alias(name),
    )


def _pii_pattern(spec: UseCaseSpec) -> str:
    names = [*PII_TYPES, *spec.custom_pii]
    return "(" + "|".join(re.escape(placeholder(name)) for name in names) + ")"


def source_counts(warehouse: Warehouse, spec: UseCaseSpec, last_day: str) -> pl.DataFrame:
    """Per ``source, partition_key`` up to ``last_day``: rows delivered (``raw``), ``prepared``, ``quarantined``,
    ``duplicates``, prepared rows in which PII was replaced by a placeholder (``pii_rows``: the text and
    categorical columns preparation scrubs) and prepared rows with a label (``labeled``)."""
    schema = spec.name
    frames: list[pl.DataFrame] = []
    with warehouse.get_connection():  # one connection for the dozen statements
        tables: tuple[tuple[TableName, str], ...] = (
            ("raw", "raw"),
            ("prepared", "prepared"),
            ("quarantine", "quarantined"),
            ("duplicates", "duplicates"),
        )
        for table, name in tables:
            found = (
                warehouse.query("rows_by_source_day", [last_day], schema=schema, table=table)
                if warehouse.table_exists(schema, table)
                else None
            )
            frames.append(_named(name, found))
        scanned = [*spec.text_columns, *spec.categorical_features]
        has_prepared = warehouse.table_exists(schema, "prepared")
        pii = (
            warehouse.query("pii_rows_by_source_day", [scanned, _pii_pattern(spec), last_day], schema=schema)
            if has_prepared and scanned
            else None
        )
        frames.append(_named("pii_rows", pii))
        labeled = (
            warehouse.query("labeled_by_source_day", [last_day], schema=schema, id_column=spec.schema.id)
            if has_prepared and warehouse.table_exists(schema, "labels")
            else None
        )
        frames.append(_named("labeled", labeled))
    keys = pl.concat([f.select(*_KEYS) for f in frames]).unique()
    joined = keys
    for frame in frames:
        joined = joined.join(frame, on=list(_KEYS), how="left")
    return joined.with_columns(pl.col(c).fill_null(0) for c in SOURCE_COUNTS).sort(list(_KEYS))


def quarantine_reasons(warehouse: Warehouse, schema: str, last_day: str) -> pl.DataFrame:
    """``source, reason, n``: quarantined rows by reason code over every day up to ``last_day``."""
    if not warehouse.table_exists(schema, "quarantine"):
        return pl.DataFrame(schema={"source": pl.String, "reason": pl.String, "n": pl.Int64})
    return warehouse.query("quarantine_reasons", [last_day], schema=schema)


def daily_counts(warehouse: Warehouse, schema: str, table: TableName, first: str, last: str) -> pl.DataFrame:
    """``partition_key, n``: rows per day of ``table`` from ``first`` to ``last``."""
    if not warehouse.table_exists(schema, table):
        return pl.DataFrame(schema={"partition_key": pl.String, "n": pl.Int64})
    return warehouse.query("rows_by_day", [first, last], schema=schema, table=table)


def spammers(warehouse: Warehouse, schema: str, first: str, last: str) -> pl.DataFrame:
    """``partition_key, spammers``: annotators flagged as spammers per day from ``first`` to ``last``."""
    if not warehouse.table_exists(schema, "annotator_report"):
        return pl.DataFrame(schema={"partition_key": pl.String, "spammers": pl.Int64})
    return warehouse.query("spammers_by_day", [first, last], schema=schema)
