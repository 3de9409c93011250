"""The MLflow adapter against a real SQLite tracking store: log, register, find by lineage, promote, load."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import polars as pl
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from factory.core.training import (
    ModelColumns,
    build_candidate,
    calibrated,
    decode_key,
    encode_key,
    model_frame,
    model_text,
    predict,
)
from factory.resources.pyfunc_model import documents
from factory.resources.pyfunc_model import model_frame as pyfunc_frame
from factory.resources.tracking import KEYS_ARTIFACT, ModelInputs, Tracking, upgrade_store


def test_log_register_find_promote_and_load(tmp_path: Path) -> None:
    tracking = Tracking(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_root=(tmp_path / "art").as_uri())
    columns = ModelColumns(text=("text",))
    model = build_candidate("tfidf_logreg", columns, seed=1, max_features=100)
    model.set_params(features__text__min_df=1)
    train = pl.DataFrame({"text": ["card charged twice", "app crashes", "charged again", "crash on start"]})
    model.fit(model_frame(train, columns), ["billing", "bug", "billing", "bug"])
    assert tracking.champion("uc") is None
    lineage = {"dataset.commit": "c0ffee", "dataset.digest": "d1", "code.version": "v1", "dagster.run_id": "r1"}
    record = tracking.log_model(
        experiment="uc",
        model_name="uc",
        model=model,
        inputs=ModelInputs(columns, pl.DataFrame({"text": ["card charged"]})),
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
    assert predict(loaded, pl.DataFrame({"text": ["charged twice"]}), columns)["label"].to_list() == ["billing"]
    assert (tmp_path / "art").exists(), "artifacts go under the configured root, not the working directory"


def test_a_version_loaded_again_is_a_copy_of_the_first_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second load of a version reads no artifact (the skops file is deserialized once per process) and
    hands out a copy: refitting what one caller got leaves the next caller's model as registered."""
    tracking = Tracking(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_root=(tmp_path / "art").as_uri())
    columns = ModelColumns(text=("text",))
    model = build_candidate("tfidf_logreg", columns, seed=1, max_features=100)
    model.set_params(features__text__min_df=1)
    texts = pl.DataFrame({"text": ["card charged twice", "app crashes", "charged again", "crash on start"]})
    model.fit(model_frame(texts, columns), ["billing", "bug", "billing", "bug"])
    inputs = ModelInputs(columns, texts.head(1))
    record = tracking.log_model(
        experiment="uc", model_name="uc", model=model, inputs=inputs, params={}, metrics={}, tags={}, documents={}
    )
    first = tracking.load("uc", record.version)
    loads: list[str] = []
    real = mlflow.pyfunc.load_model

    def counting(uri: str, *args: Any, **kwargs: Any) -> Any:
        loads.append(uri)
        return real(uri, *args, **kwargs)

    monkeypatch.setattr(mlflow.pyfunc, "load_model", counting)
    second = tracking.load("uc", record.version)
    assert loads == [] and second is not first
    first.fit(model_frame(texts, columns), ["bug", "billing", "bug", "billing"])  # a caller refits its copy
    probe = pl.DataFrame({"text": ["charged twice"]})
    assert predict(tracking.load("uc", record.version), probe, columns)["label"].to_list() == ["billing"]
    other = Tracking(tracking_uri=f"sqlite:///{tmp_path / 'other.db'}", artifact_root=(tmp_path / "b").as_uri())
    again = other.log_model(
        experiment="uc", model_name="uc", model=first, inputs=inputs, params={}, metrics={}, tags={}, documents={}
    )
    assert predict(other.load("uc", again.version), probe, columns)["label"].to_list() == ["bug"], (
        "version 1 of another store is another model"
    )
    assert [uri for uri in loads if uri.startswith("models:/")] == ["models:/uc/1"]


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


ODD_CLASSES = ["refund?", "a/b", "two words", "café crème", "rocket 🚀", "x:3F", ".."]


def _odd_inputs() -> tuple[pl.DataFrame, list[str]]:
    frame = pl.DataFrame(
        {
            "subject": ["why refund", None, "two words here", "café", "rocket", "colon", "dots"] * 3,
            "body": ["money back?", "path a/b", "spaces", "crème", "🚀 launch", "x:3F", "up .."] * 3,
            "channel": ["email", "chat", None, "email", "chat", "phone", "email"] * 3,
            "ignored": list(range(21)),
        }
    )
    return frame, ODD_CLASSES * 3


def test_any_class_name_logs_to_a_real_store_and_the_pyfunc_predicts_rows(tmp_path: Path) -> None:
    """Metric keys from class names with ``?``, ``/``, spaces, accents, emoji and ``:`` are encoded; the run maps
    them back; the registered pyfunc carries a signature and example and returns one label per input row."""
    tracking = Tracking(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_root=(tmp_path / "art").as_uri())
    frame, labels = _odd_inputs()
    columns = ModelColumns(text=("subject", "body"), categorical=("channel",))
    model = build_candidate("tfidf_logreg", columns, seed=1, max_features=100)
    model.set_params(features__text__min_df=1)
    model.fit(model_frame(frame, columns), labels)
    metrics = {f"test_f1.{c}": 0.5 for c in ODD_CLASSES} | {"test_macro_f1": 0.5}
    record = tracking.log_model(
        experiment="odd",
        model_name="odd",
        model=model,
        inputs=ModelInputs(columns, frame.head(3)),
        params={"candidate": "tfidf_logreg"},
        metrics=metrics,
        tags={"class.a/b?": "tag from a class name"},
        documents={},
    )
    assert record.metrics["test_macro_f1"] == 0.5
    assert record.metrics["test_f1.refund:3F"] == 0.5
    assert record.tags["class.a:2Fb:3F"] == "tag from a class name"
    mapping = json.loads(tracking.run_documents(record.run_id, KEYS_ARTIFACT))
    assert {v for k, v in mapping.items() if v.startswith("test_f1.")} == {
        f"test_f1.{c}" for c in ODD_CLASSES if c not in {"two words", ".."}
    }
    assert all(decode_key(k) == v for k, v in mapping.items())
    assert set(record.metrics) == {encode_key(k) for k in metrics}

    mlflow.set_tracking_uri(tracking.tracking_uri)
    mlflow.set_registry_uri(tracking.tracking_uri)
    pyfunc = mlflow.pyfunc.load_model("models:/odd/1")
    signature = pyfunc.metadata.get_input_schema()
    assert signature is not None and signature.input_names() == ["subject", "body", "channel"]
    assert pyfunc.metadata.saved_input_example_info is not None
    out = pyfunc.predict(frame.to_pandas())
    assert list(out.columns) == ["label", "confidence"] and len(out) == frame.height
    expected = predict(model, frame, columns)
    assert out["label"].tolist() == expected["label"].to_list()
    assert np.allclose(out["confidence"].to_numpy(), expected["confidence"].to_numpy())
    assert set(out["label"]) <= set(ODD_CLASSES)
    assert predict(tracking.load("odd", "1"), frame.head(1), columns).height == 1


def _register_and_load(tracking: Tracking, name: str, candidate: str, model: Any, inputs: ModelInputs) -> Any:
    """Register `model` as version 1 of `name` and load it back as plain MLflow does."""
    tracking.log_model(
        experiment=name,
        model_name=name,
        model=model,
        inputs=inputs,
        params={"candidate": candidate},
        metrics={"test_macro_f1": 0.9},
        tags={},
        documents={},
    )
    mlflow.set_tracking_uri(tracking.tracking_uri)
    mlflow.set_registry_uri(tracking.tracking_uri)
    return mlflow.pyfunc.load_model(f"models:/{name}/1")


@pytest.mark.parametrize("candidate", ["complement_nb", "tfidf_svm"])
def test_a_text_ladder_pyfunc_loads_and_predicts_as_the_factory(tmp_path: Path, candidate: str) -> None:
    """The text candidates as they are registered, calibrated (`calibrated`), pass skops' trusted types: plain
    MLflow loads them and predicts what ``factory.core.training.predict`` does."""
    tracking = Tracking(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_root=(tmp_path / "art").as_uri())
    frame, labels = _odd_inputs()
    frame, labels = pl.concat([frame] * 3), labels * 3
    columns = ModelColumns(text=("subject", "body"), categorical=("channel",))
    model = calibrated(build_candidate(candidate, columns, seed=1, max_features=100), 3)
    model.fit(model_frame(frame, columns), labels)
    pyfunc = _register_and_load(tracking, "ladder", candidate, model, ModelInputs(columns, frame.head(3)))
    out = pyfunc.predict(frame.to_pandas())
    expected = predict(tracking.load("ladder", "1"), frame, columns)
    assert out["label"].tolist() == expected["label"].to_list() == predict(model, frame, columns)["label"].to_list()
    assert np.allclose(out["confidence"].to_numpy(), expected["confidence"].to_numpy())


def _claims(n: int) -> tuple[pl.DataFrame, list[str]]:
    rng = np.random.default_rng(5)
    amount = rng.gamma(2.0, 500.0, n)
    region = rng.choice(["north", "south", "east"], n)
    labels = np.where((amount > 1500) | (region == "east"), "review", "pay")
    frame = pl.DataFrame(
        {
            "region": region.tolist(),
            "amount": [None if i % 11 == 0 else float(a) for i, a in enumerate(amount)],
            "items": rng.integers(1, 9, n).tolist(),
            "ignored": list(range(n)),
        },
        schema={"region": pl.String, "amount": pl.Float64, "items": pl.Int64, "ignored": pl.Int64},
    )
    return frame, [str(label) for label in labels]


@pytest.mark.parametrize("candidate", ["onehot_logreg", "hist_gb"])
def test_a_tabular_pyfunc_types_numbers_and_predicts_as_the_factory(tmp_path: Path, candidate: str) -> None:
    """A model over numeric and categorical columns: the signature types numbers as numbers, the pipeline
    survives skops, and plain MLflow predicts what ``factory.core.training.predict`` does, missing values and
    unseen categories included."""
    tracking = Tracking(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_root=(tmp_path / "art").as_uri())
    columns = ModelColumns(categorical=("region",), numeric=("amount", "items"))
    frame, labels = _claims(200)
    model = build_candidate(candidate, columns, seed=1, max_features=10).fit(model_frame(frame, columns), labels)
    pyfunc = _register_and_load(tracking, "claims", candidate, model, ModelInputs(columns, frame.head(5)))
    schema = pyfunc.metadata.get_input_schema()
    assert schema is not None
    assert {c.name: c.type.name for c in schema.inputs} == {"region": "string", "amount": "double", "items": "long"}
    probe = pl.concat([frame, pl.DataFrame({"region": ["mars"], "amount": [None], "items": [3], "ignored": [0]})])
    out = pyfunc.predict(probe.to_pandas())
    expected = predict(tracking.load("claims", "1"), probe, columns)
    assert out["label"].tolist() == expected["label"].to_list()
    assert np.allclose(out["confidence"].to_numpy(), expected["confidence"].to_numpy())


def test_pyfunc_frame_matches_the_training_frame() -> None:
    frame = pl.DataFrame(
        {"note": ["a", None], "region": [None, "x"], "amount": [" 2.5", "n/a"], "items": [3, None]},
        schema={"note": pl.String, "region": pl.String, "amount": pl.String, "items": pl.Int64},
    )
    columns = ModelColumns(text=("note",), categorical=("region",), numeric=("amount", "items"))
    built = pyfunc_frame(frame.to_pandas(), ["note"], ["region"], ["amount", "items"])
    assert built.equals(model_frame(frame, columns))


def test_pyfunc_documents_match_training_documents() -> None:
    frame, _ = _odd_inputs()
    assert documents(frame.to_pandas(), ["subject", "body"], ["channel"]) == model_text(
        frame, ["subject", "body"], ["channel"]
    )


@pytest.mark.parametrize("name", [*ODD_CLASSES, "é" * 300, "a" * 260, "%", "::", ".", "billing"])
def test_keys_are_valid_for_mlflow_and_reversible(name: str) -> None:
    from mlflow.utils import validation

    # MLflow's own checks (untyped functions, typed here); each raises MlflowException on a key it rejects.
    checks: list[Callable[[str], None]] = [validation._validate_metric_name, validation._validate_tag_name]
    for key in (encode_key(name), encode_key(f"test_f1.{name}")):
        assert len(key) <= 250
        for check in checks:
            check(key)
    key = encode_key(name)
    if len(name) < 100:
        assert decode_key(key) == name
    else:
        assert decode_key(key) is None and encode_key(name + "x") != key
    if name == "billing":
        assert key == name, "names MLflow accepts keep their key"


def test_a_version_registered_as_plain_scikit_learn_still_loads(tmp_path: Path) -> None:
    """Versions registered before models carried a pyfunc (sklearn flavor only) are read as they were."""
    tracking = Tracking(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_root=(tmp_path / "art").as_uri())
    model = build_candidate("majority", ModelColumns(text=("text",)), seed=1, max_features=10)
    model.fit(np.asarray(["a", "b", "a"], dtype=object), ["x", "y", "x"])
    mlflow.set_tracking_uri(tracking.tracking_uri)
    mlflow.set_registry_uri(tracking.tracking_uri)
    with mlflow.start_run():
        info = mlflow.sklearn.log_model(model, name="model", serialization_format="skops")
    mlflow.register_model(info.model_uri, "legacy")
    assert list(tracking.load("legacy", "1").predict(np.asarray(["b"], dtype=object))) == ["x"]


def test_the_tracking_uri_comes_from_the_environment_through_an_env_var(
    factory_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from factory.defs.resources import TRACKING_ENV, build_resources

    default = build_resources()["tracking"]
    assert default.uri == f"sqlite:///{factory_home / 'mlflow.db'}"
    assert default.artifact_root == (factory_home / "mlartifacts").as_uri()

    store = f"sqlite:///{factory_home / 'elsewhere.db'}"
    monkeypatch.setenv(TRACKING_ENV, store)
    database = build_resources()["tracking"]
    assert database.uri == store and database.artifact_root == (factory_home / "mlartifacts").as_uri()

    server = "http://user:secret@127.0.0.1:5000"
    monkeypatch.setenv(TRACKING_ENV, server)
    served = build_resources()["tracking"]
    assert served.uri == server
    assert served.artifact_root is None, "a tracking server keeps the artifacts where it is configured to"
    assert "secret" not in repr(served), "only the variable's name is configured"

    monkeypatch.delenv(TRACKING_ENV)
    with pytest.raises(MlflowException, match=f"{TRACKING_ENV} .* is not set"):
        _ = served.uri
