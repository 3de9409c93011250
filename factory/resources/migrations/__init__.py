"""Versioned, forward-only schema migrations of the DuckDB warehouse.

Each migration is a numbered module here (``_0001_adopt.py``, ...) with a ``NAME`` and an
``apply(conn)`` that runs inside the caller's transaction. ``migrate`` applies the pending ones in order
when the factory opens the warehouse, all in one transaction, and records each in
``main.schema_migrations`` (version, name, applied_at, code_version). The recorded version is read inside
that transaction, so two processes opening the file at once cannot apply a migration twice: DuckDB admits
one writer per file (the opener backs off), and a second opener finds the work done. A warehouse recorded
at a version newer than this code knows is refused: migrations only go forward.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb

from factory.codeversion import code_version
from factory.resources.migrations import (
    _0001_adopt,
    _0002_feedback_sources,
    _0003_duplicate_labels,
    _0004_drift_v2,
    _0005_estimate_errors,
    _0006_realized_errors,
)
from factory.resources.migrations._sql import migration_sql

__all__ = ["MIGRATIONS", "Migration", "WarehouseTooNew", "current_version", "migrate"]

LEDGER = "schema_migrations"
"""The table, in DuckDB's ``main`` schema, that records every migration applied."""


class WarehouseTooNew(RuntimeError):
    """The warehouse was migrated by a newer factory than this one."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[duckdb.DuckDBPyConnection], list[str]]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, _0001_adopt.NAME, _0001_adopt.apply),
    Migration(2, _0002_feedback_sources.NAME, _0002_feedback_sources.apply),
    Migration(3, _0003_duplicate_labels.NAME, _0003_duplicate_labels.apply),
    Migration(4, _0004_drift_v2.NAME, _0004_drift_v2.apply),
    Migration(5, _0005_estimate_errors.NAME, _0005_estimate_errors.apply),
    Migration(6, _0006_realized_errors.NAME, _0006_realized_errors.apply),
)


def current_version(conn: duckdb.DuckDBPyConnection) -> int:
    """The highest migration recorded (0 for a warehouse no migration has touched)."""
    conn.execute(migration_sql("ledger_create"))
    row = conn.execute(migration_sql("ledger_version")).fetchone()
    return int(row[0]) if row else 0


def migrate(
    conn: duckdb.DuckDBPyConnection, migrations: tuple[Migration, ...] = MIGRATIONS
) -> list[tuple[Migration, list[str]]]:
    """Apply every migration newer than the recorded version, atomically; return what each changed."""
    known = max((m.version for m in migrations), default=0)
    conn.execute("BEGIN TRANSACTION")
    try:
        version = current_version(conn)
        if version > known:
            raise WarehouseTooNew(
                f"the warehouse is at migration {version}, this factory knows up to {known}: "
                "upgrade the factory (migrations only go forward)"
            )
        done = []
        for migration in sorted(migrations, key=lambda m: m.version):
            if migration.version <= version:
                continue
            changes = migration.apply(conn)
            conn.execute(migration_sql("ledger_record"), [migration.version, migration.name, code_version()])
            done.append((migration, changes))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return done
