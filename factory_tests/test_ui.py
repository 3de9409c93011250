"""`dagster dev` with the repo's workspace serves the UI, lists every layer, logs no error, and stops on SIGTERM.

The stop is part of the test: it once hung for minutes when the suite ran from a background job, because Dagster
handles SIGTERM like SIGINT and the job had SIGINT ignored (`factory_tests.dagster_dev` explains and measures it).
"""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

from factory_tests.dagster_dev import dagster_dev, dagster_home, graphql


def test_dagster_dev_serves_every_layer(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "FACTORY_HOME": str(tmp_path / "home"),
        "DAGSTER_HOME": str(dagster_home(tmp_path / "dagster")),
    }
    log = tmp_path / "dev.log"
    with dagster_dev(env, log) as dev:
        nodes = graphql(dev.port, "{ assetNodes { assetKey { path } groupName } }")["assetNodes"]
        keys = {"/".join(n["assetKey"]["path"]) for n in nodes}
        assert {
            "ticket_triage/raw_tickets",
            "ticket_triage/dataset",
            "ticket_triage/champion",
            "ticket_triage/drift_report",
        } <= keys
        with urllib.request.urlopen(dev.url, timeout=10) as page:
            assert page.status == 200
        stopped_in = dev.stop()
    assert stopped_in < 90
    errors = [line for line in log.read_text().splitlines() if " - ERROR - " in line or "Traceback" in line]
    assert errors == []
