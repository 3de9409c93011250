"""Runs never wedge. A daily run killed with SIGKILL in the prepare step leaves its run STARTED and the
``warehouse`` pool slot claimed; the next run started the way a user starts one fails the dead run, frees the
slot, completes on its own, and the day reconciles. A run waiting for a slot a live run holds sleeps instead of
spinning, and stops on SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from factory.defs import build_definitions
from factory.resources.runs import free_dead_runs
from factory.resources.warehouse import Warehouse
from factory_tests.helpers import small_spec

REPO = Path(__file__).resolve().parents[1]
DAY = "2026-01-01"

# A daily run that stalls inside the prepare step (the warehouse slot is claimed, raw is written) until it is
# killed; the marker says it got there. Started through the headless runner (tagged with its process at launch),
# or as a bare Dagster execution, as the daemon's run worker starts it (tagged when it opens the warehouse).
_STALLED_DAILY = """
import sys, time
from pathlib import Path
import dagster as dg
import factory.defs.preparation as preparation
from factory.defs import build_definitions
from factory.headless import run_job
from factory_tests.helpers import small_spec

marker, day, how = Path(sys.argv[1]), sys.argv[2], sys.argv[3]

def stall(*args, **kwargs):
    marker.write_text("in prepare")
    time.sleep(600)

preparation.prepare_batch = stall
specs = [small_spec(rows_per_day=300)]
if how == "headless":
    run_job("ticket_triage", "daily", day, specs=specs)
else:
    job = build_definitions(specs).resolve_job_def("ticket_triage_daily")
    job.execute_in_process(partition_key=day, instance=dg.DagsterInstance.get())
"""

# The next run, as `factory run ticket_triage --job daily --day ...` starts it (with the small spec).
_NEXT_DAILY = """
import sys
from factory.headless import run_job
from factory_tests.helpers import small_spec

result = run_job("ticket_triage", "daily", sys.argv[1], specs=[small_spec(rows_per_day=300)])
print(f"next run {result.run_id} success={result.success}")
"""


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A Dagster instance configured by the shipped dagster.yaml (pool limit 1, run monitoring on)."""
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    yield home


def _child(script: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for(marker: Path, child: subprocess.Popen[bytes], what: str, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while not marker.exists():
        if child.poll() is not None:
            assert child.stderr is not None
            pytest.fail(f"the child ended before {what}: {child.stderr.read().decode()[-3000:]}")
        assert time.monotonic() < deadline, f"the child never reached {what}"
        time.sleep(0.2)


def _holders(instance: dg.DagsterInstance) -> set[str]:
    return {s.run_id for s in instance.event_log_storage.get_concurrency_info("warehouse").claimed_slots}


@pytest.mark.parametrize("how", ["headless", "bare"])
def test_a_run_killed_in_prepare_is_failed_its_slot_freed_and_the_next_run_completes(
    factory_home: Path, dagster_home: Path, tmp_path: Path, how: str
) -> None:
    marker = tmp_path / "in_prepare"
    child = _child(_STALLED_DAILY, str(marker), DAY, how)
    try:
        _wait_for(marker, child, "the prepare step")
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        child.communicate()

    instance = dg.DagsterInstance.get()
    (dead,) = instance.get_runs()
    assert dead.status == dg.DagsterRunStatus.STARTED, "a killed process cannot report its own end"
    assert _holders(instance) == {dead.run_id}, "the dead run still holds the warehouse slot"

    started = time.monotonic()
    rerun = subprocess.run(
        [sys.executable, "-c", _NEXT_DAILY, DAY],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=180,  # the next daily run of a small day: well under a minute on an idle machine
    )
    took = time.monotonic() - started
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"freed pool slot of dead run {dead.run_id} (pid {child.pid} gone)" in rerun.stdout
    assert "success=True" in rerun.stdout
    assert took < 180, "the next run waited for the dead run's slot"

    reloaded = instance.get_run_by_id(dead.run_id)
    assert reloaded is not None and reloaded.status == dg.DagsterRunStatus.FAILURE
    assert _holders(instance) == set()

    warehouse = Warehouse(database=str(factory_home / "warehouse.duckdb"))
    raw = warehouse.read_partition("ticket_triage", "raw", DAY)
    prepared = warehouse.read_partition("ticket_triage", "prepared", DAY)
    quarantine = warehouse.read_partition("ticket_triage", "quarantine", DAY)
    duplicates = warehouse.read_partition("ticket_triage", "duplicates", DAY)
    assert raw.height > 0
    assert raw.height == prepared.height + quarantine.height + duplicates.height
    id_column = small_spec().schema.id
    assert prepared.get_column(id_column).is_duplicated().sum() == 0
    assert prepared.filter(pl.col(id_column).is_null()).is_empty()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_run_waiting_for_a_live_runs_slot_sleeps_and_stops_on_sigterm(
    factory_home: Path, dagster_home: Path, tmp_path: Path
) -> None:
    instance = dg.DagsterInstance.get()
    # A live run holds the warehouse slot: this test process, recorded as its owner.
    holder = instance.create_run_for_job(
        build_definitions([small_spec(rows_per_day=300)]).resolve_job_def("ticket_triage_daily"),
        tags={"factory/host": socket.gethostname(), "factory/pid": str(os.getpid())},
        status=dg.DagsterRunStatus.STARTED,
    )
    instance.event_log_storage.initialize_concurrency_limit_to_default("warehouse")
    assert instance.event_log_storage.claim_concurrency_slot("warehouse", holder.run_id, "held").is_claimed

    waiter = _child(_NEXT_DAILY, DAY)
    try:
        deadline = time.monotonic() + 120
        while not any(
            s.run_id != holder.run_id
            for s in instance.event_log_storage.get_concurrency_info("warehouse").pending_steps
        ):
            assert waiter.poll() is None, waiter.communicate()[1].decode()[-3000:]
            assert time.monotonic() < deadline, "the second run never queued for the slot"
            time.sleep(0.2)
        time.sleep(2)  # past the first checks
        before, started = _cpu_seconds(waiter.pid), time.monotonic()
        time.sleep(5)
        share = (_cpu_seconds(waiter.pid) - before) / (time.monotonic() - started)
        assert share < 0.2, f"a waiting run used {share:.0%} of a core"
        assert free_dead_runs(instance) == [], "a live run's slot is never freed"

        os.kill(waiter.pid, signal.SIGTERM)
        _, err = waiter.communicate(timeout=20)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.communicate()
    assert waiter.returncode != 0
    assert b"interrupted" in err.lower() or b"Interrupted" in err, err.decode()[-2000:]
    runs = [r for r in instance.get_runs() if r.run_id != holder.run_id]
    assert [r.status for r in runs] == [dg.DagsterRunStatus.FAILURE]
    assert _holders(instance) == {holder.run_id}
    pending = instance.event_log_storage.get_concurrency_info("warehouse").pending_steps
    assert [p.run_id for p in pending if p.run_id != holder.run_id] == [], "the stopped run left no claim behind"


def test_factory_run_refuses_an_unknown_use_case_or_a_wrong_day(capsys: pytest.CaptureFixture[str]) -> None:
    from factory.cli import main

    assert main(["run", "no_such_case", "--job", "daily", "--day", DAY]) == 2
    assert "unknown use case 'no_such_case'" in capsys.readouterr().err
    assert main(["run", "ticket_triage", "--job", "retrain", "--day", DAY]) == 2
    assert "the retrain job takes no day" in capsys.readouterr().err
    assert main(["run", "ticket_triage", "--job", "daily"]) == 2
    assert "the daily job needs a day" in capsys.readouterr().err
