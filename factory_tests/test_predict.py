"""`factory predict` against a model trained through the real pipeline (two daily runs, then the retrain job),
compared with the registered pyfunc loaded by plain MLflow on the same rows; and its error paths."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import mlflow
import numpy as np
import polars as pl
import pytest

from factory.cli import main
from factory.defs import build_definitions
from factory.defs.resources import build_resources
from factory.defs.usecase import UseCase
from factory.resources.tracking import Tracking
from factory.resources.versioning import LocalVersionStore
from factory_tests.helpers import small_spec


@dataclass
class Trained:
    home: Path
    tracking: Tracking
    rows: pl.DataFrame


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    home = tmp_path_factory.mktemp("factory_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACTORY_HOME", str(home))
        patch.delenv("DAGSTER_HOME", raising=False)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.delenv("FACTORY_USECASES", raising=False)
        spec = small_spec()
        uc = UseCase(spec)
        defs = build_definitions([spec])
        with dg.instance_for_test() as instance:
            for day in ("2026-01-01", "2026-01-02"):
                result = defs.resolve_job_def(uc.daily_job).execute_in_process(instance=instance, partition_key=day)
                assert result.success, day
            assert defs.resolve_job_def(uc.retrain_job).execute_in_process(instance=instance).success
        store = LocalVersionStore(home / "versions", "factory")
        rows = store.read_table("main", uc.dataset_table).filter(pl.col("split") == "test").head(40)
        yield Trained(home=home, tracking=build_resources()["tracking"], rows=rows)


def _pyfunc(trained: Trained, frame: pl.DataFrame) -> pl.DataFrame:
    uri = trained.tracking.tracking_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    model = mlflow.pyfunc.load_model("models:/ticket_triage@champion")
    return pl.from_pandas(model.predict(frame.to_pandas()))


def test_predict_matches_the_registered_pyfunc(trained: Trained, tmp_path: Path) -> None:
    rows = trained.rows.select("ticket_id", "subject", "body", "channel").with_columns(
        pl.lit("not a model input").alias("extra")
    )
    rows = rows.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("=1+1")).otherwise("ticket_id").alias("ticket_id")
    )
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    rows.write_csv(source)
    assert main(["predict", "ticket_triage", "--input", str(source), "--out", str(out)]) == 0
    written = pl.read_csv(out, infer_schema=False)
    assert written.columns == ["ticket_id", "label", "confidence"]
    assert written.height == rows.height
    assert written["ticket_id"][0] == "'=1+1", "a formula-like cell is neutralized"
    assert written["ticket_id"][1:].to_list() == rows["ticket_id"][1:].to_list(), "input order kept"
    expected = _pyfunc(trained, pl.read_csv(source, infer_schema=False))
    assert written["label"].to_list() == expected["label"].to_list()
    assert np.allclose(written["confidence"].cast(pl.Float64).to_numpy(), expected["confidence"].to_numpy())
    classes = set(small_spec().labeling.classes)
    assert set(written["label"]) <= classes and len(set(written["label"])) > 1


def test_predict_without_an_id_column_numbers_rows_and_takes_a_version(trained: Trained, tmp_path: Path) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    trained.rows.select("channel", "body", "subject").write_ndjson(source)
    assert main(["predict", "ticket_triage", "--input", str(source), "--out", str(out), "--model", "v1"]) == 0
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["row"] for r in written] == list(range(1, trained.rows.height + 1))
    expected = _pyfunc(trained, trained.rows)
    assert [r["label"] for r in written] == expected["label"].to_list()


def test_predict_error_paths(trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source, out = tmp_path / "in.parquet", tmp_path / "out.csv"
    trained.rows.select("ticket_id", "subject").write_parquet(source)
    assert main(["predict", "ticket_triage", "--input", str(source), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert "body, channel" in error and "other columns are ignored" in error
    assert not out.exists()
    trained.rows.write_parquet(source)
    assert main(["predict", "ticket_triage", "--input", str(source), "--out", str(out), "--model", "v99"]) == 2
    assert "no registered version 99" in capsys.readouterr().err
    assert main(["predict", "ticket_triage", "--input", str(tmp_path / "none.csv"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["predict", "nope", "--input", str(source), "--out", str(out)]) == 2
    assert "no valid use case named 'nope'" in capsys.readouterr().err
