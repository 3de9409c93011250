"""Migration 1: adopt a warehouse made before the table registry (commit 580eec6 and earlier).

That code created each table from the first frame written to it (``CREATE TABLE AS``), so types may differ
slightly from the declarations, and two asset tables had other names than their assets. This migration, in
every use-case schema:

- renames ``drift_reports`` to ``drift_report`` and ``annotator_scores`` to ``annotator_report`` (their
  assets' names), merging rows if both names exist;
- for use cases the factory knows (``factory.resources.tables.declared_use_cases``), brings every existing
  registered table to its declaration: missing columns added (null), differing types cast. Tables of a use
  case whose spec is gone are left as they are; the warehouse conforms them on their next write.
"""

from __future__ import annotations

import duckdb

from factory.resources.ddl import conform_table, existing_columns
from factory.resources.migrations._sql import migration_sql
from factory.resources.tables import declared_use_cases, tables_for

NAME = "adopt tables made before the registry; drift_reports -> drift_report, annotator_scores -> annotator_report"

RENAMES = {"drift_reports": "drift_report", "annotator_scores": "annotator_report"}

_SYSTEM_SCHEMAS = ("main", "information_schema", "pg_catalog")


def _schemas(conn: duckdb.DuckDBPyConnection) -> list[str]:
    rows = conn.execute(
        "SELECT DISTINCT table_schema FROM information_schema.tables WHERE table_catalog = current_database()"
    ).fetchall()
    return sorted(str(r[0]) for r in rows if str(r[0]) not in _SYSTEM_SCHEMAS)


def _rename(conn: duckdb.DuckDBPyConnection, schema: str, old: str, new: str) -> str | None:
    if not existing_columns(conn, schema, old):
        return None
    names = {"schema": schema, "old": old, "new": new}
    if existing_columns(conn, schema, new):
        conn.execute(migration_sql("merge_table", **names))
        return f"{schema}.{old}: rows merged into {schema}.{new}"
    conn.execute(migration_sql("rename_table", **names))
    return f"{schema}.{old} renamed to {schema}.{new}"


def apply(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Rename, then conform the registered tables of every known use case; return the changes made."""
    changes: list[str] = []
    known = declared_use_cases()
    for schema in _schemas(conn):
        for old, new in RENAMES.items():
            note = _rename(conn, schema, old, new)
            if note:
                changes.append(note)
        spec = known.get(schema)
        if spec is None:
            continue
        for table in tables_for(spec).values():
            if existing_columns(conn, schema, table.name):
                changes += conform_table(conn, schema, table, retype=True)
    return changes
