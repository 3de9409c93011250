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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import polars as pl

from factory.core.labeling._agreement import ANNOTATION_COLUMNS, require_columns
from factory.core.labeling._annotation_table import latest_answers
from factory.core.labeling._dawid_skene import WEIGHT_COLUMN, DawidSkeneFit, fit_dawid_skene
from factory.core.labeling._majority_vote import majority_vote

__all__ = ["Aggregation", "aggregate"]

_METHODS = ("ds", "mv")


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
    if method == "mv":
        if weights is not None and weights != WEIGHT_COLUMN:
            raise ValueError(f"majority vote counts every answer once: weights={weights!r} applies to 'ds' only")
        labels = majority_vote(answers, classes, reference)
        empty = pl.DataFrame(schema={"annotator": pl.String, "n_annotations": pl.Int64, "accuracy": pl.Float64})
        return Aggregation(labels, "mv", empty, 0, True)
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
