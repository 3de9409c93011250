"""Training, selection and prediction: sklearn in, metrics out, no tracking or Dagster here.

Each candidate (`build_candidate`) is a scikit-learn pipeline over the model frame of the use case's input
columns (`model_frame`). Selection uses the validation split only; the test split is scored once, for the
chosen model, so its figures stay an honest estimate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from factory.core.training._candidates import build_candidate, reads_documents
from factory.core.training._inputs import ModelColumns, model_frame

__all__ = [
    "CandidateResult",
    "Selection",
    "evaluate",
    "model_inputs",
    "model_text",
    "predict",
    "train_and_select",
]


def model_text(frame: pl.DataFrame, text_columns: Sequence[str], feature_columns: Sequence[str]) -> list[str]:
    """One document per row, as models registered before models read frames were trained on: the text columns
    joined, with categorical features as ``<col>_<value>`` tokens (`reads_documents`)."""
    parts: list[pl.Expr] = [pl.col(c).fill_null("") for c in text_columns]
    parts += [pl.format("{}_{}", pl.lit(c), pl.col(c).fill_null("none")) for c in feature_columns]
    return frame.select(pl.concat_str(parts, separator=" ").alias("doc"))["doc"].to_list()


def model_inputs(model: Any, frame: pl.DataFrame, columns: ModelColumns) -> Any:
    """What a fitted pipeline reads for the rows of `frame`: the model frame, or for a model registered before
    models read frames, one document per row (text columns, then the features as tokens)."""
    if reads_documents(model):
        return np.asarray(model_text(frame, columns.text, columns.features), dtype=object)
    return model_frame(frame, columns)


def predict(model: Any, frame: pl.DataFrame, columns: ModelColumns) -> pl.DataFrame:
    """``label, confidence`` (its top class probability) of a fitted model for every row of `frame`, in order."""
    schema = {"label": pl.String, "confidence": pl.Float64}
    if frame.is_empty():
        return pl.DataFrame(schema=schema)
    proba = model.predict_proba(model_inputs(model, frame, columns))
    labels = np.asarray(model.classes_)[proba.argmax(axis=1)].astype(str)
    return pl.DataFrame({"label": labels, "confidence": proba.max(axis=1)}, schema=schema)


def evaluate(model: Any, inputs: Any, labels: Sequence[str], classes: Sequence[str]) -> dict[str, float]:
    """Accuracy, macro F1 over the taxonomy, and F1 per class (``f1.<class>``) of `model` on `inputs` (what
    `model_inputs` gives)."""
    predicted = model.predict(inputs)
    per_class = f1_score(labels, predicted, labels=list(classes), average=None, zero_division=0)
    metrics: dict[str, float] = {
        "accuracy": float(accuracy_score(labels, predicted)),
        "macro_f1": float(f1_score(labels, predicted, labels=list(classes), average="macro", zero_division=0)),
    }
    metrics.update({f"f1.{c}": float(v) for c, v in zip(classes, per_class, strict=True)})
    return metrics


@dataclass(frozen=True)
class CandidateResult:
    name: str
    model: Pipeline
    validation: dict[str, float]


@dataclass(frozen=True)
class Selection:
    chosen: CandidateResult
    candidates: list[CandidateResult]
    test: dict[str, float]
    metric: str
    sizes: dict[str, int] = field(default_factory=dict)

    def summary_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "candidate": c.name,
                f"validation_{self.metric}": round(c.validation[self.metric], 4),
                "validation_accuracy": round(c.validation["accuracy"], 4),
                "chosen": c.name == self.chosen.name,
            }
            for c in self.candidates
        ]


def train_and_select(
    splits: Mapping[str, tuple[pd.DataFrame, list[str]]],
    columns: ModelColumns,
    *,
    classes: Sequence[str],
    candidates: Sequence[str],
    metric: str,
    seed: int,
    max_features: int,
) -> Selection:
    """Fit every candidate on ``train``, pick the best on ``validation`` by ``metric``, score it on ``test``.

    ``splits`` maps split name to (model frame, labels): `model_frame` of the split's rows. Ties go to the
    earlier candidate in the spec.
    """
    for required in ("train", "validation", "test"):
        if required not in splits or not len(splits[required][1]):
            raise ValueError(f"the {required} split is empty: cannot train and select a model")
    train_inputs, train_labels = splits["train"]
    results: list[CandidateResult] = []
    # One BLAS thread: scipy's L-BFGS-B with a multi-threaded OpenBLAS is several times slower on problems of
    # this size (measured 10x on 2 cores), and a shared Dagster worker should not fan out anyway.
    with threadpool_limits(limits=1, user_api="blas"):
        for name in candidates:
            model = build_candidate(name, columns, seed=seed, max_features=max_features)
            model.fit(train_inputs, train_labels)
            results.append(CandidateResult(name, model, evaluate(model, *splits["validation"], classes)))
    chosen = max(results, key=lambda r: (r.validation[metric], -results.index(r)))
    return Selection(
        chosen=chosen,
        candidates=results,
        test=evaluate(chosen.model, *splits["test"], classes),
        metric=metric,
        sizes={name: len(labels) for name, (_, labels) in splits.items()},
    )
