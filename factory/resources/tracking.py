"""MLflow tracking and registry: runs, registered model versions, lineage tags and the champion alias.

A small ``ConfigurableResource`` of our own (``dagster-mlflow`` pins old pandas and one Dagster version).
The default store is a SQLite file under ``FACTORY_HOME``, which supports the registry and aliases.
Lineage to the dataset is recorded as tags (``dataset.commit``, ``dataset.digest``, ...) on the run and on
the model version, because MLflow rejects unknown dataset source URIs in ``mlflow.data``.
"""

from __future__ import annotations

import copy
import json
import os
import posixpath
import subprocess
import sys
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import mlflow
import mlflow.pyfunc
import mlflow.sklearn
import polars as pl
from dagster import ConfigurableResource, EnvVar
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, get_model_info
from mlflow.types import ColSpec, DataType, Schema
from sklearn.pipeline import Pipeline

from factory.core.training import SKOPS_TRUSTED_TYPES, ModelColumns, encode_key

__all__ = [
    "CHAMPION_ALIAS",
    "DEMOTED_TAG",
    "KEYS_ARTIFACT",
    "PREDICTION_REFERENCE_ARTIFACT",
    "PREVIOUS_CHAMPION_TAG",
    "ModelInputs",
    "ModelRecord",
    "Tracking",
    "upgrade_store",
]

KEYS_ARTIFACT = "metric_keys.json"
"""Run artifact mapping every metric, param and tag key that differs from its name (encoded) back to the name."""
PREDICTION_REFERENCE_ARTIFACT = "reference/predictions.json"
"""Run artifact of a model version: its predicted-label counts, confidence bins and metrics on the test split
(`factory.core.monitoring.PredictionReference`), the baseline of the drift report's prediction drift."""

_PYFUNC_FILE = Path(__file__).with_name("pyfunc_model.py")
_EXAMPLE_ROWS = 3

CHAMPION_ALIAS = "champion"
PREVIOUS_CHAMPION_TAG = "champion.previous"
"""Tag set on a version when the ``champion`` alias moves to it: the version that held the alias before."""
DEMOTED_TAG = "rollback.demoted"
"""Tag on a version a rollback took the alias from (when, who, why): automatic promotion passes over it."""

_LOADED: OrderedDict[str, Pipeline] = OrderedDict()
"""Pipelines loaded in this process, by store and logged-model id (a model version's artifacts never change),
least recently used first: loading one deserializes its skops file (a second or more for a TF-IDF model), and a
night's predictions, drift report and review queue each load the champion. `Tracking.load` hands out copies."""
_LOADED_MODELS = 3
_LOADING = threading.Lock()

_OUT_OF_DATE = "out-of-date database schema"
_CURRENT: set[str] = set()
_UPGRADING = threading.Lock()


_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


def _set_mlflow_uris(uri: str) -> None:
    """Point MLflow's fluent API (``log_model``, ``load_model``) at ``uri`` without changing the environment.
    ``mlflow.set_tracking_uri`` also writes ``MLFLOW_TRACKING_URI`` into ``os.environ`` (for subprocesses); the
    factory reads that variable as the user's choice of tracking server (`factory.defs.resources`), so a use
    case's SQLite store would become every later resource's "configured" store, in tests another test's."""
    saved = {name: os.environ.get(name) for name in _URI_VARIABLES}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def upgrade_store(tracking_uri: str) -> bool:
    """Bring a database store made by an older MLflow to the installed MLflow's schema, once per process.

    MLflow versions its own SQL schema (Alembic) and refuses a store whose schema is older than it expects;
    ``mlflow db upgrade`` migrates it forward in place. The factory runs that on the first use of a store that
    needs it, so an MLflow upgrade never asks anyone to delete their runs and models. Returns whether it ran.
    """
    with _UPGRADING:
        if tracking_uri in _CURRENT:
            return False
        ran = False
        try:
            MlflowClient(tracking_uri=tracking_uri).search_experiments(max_results=1)
        except MlflowException as error:
            if _OUT_OF_DATE not in str(error):
                raise
            command = [sys.executable, "-m", "mlflow", "db", "upgrade", tracking_uri]
            subprocess.run(command, check=True, capture_output=True, text=True)  # noqa: S603  # fixed argv, no shell
            ran = True
        _CURRENT.add(tracking_uri)
        return ran


@dataclass(frozen=True)
class ModelInputs:
    """What the registered pyfunc reads: the use case's input columns by kind, and a few example rows (typed
    as the dataset types them)."""

    columns: ModelColumns
    example: pl.DataFrame

    def signature(self) -> ModelSignature:
        """Input columns: text and categorical columns as strings, numeric ones typed from the example (an
        integer column as long, a float column as double); output ``label`` (string) and ``confidence``
        (double)."""
        numeric = set(self.columns.numeric)
        inputs = Schema(
            [
                ColSpec(_datatype(self.example[c]) if c in numeric else DataType.string, c, required=True)
                for c in self.columns.inputs
            ]
        )
        outputs = Schema([ColSpec(DataType.string, "label"), ColSpec(DataType.double, "confidence")])
        return ModelSignature(inputs=inputs, outputs=outputs)


def _datatype(column: pl.Series) -> DataType:
    if column.dtype == pl.Boolean:
        return DataType.boolean
    if column.dtype.is_integer():
        return DataType.long
    if column.dtype.is_float():
        return DataType.double
    return DataType.string


@dataclass(frozen=True)
class ModelRecord:
    """A registered model version with the figures the factory reads back."""

    name: str
    version: str
    run_id: str
    tags: dict[str, str]
    metrics: dict[str, float]
    created: datetime | None = None
    """When the version was registered (UTC)."""


class Tracking(ConfigurableResource["Tracking"]):
    """MLflow at ``tracking_uri``: a database store (``sqlite:///...``, the embedded default) or a tracking server
    (``http(s)://...``, given as ``dg.EnvVar("MLFLOW_TRACKING_URI")`` so a URI holding credentials never shows
    in the UI). New experiments store artifacts under ``artifact_root``; without one (a tracking server), where
    the server puts them (its ``--artifacts-destination``, uploaded through the server)."""

    tracking_uri: str
    artifact_root: str | None = None

    @property
    def uri(self) -> str:
        """The tracking URI itself. Inside a run Dagster has resolved the EnvVar; called directly, the field still
        holds the EnvVar (a str naming the variable), which must be read."""
        if not isinstance(self.tracking_uri, EnvVar):
            return self.tracking_uri
        value = self.tracking_uri.get_value()
        if not value:
            raise MlflowException(
                f"the environment variable {self.tracking_uri.env_var_name} (the MLflow tracking URI) is not set"
            )
        return value

    @contextmanager
    def _active(self) -> Iterator[MlflowClient]:
        uri = self.uri
        upgrade_store(uri)
        _set_mlflow_uris(uri)
        yield MlflowClient(tracking_uri=uri, registry_uri=uri)

    def _experiment_id(self, client: MlflowClient, name: str) -> str:
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            return str(experiment.experiment_id)
        location = f"{self.artifact_root}/{name}" if self.artifact_root else None
        return str(client.create_experiment(name, artifact_location=location))

    def _record(self, client: MlflowClient, version: ModelVersion) -> ModelRecord:
        if not version.run_id:
            raise MlflowException(f"model version {version.version} of {version.name} has no run")
        run = client.get_run(version.run_id)
        return ModelRecord(
            name=version.name,
            version=str(version.version),
            run_id=str(version.run_id),
            tags=dict(version.tags),
            metrics=dict(run.data.metrics),
            created=datetime.fromtimestamp(version.creation_timestamp / 1000, UTC)
            if version.creation_timestamp
            else None,
        )

    def versions(self, model_name: str) -> list[ModelRecord]:
        """Every registered version of ``model_name``, oldest first; empty when the model is not registered."""
        with self._active() as client:
            try:
                found = client.search_model_versions(filter_string=f"name = '{_quoted(model_name)}'")
            except MlflowException:
                return []
            return sorted((self._record(client, v) for v in found), key=lambda r: int(r.version))

    def find_version(self, model_name: str, tags: Mapping[str, str]) -> ModelRecord | None:
        """The newest registered version of ``model_name`` carrying every tag in ``tags``, if any."""
        with self._active() as client:
            try:
                versions = client.search_model_versions(filter_string=f"name = '{_quoted(model_name)}'")
            except MlflowException:
                return None
            matching = [v for v in versions if all(v.tags.get(k) == val for k, val in tags.items())]
            if not matching:
                return None
            newest = max(matching, key=lambda v: int(v.version))
            return self._record(client, newest)

    def log_model(
        self,
        *,
        experiment: str,
        model_name: str,
        model: Pipeline,
        inputs: ModelInputs,
        params: Mapping[str, Any],
        metrics: Mapping[str, float],
        tags: Mapping[str, str],
        documents: Mapping[str, str],
        description: str | None = None,
    ) -> ModelRecord:
        """Log a run with the fitted pipeline, register it as a new version described by ``description`` (the
        model card) and tag that version.

        Keys are encoded for MLflow (``encode_key``: any class name works) and the run's ``metric_keys.json``
        maps the encoded ones back. The registered model is a pyfunc "model from code" (``pyfunc_model.py``)
        around the pipeline saved in skops format, with a signature and an input example: plain
        ``mlflow.pyfunc.load_model(...).predict(df)`` on the use case's input columns gives one label per row.
        """
        renamed: dict[str, str] = {}

        def encoded(mapping: Mapping[str, Any]) -> dict[str, Any]:
            out = {}
            for key, value in mapping.items():
                safe = encode_key(key)
                if safe != key:
                    renamed[safe] = key
                out[safe] = value
            return out

        safe_params, safe_metrics, safe_tags = encoded(params), encoded(metrics), encoded(tags)
        with self._active() as client:
            experiment_id = self._experiment_id(client, experiment)
            with mlflow.start_run(experiment_id=experiment_id, tags=safe_tags) as run:
                mlflow.log_params(safe_params)
                mlflow.log_metrics(safe_metrics)
                mlflow.log_text(json.dumps(renamed, ensure_ascii=False, sort_keys=True), KEYS_ARTIFACT)
                for filename, text in documents.items():
                    mlflow.log_text(text, filename)
                info = self._log_pyfunc(model, inputs)
            version = client.create_model_version(
                name=self._ensure_registered(client, model_name),
                source=info.model_uri,
                run_id=run.info.run_id,
                tags=safe_tags,
                description=description,
                model_id=info.model_id,  # a tracking server refuses a ``models:/`` source without it
            )
            return self._record(client, version)

    @staticmethod
    def _log_pyfunc(model: Pipeline, inputs: ModelInputs) -> Any:
        columns = list(inputs.columns.inputs)
        numeric = list(inputs.columns.numeric)
        # pandas holds an integer column with a missing value as floats: the example shows complete rows.
        complete = inputs.example.drop_nulls(numeric)
        example = (complete if complete.height else inputs.example).select(columns).head(_EXAMPLE_ROWS).to_pandas()
        with tempfile.TemporaryDirectory(prefix="factory-model-") as scratch:
            pipeline_dir = str(Path(scratch) / "pipeline")
            mlflow.sklearn.save_model(
                model,
                pipeline_dir,
                pip_requirements=_requirements(),
                serialization_format="skops",  # safe to load, unlike pickle
                skops_trusted_types=list(SKOPS_TRUSTED_TYPES),
            )
            return mlflow.pyfunc.log_model(
                name="model",
                python_model=str(_PYFUNC_FILE),
                artifacts={"pipeline": pipeline_dir},
                model_config={
                    "inputs": "frame",
                    "text_columns": list(inputs.columns.text),
                    "categorical_columns": list(inputs.columns.categorical),
                    "numeric_columns": numeric,
                },
                signature=inputs.signature(),
                input_example=example,
                pip_requirements=[*_requirements(), f"pandas=={_version('pandas')}", f"skops=={_version('skops')}"],
            )

    def _ensure_registered(self, client: MlflowClient, model_name: str) -> str:
        try:
            client.get_registered_model(model_name)
        except MlflowException:
            client.create_registered_model(model_name)
        return model_name

    def get_version(self, model_name: str, version: str) -> ModelRecord | None:
        with self._active() as client:
            try:
                return self._record(client, client.get_model_version(model_name, version))
            except MlflowException:
                return None

    def champion(self, model_name: str) -> ModelRecord | None:
        """The version carrying the ``champion`` alias, or None before the first promotion."""
        with self._active() as client:
            try:
                version = client.get_model_version_by_alias(model_name, CHAMPION_ALIAS)
            except MlflowException:
                return None
            return self._record(client, version)

    def promote(self, model_name: str, version: str, reason: str) -> None:
        """Move the ``champion`` alias to ``version`` and record why on the version."""
        self.set_champion(model_name, version, {"promotion.reason": reason})

    def set_champion(self, model_name: str, version: str, tags: Mapping[str, str]) -> None:
        """Tag ``version`` with ``tags`` and the version that held the ``champion`` alias before
        (`PREVIOUS_CHAMPION_TAG`, when there was one), then move the alias to it."""
        previous = self.champion(model_name)
        recorded = dict(tags) | (
            {PREVIOUS_CHAMPION_TAG: previous.version} if previous is not None and previous.version != version else {}
        )
        self.tag_version(model_name, version, recorded)
        with self._active() as client:
            client.set_registered_model_alias(model_name, CHAMPION_ALIAS, version)

    def tag_version(self, model_name: str, version: str, tags: Mapping[str, str]) -> None:
        with self._active() as client:
            for key, value in tags.items():
                client.set_model_version_tag(model_name, version, key, value)

    def untag_version(self, model_name: str, version: str, key: str) -> None:
        with self._active() as client:
            client.delete_model_version_tag(model_name, version, key)

    def load(self, model_name: str, version: str) -> Pipeline:
        """The fitted scikit-learn pipeline of a version: inside its pyfunc, or the whole model of a version
        registered before models carried a pyfunc (a plain scikit-learn flavor). A copy of the process's cached
        load when the same logged model was loaded before (`_LOADED`)."""
        uri = f"models:/{model_name}/{version}"
        with self._active():
            info = get_model_info(uri)
            key = f"{self.uri}\n{info.model_uuid}" if info.model_uuid else None  # old MLmodel files have no id
            with _LOADING:
                if key is not None and key in _LOADED:
                    _LOADED.move_to_end(key)
                    return copy.deepcopy(_LOADED[key])
            if "sklearn" in info.flavors:
                model = mlflow.sklearn.load_model(uri)
            else:
                model = getattr(mlflow.pyfunc.load_model(uri).unwrap_python_model(), "pipeline", None)
        if not isinstance(model, Pipeline):
            raise TypeError(f"models:/{model_name}/{version} is not a scikit-learn pipeline")
        if key is None:
            return model
        with _LOADING:
            _LOADED[key] = model
            while len(_LOADED) > _LOADED_MODELS:
                _LOADED.popitem(last=False)
        return copy.deepcopy(model)

    def describe_version(self, model_name: str, version: str, description: str) -> None:
        """Replace a model version's description (its model card)."""
        with self._active() as client:
            client.update_model_version(model_name, version, description=description)

    def add_to_run(self, run_id: str, documents: Mapping[str, str], metrics: Mapping[str, float] | None = None) -> None:
        """Log more text artifacts (``path -> text``) and metrics (keys encoded, as in `log_model`) to a
        finished run."""
        with self._active() as client:
            for filename, text in documents.items():
                client.log_text(run_id, text, filename)
            for key, value in (metrics or {}).items():
                client.log_metric(run_id, encode_key(key), value)

    def run_documents(self, run_id: str, filename: str) -> str:
        with self._active():
            return str(mlflow.artifacts.load_text(f"runs:/{run_id}/{filename}"))

    def find_document(self, run_id: str, filename: str) -> str | None:
        """A run's text artifact, or None when the run has none of that name (a run logged before it existed)."""
        folder = posixpath.dirname(filename) or None
        with self._active() as client:
            if filename not in {a.path for a in client.list_artifacts(run_id, folder)}:
                return None
        return self.run_documents(run_id, filename)


def _quoted(value: str) -> str:
    if "'" in value:
        raise ValueError(f"model names may not contain quotes: {value!r}")
    return value


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def _requirements() -> list[str]:
    """Pin what the saved pipeline needs, without MLflow's slow environment inference."""
    return [f"scikit-learn=={_version('scikit-learn')}", f"numpy=={_version('numpy')}"]
