"""What the labeling and feedback wiring reads from the warehouse and writes beside it: known item ids, day
ranges, failed label gates, unread production corrections, and the review and report files under
``FACTORY_HOME/<use_case>/``."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from factory.core.labeling import pending_feedback
from factory.paths import factory_home
from factory.resources.tables import declared_table
from factory.resources.warehouse import Warehouse

__all__ = [
    "duplicates_of",
    "failed_label_gates",
    "known_items",
    "report_file",
    "review_file",
    "unread_duplicate_labels",
    "unread_feedback",
]


def known_items(warehouse: Warehouse, schema: str, id_column: str) -> pl.DataFrame:
    """``item_id, partition_key`` of every prepared item (the first day an id appeared), sorted by id."""
    if not warehouse.table_exists(schema, "prepared"):
        return pl.DataFrame(schema={"item_id": pl.String, "partition_key": pl.String})
    known = warehouse.query("prepared_ids", schema=schema, id_column=id_column)
    return known.unique("item_id", keep="first").sort("item_id")


def duplicates_of(warehouse: Warehouse, schema: str, id_column: str, day: str) -> pl.DataFrame:
    """The rows of ``duplicates`` (any day's, with their ``partition_key``) that point at one of ``day``'s
    prepared items: the labels they carried count for those items."""
    if not warehouse.table_exists(schema, "prepared"):
        return declared_table(schema, "duplicates").empty()
    return warehouse.read_rows(schema, "duplicates", "duplicates_of_day", [day], id_column=id_column)


def failed_label_gates(warehouse: Warehouse, schema: str) -> pl.DataFrame:
    """``partition_key, summary`` of the days whose labels fail the agreement gate (empty when none)."""
    if not warehouse.table_exists(schema, "label_quality"):
        return pl.DataFrame(schema={"partition_key": pl.String, "summary": pl.String})
    return warehouse.query("failed_label_gates", schema=schema)


def unread_feedback(warehouse: Warehouse, schema: str) -> pl.DataFrame:
    """``partition_key, corrections, read``: labeled days with production corrections their annotations have
    not read yet (`factory.core.labeling.pending_feedback`)."""
    if not warehouse.table_exists(schema, "feedback") or not warehouse.table_exists(schema, "labels"):
        return pl.DataFrame(schema={"partition_key": pl.String, "corrections": pl.Int64, "read": pl.Int64})
    counts = warehouse.query("partition_counts", schema=schema, table="feedback")
    labeled = warehouse.query("partition_counts", schema=schema, table="labels")
    return pending_feedback(counts, labeled, warehouse.read_table(schema, "annotation_sources"))


def unread_duplicate_labels(warehouse: Warehouse, schema: str, id_column: str) -> pl.DataFrame:
    """``partition_key, rows, read``: days whose items gained duplicates (on a later day) since a ``column``
    annotation source read them: the labels of those copies wait for the day to be labeled again."""
    empty = pl.DataFrame(schema={"partition_key": pl.String, "rows": pl.Int64, "read": pl.Int64})
    if not all(warehouse.table_exists(schema, t) for t in ("prepared", "duplicates", "annotation_sources")):
        return empty
    found = warehouse.query("unread_duplicate_labels", schema=schema, id_column=id_column)
    return found.cast(empty.schema) if found.height else empty


def review_file(schema: str, day: str) -> Path:
    """Where the day's review tasks (Label Studio import format) are written."""
    return factory_home().joinpath(schema, "review", f"{day}.json")


def report_file(schema: str, day: str) -> Path:
    """Where the day's annotator disagreement report is written."""
    return factory_home().joinpath(schema, "reports", f"annotators-{day}.md")
