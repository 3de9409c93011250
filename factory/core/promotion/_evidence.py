"""The paired comparisons a promotion rests on, as checks: overall and per slice on the challenger's test split,
and on production corrections scored in shadow."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from factory.core.promotion._blessing import NOT_EVALUATED, Check, comparison_check, feedback_check
from factory.core.promotion._paired import Comparison, Metric, paired_bootstrap
from factory.core.promotion._slices import Slice

__all__ = ["Bootstrap", "feedback_evidence", "split_evidence"]


@dataclass(frozen=True)
class Bootstrap:
    """How comparisons are run: the metric over the taxonomy, resamples, confidence and seed."""

    classes: tuple[str, ...]
    metric: Metric
    resamples: int
    confidence: float
    seed: int

    def compare(
        self,
        truth: Sequence[str],
        champion: Sequence[str],
        challenger: Sequence[str],
        tolerance: float,
        *,
        present_only: bool = False,
    ) -> Comparison:
        """`paired_bootstrap` of the two models' predictions at ``tolerance``; with `present_only` (a slice),
        macro F1 averages only the classes present or predicted there, as the model card's slice figures do (over
        the whole taxonomy a slice's loss would shrink by the classes it never holds)."""
        classes = self.classes
        if present_only:
            seen = {*truth, *champion, *challenger}
            classes = tuple(c for c in classes if c in seen)
        return paired_bootstrap(
            truth,
            champion,
            challenger,
            classes=classes,
            metric=self.metric,
            resamples=self.resamples,
            confidence=self.confidence,
            tolerance=tolerance,
            seed=self.seed,
        )


def _pick(values: Sequence[str], rows: NDArray[np.int64]) -> list[str]:
    return [values[i] for i in rows.tolist()]


def split_evidence(
    bootstrap: Bootstrap,
    truth: Sequence[str],
    champion: Sequence[str],
    challenger: Sequence[str],
    *,
    tolerance: float,
    slice_tolerance: float,
    found: Sequence[Slice],
    missing_columns: Sequence[str] = (),
    min_support: int,
) -> list[Check]:
    """The overall check (``tolerance``) and one check per slice (``slice_tolerance``; a slice under
    ``min_support`` rows is compared and reported, not gated; a slice column the data lacks is not evaluated)."""
    checks = [comparison_check("overall", "overall", bootstrap.compare(truth, champion, challenger, tolerance))]
    for part in found:
        comparison = bootstrap.compare(
            _pick(truth, part.rows),
            _pick(champion, part.rows),
            _pick(challenger, part.rows),
            slice_tolerance,
            present_only=True,
        )
        why = f"{part.support} rows < min_slice_support {min_support}"
        checks.append(comparison_check("slice", part.name, comparison, gated=part.gated, why=why))
    checks += [
        Check("slice", column, NOT_EVALUATED, slice_tolerance, detail="the column is not in the test split")
        for column in missing_columns
    ]
    return checks


def feedback_evidence(
    bootstrap: Bootstrap,
    truth: Sequence[str],
    champion: Sequence[str],
    challenger: Sequence[str],
    *,
    tolerance: float,
    min_feedback: int,
    window: str,
) -> Check:
    """Both models' predictions for the items corrected in production, against the corrections."""
    comparison = bootstrap.compare(truth, champion, challenger, tolerance)
    return feedback_check(comparison, min_feedback=min_feedback, window=window)
