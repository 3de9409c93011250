"""The MLflow adapter against a real SQLite tracking store: log, register, find by lineage, promote, load."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from factory.core.training import build_candidate
from factory.resources.tracking import Tracking


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
