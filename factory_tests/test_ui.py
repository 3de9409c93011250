"""`dagster dev` with the repo's workspace serves the UI, lists every layer, and logs no error."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]  # workspace.yaml and dagster.yaml live there


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _graphql(port: int, query: str) -> Any:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_dagster_dev_serves_every_layer(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "FACTORY_HOME": str(tmp_path / "home"), "DAGSTER_HOME": str(tmp_path / "dagster")}
    (tmp_path / "dagster").mkdir()
    (tmp_path / "dagster" / "dagster.yaml").symlink_to(REPO_ROOT / "dagster.yaml")
    log = tmp_path / "dev.log"
    dagster = Path(sys.executable).with_name("dagster")
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a stuck shutdown is killed with its children
        )
        try:
            deadline = time.monotonic() + 150
            nodes: list[dict[str, Any]] = []
            while time.monotonic() < deadline:
                try:
                    data = _graphql(port, "{ assetNodes { assetKey { path } groupName } }")
                    nodes = data["data"]["assetNodes"]
                    break
                except OSError:
                    time.sleep(2)
            assert nodes, f"the UI did not answer within 150 s:\n{log.read_text()[-3000:]}"
            keys = {"/".join(n["assetKey"]["path"]) for n in nodes}
            assert {
                "ticket_triage/raw_tickets",
                "ticket_triage/dataset",
                "ticket_triage/champion",
                "ticket_triage/drift_report",
            } <= keys
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
                assert page.status == 200
        finally:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:  # a shutdown that hangs is not what this test is about: end it
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
    errors = [line for line in log.read_text().splitlines() if " - ERROR - " in line or "Traceback" in line]
    assert errors == []
