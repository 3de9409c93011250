"""The MLflow adapter against a real SQLite tracking store: log, register, find by lineage, promote, load."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from factory.core.training import build_candidate
from factory.resources.tracking import Tracking, upgrade_store


def test_log_register_find_promote_and_load(tmp_path: Path) -> None:
    tracking = Tracking(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_root=(tmp_path / "art").as_uri())
    model = build_candidate("tfidf_logreg", seed=1, max_features=100)
    model.fit(
        np.asarray(["card charged twice", "app crashes", "charged again", "crash on start"], dtype=object),
        ["billing", "bug", "billing", "bug"],
    )
    assert tracking.champion("uc") is None
    lineage = {"dataset.commit": "c0ffee", "dataset.digest": "d1", "code.version": "v1", "dagster.run_id": "r1"}
    record = tracking.log_model(
        experiment="uc",
        model_name="uc",
        model=model,
        params={"candidate": "tfidf_logreg"},
        metrics={"test_macro_f1": 0.9},
        tags=lineage,
        documents={"model_card.md": "# card"},
    )
    assert record.version == "1" and record.metrics["test_macro_f1"] == 0.9
    assert {k: record.tags[k] for k in lineage} == lineage
    assert tracking.find_version("uc", {"dataset.digest": "d1", "code.version": "v1"}) == record
    assert tracking.find_version("uc", {"dataset.digest": "other"}) is None
    assert tracking.run_documents(record.run_id, "model_card.md") == "# card"

    tracking.promote("uc", record.version, "first champion")
    champion = tracking.champion("uc")
    assert champion is not None and champion.version == "1"
    assert champion.tags["promotion.reason"] == "first champion"
    loaded = tracking.load("uc", "1")
    assert list(loaded.predict(np.asarray(["charged twice"], dtype=object))) == ["billing"]
    assert (tmp_path / "art").exists(), "artifacts go under the configured root, not the working directory"


def test_a_store_from_an_older_mlflow_is_upgraded_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflow refuses an out-of-date schema; the adapter runs ``mlflow db upgrade`` once, then goes on."""
    uri = f"sqlite:///{tmp_path / 'old.db'}"
    calls: list[list[str]] = []

    def out_of_date(self: MlflowClient, *args: object, **kwargs: object) -> None:
        raise MlflowException("Detected out-of-date database schema (found version a, but expected b).")

    def upgrade(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(MlflowClient, "search_experiments", out_of_date)
    monkeypatch.setattr(subprocess, "run", upgrade)
    assert upgrade_store(uri) is True
    assert calls == [[sys.executable, "-m", "mlflow", "db", "upgrade", uri]]
    assert upgrade_store(uri) is False  # once per process


def test_a_current_store_is_left_alone(tmp_path: Path) -> None:
    assert upgrade_store(f"sqlite:///{tmp_path / 'new.db'}") is False
