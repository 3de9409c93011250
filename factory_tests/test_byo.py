"""Bring your own data, end to end, as a new user does it: a file, then ``factory new-usecase``, ``factory run
--retrain`` and ``factory predict``, with no hand edits. The predictions of ``factory predict`` equal those of the
registered model loaded by plain MLflow on the same rows.

(a) pre-labeled text with only ``text`` and ``label`` columns (no id, timestamp or group), 110 classes whose names
hold ``?``, ``/``, spaces, accents, emoji, commas and quotes; (b) a tabular file with an id, a date, numeric and
categorical features and a short optional note."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import mlflow
import numpy as np
import polars as pl
import pytest

from factory.cli import main
from factory.defs.resources import build_resources
from factory.demo.samples import ODD_CLASS_NAMES, tabular_csv, text_csv
from factory.spec import load_spec
from factory_tests.helpers import number


@pytest.fixture
def byo(factory_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's working folder: use cases written to ``usecases/``, runs in an ephemeral Dagster instance."""
    monkeypatch.setenv("FACTORY_USECASES", str(tmp_path / "usecases"))
    monkeypatch.setenv("FACTORY_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    (tmp_path / "usecases").mkdir()
    return tmp_path


def _champion(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    uri = build_resources()["tracking"].tracking_uri
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    return pl.from_pandas(model.predict(frame.to_pandas()))


def _three_commands(byo: Path, name: str, data: Path, label: str) -> pl.DataFrame:
    spec_file = byo / "usecases" / f"{name}.yaml"
    assert main(["new-usecase", name, "--data", str(data), "--label", label, "--dir", str(byo / "usecases")]) == 0
    assert main(["check-spec", str(spec_file)]) == 0
    assert main(["run", name, "--retrain"]) == 0
    out = byo / "predictions.csv"
    assert main(["predict", name, "--input", str(data), "--out", str(out)]) == 0
    return pl.read_csv(out, infer_schema=False)


def test_prelabeled_text_without_ids_goes_from_a_file_to_predictions(byo: Path) -> None:
    data = byo / "incoming" / "requests.csv"
    names = text_csv(data, rows=4000, classes=110)
    written = _three_commands(byo, "byo_text", data, "label")

    spec = load_spec(byo / "usecases" / "byo_text.yaml")
    assert set(spec.labeling.classes) == set(names), "every class of the file is in the spec, odd names included"
    assert written.columns == ["row", "label", "confidence"], "no id column in the input: rows are numbered"
    assert written.height == 4000
    assert written["row"].to_list() == [str(i) for i in range(4000)], "one output row per input row, in order"
    given = pl.read_csv(data)
    assert set(written["label"]) <= set(names)
    agreement = number((written["label"] == given["label"]).mean())
    assert agreement > 0.7, f"the model learned the labels ({agreement:.3f})"
    assert set(written["label"]) & set(ODD_CLASS_NAMES), "classes with odd names are predicted too"

    expected = _champion("byo_text", given)
    assert written["label"].to_list() == expected["label"].to_list()
    assert np.allclose(written["confidence"].cast(pl.Float64).to_numpy(), expected["confidence"].to_numpy())


def test_tabular_file_goes_from_a_file_to_predictions(byo: Path) -> None:
    data = byo / "incoming" / "applications.csv"
    labels = tabular_csv(data, rows=3000, start=date(2026, 11, 2), days=3)
    written = _three_commands(byo, "byo_applications", data, "decision")

    spec = load_spec(byo / "usecases" / "byo_applications.yaml")
    assert set(spec.labeling.classes) == set(labels)
    assert spec.schema.id == "application_id"
    assert {"amount", "tenure_months"} <= set(spec.feature_columns), "numeric columns are features"
    assert written.columns == ["application_id", "label", "confidence"]
    given = pl.read_csv(data)
    assert written["application_id"].to_list() == given["application_id"].to_list()
    accuracy = number((written["label"] == given["decision"]).mean())
    assert accuracy > 0.75, f"the model learned the decisions ({accuracy:.3f})"

    expected = _champion("byo_applications", given.drop("decision"))
    assert written["label"].to_list() == expected["label"].to_list()
    assert np.allclose(written["confidence"].cast(pl.Float64).to_numpy(), expected["confidence"].to_numpy())
