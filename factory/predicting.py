"""``factory predict``: a registered model of a use case applied to a file, outside Dagster.

The input is CSV, JSONL or Parquet (by extension); CSV cells are read as text, as the factory ingests them.
The output has one row per input row, in input order: the use case's id column when the input has it (else
``row``, the 1-based row number), ``label`` and ``confidence`` (the top class probability). Columns other than
the use case's text and feature columns are ignored; a missing one is an error that names it. A CSV output's
text cells that start like a spreadsheet formula get a leading ``'`` (``factory.core.safe_text``). Predictions
are the same as the registered pyfunc's (``mlflow.pyfunc.load_model("models:/<use case>@champion")``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from factory.core.safe_text import csv_safe
from factory.core.training import ModelColumns, predict
from factory.resources.tracking import ModelRecord, Tracking
from factory.spec import UseCaseSpec

__all__ = ["PredictError", "Prediction", "predict_file", "read_input", "required_columns", "resolve_model"]

_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


class PredictError(Exception):
    """Input the command cannot use; the message says what to fix."""


@dataclass(frozen=True)
class Prediction:
    """What ``predict_file`` wrote: the model version used and the row count."""

    model_version: str
    rows: int
    out: Path


def _format(path: Path) -> str:
    kind = _FORMATS.get(path.suffix.lower())
    if kind is None:
        raise PredictError(f"{path}: unknown file type {path.suffix!r}; use one of {', '.join(sorted(_FORMATS))}")
    return kind


def read_input(path: Path) -> pl.DataFrame:
    """The rows of a CSV (every cell as text), JSONL or Parquet file."""
    kind = _format(path)
    if not path.is_file():
        raise PredictError(f"input file {path} does not exist")
    try:
        if kind == "csv":
            return pl.read_csv(path, infer_schema=False)
        if kind == "jsonl":
            return pl.read_ndjson(path)
        return pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise PredictError(f"cannot read {path} as {kind}: {exc}") from None


def required_columns(spec: UseCaseSpec) -> list[str]:
    """The columns a model of ``spec`` reads: its text columns, then its feature columns."""
    return [*spec.text_columns, *spec.feature_columns]


def resolve_model(tracking: Tracking, model_name: str, which: str) -> ModelRecord:
    """``champion`` (the alias), or a version as ``vN`` or ``N``."""
    if which == "champion":
        record = tracking.champion(model_name)
        if record is None:
            raise PredictError(f"{model_name} has no champion yet: train and promote a model first")
        return record
    match = re.fullmatch(r"v?([0-9]+)", which)
    if match is None:
        raise PredictError(f"--model takes champion or a version such as v3, not {which!r}")
    found = tracking.get_version(model_name, match.group(1))
    if found is None:
        raise PredictError(f"{model_name} has no registered version {match.group(1)}")
    return found


def predict_file(spec: UseCaseSpec, tracking: Tracking, source: Path, out: Path, which: str) -> Prediction:
    """Predict every row of ``source`` with the use case's model ``which`` and write ``out`` (format by
    extension): id (or ``row``), ``label``, ``confidence``, one row per input row, in order."""
    out_kind = _format(out)
    frame = read_input(source)
    needed = required_columns(spec)
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise PredictError(
            f"{source} lacks the column(s) {', '.join(missing)} that the {spec.name} model reads "
            f"(it needs {', '.join(needed)}; other columns are ignored)"
        )
    inputs = frame.select(pl.col(c).cast(pl.String) if frame.schema[c] == pl.Null else pl.col(c) for c in needed)
    record = resolve_model(tracking, spec.name, which)
    predicted = predict(tracking.load(spec.name, record.version), inputs, ModelColumns.of(spec))
    id_column = spec.schema.id
    key = (
        frame.select(pl.col(id_column))
        if id_column and id_column in frame.columns
        else pl.DataFrame({"row": pl.int_range(1, frame.height + 1, eager=True)})
    )
    result = pl.concat([key, predicted], how="horizontal")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out_kind == "csv":
        csv_safe(result).write_csv(out)
    elif out_kind == "jsonl":
        result.write_ndjson(out)
    else:
        result.write_parquet(out)
    return Prediction(model_version=record.version, rows=result.height, out=out)
