"""Which labels look wrong: out-of-fold probabilities and cleanlab's confident learning.

`out_of_fold_probabilities` gives every item a predicted class distribution from a model that never saw
that item's label (TF-IDF + logistic regression, k-fold), and `find_label_issues` hands those
probabilities to cleanlab's confident learning (Northcutt et al. 2021, ``cleanlab.filter.find_label_issues``
with its default ``prune_by_noise_rate``): an item is an issue when the model confidently puts it in
another class, with per-class thresholds, so a class the model is timid about does not drown the list.

Folds are stratified by hand (items shuffled with the seed, sorted by class, dealt round-robin), so a class
with fewer items than folds is spread over as many folds as it has items rather than breaking the split,
and the number of folds drops to the number of items when there are fewer. A class absent from a training
fold gets probability 0 in that fold's predictions; a class with no item at all is a column of zeros.
cleanlab only ever sees the classes present among the given labels (its estimates divide by class counts),
with the probabilities renormalized over them; it runs in-process (``n_jobs=1``: no worker pool forked from
a Dagster run), and never flags the item of a class that has a single one.

Two bounds on the cost. With ``max_fit_rows``, every item is still predicted by a fold model that did not
see it, but the fold models are fitted only on a stratified sample of at most ``max_fit_rows`` items
(`fit_sample`: every class keeps a share proportional to its size, and at least one item while the cap
allows); with fewer items the sample is all of them and the probabilities are exactly the uncapped ones.
With many classes (``fast_from_classes``) L-BFGS needs many iterations whose cost grows with the classes;
the fast model is the same logistic regression fitted by a fixed 30 epochs of SAGA (0.8 s against 15 s per
fold on 4,000 items x 80 classes, at the same held-out accuracy: bench/review.py).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import polars as pl
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from factory.core.labeling._agreement import require_columns
from factory.core.labeling._review_policy import require_unique_item_ids
from factory.core.stats import stratified_sample
from factory.core.training import ModelColumns, build_candidate

__all__ = ["find_label_issues", "fit_sample", "out_of_fold_probabilities"]

_FAST_EPOCHS = 30
"""SAGA epochs of the fast out-of-fold model (module docstring)."""

_Matrix = npt.NDArray[np.float64]
_Codes = npt.NDArray[np.int64]


def _check_classes(classes: Sequence[str]) -> list[str]:
    if isinstance(classes, str) or not classes:
        raise ValueError("classes must be a non-empty sequence of class names")
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes must be distinct, got {list(classes)}")
    return list(classes)


def _codes(labels: Sequence[str | None] | pl.Series, classes: Sequence[str]) -> _Codes:
    """Class indexes of `labels`; ValueError on a null or a label outside `classes`."""
    series = (
        labels.cast(pl.String) if isinstance(labels, pl.Series) else pl.Series("label", list(labels), dtype=pl.String)
    )
    if series.null_count():
        raise ValueError(f"labels hold {series.null_count()} null(s): drop unlabeled items first")
    outside = series.filter(~series.is_in(list(classes))).unique().sort()
    if outside.len():
        raise ValueError(f"labels outside the taxonomy {list(classes)}: {outside.head(5).to_list()}")
    index = {name: position for position, name in enumerate(classes)}
    return np.array([index[label] for label in series.to_list()], dtype=np.int64)


def _stratified_folds(codes: _Codes, folds: int, seed: int) -> _Codes:
    """Fold number per item: shuffled with `seed`, grouped by class, dealt round-robin (module docstring)."""
    order = np.random.default_rng(seed).permutation(codes.size)
    order = order[np.argsort(codes[order], kind="stable")]
    assignment = np.empty(codes.size, dtype=np.int64)
    assignment[order] = np.arange(codes.size) % folds
    return assignment


def fit_sample(codes: _Codes, max_fit_rows: int, seed: int) -> npt.NDArray[np.bool_]:
    """Which items the out-of-fold models may fit on: `factory.core.stats.stratified_sample`."""
    if max_fit_rows < 2:
        raise ValueError(f"max_fit_rows must be at least 2, got {max_fit_rows}")
    return stratified_sample(codes, max_fit_rows, seed)


def _model(seed: int, fast: bool) -> Pipeline:
    """The out-of-fold model: word uni- and bigram TF-IDF and a multinomial logistic regression, fitted by
    L-BFGS to convergence or, ``fast``, by a few SAGA epochs (module docstring)."""
    classifier = (
        LogisticRegression(solver="saga", max_iter=_FAST_EPOCHS, tol=1e-3, C=4.0, random_state=seed)
        if fast
        else LogisticRegression(max_iter=1000, C=4.0, random_state=seed)
    )
    return Pipeline([("tfidf", TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2))), ("clf", classifier)])


def _prior(train: _Codes, n_test: int, n_classes: int) -> _Matrix:
    """The training class shares for every test item: the answer when no model can be fitted."""
    shares = np.bincount(train, minlength=n_classes).astype(np.float64) / train.size
    return np.tile(shares, (n_test, 1))


def _fit_predict(
    docs: list[str] | pd.DataFrame,
    codes: _Codes,
    train: npt.NDArray[np.bool_],
    test: npt.NDArray[np.bool_],
    n_classes: int,
    seed: int,
    fast: bool = False,
    columns: ModelColumns | None = None,
) -> _Matrix:
    """Class probabilities of the items in `test`, from a model fitted on those in `train` (disjoint): the
    text model on documents, or with `columns` the feature model (``onehot_logreg``) on a model frame."""
    if isinstance(docs, pd.DataFrame):
        train_docs: Any = docs[train]
        test_docs: Any = docs[test]
    else:
        train_docs = [doc for doc, keep in zip(docs, train, strict=True) if keep]
        test_docs = [doc for doc, keep in zip(docs, test, strict=True) if keep]
    train_codes = codes[train]
    if np.unique(train_codes).size < 2:
        return _prior(train_codes, len(test_docs), n_classes)
    if isinstance(docs, pd.DataFrame) and columns is not None:
        model = build_candidate("onehot_logreg", columns, seed=seed, max_features=1)
    else:
        model = _model(seed, fast)
    try:
        with warnings.catch_warnings():
            # the fast model stops after a fixed number of epochs on purpose: not converging is expected.
            warnings.filterwarnings("ignore", category=ConvergenceWarning)
            model.fit(train_docs, train_codes)
    except ValueError as error:
        if "empty vocabulary" not in str(error):
            raise
        return _prior(train_codes, len(test_docs), n_classes)
    out = np.zeros((len(test_docs), n_classes), dtype=np.float64)
    out[:, model.classes_] = model.predict_proba(test_docs)
    return out


def out_of_fold_probabilities(
    texts: Sequence[str | None] | pl.Series | pd.DataFrame,
    labels: Sequence[str | None] | pl.Series,
    classes: Sequence[str],
    folds: int = 5,
    seed: int = 0,
    max_fit_rows: int | None = None,
    fast_from_classes: int | None = None,
    columns: ModelColumns | None = None,
) -> _Matrix:
    """Predicted class probabilities for every item from a model that did not train on it (module docstring).

    Returns an ``(items, len(classes))`` float array whose columns follow `classes` and whose rows sum to 1.
    Null texts are empty documents; null labels and labels outside `classes` raise ValueError, as do fewer
    than two items or fewer than two folds. A fold whose training part holds a single class, or no word at
    all, predicts the training class shares. ``max_fit_rows`` bounds the items the fold models are fitted on
    (`fit_sample`; at least 2); None fits on all of them. From ``fast_from_classes`` classes on (None: never),
    the fold models are the fast ones (module docstring). A use case without text gives `texts` as its model
    frame (`factory.core.training.model_frame` over `columns`): the fold models are then the features'
    linear candidate (``onehot_logreg``).
    """
    names = _check_classes(classes)
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    docs: list[str] | pd.DataFrame
    if isinstance(texts, pd.DataFrame):
        if columns is None:
            raise ValueError("a model frame needs its columns")
        docs = texts.reset_index(drop=True)
    else:
        docs = [text or "" for text in (texts.to_list() if isinstance(texts, pl.Series) else texts)]
    codes = _codes(labels, names)
    if len(docs) != codes.size:
        raise ValueError(f"{len(docs)} texts but {codes.size} labels")
    if codes.size < 2:
        raise ValueError("out-of-fold probabilities need at least two items")
    fast = fast_from_classes is not None and len(names) >= fast_from_classes
    fit = np.ones(codes.size, dtype=np.bool_) if max_fit_rows is None else fit_sample(codes, max_fit_rows, seed)
    assignment = _stratified_folds(codes, min(folds, codes.size), seed)
    probabilities = np.zeros((codes.size, len(names)), dtype=np.float64)
    for fold in np.unique(assignment):
        held_out = assignment == fold
        probabilities[held_out] = _fit_predict(docs, codes, ~held_out & fit, held_out, len(names), seed, fast, columns)
    return probabilities


# --- label issues --------------------------------------------------------------------------------------


def _checked_probabilities(pred_probs: npt.ArrayLike, rows: int, n_classes: int) -> _Matrix:
    """`pred_probs` as a float array of the right shape with rows summing to 1; ValueError otherwise."""
    probabilities = np.asarray(pred_probs, dtype=np.float64)
    if probabilities.shape != (rows, n_classes):
        raise ValueError(f"pred_probs must have shape ({rows}, {n_classes}), got {probabilities.shape}")
    if not np.isfinite(probabilities).all() or (probabilities < 0).any():
        raise ValueError("pred_probs must be finite and non-negative")
    totals = probabilities.sum(axis=1, keepdims=True)
    if (totals <= 0).any():
        raise ValueError("every row of pred_probs needs a positive probability")
    normalized: _Matrix = probabilities / totals
    return normalized


def _issue_mask(codes: _Codes, probabilities: _Matrix) -> npt.NDArray[np.bool_]:
    """cleanlab's confident-learning verdict, over the classes present among `codes` (module docstring)."""
    present = np.unique(codes)
    if present.size < 2:
        return np.zeros(codes.size, dtype=np.bool_)
    compact = probabilities[:, present]
    totals = compact.sum(axis=1, keepdims=True)
    uniform = np.full_like(compact, 1.0 / present.size)
    compact = np.divide(compact, totals, out=uniform, where=totals > 0)
    from cleanlab.filter import find_label_issues as cleanlab_issues  # pandas and co.: only load them when needed

    with warnings.catch_warnings():
        # cleanlab warns for every class with a single example, which it leaves unflagged: expected here.
        warnings.filterwarnings("ignore", message="May not flag all label issues", category=UserWarning)
        mask = cleanlab_issues(np.searchsorted(present, codes), compact, n_jobs=1)
    return np.asarray(mask, dtype=np.bool_)


def find_label_issues(labels: pl.DataFrame, pred_probs: npt.ArrayLike, classes: Sequence[str]) -> pl.DataFrame:
    """Suspected label errors by confident learning on out-of-fold predicted probabilities.

    `labels` holds ``item_id, label`` (one row per item, every label in `classes`); row ``i`` of
    `pred_probs` (``(items, len(classes))``, columns in `classes` order, e.g. from
    `out_of_fold_probabilities`) is item ``i``'s predicted distribution. Rows are renormalized to sum to 1.

    Returns ``item_id, label, suggested_label, confidence, label_quality, is_issue`` in the order of
    `labels`: ``suggested_label`` is the most probable class (ties to the first in `classes`),
    ``confidence`` its probability, ``label_quality`` the probability of the given label (cleanlab's
    self-confidence: low means suspicious) and ``is_issue`` cleanlab's verdict. With fewer than two classes
    among the labels nothing can be flagged.
    """
    require_columns(labels, ("item_id", "label"), "labels")
    require_unique_item_ids(labels, "labels")
    names = _check_classes(classes)
    codes = _codes(labels.get_column("label"), names)
    probabilities = _checked_probabilities(pred_probs, labels.height, len(names))
    suggested = np.argmax(probabilities, axis=1) if labels.height else np.zeros(0, dtype=np.int64)
    rows = np.arange(labels.height)
    return labels.select("item_id", pl.col("label").cast(pl.String)).with_columns(
        pl.Series("suggested_label", [names[code] for code in suggested], dtype=pl.String),
        pl.Series("confidence", probabilities[rows, suggested], dtype=pl.Float64),
        pl.Series("label_quality", probabilities[rows, codes], dtype=pl.Float64),
        pl.Series("is_issue", _issue_mask(codes, probabilities), dtype=pl.Boolean),
    )
