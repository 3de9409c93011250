"""A process killed with SIGKILL between the staging commit and the publish leaves ``main`` and every tag
untouched; the rerun publishes exactly once and cleans up the dead run's staging branch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from factory.defs import build_definitions
from factory.resources.versioning import LocalVersionStore
from factory_tests.helpers import small_spec

# Runs the retrain job in a child process whose version store stalls right before merging into main: the
# staging commit exists, the publish has not started. The parent kills it there with SIGKILL.
_STALLED_RETRAIN = """
import sys, time
from pathlib import Path
import dagster as dg
from factory.defs import build_definitions
from factory.resources.versioning import local
from factory_tests.helpers import small_spec

marker = Path(sys.argv[1])

def stall(self, *args, **kwargs):
    marker.write_text("staged, about to merge")
    time.sleep(600)

local.LocalVersionStore.merge = stall
defs = build_definitions([small_spec(rows_per_day=300)])
instance = dg.DagsterInstance.local_temp(tempdir=sys.argv[2])
defs.resolve_job_def("ticket_triage_retrain").execute_in_process(instance=instance)
"""


def test_sigkill_between_staging_and_publish_leaves_main_untouched(factory_home: Path, tmp_path: Path) -> None:
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    defs = build_definitions([small_spec(rows_per_day=300)])
    daily, retrain = defs.resolve_job_def("ticket_triage_daily"), defs.resolve_job_def("ticket_triage_retrain")
    instance = dg.DagsterInstance.local_temp(tempdir=str(dagster_home))
    for day in ("2026-01-01", "2026-01-02"):
        assert daily.execute_in_process(partition_key=day, instance=instance).success
    assert retrain.execute_in_process(instance=instance).success
    assert daily.execute_in_process(partition_key="2026-01-03", instance=instance).success  # new content

    store = LocalVersionStore(factory_home / "versions", "factory")
    main_before, tags_before = store.resolve("main"), store.list_tags()
    assert list(tags_before) == ["ticket_triage/v1"]

    marker = tmp_path / "stalled"
    child = subprocess.Popen(
        [sys.executable, "-c", _STALLED_RETRAIN, str(marker), str(dagster_home)],
        env={**os.environ, "FACTORY_HOME": str(factory_home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert child.stderr is not None, "stderr is a pipe"
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            assert child.poll() is None, f"the child ended early: {child.stderr.read().decode()[-2000:]}"
            assert time.monotonic() < deadline, "the child never reached the publish step"
            time.sleep(0.2)
        staged = store.list_branches(prefix="ticket_triage/stage/")
        assert len(staged) == 1, "the staging commit exists when the process dies"
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
        assert child.stderr is not None
        child.stderr.close()

    assert store.resolve("main") == main_before
    assert store.list_tags() == tags_before

    # The rerun publishes exactly once, and no staging branch survives it.
    assert retrain.execute_in_process(instance=instance).success
    tags_after = store.list_tags()
    assert sorted(tags_after) == ["ticket_triage/v1", "ticket_triage/v2"]
    assert tags_after["ticket_triage/v1"] == tags_before["ticket_triage/v1"]
    assert store.resolve("main") == tags_after["ticket_triage/v2"]
    assert store.get_commit("main").parents[0] == main_before
    assert store.list_branches(prefix="ticket_triage/stage/") == []
