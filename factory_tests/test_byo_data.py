"""Bring your own data, without ids, timestamps or groups: a CSV of a text column and a label column,
registered in place as a one-shot batch, goes through the whole daily job over a real DuckDB warehouse. Its
rows get content-hash ids (the documented SHA-256) and the arrival day as timestamp, an exact repeat
collapses into its first row, and the label column labels them. A day no file of the batch maps to passes
the blocking ``batch_not_empty`` check as "nothing expected"; an empty day of a daily drop still fails it."""

from __future__ import annotations

import csv
import hashlib
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
import yaml

from factory.defs import UseCase, build_definitions
from factory.defs.resources import build_resources
from factory.resources.landing import days_with_data
from factory.resources.warehouse import Warehouse
from factory.spec import FileSourceSpec, UseCaseSpec, load_spec
from factory_tests.helpers import TICKET_TEXTS, asset_name, factory_env, text_label_spec

DAY = "2026-01-02"
EMPTY_DAY = "2026-01-03"
CLASSES = ("billing", "shipping_delay", "account_access", "bug_report")
ROWS = [(text, CLASSES[i % len(CLASSES)]) for i, text in enumerate(TICKET_TEXTS)]
ROWS += [('Refunds, returns and "exchanges": how long?', "billing"), ROWS[0]]  # quoted field; an exact repeat


def _content_id(text: str, category: str) -> str:
    """The id the README documents: h and 20 hex digits of the SHA-256 over `<bytes>:<value>,` per column."""
    encoded = "".join(f"{len(v.encode())}:{v}," for v in (text, category))
    return "h" + hashlib.sha256(encoded.encode()).hexdigest()[:20]


def _write_spec(folder: Path, name: str, source: dict[str, object]) -> UseCaseSpec:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(text_label_spec(name, source, CLASSES)), encoding="utf-8")
    return load_spec(path)


@dataclass
class Run:
    defs: dg.Definitions
    instance: dg.DagsterInstance
    warehouse: Warehouse
    batch: UseCase
    daily_drop: UseCase
    result: dg.ExecuteInProcessResult


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    home = tmp_path_factory.mktemp("factory_home")
    with factory_env(home):
        (home / "mine").mkdir()
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerows([("text", "category"), *ROWS])
        data = home / "mine" / "reviews.csv"
        data.write_text(text.getvalue(), encoding="utf-8")
        arrival = datetime.fromisoformat(f"{DAY}T08:00:00+00:00").timestamp()
        os.utime(data, (arrival, arrival))
        (home / "drops").mkdir()
        batch = _write_spec(
            home,
            "byo_batch",
            {"name": "export", "kind": "files", "path": "mine/reviews.csv", "format": "csv", "partition_by": "batch"},
        )
        daily = _write_spec(home, "byo_daily", {"name": "drop", "kind": "files", "path": "drops", "format": "csv"})
        defs = build_definitions([batch, daily])
        with dg.instance_for_test() as instance:
            uc = UseCase(batch)
            result = defs.resolve_job_def(uc.daily_job).execute_in_process(partition_key=DAY, instance=instance)
            assert result.success
            yield Run(defs, instance, build_resources()["warehouse"], uc, UseCase(daily), result)


def test_rows_without_id_timestamp_or_group_are_prepared_with_content_hash_ids(run: Run) -> None:
    done = {asset_name(e) for e in run.result.get_asset_materialization_events()}
    assert {"raw_export", "prepared", "labels"} <= done
    prepared = run.warehouse.read_partition(run.batch.name, "prepared", DAY)
    expected = {_content_id(text, category) for text, category in ROWS}
    assert len(expected) == len(ROWS) - 1
    assert set(prepared["row_id"]) == expected
    assert set(prepared["arrived_at"]) == {datetime(2026, 1, 2, tzinfo=UTC)}
    duplicates = run.warehouse.read_partition(run.batch.name, "duplicates", DAY)
    assert duplicates["duplicate_of"].to_list() == [_content_id(*ROWS[0])], "the exact repeat collapses"
    assert duplicates["kind"].to_list() == ["exact"]
    labels = run.warehouse.read_partition(run.batch.name, "labels", DAY)
    assert dict(labels.select("item_id", "label").rows()) == {_content_id(t, c): c for t, c in ROWS}


def test_the_same_file_lands_the_same_ids_again(run: Run) -> None:
    before = run.warehouse.read_partition(run.batch.name, "raw", DAY).sort("_line")
    again = run.defs.resolve_job_def(run.batch.daily_job).execute_in_process(
        partition_key=DAY, instance=run.instance, asset_selection=[run.batch.raw_key("export")]
    )
    assert again.success
    after = run.warehouse.read_partition(run.batch.name, "raw", DAY).sort("_line")
    assert after["row_id"].to_list() == before["row_id"].to_list()
    assert set(after.columns) >= {"text", "category", "row_id", "arrived_at"}


def _batch_not_empty(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    return next(e for e in result.get_asset_check_evaluations() if e.check_name == "batch_not_empty")


def test_a_day_without_a_batch_file_passes_as_nothing_expected_and_the_day_runs_empty(run: Run) -> None:
    source = run.batch.spec.sources[0]
    assert isinstance(source, FileSourceSpec)
    assert days_with_data(run.batch.spec, source) == [DAY]
    job = run.defs.resolve_job_def(run.batch.daily_job)
    result = job.execute_in_process(partition_key=EMPTY_DAY, instance=run.instance)
    assert result.success, "the whole daily job runs on a day nothing was expected"
    check = _batch_not_empty(result)
    assert check.passed
    assert "nothing expected" in str(check.description)
    for table in ("raw", "prepared", "labels"):
        assert run.warehouse.read_partition(run.batch.name, table, EMPTY_DAY).height == 0


def test_an_empty_day_of_a_daily_drop_still_fails(run: Run) -> None:
    result = run.defs.resolve_job_def(run.daily_drop.daily_job).execute_in_process(
        partition_key=EMPTY_DAY, instance=run.instance, raise_on_error=False
    )
    assert not result.success
    check = _batch_not_empty(result)
    assert not check.passed
    assert "the batch is empty" in str(check.description)
    assert not result.asset_materializations_for_node(run.daily_drop.key("prepared").to_python_identifier())


def test_preparing_a_day_whose_raw_assets_never_ran_still_fails(run: Run) -> None:
    result = run.defs.resolve_job_def(run.batch.daily_job).execute_in_process(
        partition_key="2026-01-04",
        instance=run.instance,
        asset_selection=[run.batch.key(name) for name in ("prepared", "quarantine", "duplicates")],
        raise_on_error=False,
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "no raw rows for 2026-01-04" in str(failure.step_failure_data.error)
