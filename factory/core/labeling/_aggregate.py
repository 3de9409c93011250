"""From annotations to labels: the layer's one aggregation entry point, `aggregate`.

Annotations are long-form rows ``item_id, annotator, label`` (plus, optionally, ``created_at`` and a per-answer
``weight``: the factory's `ANNOTATION_SCHEMA`). `aggregate` keeps the latest answer of each annotator on each
item (`latest_answers`: someone who changed their mind gets one vote, not two), then labels every item by
Dawid-Skene (``method="ds"``, the default: `factory.core.labeling._dawid_skene`) or majority vote
(``method="mv"``: `factory.core.labeling._majority_vote`). Gold items take their gold label.

Both methods give the same ``labels`` layout (``item_id, label, confidence, n_annotations, agreement,
source``): ``confidence`` is the posterior probability (Dawid-Skene) or the vote share (majority vote) of the
chosen label, 1.0 on gold items; ``n_annotations`` counts the in-taxonomy answers and ``agreement`` the share
of agreeing answer pairs (null below two); ``source`` is ``"gold"``, ``"ds"`` or ``"vote"``. Labels outside
the taxonomy and null labels are ignored; ties go to the class listed first; rows are sorted by ``item_id``.

Dawid-Skene learns each annotator's errors from items that several annotators labeled. Where most items have
answers from one annotator only (pre-labeled data: one given label per item, its duplicates' copies counting
as the same annotator, plus production corrections on a few), there is too little to learn them from: EM
slides from the given labels' certainty toward the prior (measured on 4,000 items with one given label each
over 110 classes: mean confidence 0.78 after one round, 0.11 at convergence, the labels unchanged; 0.12,
0.25 and 0.57 with 20, 200 and 1,000 of them corrected too). When fewer than half the items
(`MIN_REDUNDANT_SHARE`) have answers from two different annotators, `aggregate` labels by a weighted vote
and says so (``Aggregation.method`` ``"mv"``, ``fallback`` the reason): a single answer is the label with
confidence 1.0, a correction weighing 2 outvotes a given label, disagreeing copies give their weight share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import polars as pl

from factory.core.labeling._agreement import ANNOTATION_COLUMNS, require_columns
from factory.core.labeling._annotation_table import latest_answers
from factory.core.labeling._dawid_skene import WEIGHT_COLUMN, DawidSkeneFit, check_arguments, fit_dawid_skene
from factory.core.labeling._majority_vote import majority_vote

__all__ = ["Aggregation", "aggregate"]

_METHODS = ("ds", "mv")
MIN_REDUNDANT_SHARE = 0.5
"""The share of items that need answers from two different annotators for Dawid-Skene (module docstring)."""


def _too_little_redundancy(answers: pl.DataFrame) -> str | None:
    """Why Dawid-Skene cannot learn the annotators' errors from these answers; None when it can."""
    if answers.is_empty():
        return None
    per_item = answers.group_by("item_id").agg(pl.col("annotator").n_unique().alias("n"))
    share = float(per_item.select((pl.col("n") >= 2).mean()).item())
    if share >= MIN_REDUNDANT_SHARE:
        return None
    return (
        f"{share:.0%} of the items have answers from two different annotators (under {MIN_REDUNDANT_SHARE:.0%}): "
        "too little to learn an annotator's errors from, so labeled by a weighted vote instead of Dawid-Skene"
    )


@dataclass(frozen=True)
class Aggregation:
    """Labels of one batch and how they came (module docstring).

    ``labels``: ``item_id, label, confidence, n_annotations, agreement, source``. ``annotator_accuracy``:
    Dawid-Skene's estimate per annotator (``annotator, n_annotations, accuracy``; empty for majority vote).
    ``iterations`` and ``converged`` describe the EM run (0 and True for a vote). ``fit`` is the fitted
    Dawid-Skene model (confusion matrices, class priors, posteriors aligned with ``labels``); None for a vote.
    """

    labels: pl.DataFrame
    method: Literal["ds", "mv"]
    annotator_accuracy: pl.DataFrame
    iterations: int
    converged: bool
    fit: DawidSkeneFit | None = None
    fallback: str | None = None


def aggregate(
    annotations: pl.DataFrame,
    classes: Sequence[str],
    *,
    method: Literal["ds", "mv"] = "ds",
    gold: pl.DataFrame | None = None,
    weights: str | None = WEIGHT_COLUMN,
    max_iter: int = 100,
    tol: float = 1e-6,
    smoothing: float = 0.1,
    diagonal: float = 1.0,
    memory_budget: int | None = None,
) -> Aggregation:
    """One label per item from the latest answer of each annotator, gold items fixed (module docstring).

    ``gold`` (``item_id, label``, labels in ``classes``, each item once) clamps its items; an empty frame is
    no gold. ``weights`` names the per-answer weight column Dawid-Skene reads: the default ``weight`` is used
    when present, any other name must exist, None ignores weights. Majority vote counts every answer once:
    it ignores the default column and refuses another name. ``max_iter``, ``tol``, ``smoothing`` (pseudo-count
    in every confusion cell) and ``diagonal`` (extra pseudo-count on the correct answer) tune Dawid-Skene's EM
    (`factory.core.labeling._dawid_skene`). Memory is linear in the annotations, except Dawid-Skene's dense
    confusion matrices and posteriors, checked against ``memory_budget`` bytes (default: the labeling budget,
    `factory.core.labeling._budget`) before they are allocated. Raises ValueError on an unknown method,
    missing columns, a bad taxonomy, bad gold, bad weights, out-of-range settings or a model over the budget.
    """
    if method not in _METHODS:
        raise ValueError(f"unknown aggregation method {method!r}; expected 'ds' or 'mv'")
    require_columns(annotations, ANNOTATION_COLUMNS, "annotations")
    answers = latest_answers(annotations)
    reference = gold if gold is not None and gold.height else None
    if method == "mv" and weights is not None and weights != WEIGHT_COLUMN:
        raise ValueError(f"majority vote counts every answer once: weights={weights!r} applies to 'ds' only")
    if method == "ds":
        check_arguments(
            annotations, classes, weights, max_iter=max_iter, tol=tol, smoothing=smoothing, diagonal=diagonal
        )
    fallback = None if method == "mv" else _too_little_redundancy(answers)
    if method == "mv" or fallback:
        weighted = WEIGHT_COLUMN if fallback and weights == WEIGHT_COLUMN and WEIGHT_COLUMN in answers.columns else None
        labels = majority_vote(answers, classes, reference, weights=weighted)
        empty = pl.DataFrame(schema={"annotator": pl.String, "n_annotations": pl.Int64, "accuracy": pl.Float64})
        return Aggregation(labels, "mv", empty, 0, True, fallback=fallback)
    fit = fit_dawid_skene(
        answers,
        classes,
        reference,
        max_iter=max_iter,
        tol=tol,
        smoothing=smoothing,
        diagonal=diagonal,
        weights=weights,
        memory_budget=memory_budget,
    )
    return Aggregation(fit.labels, "ds", fit.quality, fit.iterations, fit.converged, fit)
