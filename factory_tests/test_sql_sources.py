"""SQL sources through the real assets: a PostgreSQL server started for the tests, and a DuckDB file.
The day's window is bound as parameters; every selected row lands in raw and is placed by preparation."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import psycopg
import pytest

from factory.defs import build_definitions
from factory.defs.resources import build_resources
from factory.spec import DatabaseFileSourceSpec, PostgresSourceSpec, SourceSpec, UseCaseSpec
from factory_tests.helpers import small_spec

pytest_plugins = ["factory_tests.resources.postgres"]

DAY = "2026-01-01"
ROWS = [
    ("P-1", "2026-01-01 08:00:00+00", "C1", "email", "Refund", "Please refund the cracked headphones I received"),
    ("P-2", "2026-01-01 09:30:00+00", "C2", "chat", "Login", "I cannot log in since the password reset email"),
    ("P-3", "2026-01-01 23:59:59+00", "C3", "fax", "Odd", "This channel is not one the schema allows at all"),
    ("P-4", "2026-01-02 00:00:00+00", "C4", "web", "Tomorrow", "This row belongs to the next day window only"),
    ("P-5", "2025-12-31 23:59:59+00", "C5", "web", "Yesterday", "This row belongs to the previous day window"),
]
QUERY_COLUMNS = "ticket_id, created_at, customer_id, channel, subject, body"


def _spec(source: SourceSpec) -> UseCaseSpec:
    return small_spec().model_copy(update={"sources": (source,)})


def _ingest(spec: UseCaseSpec, source: str) -> dg.ExecuteInProcessResult:
    keys = [dg.AssetKey(["ticket_triage", n]) for n in (f"raw_{source}", "prepared", "quarantine", "duplicates")]
    with dg.instance_for_test() as instance:
        job = build_definitions([spec]).resolve_job_def("ticket_triage_daily")
        return job.execute_in_process(partition_key=DAY, instance=instance, asset_selection=keys)


def _assert_day_placed() -> None:
    warehouse = build_resources()["warehouse"]
    raw = warehouse.read_table("ticket_triage", "raw")
    assert sorted(raw["ticket_id"]) == ["P-1", "P-2", "P-3"], "only the day's window, bound as parameters"
    assert sorted(warehouse.read_table("ticket_triage", "prepared")["ticket_id"]) == ["P-1", "P-2"]
    quarantine = warehouse.read_table("ticket_triage", "quarantine")
    assert quarantine.select("ticket_id", "reason").rows() == [("P-3", "value_not_allowed")]
    created = warehouse.read_table("ticket_triage", "prepared").sort("ticket_id")["created_at"]
    assert created.dtype == pl.Datetime("us", "UTC") and created.dt.hour().to_list() == [8, 9]


def test_postgres_source(postgres_dsn: str, factory_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS crm_tickets")
        conn.execute(
            "CREATE TABLE crm_tickets (ticket_id text, created_at timestamptz, customer_id text, channel text,"
            " subject text, body text)"
        )
        with conn.cursor() as cursor:
            cursor.executemany("INSERT INTO crm_tickets VALUES (%s, %s, %s, %s, %s, %s)", ROWS)
    monkeypatch.setenv("CRM_DSN", postgres_dsn)
    source = PostgresSourceSpec(
        name="crm",
        kind="postgres",
        dsn_env="CRM_DSN",
        query=f"SELECT {QUERY_COLUMNS} FROM crm_tickets WHERE created_at >= %(start)s AND created_at < %(end)s",
    )
    assert _ingest(_spec(source), "crm").success
    _assert_day_placed()


def test_postgres_source_without_its_dsn_fails_clearly(factory_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRM_DSN", raising=False)
    source = PostgresSourceSpec(
        name="crm",
        kind="postgres",
        dsn_env="CRM_DSN",
        query="SELECT 1 WHERE %(start)s::timestamptz < %(end)s::timestamptz",
    )
    with pytest.raises(dg.Failure, match="CRM_DSN"):
        _ingest(_spec(source), "crm")


def test_duckdb_source(factory_home: Path) -> None:
    path = factory_home / "legacy.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute(
            "CREATE TABLE tickets (ticket_id VARCHAR, created_at TIMESTAMPTZ, customer_id VARCHAR, channel VARCHAR,"
            " subject VARCHAR, body VARCHAR)"
        )
        conn.executemany("INSERT INTO tickets VALUES (?, ?, ?, ?, ?, ?)", ROWS)
    source = DatabaseFileSourceSpec(
        name="legacy",
        kind="duckdb",
        path="legacy.duckdb",
        query=f"SELECT {QUERY_COLUMNS} FROM tickets WHERE created_at >= ? AND created_at < ? ORDER BY ticket_id",
    )
    assert _ingest(_spec(source), "legacy").success
    _assert_day_placed()
