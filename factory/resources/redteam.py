"""The red-team suite's files: the use case's red-team file beside its spec, and the suite and results stored
with each model version in MLflow.

A model version's suite and results live on its training run: ``redteam/cases.jsonl`` (the suite: a header
line, then one case per line) and ``redteam/results.json`` (per test: cases, failures, failure_rate and a few
failing examples), with a metric ``redteam.<test>.failure_rate`` per test on the run and two tags on the version:
``redteam.summary`` (one line) and ``redteam.failure_rates`` (JSON, test -> rate).

For the promotion layer: `stored_suite` gives the suite a version was tested with, and
`run_stored_suite` runs it on another version (the champion), so both are measured on the same cases.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import polars as pl
import yaml
from mlflow.exceptions import MlflowException

from factory.core.redteam import (
    RedTeamFile,
    RedTeamFileError,
    RedTeamResult,
    RedTeamSuite,
    SuiteConfig,
    build_suite,
    parse_redteam_file,
    pipeline_scorer,
    run_suite,
)
from factory.core.training import ModelColumns
from factory.paths import usecases_dir
from factory.resources.tracking import ModelRecord, Tracking
from factory.spec import UseCaseSpec
from factory.spec_checks import UniqueKeyLoader

__all__ = [
    "CASES_ARTIFACT",
    "RATES_TAG",
    "RESULTS_ARTIFACT",
    "SUMMARY_TAG",
    "load_redteam_file",
    "redteam_file_path",
    "run_and_store",
    "run_stored_suite",
    "store_redteam",
    "stored_result",
    "stored_suite",
    "suite_config",
]

CASES_ARTIFACT = "redteam/cases.jsonl"
RESULTS_ARTIFACT = "redteam/results.json"
SUMMARY_TAG = "redteam.summary"
RATES_TAG = "redteam.failure_rates"


def redteam_file_path(spec: UseCaseSpec, directory: Path | None = None) -> Path:
    """Where the use case's red-team file is: ``redteam/<name>.yaml`` in the use-case folder (`directory`, else
    `factory.paths.usecases_dir`), or ``redteam.file`` relative to that folder."""
    folder = directory if directory is not None else usecases_dir()
    return folder / spec.redteam.file if spec.redteam.file else folder / "redteam" / f"{spec.name}.yaml"


def load_redteam_file(spec: UseCaseSpec, directory: Path | None = None) -> RedTeamFile | None:
    """The use case's red-team file, validated against its spec; None when there is none (unless the spec names
    one: then a missing file is an error). ``RedTeamFileError`` names the file and every problem."""
    path = redteam_file_path(spec, directory)
    if not path.is_file():
        if spec.redteam.file:
            raise RedTeamFileError(f"{path}: redteam.file names this red-team file, and there is none")
        return None
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506  # a SafeLoader subclass: safe_load's rules
    except (OSError, UnicodeDecodeError) as error:
        raise RedTeamFileError(f"{path}: cannot read the red-team file: {error}") from None
    except yaml.YAMLError as error:
        raise RedTeamFileError(f"{path}: not valid YAML: {error}") from None
    return parse_redteam_file(data, str(path), ModelColumns.of(spec), spec.labeling.classes)


def suite_config(spec: UseCaseSpec) -> SuiteConfig:
    settings = spec.redteam
    return SuiteConfig(cases=settings.cases, seed=settings.seed, tests=tuple(settings.tests), jitter=settings.jitter)


def run_and_store(
    tracking: Tracking,
    spec: UseCaseSpec,
    record: ModelRecord,
    test: pl.DataFrame,
    model: object | None = None,
    directory: Path | None = None,
) -> RedTeamResult:
    """Generate the suite of `spec` from its test split's rows `test` and its red-team file, run it on `model`
    (default: the version's own model, loaded from the registry) and store both with the version. The result's
    ``seconds`` covers generating and running the suite (not loading the model)."""
    fitted = model if model is not None else tracking.load(record.name, record.version)
    started = time.perf_counter()
    columns = ModelColumns.of(spec)
    suite = build_suite(
        spec.name, test, columns, load_redteam_file(spec, directory), suite_config(spec), spec.custom_pii
    )
    result = run_suite(suite, pipeline_scorer(fitted, columns))
    result = dataclasses.replace(result, seconds=time.perf_counter() - started)
    store_redteam(tracking, record, suite, result)
    return result


def store_redteam(tracking: Tracking, record: ModelRecord, suite: RedTeamSuite, result: RedTeamResult) -> None:
    """Store a suite and its results with a model version (module docstring)."""
    rates = result.failure_rates()
    tracking.add_to_run(
        record.run_id,
        {CASES_ARTIFACT: suite.to_jsonl(), RESULTS_ARTIFACT: result.to_json()},
        {f"redteam.{name}.failure_rate": rate for name, rate in rates.items()} | {"redteam.seconds": result.seconds},
    )
    compact = json.dumps({name: round(rate, 4) for name, rate in rates.items()}, sort_keys=True)
    tracking.tag_version(record.name, record.version, {SUMMARY_TAG: result.summary(), RATES_TAG: compact})


def _document(tracking: Tracking, record: ModelRecord, filename: str) -> str | None:
    try:
        return tracking.run_documents(record.run_id, filename)
    except (MlflowException, OSError):  # a version registered before the red team, or without a suite
        return None


def stored_suite(tracking: Tracking, record: ModelRecord) -> RedTeamSuite | None:
    """The suite a version was tested with, None when it has none."""
    text = _document(tracking, record, CASES_ARTIFACT)
    return RedTeamSuite.from_jsonl(text) if text is not None else None


def stored_result(tracking: Tracking, record: ModelRecord) -> RedTeamResult | None:
    """A version's red-team results, None when it has none."""
    text = _document(tracking, record, RESULTS_ARTIFACT)
    return RedTeamResult.from_json(text) if text is not None else None


def run_stored_suite(tracking: Tracking, suite: RedTeamSuite, record: ModelRecord) -> RedTeamResult:
    """Run `suite` (another version's, from `stored_suite`) on the model of `record`; nothing is stored."""
    model = tracking.load(record.name, record.version)
    return run_suite(suite, pipeline_scorer(model, suite.columns))
