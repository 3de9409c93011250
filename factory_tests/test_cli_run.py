"""`factory run` over real stores (DuckDB warehouse, MLflow SQLite, the local version store, a Dagster
instance at DAGSTER_HOME) in a temporary FACTORY_HOME: a CSV registered by `factory new-usecase` goes through
the daily layers of every day it has data for and, with --retrain, to a champion that `factory predict` uses;
every run is recorded in the instance. A blocking gate that stops a run makes the command exit 1 naming the
gate and its reason. The days run are the days with data: a day no file maps to is never run."""

from __future__ import annotations

import contextlib
import io
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml

from factory.cli import main
from factory.demo.samples import class_names, text_csv
from factory.headless import plan_days, why_stopped
from factory.spec import ColumnAnnotationSourceSpec, FeedbackSpec, FileSourceSpec, UseCaseSpec
from factory_tests.helpers import factory_env, small_spec

REPO = Path(__file__).resolve().parents[1]
CLASSES = class_names(8)
DAYS = ("2026-01-01", "2026-01-02")
ROWS = 800


def _tickets(folder: Path, rows: int = ROWS) -> Path:
    """Two days of tickets: the sample generator's texts and labels (each class has its own words; the label
    column is called `label`, a name the factory otherwise reserves) with an id, a timestamp and a channel."""
    sample = text_csv(folder / "sample.csv", rows=rows, classes=len(CLASSES), noise=0.0, repeats=0.0)
    assert sample == CLASSES
    sampled = pl.read_csv(folder / "sample.csv")
    frame = pl.DataFrame(
        {
            "ticket_id": [f"T{i:05d}" for i in range(rows)],
            "created_at": [f"{DAYS[i % 2]}T{8 + i % 10:02d}:{i % 60:02d}:00Z" for i in range(rows)],
            "channel": [("email", "chat", "web")[i % 3] for i in range(rows)],
            "body": sampled["text"],
            "label": sampled["label"],
        }
    )
    path = folder / "tickets.csv"
    frame.write_csv(path)
    return path


@dataclass
class Done:
    home: Path
    usecases: Path
    data: Path
    status: int
    out: str
    instance_runs: list[dg.DagsterRun]


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Done]:
    """new-usecase, then run --retrain, with DAGSTER_HOME set."""
    root = tmp_path_factory.mktemp("byo")
    home, usecases, dagster_home = root / "factory_home", root / "usecases", root / "dagster"
    for folder in (home, usecases, dagster_home):
        folder.mkdir()
    shutil.copy(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    (root / "mine").mkdir()
    data = _tickets(root / "mine")
    with factory_env(home) as patch:
        patch.setenv("FACTORY_USECASES", str(usecases))
        patch.setenv("DAGSTER_HOME", str(dagster_home))
        made = main(["new-usecase", "tickets", "--data", str(data), "--label", "label", "--group", "ticket_id"])
        assert made == 0
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):  # capsys is per test; this fixture is per module
            status = main(["run", "tickets", "--retrain"])
        with dg.DagsterInstance.get() as instance:
            runs = list(instance.get_runs())
    yield Done(home, usecases, data, status, printed.getvalue(), runs)


def _back_in(done: Done, monkeypatch: pytest.MonkeyPatch) -> None:
    """The module's factory again, for a test (without the Dagster instance: an ephemeral one)."""
    monkeypatch.setenv("FACTORY_HOME", str(done.home))
    monkeypatch.setenv("FACTORY_DATA", str(done.home))
    monkeypatch.setenv("FACTORY_USECASES", str(done.usecases))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def test_run_retrain_takes_a_registered_csv_to_a_champion(done: Done) -> None:
    assert done.status == 0, done.out
    lines = done.out.splitlines()
    assert [line for line in lines if "daily layers for" in line] == [
        f"[tickets] daily layers for {day}" for day in DAYS
    ], "exactly the days the file has rows on"
    assert sum(line.strip().startswith("sources ") for line in lines) >= 3, "a sources line per day and the summary"
    assert any(line.strip().startswith("labeling ") and f"labels: {ROWS // 2}" in line for line in lines)
    assert "[tickets] retrain: stage, gate, publish, train, promote" in lines
    assert "=== tickets ===" in lines
    summary = lines[lines.index("=== tickets ===") :]
    assert any(line.startswith("dataset       tickets/v1") and "published now: true" in line for line in summary)
    assert any(line.startswith("champion      v1: first champion") for line in summary), summary


def test_the_runs_are_recorded_in_the_dagster_instance(done: Done) -> None:
    jobs = sorted((r.job_name, r.tags.get("dagster/partition", "-")) for r in done.instance_runs)
    assert jobs == [("tickets_daily", DAYS[0]), ("tickets_daily", DAYS[1]), ("tickets_retrain", "-")]
    assert {r.status for r in done.instance_runs} == {dg.DagsterRunStatus.SUCCESS}


def test_predict_uses_the_champion(done: Done, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _back_in(done, monkeypatch)
    out = tmp_path / "predictions.csv"
    assert main(["predict", "tickets", "--input", str(done.data), "--out", str(out)]) == 0
    predicted = pl.read_csv(out)
    assert predicted.columns == ["ticket_id", "label", "confidence"] and predicted.height == ROWS
    truth = pl.read_csv(done.data)["label"]
    assert set(predicted["label"]) <= set(CLASSES)
    assert int((predicted["label"] == truth).sum()) > 0.9 * ROWS


def test_a_blocking_gate_stops_the_run_with_exit_1_naming_it(
    done: Done, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Text and label only (no id, no timestamp: one batch filed under yesterday), and a row floor the file
    cannot reach: the daily layers run, the retrain stops at the dataset's min_rows gate."""
    _back_in(done, monkeypatch)
    text_csv(tmp_path / "sample.csv", rows=300, classes=4, noise=0.0, repeats=0.0)
    data = tmp_path / "reviews.csv"
    pl.read_csv(tmp_path / "sample.csv").rename({"label": "category"}).write_csv(data)
    assert main(["new-usecase", "strict", "--data", str(data), "--label", "category"]) == 0
    path = done.usecases / "strict.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert set(document["schema"]) == {"columns"} and document["sources"][0]["partition_by"] == "batch"
    document["gates"]["min_rows"] = 100_000
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    capsys.readouterr()
    try:
        assert main(["run", "strict", "--retrain"]) == 1
    finally:
        path.unlink()
    captured = capsys.readouterr()
    yesterday = datetime.now(UTC).date() - timedelta(days=1)
    assert [line for line in captured.out.splitlines() if "daily layers" in line] == [
        f"[strict] daily layers for {yesterday}"
    ]
    error = captured.err.strip().splitlines()[-1]
    assert error.startswith("factory run: retrain stopped by the blocking gate(s) min_rows"), error
    assert "min_rows on strict/dataset_candidate: 300 rows (floor 100000)" in error


def _drop_spec(folder: Path) -> UseCaseSpec:
    base = small_spec()
    drop = FileSourceSpec(name="drop", kind="files", path=str(folder), format="csv", allow_outside=True)
    given = ColumnAnnotationSourceSpec(kind="column", name="given", column="channel")
    labeling = base.labeling.model_copy(update={"sources": (given,)})
    return UseCaseSpec.model_validate(
        {
            **base.model_dump(by_alias=True),
            "sources": [drop.model_dump()],
            "feature_columns": [],
            "labeling": labeling.model_dump(),
            "feedback": FeedbackSpec(sources=()).model_dump(),
        }
    )


def test_only_days_with_data_are_planned(factory_home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "drop"
    folder.mkdir()
    for day in ("2026-01-02", "2026-01-05", "2099-01-01"):
        (folder / f"tickets_{day}.csv").write_text("ticket_id\n", encoding="utf-8")
    spec = _drop_spec(folder)
    days, left_out = plan_days(spec, None, None)
    assert days == ["2026-01-02", "2026-01-05"]
    assert len(left_out) == 1 and left_out[0].startswith("2099-01-01: not a partition of ticket_triage")
    assert plan_days(spec, date(2026, 1, 3), date(2026, 1, 10)) == (["2026-01-05"], [])
    assert plan_days(spec, date(2026, 1, 3), date(2026, 1, 4)) == ([], [])


def test_a_source_whose_days_are_unknown_runs_every_day_of_the_range(factory_home: Path) -> None:
    spec = small_spec()
    days, notes = plan_days(spec, date(2026, 1, 2), date(2026, 1, 4))
    assert days == ["2026-01-02", "2026-01-03", "2026-01-04"]
    assert notes == ["every day from 2026-01-02 to 2026-01-04: source(s) tickets cannot tell their days in advance"]
    every, _ = plan_days(spec, None, None)
    assert every[0] == spec.start_date.isoformat()
    assert every[-1] == (datetime.now(UTC).date() - timedelta(days=1)).isoformat()


def test_a_range_without_data_is_refused(
    factory_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "usecases"
    folder.mkdir()
    data = _tickets(tmp_path, rows=40)
    args = ["new-usecase", "tickets", "--data", str(data), "--label", "label", "--group", "ticket_id"]
    assert main([*args, "--dir", str(folder)]) == 0
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACTORY_USECASES", str(folder))
        assert main(["run", "tickets", "--from", "2026-02-01", "--to", "2026-02-03"]) == 2
    assert "no day with data to run for tickets from 2026-02-01 to 2026-02-03" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-01-01"], "--from and --to go together"),
        (["--from", "2026-01-05", "--to", "2026-01-01"], "--from 2026-01-05 is after --to 2026-01-01"),
        (["--from", "01/02/2026", "--to", "2026-01-01"], "--from '01/02/2026' is not a date"),
        (["--day", "2026-01-01"], "--day goes with --job"),
        (["--job", "daily", "--day", "2026-01-01", "--retrain"], "--job runs one job"),
    ],
)
def test_run_options_are_checked(
    factory_home: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "ticket_triage", *args]) == 2
    assert message in capsys.readouterr().err


def test_why_a_run_stopped_names_each_failed_blocking_gate_or_the_root_error() -> None:
    @dg.asset(check_specs=[dg.AssetCheckSpec("enough_rows", asset="counted", blocking=True)])
    def counted() -> dg.MaterializeResult:  # type: ignore[type-arg]  # Dagster rejects MaterializeResult[...]
        return dg.MaterializeResult(
            check_results=[
                dg.AssetCheckResult(
                    check_name="enough_rows",
                    passed=False,
                    description="3 rows (floor 10)",
                    metadata={"rows": 3, "floor": 10, "table": "| a |\n|---|"},
                )
            ]
        )

    @dg.asset
    def broken() -> None:
        raise RuntimeError("the drop folder is gone")

    with dg.instance_for_test() as instance:
        gated = dg.materialize([counted], instance=instance, raise_on_error=False)
        crashed = dg.materialize([broken], instance=instance, raise_on_error=False)
    stopped = why_stopped(gated, "retrain", None)
    assert stopped.gates == ("enough_rows",)
    assert str(stopped) == (
        "retrain stopped by the blocking gate(s) enough_rows: enough_rows on counted: 3 rows (floor 10) "
        "(rows=3, floor=10)"
    )
    failed = why_stopped(crashed, "daily", "2026-01-01")
    assert failed.gates == () and str(failed).startswith("daily for 2026-01-01 failed: step broken: RuntimeError")
    assert "the drop folder is gone" in str(failed)
