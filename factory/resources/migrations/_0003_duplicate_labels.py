"""Migration 3: a duplicate keeps the label it carried.

For a use case with pre-labeled data (a ``column`` annotation source), a row removed as an exact or near
duplicate keeps its value of the label column in the ``duplicates`` table, so the label still counts for the
row kept (and a disagreement between the two is recorded as a label conflict). For every use case the factory
knows, an existing ``duplicates`` table gets its label columns (null for the rows already there: preparing
those days again fills them in). Use cases without a label column are left as they are.
"""

from __future__ import annotations

import duckdb

from factory.resources.ddl import conform_table, existing_columns
from factory.resources.tables import declared_use_cases, tables_for

NAME = "duplicates keep the label column of pre-labeled data"


def apply(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Add the label columns to ``duplicates`` in every known use case's schema; return the changes made."""
    changes: list[str] = []
    for schema, spec in sorted(declared_use_cases().items()):
        if spec.label_columns and existing_columns(conn, schema, "duplicates"):
            changes += conform_table(conn, schema, tables_for(spec)["duplicates"], retype=False)
    return changes
