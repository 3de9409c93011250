"""A tabular use case end to end through the Dagster assets: claims with numeric and categorical features and an
optional short note, dropped as CSV files, labeled from a label column of the files (annotation kind
``column``). Over a real DuckDB warehouse, version store and MLflow SQLite store in a temporary FACTORY_HOME,
the daily job prepares day 1 (numbers typed, a wrong-typed value quarantined, rows without a note kept), the
retrain job publishes a dataset and registers a tabular candidate as champion, and the daily job of day 2
predicts and reports drift per feature. The registered pyfunc, loaded with plain MLflow, predicts what
``factory predict`` writes."""

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

from factory.core.monitoring import PredictionReference, ReferenceStats
from factory.defs import UseCase, build_definitions
from factory.defs.monitoring import _reference_stats
from factory.defs.resources import build_resources
from factory.predicting import predict_file
from factory.resources.tracking import PREDICTION_REFERENCE_ARTIFACT, Tracking
from factory.resources.versioning import LocalVersionStore
from factory.resources.warehouse import Warehouse
from factory.spec import UseCaseSpec
from factory_tests.helpers import factory_env

DAYS = ("2026-01-01", "2026-01-02")
ROWS = 500
REGIONS = ("north", "south", "east", "west")
BAD_ROW = "C0-0007"  # its amount is not a number
HEADER = ["claim_id", "filed_at", "customer_id", "region", "product", "amount", "items", "note", "decision"]


def _claims(day_index: int) -> pl.DataFrame:
    """One day of claims. The decision follows the amount, the region and the number of items (a few labels
    flipped); the note is empty for a fifth of the claims and says little."""
    rng = np.random.default_rng(day_index)
    amount = rng.gamma(2.0, 600.0, ROWS).round(2)
    region = rng.choice(len(REGIONS), ROWS)
    items = rng.integers(1, 8, ROWS)
    review = (amount > 1800) | ((region == 2) & (items > 4))
    flip = rng.random(ROWS) < 0.03
    notes = ["", "water damage in kitchen", "stolen bicycle", "cracked screen", "storm damage to roof"]
    day = DAYS[day_index]
    return pl.DataFrame(
        {
            "claim_id": [f"C{day_index}-{i:04d}" for i in range(ROWS)],
            "filed_at": [f"{day}T{i % 24:02d}:{i % 60:02d}:00Z" for i in range(ROWS)],
            "customer_id": [f"K{day_index}{i:04d}" for i in range(ROWS)],
            "region": [REGIONS[r] for r in region],
            "product": [("home", "car", "phone")[i % 3] for i in range(ROWS)],
            "amount": ["twelve" if day_index == 0 and i == 7 else f"{a}" for i, a in enumerate(amount)],
            "items": [str(n) for n in items],
            "note": [notes[k] for k in rng.integers(0, len(notes), ROWS)],
            "decision": ["review" if r != f else "pay" for r, f in zip(review, flip, strict=True)],
        }
    ).select(HEADER)


def _spec() -> UseCaseSpec:
    string = {"type": "string"}
    return UseCaseSpec.model_validate(
        {
            "name": "claims_tab",
            "description": "Pay or review an insurance claim from its amount, region, product and items.",
            "start_date": DAYS[0],
            "sources": [{"name": "claims", "kind": "files", "path": "drop", "pattern": "*.csv", "format": "csv"}],
            "schema": {
                "id": "claim_id",
                "timestamp": "filed_at",
                "group": "customer_id",
                "columns": [
                    {"name": "claim_id", **string, "required": True},
                    {"name": "filed_at", "type": "timestamp", "required": True},
                    {"name": "customer_id", **string, "required": True},
                    {"name": "region", **string},
                    {"name": "product", **string, "values": ["home", "car", "phone"]},
                    {"name": "amount", "type": "float"},
                    {"name": "items", "type": "integer"},
                    {"name": "note", **string, "max_length": 200},
                    {"name": "decision", **string},
                ],
            },
            "text_columns": ["note"],
            "feature_columns": ["region", "product", "amount", "items"],
            "labeling": {
                "classes": ["pay", "review"],
                "sources": [{"kind": "column", "name": "given", "column": "decision"}],
                "review": {"budget": 20},
            },
            "splits": {"train": 0.7, "validation": 0.15, "test": 0.15, "salt": "claims-v1"},
            "gates": {"min_rows": 300, "quality_floor": 0.6, "min_class_examples": 1},
            "models": {"candidates": ["majority", "onehot_logreg", "hist_gb", "tfidf_logreg"], "seed": 3},
            "feedback": {"sources": []},
        }
    )


@dataclass
class Run:
    home: Path
    uc: UseCase
    warehouse: Warehouse
    tracking: Tracking
    retrain: dg.ExecuteInProcessResult
    second_day: dg.ExecuteInProcessResult


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    home = tmp_path_factory.mktemp("factory_home")
    with factory_env(home):
        (home / "drop").mkdir()
        for index, day in enumerate(DAYS):
            _claims(index).write_csv(home / "drop" / f"claims_{day}.csv")
        spec = _spec()
        uc = UseCase(spec)
        defs = build_definitions([spec])
        with dg.instance_for_test() as instance:
            daily = defs.resolve_job_def(uc.daily_job)
            assert daily.execute_in_process(partition_key=DAYS[0], instance=instance).success
            retrain = defs.resolve_job_def(uc.retrain_job).execute_in_process(instance=instance)
            assert retrain.success
            second_day = daily.execute_in_process(partition_key=DAYS[1], instance=instance)
            assert second_day.success
            resources = build_resources()
            yield Run(home, uc, resources["warehouse"], resources["tracking"], retrain, second_day)


def test_preparation_types_numbers_and_keeps_claims_without_a_note(run: Run) -> None:
    prepared = run.warehouse.read_partition(run.uc.name, "prepared", DAYS[0])
    quarantine = run.warehouse.read_partition(run.uc.name, "quarantine", DAYS[0])
    assert prepared.schema["amount"] == pl.Float64 and prepared.schema["items"] == pl.Int64
    assert quarantine.select("claim_id", "reason").rows() == [(BAD_ROW, "bad_float")]
    assert prepared["note"].null_count() > ROWS // 10, "a claim without a note is a claim"
    assert prepared.height == ROWS - 1


def test_a_tabular_champion_is_registered_from_the_published_dataset(run: Run) -> None:
    champion = run.tracking.champion(run.uc.model_name)
    assert champion is not None
    assert champion.tags["model.candidate"] in {"onehot_logreg", "hist_gb", "tfidf_logreg"}
    assert champion.metrics["test_macro_f1"] > 0.8
    store = LocalVersionStore(run.home / "versions", "factory")
    dataset = store.read_table("main", run.uc.dataset_table)
    assert "decision" not in dataset.columns, "the label column stays out of the model's inputs"
    assert dataset.schema["amount"] == pl.Float64
    document = run.tracking.find_document(champion.run_id, PREDICTION_REFERENCE_ARTIFACT)
    assert document is not None, "the champion carries its test-split prediction reference"
    reference = PredictionReference.from_json(document.encode())
    assert reference.macro_f1 == pytest.approx(champion.metrics["test_macro_f1"])
    assert reference.accuracy == pytest.approx(champion.metrics["test_accuracy"])
    assert reference.rows == dataset.filter(pl.col("split") == "test").height == sum(reference.labels.values())
    mlflow.set_tracking_uri(run.tracking.tracking_uri)
    schema = mlflow.pyfunc.load_model(f"models:/{run.uc.model_name}@champion").metadata.get_input_schema()
    assert schema is not None
    assert {c.name: c.type.name for c in schema.inputs} == {
        "note": "string",
        "region": "string",
        "product": "string",
        "amount": "double",
        "items": "long",
    }


def test_the_published_version_holds_reference_statistics_of_its_train_split(run: Run) -> None:
    store = LocalVersionStore(run.home / "versions", "factory")
    stored = ReferenceStats.from_json(store.read_object("main", run.uc.reference_stats_path))
    dataset = store.read_table("main", run.uc.dataset_table)
    assert stored.rows == dataset.filter(pl.col("split") == "train").height
    assert set(stored.numeric) == {"amount", "items"} and set(stored.categorical) == {"region", "product"}
    assert stored.text is not None and stored.labels is not None
    computed, source = _reference_stats(store, run.uc, store.resolve("main"))
    assert computed == stored and source == "stored at publish"


def test_a_version_published_before_reference_statistics_gets_them_computed(run: Run) -> None:
    store = LocalVersionStore(run.home / "versions", "factory")
    store.create_branch("old-style", "main")
    store.delete_object("old-style", run.uc.reference_stats_path)
    old = store.commit("old-style", "a version as published before reference statistics").id
    computed, source = _reference_stats(store, run.uc, old)
    assert source.startswith("computed from the dataset")
    assert computed == ReferenceStats.from_json(store.read_object("main", run.uc.reference_stats_path))
    store.delete_branch("old-style")


def test_the_pyfunc_predicts_what_factory_predict_writes(run: Run, tmp_path: Path) -> None:
    rows = _claims(1).head(60).drop("decision")
    rows = rows.with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("atlantis")).otherwise("region").alias("region"),
        pl.when(pl.int_range(pl.len()) == 1).then(pl.lit(None, dtype=pl.String)).otherwise("amount").alias("amount"),
    )
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    rows.write_csv(source)
    written = predict_file(_spec(), run.tracking, source, out, "champion")
    assert written.rows == rows.height
    predicted = pl.read_csv(out, infer_schema=False)
    mlflow.set_tracking_uri(run.tracking.tracking_uri)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{run.uc.model_name}@champion")
    typed = pl.read_csv(source).with_columns(pl.col("note").cast(pl.String))
    expected = pyfunc.predict(typed.to_pandas())
    assert predicted["label"].to_list() == expected["label"].tolist()
    assert np.allclose(predicted["confidence"].cast(pl.Float64).to_numpy(), expected["confidence"].to_numpy())


def test_the_second_day_is_predicted_and_its_drift_is_reported_per_feature(run: Run) -> None:
    predictions = run.warehouse.read_partition(run.uc.name, "predictions", DAYS[1])
    assert predictions.height == ROWS
    report = run.warehouse.read_partition(run.uc.name, "drift_report", DAYS[1])
    components = json.loads(report["components"].item())
    assert {
        "numeric_psi.amount",
        "numeric_psi.items",
        "categorical_shift.region",
        "categorical_shift.product",
        "label_psi",
        "vocabulary_shift",
    } <= set(components)
    assert report["score"].item() == max(components.values()) < 0.2, "another sample of the same claims"
    assert {"label_psi", "confidence_psi"} <= set(components), "against the champion's test-split predictions"
    verdicts = json.loads(report["verdicts"].item())
    assert {"numeric.amount", "categorical.region", "prediction.label", "prediction.confidence"} <= {
        v["component"] for v in verdicts
    }
    assert all({"component", "kind", "value", "threshold", "drifted"} <= set(v) for v in verdicts)
    assert report["drifted"].item() is False, [v for v in verdicts if v["drifted"]]
    assert report["champion_version"].item() == predictions["model_version"][0]
    for name in ("macro_f1", "accuracy"):
        reference, estimated = report[f"reference_{name}"].item(), report[f"estimated_{name}"].item()
        assert 0.5 < reference <= 1 and 0.5 < estimated <= 1
        assert abs(estimated - reference) < 0.15, "a calm day's estimate is near the test-split figure"
        assert report[f"realized_{name}"].item() is None, "no feedback source"
    assert report["feedback_rows"].item() == 0
    drift = next(
        e for e in run.second_day.get_asset_materialization_events() if e.asset_key == run.uc.key("drift_report")
    )
    assert drift.materialization is not None
    metadata = drift.materialization.metadata
    assert {"top_drifted_features", "verdicts", "performance"} <= set(metadata)
    assert metadata["reference_statistics"].value == "stored at publish"
    check = next(c for c in run.second_day.get_asset_check_evaluations() if c.check_name == "drift_within_bounds")
    assert check.passed
    review = run.warehouse.read_partition(run.uc.name, "review_queue", DAYS[1])
    assert 0 < review.height <= 20
