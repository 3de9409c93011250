"""Migration 2: production corrections from any feedback source.

The ``feedback`` table gains ``reviewer`` and ``source`` (which feedback source delivered the correction;
corrections read from files have no prediction, so ``predicted_label`` may be null), and two side tables of
the ``feedback`` asset appear: ``feedback_rejects`` and ``feedback_files``. For every use case the factory
knows, an existing ``feedback`` table gets the new columns (null for the rows already there); the side
tables are created on first write.
"""

from __future__ import annotations

import duckdb

from factory.resources.ddl import conform_table, existing_columns
from factory.resources.tables import declared_use_cases, tables_for

NAME = "feedback gains reviewer and source (feedback sources as plug-in kinds)"


def apply(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Add the new ``feedback`` columns in every known use case's schema; return the changes made."""
    changes: list[str] = []
    for schema, spec in sorted(declared_use_cases().items()):
        if existing_columns(conn, schema, "feedback"):
            changes += conform_table(conn, schema, tables_for(spec)["feedback"], retype=False)
    return changes
