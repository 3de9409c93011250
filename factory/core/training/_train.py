"""Model candidates, training and selection: sklearn in, metrics out, no tracking or Dagster here.

Each candidate is a scikit-learn pipeline over one text field built from the spec's text and feature
columns. Selection uses the validation split only; the test split is scored once, for the chosen model,
so its figures stay an honest estimate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

__all__ = [
    "CandidateResult",
    "Selection",
    "build_candidate",
    "evaluate",
    "model_text",
    "predict",
    "train_and_select",
]


def model_text(frame: pl.DataFrame, text_columns: Sequence[str], feature_columns: Sequence[str]) -> list[str]:
    """One document per row: the text columns joined, with categorical features as ``<col>_<value>`` tokens."""
    parts: list[pl.Expr] = [pl.col(c).fill_null("") for c in text_columns]
    parts += [pl.format("{}_{}", pl.lit(c), pl.col(c).fill_null("none")) for c in feature_columns]
    return frame.select(pl.concat_str(parts, separator=" ").alias("doc"))["doc"].to_list()


def predict(
    model: Any, frame: pl.DataFrame, text_columns: Sequence[str], feature_columns: Sequence[str]
) -> pl.DataFrame:
    """``label, confidence`` (its top class probability) of a fitted model for every row of `frame`, in order."""
    schema = {"label": pl.String, "confidence": pl.Float64}
    if frame.is_empty():
        return pl.DataFrame(schema=schema)
    proba = model.predict_proba(np.asarray(model_text(frame, text_columns, feature_columns), dtype=object))
    labels = np.asarray(model.classes_)[proba.argmax(axis=1)].astype(str)
    return pl.DataFrame({"label": labels, "confidence": proba.max(axis=1)}, schema=schema)


def build_candidate(name: str, *, seed: int, max_features: int) -> Pipeline:
    """A fresh, unfitted pipeline for a candidate name from the spec."""
    if name == "majority":
        return Pipeline([("clf", DummyClassifier(strategy="most_frequent"))])
    if name == "tfidf_logreg":
        return Pipeline(
            [
                (
                    "tfidf",
                    TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2, max_features=max_features),
                ),
                ("clf", LogisticRegression(max_iter=1000, C=4.0, random_state=seed)),
            ]
        )
    raise ValueError(f"unknown model candidate {name!r}")


def evaluate(model: Pipeline, docs: Sequence[str], labels: Sequence[str], classes: Sequence[str]) -> dict[str, float]:
    """Accuracy, macro F1 over the taxonomy, and F1 per class (``f1.<class>``)."""
    predicted = model.predict(np.asarray(docs, dtype=object))
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
    splits: Mapping[str, tuple[list[str], list[str]]],
    *,
    classes: Sequence[str],
    candidates: Sequence[str],
    metric: str,
    seed: int,
    max_features: int,
) -> Selection:
    """Fit every candidate on ``train``, pick the best on ``validation`` by ``metric``, score it on ``test``.

    ``splits`` maps split name to (documents, labels). Ties go to the earlier candidate in the spec.
    """
    for required in ("train", "validation", "test"):
        if not splits.get(required, ([], []))[0]:
            raise ValueError(f"the {required} split is empty: cannot train and select a model")
    train_docs, train_labels = splits["train"]
    results: list[CandidateResult] = []
    # One BLAS thread: scipy's L-BFGS-B with a multi-threaded OpenBLAS is several times slower on problems of
    # this size (measured 10x on 2 cores), and a shared Dagster worker should not fan out anyway.
    with threadpool_limits(limits=1, user_api="blas"):
        for name in candidates:
            model = build_candidate(name, seed=seed, max_features=max_features)
            model.fit(np.asarray(train_docs, dtype=object), train_labels)
            results.append(CandidateResult(name, model, evaluate(model, *splits["validation"], classes)))
    chosen = max(results, key=lambda r: (r.validation[metric], -results.index(r)))
    return Selection(
        chosen=chosen,
        candidates=results,
        test=evaluate(chosen.model, *splits["test"], classes),
        metric=metric,
        sizes={name: len(docs) for name, (docs, _) in splits.items()},
    )
