"""The Dagster UI in a real browser, after a small headless demo: Playwright drives Debian's Chromium (the system
executable, never a downloaded browser; ``make system-deps`` installs it) through what a data engineer does.

One module-scoped fixture runs ``factory demo`` for a small ``ticket_triage`` (two days: one before the first
retrain, one after) into a temporary Dagster home and FACTORY_HOME, starts ``dagster dev`` on it and opens a
headless browser. The tests then find each layer's group in the asset graph, read the dataset's blocking checks
and data card, launch one drift-report partition from the Materialize dialog and watch its run succeed, and open
the daily job's runs and the drift sensor's ticks. Every step is a screenshot in the folder the fixture prints
(copied to ``FACTORY_SCREENSHOTS`` when that is set), named in step order.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from playwright.sync_api import Locator, Page, expect, sync_playwright
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from factory_tests.dagster_dev import DagsterDev, dagster_dev, dagster_home, graphql
from factory_tests.helpers import small_spec

USE_CASE = "ticket_triage"
LAYERS = ("sources", "preparation", "labeling", "validation", "versioning", "training", "promotion", "monitoring")
"""The factory's layers, one asset group each (DESIGN.md, "The layers")."""

DEMO_DAYS, TRAIN_DAYS = 2, 1
WAIT_MS = 120_000
"""How long a page element may take to appear: the UI is slow on a loaded two-core machine."""

DEMO_WITHIN = 1200.0
"""Seconds the demo may take (about 3 minutes on a loaded two-core machine)."""

RUN_WITHIN = 600.0
"""Seconds the run launched from the UI may take, from the queue to success."""


def _chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail(
            "Chromium is not installed: `make system-deps` installs Debian's package (apt-get install chromium)"
        )
    return found


def _demo_spec() -> dict[str, Any]:
    """`small_spec` cut to what a browser test needs: two fast model candidates, a short red-team suite and no
    drift in the demo's days (the drift sensor then evaluates and skips; no second retrain)."""
    spec = small_spec(drift_day="2027-01-01")
    models = spec.models.model_copy(update={"candidates": ("majority", "complement_nb")})
    redteam = spec.redteam.model_copy(update={"cases": 200})
    return spec.model_copy(update={"models": models, "redteam": redteam}).model_dump(
        mode="json", by_alias=True, exclude_none=True
    )


@dataclass
class UI:
    """The served UI after the demo, a browser page on it, and the screenshot folder."""

    dev: DagsterDev
    page: Page
    shots: Path
    copy_to: Path | None
    taken: list[Path] = field(default_factory=list)

    def goto(self, path: str) -> None:
        self.page.goto(self.dev.url + path, timeout=WAIT_MS)

    def shot(self, step: str, of: Locator | None = None) -> Path:
        """A screenshot of the page (or of one element, such as a dialog) named ``NN_step.png`` in step order,
        also copied to ``copy_to``."""
        path = self.shots / f"{len(self.taken) + 1:02d}_{step}.png"
        if of is None:
            self.page.screenshot(path=path)
        else:
            of.screenshot(path=path)
        self.taken.append(path)
        if self.copy_to is not None:
            shutil.copy2(path, self.copy_to / path.name)
        return path

    def query(self, text: str, **variables: Any) -> Any:
        return graphql(self.dev.port, text, variables)


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UI]:
    root = tmp_path_factory.mktemp("browser")
    (root / "usecases").mkdir()
    (root / "usecases" / f"{USE_CASE}.yaml").write_text(yaml.safe_dump(_demo_spec(), sort_keys=False), encoding="utf-8")
    env = {
        **os.environ,
        "FACTORY_HOME": str(root / "home"),
        "FACTORY_DATA": str(root / "data"),
        "FACTORY_USECASES": str(root / "usecases"),
        "DAGSTER_HOME": str(dagster_home(root / "dagster")),
    }
    for name in ("MLFLOW_TRACKING_URI", "FACTORY_WAREHOUSE"):
        env.pop(name, None)
    shots = root / "screenshots"
    shots.mkdir()
    copy_to = Path(os.environ["FACTORY_SCREENSHOTS"]) if os.environ.get("FACTORY_SCREENSHOTS") else None
    if copy_to is not None:
        copy_to.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {shots}" + (f" (copied to {copy_to})" if copy_to else ""))
    factory = Path(sys.executable).with_name("factory")
    with (root / "demo.log").open("wb") as sink:
        # The demo and the UI's start overlap (no schedule or sensor runs by default, so the daemon stays idle).
        demo = subprocess.Popen(
            [str(factory), "demo", "--days", str(DEMO_DAYS), "--train-days", str(TRAIN_DAYS)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            with dagster_dev(env, root / "dev.log") as dev:
                assert demo.wait(timeout=DEMO_WITHIN) == 0, (root / "demo.log").read_text(errors="replace")[-3000:]
                with sync_playwright() as playwright:
                    browser = playwright.chromium.launch(executable_path=_chromium(), headless=True)
                    try:
                        page = browser.new_page(viewport={"width": 1600, "height": 1000})
                        page.set_default_timeout(WAIT_MS)
                        expect.set_options(timeout=WAIT_MS)
                        _dismiss_prompts(page, dev.url)
                        yield UI(dev, page, shots, copy_to)
                    finally:
                        browser.close()
        finally:
            if demo.poll() is None:
                demo.kill()
                demo.wait()


def _dismiss_prompts(page: Page, url: str) -> None:
    """Skip Dagster's community sign-up prompt, which covers the first page the UI shows (once per instance), and
    keep a handler for it should it come back."""
    skip = page.get_by_role("button", name="Skip", exact=True)
    page.goto(url, timeout=WAIT_MS)
    try:
        skip.click(timeout=30_000)
        expect(page.get_by_role("dialog")).to_have_count(0)
    except PlaywrightTimeoutError:
        pass  # not shown this time
    page.add_locator_handler(skip, lambda: skip.click())


def test_each_layer_has_its_group_in_the_asset_graph(ui: UI) -> None:
    groups = [f"{USE_CASE}_{layer}" for layer in LAYERS]
    served = {node["groupName"] for node in ui.query("{ assetNodes { groupName } }")["assetNodes"]}
    assert served == set(groups)
    ui.goto("/asset-groups")
    expect(ui.page.get_by_text("Global asset lineage")).to_be_visible()
    for group in groups:  # the lineage's group tree; the graph beside it draws one node per group
        expect(ui.page.get_by_role("button", name=group)).to_be_visible()
    ui.shot("asset_graph_layer_groups")
    ui.goto(f"/locations/factory/asset-groups/{USE_CASE}_versioning")
    dataset = ui.page.get_by_text("dataset", exact=True)
    expect(dataset).to_be_visible()
    expect(ui.page.get_by_text("Materialized", exact=True)).to_be_visible()
    ui.shot("asset_graph_versioning_group")


def test_the_daily_job_lists_its_runs_and_the_drift_sensor_its_ticks(ui: UI) -> None:
    """The acceptance of issue 15: the demo's headless runs show on their job's page, its sensor evaluation as a
    tick of the drift sensor (as if the daemon had run them)."""
    ui.goto(f"/locations/factory/jobs/{USE_CASE}_daily/runs")
    expect(ui.page.get_by_text(f"job:{USE_CASE}_daily")).to_be_visible()
    runs = ui.page.get_by_role("link", name=re.compile(r"^run [0-9a-f]{8}$"))
    expect(runs).to_have_count(DEMO_DAYS)
    expect(ui.page.get_by_role("link", name=f"{USE_CASE}_nightly").first).to_be_visible()  # launched by
    ui.shot("daily_job_runs")
    ui.goto(f"/locations/factory/sensors/{USE_CASE}_drift_sensor")
    expect(ui.page.get_by_text("Latest tick")).to_be_visible()
    expect(ui.page.get_by_text("Sensor has never run")).to_have_count(0, timeout=30_000)
    expect(ui.page.get_by_role("row").filter(has_text=re.compile(r"\d+ runs? requested|Skipped")).first).to_be_visible()
    ui.shot("drift_sensor_ticks")


def test_the_dataset_shows_its_blocking_checks_and_its_data_card(ui: UI) -> None:
    checks = ui.query(
        """query($path: [String!]!) { assetNodeOrError(assetKey: {path: $path}) { ... on AssetNode {
            assetChecksOrError { ... on AssetChecks { checks { name blocking } } } } } }""",
        path=[USE_CASE, "dataset_candidate"],
    )["assetNodeOrError"]["assetChecksOrError"]["checks"]
    blocking = sorted(c["name"] for c in checks if c["blocking"])
    assert "min_rows" in blocking and "no_group_across_splits" in blocking, blocking
    ui.goto(f"/assets/{USE_CASE}/dataset_candidate?view=checks")
    page = ui.page
    expect(page.get_by_text(f"Checks ({len(checks)})")).to_be_visible()
    for name in blocking:
        expect(page.get_by_text(name, exact=True).first).to_be_attached()
    page.get_by_text("min_rows", exact=True).first.click()
    expect(page.get_by_text(re.compile(r"This is a\s+blocking\s+asset check"))).to_be_visible()
    expect(page.get_by_text("Passed", exact=True).first).to_be_visible()
    ui.shot("dataset_candidate_blocking_checks")

    ui.goto(f"/assets/{USE_CASE}/dataset")
    metadata = page.get_by_role("row").filter(has_text="data_card")
    expect(page.get_by_role("row").filter(has_text=re.compile(rf"version.*{USE_CASE}/v\d+"))).to_have_count(1)
    ui.shot("dataset_published_version")
    metadata.get_by_text("[Show Markdown]").click()
    card = page.get_by_role("dialog")
    expect(card.get_by_role("heading", name=re.compile("^Data card"))).to_be_visible()
    for section in ("Class mix", "Splits", "Gates at staging", "Lineage"):
        expect(card.get_by_role("heading", name=section, exact=True)).to_be_visible()
    card.get_by_role("heading", name=re.compile("^Data card")).scroll_into_view_if_needed()
    ui.shot("dataset_data_card")
    page.keyboard.press("Escape")


def _run_ids(ui: UI) -> set[str]:
    runs = ui.query("{ runsOrError { ... on Runs { results { runId } } } }")["runsOrError"]["results"]
    return {run["runId"] for run in runs}


def _drift_reports(ui: UI, partition: str | None = None) -> list[dict[str, Any]]:
    """Every materialization of the drift report (of one partition), newest first: partition and run id."""
    return list(
        ui.query(
            """query($path: [String!]!, $partitions: [String!]) { assetNodeOrError(assetKey: {path: $path}) {
                ... on AssetNode { assetMaterializations(partitions: $partitions) { partition runId } } } }""",
            path=[USE_CASE, "drift_report"],
            partitions=None if partition is None else [partition],
        )["assetNodeOrError"]["assetMaterializations"]
    )


def _run(ui: UI, run_id: str) -> dict[str, Any]:
    found = ui.query(
        """query($id: ID!) { runOrError(runId: $id) { ... on Run { status tags { key value }
            assetSelection { path } } } }""",
        id=run_id,
    )["runOrError"]
    assert isinstance(found, dict)
    return found


def test_a_drift_report_partition_materializes_from_the_ui(ui: UI) -> None:
    """One partition chosen in the Materialize dialog, launched, and its run followed on the run page until it
    succeeds; the partition then has a new drift report."""
    materialized = _drift_reports(ui)
    assert materialized, "the demo wrote no drift report"
    partition = max(m["partition"] for m in materialized)
    before_count = len(_drift_reports(ui, partition))
    before = _run_ids(ui)

    page = ui.page
    ui.goto(f"/assets/{USE_CASE}/drift_report")
    page.get_by_role("button", name="Materialize…").click()
    dialog = page.get_by_role("dialog").filter(has_text=f"Launch runs to materialize {USE_CASE} / drift_report")
    expect(dialog.get_by_role("button", name=re.compile(r"Last \d+ days|All time"))).to_be_visible()
    show_all = dialog.get_by_role("button", name="Show all partitions")
    if show_all.count():  # the dialog opens on the last 90 days; the demo's days may be older
        show_all.click()
        expect(show_all).to_have_count(0)
    partitions = dialog.get_by_role("textbox").first
    partitions.fill(partition)
    partitions.press("Enter")
    expect(dialog).to_contain_text("1 partition")
    launch = dialog.get_by_role("button", name="Launch 1 run")
    expect(launch).to_be_enabled()
    ui.shot("materialize_dialog_one_partition", of=dialog)
    launch.click()

    deadline = time.monotonic() + 60
    while not (new := _run_ids(ui) - before):
        assert time.monotonic() < deadline, "no run was launched within 60 s of clicking Launch 1 run"
        time.sleep(2)
    (run_id,) = new
    ui.goto(f"/runs/{run_id}")
    expect(page.get_by_text(run_id[:8]).first).to_be_visible()
    ui.shot("run_launched")
    deadline = time.monotonic() + RUN_WITHIN
    status = _run(ui, run_id)["status"]
    while status not in ("SUCCESS", "FAILURE", "CANCELED"):
        assert time.monotonic() < deadline, f"run {run_id} still {status} after {RUN_WITHIN:.0f} s"
        time.sleep(10)
        page.reload(timeout=WAIT_MS)
        status = _run(ui, run_id)["status"]
    page.reload(timeout=WAIT_MS)
    assert status == "SUCCESS", f"run {run_id} ended {status}; see {ui.dev.url}/runs/{run_id}"
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()
    expect(page.get_by_text("Succeeded (1)")).to_be_visible()  # its one step: the drift report of the partition
    expect(page.get_by_text("RUN_START", exact=True)).to_be_visible()  # the event log has loaded
    ui.shot("run_finished")

    run = _run(ui, run_id)
    tags = {tag["key"]: tag["value"] for tag in run["tags"]}
    assert tags["dagster/partition"] == partition
    assert run["assetSelection"] == [{"path": [USE_CASE, "drift_report"]}]
    after = _drift_reports(ui, partition)
    assert len(after) == before_count + 1 and after[0]["runId"] == run_id
