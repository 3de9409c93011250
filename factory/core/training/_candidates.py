"""Model candidates: fresh, unfitted scikit-learn pipelines over the model frame (`model_frame`), each with a small
hyperparameter grid (`GRIDS`, its default configuration first).

The ladders, cheapest first (fit time, prediction latency and size grow along them): text ``majority,
complement_nb, tfidf_logreg, tfidf_svm``; tabular ``majority, onehot_logreg, hist_gb``.

- ``majority``: the most frequent class of the training split (a baseline; reads nothing).
- ``tfidf_logreg``: a logistic regression over TF-IDF word uni- and bigrams of the joined text, plus the
  features: categoricals one-hot encoded (unknown categories ignored), numerics imputed by their median and
  standardized. Needs a text column.
- ``complement_nb``: complement naive Bayes over TF-IDF word uni- and bigrams of the joined text, plus the
  features: categoricals one-hot encoded, numerics imputed by their median and scaled to [0, 1] (clipped, as
  naive Bayes takes no negative counts). Needs a text column.
- ``tfidf_svm``: a linear SVM (``LinearSVC(C=0.5)``) over TF-IDF word uni- and bigrams plus character 2- to
  5-grams within word bounds (``char_wb``) of the joined text, plus the features as for ``tfidf_logreg``. It
  gives no probabilities of its own: the chosen model is calibrated after selection (`calibrated`). Needs a
  text column.
- ``onehot_logreg``: the same linear model over the features alone. Needs a feature column.
- ``hist_gb``: gradient-boosted trees (``HistGradientBoostingClassifier``) over the features: categoricals
  ordinal-encoded and split on natively (at most ``_MAX_CATEGORIES`` categories each, the rarest grouped; an
  unknown category is a missing value), numerics as they are (the trees handle missing values). Needs a
  feature column.

Each pipeline's first step is a ``ColumnTransformer`` named ``features`` (the majority baseline has none);
a pipeline whose first step is a ``TfidfVectorizer`` is a model registered before models read frames
(`reads_documents`).
"""

from __future__ import annotations

from typing import Any

from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.svm import LinearSVC

from factory.core.training._inputs import TEXT_COLUMN, ModelColumns

__all__ = [
    "CANDIDATES",
    "GRIDS",
    "SKOPS_TRUSTED_TYPES",
    "build_candidate",
    "calibrated",
    "plain_vocabularies",
    "reads_documents",
]

CANDIDATES = ("majority", "complement_nb", "tfidf_logreg", "tfidf_svm", "onehot_logreg", "hist_gb")
_TEXT_CANDIDATES = ("tfidf_logreg", "complement_nb", "tfidf_svm")

GRIDS: dict[str, tuple[dict[str, Any], ...]] = {
    "majority": ({},),
    "complement_nb": ({"alpha": 1.0}, {"alpha": 0.3}, {"alpha": 0.1}),
    "tfidf_logreg": ({"C": 4.0}, {"C": 1.0}, {"C": 16.0}),
    "tfidf_svm": ({"C": 0.5}, {"C": 0.2}, {"C": 1.0}),
    "onehot_logreg": ({"C": 4.0}, {"C": 0.5}, {"C": 32.0}),
    "hist_gb": (
        {"learning_rate": 0.1, "max_leaf_nodes": 31},
        {"learning_rate": 0.05, "max_leaf_nodes": 63},
        {"learning_rate": 0.2, "max_leaf_nodes": 15},
    ),
}
"""Each candidate's hyperparameter grid: parameters of its classifier (the pipeline's ``clf`` step), the
default configuration first. The feature step is the same at every grid point, so a cross-validation fold is
featurized once and reused by every point."""

# Types the saved pipelines hold that skops does not trust by default (checked with skops.io.get_untrusted_types
# on fitted candidates): the imputers' dtype, the calibrated SVM's per-fold calibrators, and the
# gradient-boosting trees with their input check.
SKOPS_TRUSTED_TYPES = (
    "numpy.dtype",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.calibration._TemperatureScaling",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "functools.partial",
    "sklearn.utils.validation.check_array",
)

_MAX_CATEGORIES = 250  # HistGradientBoosting takes at most 255 bins per feature, the missing value among them


def _feature_parts(columns: ModelColumns, *, non_negative: bool = False) -> list[tuple[str, Any, list[str]]]:
    parts: list[tuple[str, Any, list[str]]] = []
    if columns.categorical:
        parts.append(("categorical", OneHotEncoder(handle_unknown="ignore"), list(columns.categorical)))
    if columns.numeric:
        scale = MinMaxScaler(clip=True) if non_negative else StandardScaler()
        numeric = Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", scale)])
        parts.append(("numeric", numeric, list(columns.numeric)))
    return parts


def _linear(parts: list[tuple[str, Any, Any]], seed: int) -> Pipeline:
    features = ColumnTransformer(parts, sparse_threshold=1.0)
    return Pipeline([("features", features), ("clf", LogisticRegression(max_iter=1000, C=4.0, random_state=seed))])


def _words(max_features: int) -> TfidfVectorizer:
    return TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2, max_features=max_features)


def _text_candidate(name: str, columns: ModelColumns, *, seed: int, max_features: int) -> Pipeline:
    if not columns.text:
        raise ValueError(f"{name} reads text: the use case has no text column")
    if name == "tfidf_logreg":
        return _linear([("text", _words(max_features), TEXT_COLUMN), *_feature_parts(columns)], seed)
    if name == "complement_nb":
        parts = [("text", _words(max_features), TEXT_COLUMN), *_feature_parts(columns, non_negative=True)]
        return Pipeline([("features", ColumnTransformer(parts, sparse_threshold=1.0)), ("clf", ComplementNB())])
    chars = TfidfVectorizer(
        sublinear_tf=True, analyzer="char_wb", ngram_range=(2, 5), min_df=2, max_features=max_features
    )
    parts = [("text", _words(max_features), TEXT_COLUMN), ("chars", chars, TEXT_COLUMN), *_feature_parts(columns)]
    svm = LinearSVC(C=0.5, random_state=seed)
    return Pipeline([("features", ColumnTransformer(parts, sparse_threshold=1.0)), ("clf", svm)])


def build_candidate(name: str, columns: ModelColumns, *, seed: int, max_features: int) -> Pipeline:
    """A fresh, unfitted pipeline for a candidate name from the spec; ValueError for an unknown name or a
    candidate whose inputs the use case lacks."""
    if name == "majority":
        return Pipeline([("clf", DummyClassifier(strategy="most_frequent"))])
    if name in _TEXT_CANDIDATES:
        return _text_candidate(name, columns, seed=seed, max_features=max_features)
    if name not in ("onehot_logreg", "hist_gb"):
        raise ValueError(f"unknown model candidate {name!r}; candidates are {', '.join(CANDIDATES)}")
    if not columns.features:
        raise ValueError(f"{name} reads features: the use case has no feature column")
    if name == "onehot_logreg":
        return _linear(_feature_parts(columns), seed)
    encoder = OrdinalEncoder(
        handle_unknown="use_encoded_value",
        unknown_value=-1,
        encoded_missing_value=-1,
        max_categories=_MAX_CATEGORIES,
    )
    parts: list[tuple[str, Any, list[str]]] = []
    if columns.categorical:
        parts.append(("categorical", encoder, list(columns.categorical)))
    if columns.numeric:
        parts.append(("numeric", "passthrough", list(columns.numeric)))
    categorical = [index < len(columns.categorical) for index in range(len(columns.features))]
    classifier = HistGradientBoostingClassifier(
        categorical_features=categorical if columns.categorical else None,
        # "auto" turns early stopping on from 10,000 rows, with a stratified hold-out that fails on a class of
        # one row; the grid and the validation split already guard against overfitting.
        early_stopping=False,
        random_state=seed,
    )
    return Pipeline([("features", ColumnTransformer(parts, sparse_threshold=0.0)), ("clf", classifier)])


def calibrated(pipeline: Pipeline, folds: int) -> Pipeline:
    """`pipeline` (unfitted) with its classifier wrapped in temperature scaling: the classifier's scores on
    `folds` stratified cross-validation folds of the fitting rows fit one temperature, ``softmax(scores / T)``,
    which never changes which class is on top (per-class sigmoids did: 0.006 of test macro F1 on the demo
    tickets' SVM, measured); then the classifier is fit on all of them (``ensemble=False``: one classifier, not
    one per fold)."""
    *steps, (_, classifier) = pipeline.steps
    wrapped = CalibratedClassifierCV(classifier, method="temperature", cv=folds, ensemble=False)
    return Pipeline([*steps, ("clf", wrapped)])


def plain_vocabularies(model: Pipeline) -> Pipeline:
    """`model` (fitted) with each TF-IDF vocabulary's column numbers as Python ints instead of NumPy integers.

    Transforms are unchanged; skops writes a NumPy scalar as its own file in the archive and lists the archive
    for each one, so a 45,000-term vocabulary took 70 s to save (and to measure) and now takes well under one."""
    first = model.steps[0][1]
    parts = [t for _, t, _ in getattr(first, "transformers_", [])] if isinstance(first, ColumnTransformer) else []
    for part in [first, *parts]:
        if isinstance(part, TfidfVectorizer) and hasattr(part, "vocabulary_"):
            part.vocabulary_ = {term: int(column) for term, column in part.vocabulary_.items()}
    return model


def reads_documents(model: Any) -> bool:
    """Whether a fitted pipeline is one registered before models read frames: it reads one document per row."""
    steps = getattr(model, "steps", None) or []
    return bool(steps) and isinstance(steps[0][1], TfidfVectorizer)
