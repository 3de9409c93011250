"""Migration 4: drift report v2 and the retrain policy's decisions.

The ``drift_report`` table gains each component's verdict, the features that moved most, the champion's
performance estimated without labels next to its reference and the realized performance from feedback
(null for the reports already there: reporting those days again fills them in). ``retrain_decisions``, a side
table of the drift report, is created on first write.
"""

from __future__ import annotations

import duckdb

from factory.resources.ddl import conform_table, existing_columns
from factory.resources.tables import declared_use_cases, tables_for

NAME = "drift report v2 (verdicts, estimated and realized performance) and retrain decisions"


def apply(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Add the ``drift_report`` columns the declared table has and the file lacks, in every known use case's
    schema; return the changes made (migrations 5 and 6 apply the same for the columns they added)."""
    changes: list[str] = []
    for schema, spec in sorted(declared_use_cases().items()):
        if existing_columns(conn, schema, "drift_report"):
            changes += conform_table(conn, schema, tables_for(spec)["drift_report"], retype=False)
    return changes
