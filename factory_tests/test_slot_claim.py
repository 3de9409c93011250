"""A pool slot is held by one step at a time, on Dagster's PostgreSQL storage (autocommit, where the select that
finds a free slot row and the update that takes it are two transactions) and on the embedded SQLite one.

The race itself is two processes between those two statements; the tests take the slot the other way round
(the row is taken after a claimer saw it free), which is what the race does to the later claimer."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
from dagster._core.storage.event_log.schema import ConcurrencySlotsTable, PendingStepsTable
from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage
from dagster._utils.concurrency import ConcurrencySlotStatus
from dagster_postgres import PostgresEventLogStorage

from factory.resources.runs import install_atomic_slot_claim
from factory.stack.postgres import PostgresServer

pytest_plugins = ["factory_tests.resources.postgres"]

POOL = "warehouse"


def _one_slot(events: SqlEventLogStorage) -> Iterator[SqlEventLogStorage]:
    install_atomic_slot_claim()
    events.set_concurrency_slots(POOL, 1)
    yield events
    events.dispose()


@pytest.fixture
def postgres_storage(postgres_server: PostgresServer) -> Iterator[SqlEventLogStorage]:
    """Dagster's PostgreSQL event log storage, its ``warehouse`` pool one slot, claims through the factory's."""
    events = PostgresEventLogStorage(postgres_server.url())
    with events.index_connection() as conn:  # each test starts from an empty pool table
        conn.execute(ConcurrencySlotsTable.delete())
        conn.execute(PendingStepsTable.delete())
    yield from _one_slot(events)


@pytest.fixture(params=["postgres", "sqlite"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlEventLogStorage]:
    """The PostgreSQL storage above, or the embedded default's SQLite one, with a ``warehouse`` pool of one."""
    if request.param == "postgres":
        yield request.getfixturevalue("postgres_storage")
        return
    events: SqlEventLogStorage = dg.DagsterInstance.local_temp(str(tmp_path)).event_log_storage  # type: ignore[assignment]
    yield from _one_slot(events)


def _holders(storage: SqlEventLogStorage) -> list[tuple[str | None, str | None]]:
    table = ConcurrencySlotsTable
    with storage.index_connection() as conn:
        rows = conn.execute(sa.select(table.c.run_id, table.c.step_key).where(table.c.concurrency_key == POOL))
        return [(row[0], row[1]) for row in rows]


def _taken_right_after_it_was_seen_free(storage: SqlEventLogStorage, run_id: str, step_key: str) -> None:
    """The race, staged: the first time a claimer's select finds the free slot row, another run takes the row
    before the claimer's next statement."""
    engine: sa.Engine = storage._engine  # type: ignore[attr-defined]
    table = ConcurrencySlotsTable
    staged: list[str] = []

    def take_it(conn: sa.Connection, cursor: object, statement: str, *args: object) -> None:
        looks_for_free = statement.lstrip().upper().startswith("SELECT") and "step_key IS NULL" in statement
        if staged or "concurrency_slots" not in statement or not looks_for_free:
            return
        staged.append(statement)
        with engine.begin() as other:
            taken = table.update().values(run_id=run_id, step_key=step_key)
            other.execute(taken.where(table.c.concurrency_key == POOL))

    sa.event.listen(engine, "after_cursor_execute", take_it)


def test_a_slot_taken_after_a_claimer_saw_it_free_is_not_taken_again(postgres_storage: SqlEventLogStorage) -> None:
    storage = postgres_storage
    storage.add_pending_step(POOL, "run-b", "raw_tickets", should_assign=True)
    _taken_right_after_it_was_seen_free(storage, "run-a", "predictions")
    claim = storage.claim_concurrency_slot(POOL, "run-b", "raw_tickets")
    assert _holders(storage) == [("run-a", "predictions")], "the later claimer overwrote the holder"
    assert claim.slot_status == ConcurrencySlotStatus.BLOCKED
    assert claim.is_assigned


def test_two_steps_assigned_at_once_share_one_slot_in_turn(storage: SqlEventLogStorage) -> None:
    # Both were assigned: each saw the pool with an unassigned slot before the other registered.
    storage.add_pending_step(POOL, "run-a", "predictions", should_assign=True)
    storage.add_pending_step(POOL, "run-b", "raw_tickets", should_assign=True)
    first = storage.claim_concurrency_slot(POOL, "run-a", "predictions")
    second = storage.claim_concurrency_slot(POOL, "run-b", "raw_tickets")
    assert first.slot_status == ConcurrencySlotStatus.CLAIMED
    assert second.slot_status == ConcurrencySlotStatus.BLOCKED
    assert second.is_assigned, "the loser keeps its place and claims at its next check"
    storage.free_concurrency_slot_for_step("run-a", "predictions")
    assert storage.claim_concurrency_slot(POOL, "run-b", "raw_tickets").is_claimed
    assert _holders(storage) == [("run-b", "raw_tickets")]
