"""`dagster dev` for the tests that need the UI (``test_ui``, ``test_browser``): started on the repo's workspace in
a temporary Dagster home, ready once its code location answers GraphQL, stopped by SIGTERM like a service.

Why the child starts with SIGINT at its default: Dagster handles SIGTERM with whatever handles SIGINT
(``dagster._utils.interrupts.setup_interrupt_handlers``, "map SIGTERM to SIGINT (for k8s)"), in ``dagster dev``
and in its code server. A process started from a background job of a non-interactive shell (``make test &``, a
CI runner's or an agent's job wrapper) inherits SIGINT *ignored*; Python keeps an ignored SIGINT ignored, so
Dagster then ignores SIGTERM too and never shuts down. Measured on this repo (``/proc/PID/status`` of
``dagster dev`` and its code server: ``SigIgn`` with the SIGINT and SIGTERM bits set, 0x4002): started that way,
the whole process group was still running 90 s after SIGTERM (the "did not stop within 180 s" of a clean clone);
started with SIGINT at its default, ``dagster dev`` exited 6 s and its last child 11 s after SIGTERM. Nothing in
the factory's definitions, sensors or resources is involved. `DagsterDev.stop` fails the test when a shutdown
hangs again, after killing the process group so that nothing is left behind.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["REPO_ROOT", "DagsterDev", "dagster_dev", "dagster_home", "graphql"]

REPO_ROOT = Path(__file__).resolve().parents[1]
"""Where workspace.yaml and dagster.yaml live."""

_DEFAULT_SIGINT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"
)
"""Run argv[1:] with SIGINT at its default disposition (see the module docstring)."""

_STOP_WITHIN = 90.0
"""Seconds ``dagster dev`` gets to stop after SIGTERM; it gives each of its children 60 s before killing it."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post(port: int, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": dict(variables or {})}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    assert isinstance(answer, dict), answer
    return answer


def graphql(port: int, query: str, variables: Mapping[str, Any] | None = None) -> Any:
    """The ``data`` of a GraphQL answer of the webserver on ``port``; an answer with errors fails the test."""
    answer = _post(port, query, variables)
    assert not answer.get("errors"), answer["errors"]
    return answer["data"]


def dagster_home(path: Path) -> Path:
    """``path`` made a Dagster home using the repo's dagster.yaml (as ``make dagster-home`` does)."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "dagster.yaml").symlink_to(REPO_ROOT / "dagster.yaml")
    return path


@dataclass
class DagsterDev:
    """A running ``dagster dev``: its port, its process (the leader of its own process group) and its log."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path
    stopped_in: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def stop(self) -> float:
        """SIGTERM, then the seconds until ``dagster dev`` and every process of its group are gone. A shutdown
        that takes longer than `_STOP_WITHIN` kills the group and fails the test. Stopped once; later calls
        return the same figure."""
        if self.stopped_in is not None:
            return self.stopped_in
        started = time.monotonic()
        self.process.terminate()
        try:
            self.process.wait(timeout=_STOP_WITHIN)
            while _group_alive(self.process.pid) and time.monotonic() - started < _STOP_WITHIN:
                time.sleep(0.5)
        except subprocess.TimeoutExpired:
            pass
        if _group_alive(self.process.pid):
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
            raise AssertionError(
                f"dagster dev was still running {_STOP_WITHIN:.0f} s after SIGTERM:\n{self.log_tail()}"
            )
        self.stopped_in = time.monotonic() - started
        return self.stopped_in


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


@contextmanager
def dagster_dev(env: Mapping[str, str], log: Path, ready_within: float = 300.0) -> Iterator[DagsterDev]:
    """``dagster dev -w workspace.yaml`` with ``env`` (DAGSTER_HOME and FACTORY_HOME set by the caller), in its own
    process group and with SIGINT at its default; yielded once GraphQL lists the code location's assets (fails
    the test after ``ready_within`` seconds), stopped with `DagsterDev.stop` when the block ends."""
    port = _free_port()
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-c", _DEFAULT_SIGINT, *command],
            cwd=REPO_ROOT,
            env=dict(env),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a stuck shutdown is killed with its children
        )
    dev = DagsterDev(port, process, log)
    try:
        deadline = time.monotonic() + ready_within
        while not _has_assets(port):
            assert process.poll() is None, f"dagster dev exited with {process.returncode}:\n{dev.log_tail()}"
            assert time.monotonic() < deadline, f"the UI did not answer within {ready_within:.0f} s:\n{dev.log_tail()}"
            time.sleep(2)
        yield dev
    except BaseException:
        if _group_alive(process.pid):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        raise
    dev.stop()


def _has_assets(port: int) -> bool:
    try:
        answer = _post(port, "{ assetNodes { id } }")
    except OSError:
        return False
    return bool((answer.get("data") or {}).get("assetNodes"))
