"""Runs never wedge: a dead run's pool slots are freed, a run waiting for a slot sleeps and can be stopped, and a
slot is never held by two steps at once.

Four pieces, all Dagster I/O (the decision whether a run is dead is ``factory.core.liveness``):

- ``owner_tags()``: the tags a run started here carries, naming this process (host, pid, start time, boot id);
  ``record_owner`` adds them to a run launched elsewhere (the daemon) once its process opens the warehouse.
- ``free_dead_runs(instance)``: marks failed every in-progress run whose recorded process is gone from this host
  and frees its concurrency slots; frees the slots still held by finished runs. The headless runner calls it
  before each run, and a run waiting for a slot calls it while it waits.
- ``install_slot_wait()``: Dagster's in-process executor waits for a pool slot in a loop that never sleeps
  (``InstanceConcurrencyContext.interval_to_next_pending_claim_check`` returns ``min(0, ...)``, so
  ``ActiveExecution.sleep_til_ready`` sleeps 0 s: one core at 100 %) and never looks at the interrupt it captured
  (SIGINT/SIGTERM only raise inside a step). The replacement returns the real time to the next slot check (Dagster
  backs off from 1 s to 15 s between database checks), at most ``_NAP`` seconds, and raises
  ``DagsterExecutionInterruptedError`` once a SIGINT or SIGTERM arrived, which Dagster turns into a failed run.
- ``install_atomic_slot_claim()``: Dagster takes a slot by selecting a free slot row (``FOR UPDATE SKIP
  LOCKED``) and then updating that row by id. Its PostgreSQL storage runs every statement in autocommit, so the
  row lock ends with the select: two steps of two runs assigned at the same moment (a run's first claim racing
  the other run's claim between two steps) both select the one free row and both update it, and both run in a
  pool of one (seen once in the stack test: one run's ``predictions`` beside the other's ``raw_tickets``). The
  replacement updates a row only while it is still free (compare and set) and tries the next free row when it
  lost; a step that took none stays assigned and claims again at its next check, as Dagster's does.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import weakref
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
from dagster._core.storage.event_log.schema import ConcurrencySlotsTable
from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage
from dagster._utils.concurrency import ConcurrencySlotStatus
from dagster._utils.interrupts import check_captured_interrupt

from factory.core.liveness import dead_owner
from factory.core.liveness import owner_tags as _owner_tags

__all__ = ["free_dead_runs", "install_atomic_slot_claim", "install_slot_wait", "owner_tags", "record_owner"]

_LOG = logging.getLogger("factory.runs")
# Longest sleep of a waiting run between two looks at its captured interrupt.
_NAP = 1.0
# How often a waiting run looks for dead runs holding the slot it waits for.
_REAP_EVERY = 5.0
_IN_PROGRESS = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def _start_of(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot, Linux), ``""`` where the system does not tell
    it, ``None`` when no process has that pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        stat = ""
    if stat:
        # Field 22 is the start time; the command name (field 2) may hold spaces, so count after its ')'.
        return stat.rsplit(")", 1)[1].split()[19]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return ""
    return ""


def owner_tags() -> dict[str, str]:
    """Tags naming this process as the one running a run."""
    return _owner_tags(socket.gethostname(), os.getpid(), _start_of(os.getpid()), _boot_id())


def record_owner(instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
    """Tag ``run`` with this process, unless it already names it (a headless run is tagged at launch)."""
    tags = owner_tags()
    if any(run.tags.get(key) != value for key, value in tags.items()):
        instance.add_run_tags(run.run_id, tags)


def free_dead_runs(instance: dg.DagsterInstance, echo: Callable[[str], None] = _LOG.warning) -> list[str]:
    """Fail every in-progress run whose process is gone from this host, free the pool slots of those runs and
    of finished runs that still hold some; one line per freed run goes to ``echo``. Returns the freed run ids."""
    host, boot, own = socket.gethostname(), _boot_id(), os.getpid()
    freed: list[str] = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=_IN_PROGRESS)):
        run = record.dagster_run
        owner = dead_owner(run.tags, host, boot, own, _start_of)
        if owner is None:
            continue
        instance.report_run_failed(run, f"The process running this run is gone ({owner.reason}); marked failed.")
        if instance.event_log_storage.supports_global_concurrency_limits:
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        echo(f"freed pool slot of dead run {run.run_id} ({owner.reason})")
        freed.append(run.run_id)
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return freed
    holders = {
        slot.run_id
        for key in storage.get_concurrency_keys()
        for slot in storage.get_concurrency_info(key).claimed_slots
        if slot.run_id not in freed
    }
    for run_id in sorted(holders):
        held = instance.get_run_by_id(run_id)
        if held is None or held.is_finished:
            storage.free_concurrency_slots_for_run(run_id)
            status = held.status.value if held is not None else "deleted"
            echo(f"freed pool slot of finished run {run_id} ({status})")
            freed.append(run_id)
    return freed


_last_reap: weakref.WeakKeyDictionary[InstanceConcurrencyContext, float] = weakref.WeakKeyDictionary()


def _interval_to_next_check(context: InstanceConcurrencyContext) -> float:
    """Seconds the executor may sleep before its next slot check, at most ``_NAP``; raises once interrupted."""
    if check_captured_interrupt():
        raise dg.DagsterExecutionInterruptedError("interrupted while waiting for a pool slot")
    pending = context.pending_claim_steps()
    if not pending:
        return 0.0
    now = time.time()
    if now - _last_reap.get(context, 0.0) >= _REAP_EVERY:
        _last_reap[context] = now
        free_dead_runs(context._instance)  # the instance the waiting run claims its slots from
    timeouts: dict[str, float] = context._pending_timeouts  # when Dagster checks each waiting step's claim next
    due = [timeouts[step] for step in pending if step in timeouts]
    if not due:
        return 0.0
    return min(_NAP, max(0.0, min(due) - time.time()))


def install_slot_wait() -> None:
    """Make every run of this process wait for pool slots with backoff, interruptibly (see the module)."""
    setattr(InstanceConcurrencyContext, "interval_to_next_pending_claim_check", _interval_to_next_check)  # noqa: B010


_SLOTS = ConcurrencySlotsTable
_FREE = (_SLOTS.c.step_key.is_(None), _SLOTS.c.deleted.is_(False))
"""A slot row no step holds."""


def _claim_slot(self: SqlEventLogStorage, concurrency_key: str, run_id: str, step_key: str) -> ConcurrencySlotStatus:
    """A free slot of the pool for the step, taken by compare and set: the update lands only on a row still
    free (see the module)."""
    free = sa.select(_SLOTS.c.id).where(_SLOTS.c.concurrency_key == concurrency_key, *_FREE).order_by(_SLOTS.c.id)
    with self.index_connection() as conn:
        for (slot_id,) in conn.execute(free).fetchall():
            take = _SLOTS.update().values(run_id=run_id, step_key=step_key).where(_SLOTS.c.id == slot_id, *_FREE)
            if conn.execute(take).rowcount == 1:
                return ConcurrencySlotStatus.CLAIMED
    return ConcurrencySlotStatus.BLOCKED


def install_atomic_slot_claim() -> None:
    """Make every slot claim of this process a compare and set (see the module)."""
    setattr(SqlEventLogStorage, "_claim_concurrency_slot", _claim_slot)  # noqa: B010
