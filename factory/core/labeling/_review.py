"""Which labels to look at again: suspected label errors, and a review queue that fits a budget.

Label issues
------------
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

Review queue
------------
`select_review_queue` picks at most ``budget`` items for a person to relabel. Each candidate may qualify
for review for one or more reasons (`REVIEW_REASONS`, thresholds in `ReviewPolicy`):

* ``label_error``: cleanlab flags the label (``is_issue``); most suspicious first (lowest ``label_quality``);
* ``disagreement``: annotators disagree (``agreement`` below ``agreement_below``); least agreement first;
* ``low_confidence``: the model is unsure (``confidence`` below ``confidence_below``); least confident first;
* ``rare_class``: the label or the model's label is a rare class (share of the class counts below
  ``rare_share``); rare classes taken in turn, rarest first, least confident item of each first.

Each reason has a reserved share of the budget (``quotas``, apportioned by largest remainder, ties to the
reason listed first). Reasons are served in the order above; an item is taken once, for the first reason
that picks it. Slots a reason cannot fill, and the budget beyond the quotas, go to the remaining candidates
by a combined score, the ``weights``-weighted sum of four components in [0, 1]:

    label_error    0.5 * is_issue + 0.5 * (1 - label_quality)
    disagreement   1 - agreement
    low_confidence 1 - confidence
    rare_class     1 - count(rarer of label and model_label) / count(most frequent class)

(a null input makes its component 0). The queue is ordered by that score, highest first, and ``priority``
numbers it from 1. Every tie is broken by ``item_id``, so the same candidates give the same queue.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from factory.core.labeling._label_io import label_studio_tasks

__all__ = [
    "CANDIDATE_COLUMNS",
    "REVIEW_REASONS",
    "ReviewPolicy",
    "find_label_issues",
    "out_of_fold_probabilities",
    "review_candidates",
    "review_tasks",
    "select_review_queue",
]

REVIEW_REASONS: tuple[str, ...] = ("label_error", "disagreement", "low_confidence", "rare_class")
"""Why an item is worth a second look, in the order their quotas are served."""

CANDIDATE_COLUMNS: tuple[str, ...] = (
    "item_id",
    "label",
    "confidence",
    "model_label",
    "agreement",
    "is_issue",
    "label_quality",
)
"""The columns `select_review_queue` needs (`review_candidates` builds them)."""

_Matrix = npt.NDArray[np.float64]
_Codes = npt.NDArray[np.int64]
_DEFAULT_SHARES = MappingProxyType(
    {"label_error": 0.4, "disagreement": 0.25, "low_confidence": 0.2, "rare_class": 0.15}
)
_ISSUE_SCHEMA: dict[str, pl.DataType] = {
    "label": pl.String(),
    "suggested_label": pl.String(),
    "confidence": pl.Float64(),
    "label_quality": pl.Float64(),
    "is_issue": pl.Boolean(),
}


@dataclass(frozen=True)
class ReviewPolicy:
    """How `select_review_queue` splits its budget (module docstring).

    ``quotas``: share of the budget reserved per reason (sum at most 1; a reason left out gets none).
    ``weights``: weight of each reason's component in the combined score. ``agreement_below``: annotator
    agreement under which an item counts as disputed (1.0: any disagreement). ``confidence_below``: model
    confidence under which an item counts as uncertain. ``rare_share``: share of the class counts under
    which a class counts as rare.
    """

    quotas: Mapping[str, float] = field(default_factory=lambda: dict(_DEFAULT_SHARES))
    weights: Mapping[str, float] = field(default_factory=lambda: dict(_DEFAULT_SHARES))
    agreement_below: float = 1.0
    confidence_below: float = 0.5
    rare_share: float = 0.05

    def __post_init__(self) -> None:
        problems = []
        for name, shares in (("quotas", self.quotas), ("weights", self.weights)):
            unknown = sorted(set(shares) - set(REVIEW_REASONS))
            if unknown:
                problems.append(f"{name} name unknown reasons {unknown}; reasons are {list(REVIEW_REASONS)}")
            if any(not math.isfinite(value) or value < 0 for value in shares.values()):
                problems.append(f"{name} must be finite and non-negative")
        if sum(self.quotas.values()) > 1 + 1e-9:
            problems.append(f"quotas add up to {sum(self.quotas.values()):.3f}, more than the whole budget")
        if not 0 <= self.rare_share <= 1:
            problems.append("rare_share must be between 0 and 1")
        if problems:
            raise ValueError("inconsistent review policy: " + "; ".join(problems))
        object.__setattr__(self, "quotas", MappingProxyType(dict(self.quotas)))
        object.__setattr__(self, "weights", MappingProxyType(dict(self.weights)))


# --- shared checks -------------------------------------------------------------------------------------


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


def _require_columns(frame: pl.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks columns {missing} (has {frame.columns})")


def _require_unique_items(frame: pl.DataFrame, name: str) -> None:
    ids = frame.get_column("item_id")
    if ids.null_count():
        raise ValueError(f"{name} has a null item_id")
    repeated = ids.filter(ids.is_duplicated()).unique().sort()
    if repeated.len():
        raise ValueError(f"{name} lists {repeated.len()} item(s) twice, e.g. {repeated.head(5).to_list()}")


# --- out-of-fold probabilities -------------------------------------------------------------------------


def _stratified_folds(codes: _Codes, folds: int, seed: int) -> _Codes:
    """Fold number per item: shuffled with `seed`, grouped by class, dealt round-robin (module docstring)."""
    order = np.random.default_rng(seed).permutation(codes.size)
    order = order[np.argsort(codes[order], kind="stable")]
    assignment = np.empty(codes.size, dtype=np.int64)
    assignment[order] = np.arange(codes.size) % folds
    return assignment


def _model(seed: int) -> Pipeline:
    """The out-of-fold model: word uni- and bigram TF-IDF and a multinomial logistic regression."""
    return Pipeline(
        [
            ("tfidf", TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2))),
            ("clf", LogisticRegression(max_iter=1000, C=4.0, random_state=seed)),
        ]
    )


def _prior(train: _Codes, n_test: int, n_classes: int) -> _Matrix:
    """The training class shares for every test item: the answer when no model can be fitted."""
    shares = np.bincount(train, minlength=n_classes).astype(np.float64) / train.size
    return np.tile(shares, (n_test, 1))


def _fit_predict(docs: list[str], codes: _Codes, train: npt.NDArray[np.bool_], n_classes: int, seed: int) -> _Matrix:
    """Class probabilities of the items outside `train`, from a model fitted on those inside."""
    train_docs = [doc for doc, keep in zip(docs, train, strict=True) if keep]
    test_docs = [doc for doc, keep in zip(docs, train, strict=True) if not keep]
    train_codes = codes[train]
    if np.unique(train_codes).size < 2:
        return _prior(train_codes, len(test_docs), n_classes)
    model = _model(seed)
    try:
        model.fit(train_docs, train_codes)
    except ValueError as error:
        if "empty vocabulary" not in str(error):
            raise
        return _prior(train_codes, len(test_docs), n_classes)
    out = np.zeros((len(test_docs), n_classes), dtype=np.float64)
    out[:, model.classes_] = model.predict_proba(test_docs)
    return out


def out_of_fold_probabilities(
    texts: Sequence[str | None] | pl.Series,
    labels: Sequence[str | None] | pl.Series,
    classes: Sequence[str],
    folds: int = 5,
    seed: int = 0,
) -> _Matrix:
    """Predicted class probabilities for every item from a model that did not train on it (module docstring).

    Returns an ``(items, len(classes))`` float array whose columns follow `classes` and whose rows sum to 1.
    Null texts are empty documents; null labels and labels outside `classes` raise ValueError, as do fewer
    than two items or fewer than two folds. A fold whose training part holds a single class, or no word at
    all, predicts the training class shares.
    """
    names = _check_classes(classes)
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    docs = [text or "" for text in (texts.to_list() if isinstance(texts, pl.Series) else texts)]
    codes = _codes(labels, names)
    if len(docs) != codes.size:
        raise ValueError(f"{len(docs)} texts but {codes.size} labels")
    if codes.size < 2:
        raise ValueError("out-of-fold probabilities need at least two items")
    assignment = _stratified_folds(codes, min(folds, codes.size), seed)
    probabilities = np.zeros((codes.size, len(names)), dtype=np.float64)
    for fold in np.unique(assignment):
        held_out = assignment == fold
        probabilities[held_out] = _fit_predict(docs, codes, ~held_out, len(names), seed)
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
    _require_columns(labels, ("item_id", "label"), "labels")
    _require_unique_items(labels, "labels")
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


def review_candidates(issues: pl.DataFrame, votes: pl.DataFrame | None = None) -> pl.DataFrame:
    """The input of `select_review_queue` from `find_label_issues` and, optionally, `majority_vote` output.

    Returns `CANDIDATE_COLUMNS`: ``model_label`` is the suggested label, ``agreement`` the annotator
    agreement from `votes` (null without votes, for items absent from them, and below two annotations).
    """
    _require_columns(issues, ("item_id", *_ISSUE_SCHEMA), "issues")
    candidates = issues.select(
        "item_id",
        "label",
        "confidence",
        pl.col("suggested_label").alias("model_label"),
        "is_issue",
        "label_quality",
    )
    if votes is None:
        agreement = pl.DataFrame(schema={"item_id": issues.schema["item_id"], "agreement": pl.Float64})
    else:
        _require_columns(votes, ("item_id", "agreement"), "votes")
        agreement = votes.select(pl.col("item_id").cast(issues.schema["item_id"]), "agreement")
    return candidates.join(agreement, on="item_id", how="left").select(CANDIDATE_COLUMNS)


# --- review queue --------------------------------------------------------------------------------------


def _apportion(budget: int, quotas: Mapping[str, float]) -> dict[str, int]:
    """Slots per reason: floor of each share of the budget, then the largest remainders (ties: reason order).

    When the reserved slots allow it, every reason with a positive quota gets at least one, taken from the
    reason holding the most slots, so a small budget still covers every reason.
    """
    exact = {reason: quotas.get(reason, 0.0) * budget for reason in REVIEW_REASONS}
    slots = {reason: math.floor(value + 1e-9) for reason, value in exact.items()}
    total = min(budget, math.floor(sum(exact.values()) + 1e-9))
    by_remainder = sorted(REVIEW_REASONS, key=lambda reason: -round(exact[reason] - slots[reason], 9))
    for reason in by_remainder[: max(0, total - sum(slots.values()))]:
        slots[reason] += 1
    wanted = [reason for reason in REVIEW_REASONS if quotas.get(reason, 0.0) > 0]
    if total >= len(wanted):
        for reason in wanted:
            if slots[reason] == 0:
                richest = max(REVIEW_REASONS, key=lambda name: slots[name])
                slots[richest] -= 1
                slots[reason] += 1
    return slots


def _class_counts(candidates: pl.DataFrame, class_counts: Mapping[str, int] | None) -> pl.DataFrame:
    """``class, count`` from `class_counts`, or from the candidates' labels when it is None."""
    if class_counts is None:
        counted = candidates.group_by("label").agg(pl.len().cast(pl.Int64).alias("count"))
        return counted.rename({"label": "class"})
    if any(count < 0 for count in class_counts.values()):
        raise ValueError("class counts must be non-negative")
    return pl.DataFrame(
        {"class": list(class_counts), "count": list(class_counts.values())},
        schema={"class": pl.String, "count": pl.Int64},
    )


def _scored(candidates: pl.DataFrame, policy: ReviewPolicy, counts: pl.DataFrame) -> pl.DataFrame:
    """Candidates with ``rarer_class``, ``rarer_class_count``, per-reason flags (``is_<reason>``) and ``score``."""
    per_class = counts.get_column("count").to_numpy()
    total = max(int(per_class.sum()), 1)
    most = max(int(per_class.max(initial=0)), 1)
    lookup = counts.select(pl.col("class"), pl.col("count"))
    frame = (
        candidates.with_columns(pl.col("label").cast(pl.String), pl.col("model_label").cast(pl.String))
        .join(lookup.rename({"class": "label", "count": "_label_count"}), on="label", how="left")
        .join(lookup.rename({"class": "model_label", "count": "_model_count"}), on="model_label", how="left")
        .with_columns(
            pl.col("_label_count").fill_null(0),
            pl.when(pl.col("model_label").is_null())
            .then(pl.col("_label_count").fill_null(0))
            .otherwise(pl.col("_model_count").fill_null(0))
            .alias("_model_count"),
        )
        .with_columns(
            pl.when(pl.col("_model_count") < pl.col("_label_count"))
            .then(pl.col("model_label"))
            .otherwise(pl.col("label"))
            .alias("rarer_class"),
            pl.min_horizontal("_label_count", "_model_count").alias("rarer_class_count"),
        )
    )
    issue = pl.col("is_issue").fill_null(False)
    flags = {
        "label_error": issue,
        "disagreement": (pl.col("agreement") < policy.agreement_below).fill_null(False),
        "low_confidence": (pl.col("confidence") < policy.confidence_below).fill_null(False),
        "rare_class": pl.col("rarer_class_count") < policy.rare_share * total,
    }
    components = {
        "label_error": 0.5 * issue.cast(pl.Float64) + 0.5 * (1 - pl.col("label_quality").fill_null(1.0)),
        "disagreement": 1 - pl.col("agreement").fill_null(1.0),
        "low_confidence": 1 - pl.col("confidence").fill_null(1.0),
        "rare_class": 1 - pl.col("rarer_class_count") / most,
    }
    score = pl.sum_horizontal(
        [policy.weights.get(reason, 0.0) * components[reason].clip(0.0, 1.0) for reason in REVIEW_REASONS]
    )
    return frame.with_columns(
        *(flag.alias(f"is_{reason}") for reason, flag in flags.items()),
        score.cast(pl.Float64).alias("score"),
    ).drop("_label_count", "_model_count")


def _ranked(frame: pl.DataFrame, reason: str) -> list[Any]:
    """Item ids eligible for `reason`, most deserving first (module docstring), ties by item id."""
    eligible = frame.filter(pl.col(f"is_{reason}"))
    if reason == "label_error":
        order = eligible.sort(["label_quality", "item_id"], nulls_last=True)
    elif reason == "disagreement":
        order = eligible.sort(["agreement", "item_id"], nulls_last=True)
    elif reason == "low_confidence":
        order = eligible.sort(["confidence", "item_id"], nulls_last=True)
    else:
        order = (
            eligible.sort(["confidence", "item_id"], nulls_last=True)
            .with_columns(pl.int_range(pl.len()).over("rarer_class").alias("_turn"))
            .sort(["_turn", "rarer_class_count", "rarer_class", "item_id"], nulls_last=True)
        )
    return order.get_column("item_id").to_list()


def select_review_queue(
    candidates: pl.DataFrame,
    budget: int,
    policy: ReviewPolicy | None = None,
    class_counts: Mapping[str, int] | None = None,
) -> pl.DataFrame:
    """At most `budget` distinct candidates to review, by reserved quotas then combined score (module docstring).

    `candidates` needs `CANDIDATE_COLUMNS` (nulls allowed except in ``item_id``, one row per item); other
    columns are carried along. `class_counts` (class -> number of labeled items, e.g. over the training set)
    decides which classes are rare; by default the candidates' own labels are counted.

    Returns the chosen candidates, ordered by ``priority`` (1 first), with ``reasons`` (every reason the item
    qualifies for, in `REVIEW_REASONS` order, possibly empty), ``selected_for`` (the reason whose quota took
    it, or ``"score"``), ``rarer_class`` and ``rarer_class_count`` (the rarer of its label and model label, and
    its count), ``score`` and
    ``priority``. A budget of 0 gives an empty queue; a budget at least the number of candidates takes them all.
    """
    if budget < 0:
        raise ValueError(f"budget must be non-negative, got {budget}")
    policy = policy or ReviewPolicy()
    _require_columns(candidates, CANDIDATE_COLUMNS, "candidates")
    _require_unique_items(candidates, "candidates")
    frame = _scored(candidates, policy, _class_counts(candidates, class_counts))
    chosen: dict[Any, str] = {}
    for reason, slots in _apportion(min(budget, frame.height), policy.quotas).items():
        picks = [item for item in _ranked(frame, reason) if item not in chosen][:slots]
        chosen.update(dict.fromkeys(picks, reason))
    rest = frame.filter(~pl.col("item_id").is_in(list(chosen))).sort(["score", "item_id"], descending=[True, False])
    chosen.update(dict.fromkeys(rest.get_column("item_id").head(budget - len(chosen)).to_list(), "score"))
    selected = pl.DataFrame(
        {"item_id": list(chosen), "selected_for": list(chosen.values())},
        schema={"item_id": frame.schema["item_id"], "selected_for": pl.String},
    )
    reasons = pl.concat_list(
        [pl.when(pl.col(f"is_{reason}")).then(pl.lit(reason)).otherwise(None) for reason in REVIEW_REASONS]
    ).list.drop_nulls()
    return (
        frame.join(selected, on="item_id", how="inner")
        .with_columns(reasons.alias("reasons"))
        .drop(*(f"is_{reason}" for reason in REVIEW_REASONS))
        .sort(["score", "item_id"], descending=[True, False])
        .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("priority"))
    )


def review_tasks(
    queue: pl.DataFrame,
    items: pl.DataFrame,
    text_column: str,
    model_version: str,
    item_key: str = "item_id",
    custom_pii: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Label Studio tasks for a review queue, in priority order, pre-annotated with the model's label.

    `items` are the prepared items (``item_key`` and the scrubbed `text_column`); every queued item must be
    among them. Task data holds the item id, the text, ``priority``, ``reasons`` (comma separated) and
    ``current_label`` (the label under review). The PII guard of `label_studio_tasks` applies: a text with a
    PII residue raises `factory.core.labeling.PIIResidueError`.
    """
    _require_columns(queue, ("item_id", "label", "model_label", "confidence", "reasons", "priority"), "queue")
    _require_columns(items, (item_key, text_column), "items")
    keyed = queue.sort("priority").select(
        pl.col("item_id").alias(item_key), "priority", "reasons", "label", "model_label", "confidence"
    )
    texts = items.select(pl.col(item_key).cast(keyed.schema[item_key]), pl.col(text_column).alias("_text"))
    joined = keyed.join(texts, on=item_key, how="left", maintain_order="left")
    missing = joined.filter(pl.col("_text").is_null()).get_column(item_key)
    if missing.len():
        raise ValueError(f"{missing.len()} queued item(s) have no prepared text, e.g. {missing.head(5).to_list()}")
    tasks_frame = joined.select(
        item_key,
        pl.col("_text").alias("text"),
        "priority",
        pl.col("reasons").list.join(", ").alias("reasons"),
        pl.col("label").alias("current_label"),
    )
    predictions = joined.filter(pl.col("model_label").is_not_null()).select(
        item_key, pl.col("model_label").alias("label"), pl.col("confidence").alias("score")
    )
    return label_studio_tasks(
        tasks_frame,
        "text",
        predictions,
        model_version,
        item_key,
        data_columns=("priority", "reasons", "current_label"),
        custom_pii=custom_pii,
    )
