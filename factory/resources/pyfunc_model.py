"""The factory's registered model as an MLflow "model from code": this file is copied into every registered model
version and run by ``mlflow.pyfunc.load_model``, so it imports only MLflow, pandas and NumPy (no ``factory``).

It wraps the fitted scikit-learn pipeline (stored beside it in skops format, loaded without pickle) and turns a
pandas DataFrame with the use case's input columns (``model_config``: ``text_columns``,
``categorical_columns``, ``numeric_columns``) into the model frame exactly as training did
(``factory.core.training.model_frame``): the text columns joined by spaces into one column ``__text__`` (a
missing text as empty), each categorical column as text (a missing value as ``<missing>``), each numeric
column as a float (missing or not a number: NaN). A model registered before models read frames (its config
has no ``inputs: frame``) reads one document per row instead (``factory.core.training.model_text``): the text
columns joined, each feature as ``<column>_<value>`` with a missing value as ``none``. ``predict`` returns a
DataFrame with one row per input row: ``label`` and ``confidence`` (the top class probability). Extra input
columns are ignored.
"""

from __future__ import annotations

from typing import Any

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
from mlflow.models import set_model
from mlflow.pyfunc.model import PythonModel, PythonModelContext

PIPELINE_ARTIFACT = "pipeline"
TEXT_COLUMN = "__text__"  # factory.core.training.TEXT_COLUMN
MISSING = "<missing>"  # factory.core.training.MISSING


def model_frame(
    frame: pd.DataFrame, text_columns: list[str], categorical_columns: list[str], numeric_columns: list[str]
) -> pd.DataFrame:
    """The frame the pipeline reads, as ``model_frame`` builds it at training."""
    out: dict[str, Any] = {}
    if text_columns:
        texts = [["" if _missing(v) else str(v) for v in frame[c].tolist()] for c in text_columns]
        out[TEXT_COLUMN] = pd.Series([" ".join(row) for row in zip(*texts, strict=True)], dtype=object)
    for c in categorical_columns:
        out[c] = pd.Series([MISSING if _missing(v) else str(v) for v in frame[c].tolist()], dtype=object)
    for c in numeric_columns:
        values = frame[c]
        if not pd.api.types.is_numeric_dtype(values.dtype):
            values = values.astype(object).map(lambda v: v.strip() if isinstance(v, str) else v)
        numbers = pd.to_numeric(values, errors="coerce").astype(float).to_numpy()
        out[c] = np.where(np.isinf(numbers), np.nan, numbers)
    return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))


def documents(frame: pd.DataFrame, text_columns: list[str], feature_columns: list[str]) -> list[str]:
    """One document per row, as ``model_text`` builds it at training."""
    parts: list[list[str]] = [["" if _missing(v) else str(v) for v in frame[c].tolist()] for c in text_columns]
    parts += [[f"{c}_{'none' if _missing(v) else v}" for v in frame[c].tolist()] for c in feature_columns]
    return [" ".join(row) for row in zip(*parts, strict=True)] if parts else [""] * len(frame)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA


class FactoryModel(PythonModel):
    """Label and confidence for each row of a DataFrame of the use case's input columns."""

    def load_context(self, context: PythonModelContext) -> None:
        config = context.model_config or {}
        self.reads_frame = config.get("inputs") == "frame"
        self.text_columns = list(config.get("text_columns", []))
        self.categorical_columns = list(config.get("categorical_columns", []))
        self.numeric_columns = list(config.get("numeric_columns", []))
        self.feature_columns = list(config.get("feature_columns", []))
        self.pipeline = mlflow.sklearn.load_model(context.artifacts[PIPELINE_ARTIFACT])

    def predict(self, context: PythonModelContext, model_input: pd.DataFrame, params: Any = None) -> pd.DataFrame:
        features = [*self.categorical_columns, *self.numeric_columns, *self.feature_columns]
        missing = [c for c in (*self.text_columns, *features) if c not in model_input.columns]
        if missing:
            raise ValueError(f"the input lacks the model's columns {missing}")
        if len(model_input) == 0:
            return pd.DataFrame({"label": pd.Series(dtype=str), "confidence": pd.Series(dtype=float)})
        inputs: Any = (
            model_frame(model_input, self.text_columns, self.categorical_columns, self.numeric_columns)
            if self.reads_frame
            else np.asarray(documents(model_input, self.text_columns, self.feature_columns), dtype=object)
        )
        proba = self.pipeline.predict_proba(inputs)
        labels = np.asarray(self.pipeline.classes_)[proba.argmax(axis=1)].astype(str)
        return pd.DataFrame({"label": labels, "confidence": proba.max(axis=1).astype(float)})


set_model(FactoryModel())
