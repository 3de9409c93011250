"""Paired comparison of two models on the same rows: a paired bootstrap of the difference in the quality metric
and McNemar's exact test on accuracy.

Both models' predictions are compared with one truth, row by row. A bootstrap resample draws ``n`` rows with
replacement (the same rows for both models, which is what makes it paired) and computes the metric of each
model on them; the difference ``challenger - champion`` over ``resamples`` resamples gives a percentile interval
at ``confidence``. Macro F1 is the mean over the taxonomy of per-class F1 (a class neither predicted nor present
counts 0, as scikit-learn's ``f1_score(..., labels=classes, zero_division=0)``); a label outside the taxonomy
counts as a miss for every class. The resamples are drawn in blocks so memory stays bounded by the block, not by
``resamples x rows``.

**The rule for "worse".** The challenger is worse when the *upper* end of the two-sided percentile interval at
``confidence`` is below ``-tolerance``: even the most favourable plausible difference loses more than the
tolerance. That is a one-sided test at level ``(1 + confidence) / 2`` (97.5 % for the default 0.95) of "the
challenger loses more than the tolerance". The burden of proof is on "worse": a small or noisy sample, whose
interval straddles ``-tolerance``, does not block a challenger (with the default tolerance 0, demanding proof of
"not worse" instead would block every challenger that is not significantly better).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy.stats import binom

from factory.core.training import resampled_metric

__all__ = ["Comparison", "Metric", "mcnemar_exact", "paired_bootstrap"]

Metric = Literal["macro_f1", "accuracy"]

_BLOCK_CELLS = 4_000_000
"""Most cells held at once: resampled row indices (resamples in a block x rows) or confusion matrices (resamples
in a block x classes squared)."""


@dataclass(frozen=True)
class Comparison:
    """The two models on the same ``n`` rows: each one's metric, the difference ``challenger - champion`` with
    its bootstrap interval, whether that makes the challenger worse (module docstring), and McNemar's exact
    test on accuracy (``challenger_only``: rows only the challenger gets right; ``champion_only``: the converse).
    """

    n: int
    metric: str
    champion: float
    challenger: float
    difference: float
    low: float
    high: float
    confidence: float
    tolerance: float
    worse: bool
    challenger_only: int
    champion_only: int
    mcnemar_p: float

    def describe(self) -> str:
        """``+0.021 [+0.008, +0.035]``: the difference and its interval."""
        return f"{self.difference:+.3f} [{self.low:+.3f}, {self.high:+.3f}]"


def _codes(values: Sequence[str], index: dict[str, int]) -> NDArray[np.int64]:
    missing = len(index)
    return np.fromiter((index.get(str(v), missing) for v in values), dtype=np.int64, count=len(values))


def mcnemar_exact(challenger_only: int, champion_only: int) -> float:
    """Two-sided exact McNemar p-value: under "equally accurate", the discordant rows split as a fair coin."""
    discordant = challenger_only + champion_only
    if discordant == 0:
        return 1.0
    return float(min(1.0, 2 * binom.cdf(min(challenger_only, champion_only), discordant, 0.5)))


def paired_bootstrap(
    truth: Sequence[str],
    champion: Sequence[str],
    challenger: Sequence[str],
    *,
    classes: Sequence[str],
    metric: Metric,
    resamples: int,
    confidence: float,
    tolerance: float,
    seed: int,
) -> Comparison:
    """Compare ``challenger`` with ``champion`` (predicted labels, one per row of ``truth``); module docstring.

    With no rows every figure is NaN and the challenger is not worse (there is nothing to judge it on).
    """
    n = len(truth)
    if not len(champion) == len(challenger) == n:
        raise ValueError(f"need one prediction per row: {n} rows, {len(champion)} and {len(challenger)} predictions")
    if metric not in ("macro_f1", "accuracy"):
        raise ValueError(f"unknown metric {metric!r}")
    if n == 0:
        nan = float("nan")
        return Comparison(0, metric, nan, nan, nan, nan, nan, confidence, tolerance, False, 0, 0, 1.0)
    index = {c: i for i, c in enumerate(classes)}
    k = len(index)
    y, old, new = _codes(truth, index), _codes(champion, index), _codes(challenger, index)
    everything = np.arange(n)[None, :]
    observed_old = float(resampled_metric(y, old, k, metric, everything)[0])
    observed_new = float(resampled_metric(y, new, k, metric, everything)[0])
    rng = np.random.default_rng(seed)
    block = max(1, min(resamples, _BLOCK_CELLS // max(n, (k + 1) ** 2)))  # indices and confusion matrices
    differences = []
    for start in range(0, resamples, block):
        rows = rng.integers(0, n, size=(min(block, resamples - start), n))  # the same rows for both: paired
        differences.append(resampled_metric(y, new, k, metric, rows) - resampled_metric(y, old, k, metric, rows))
    spread = np.concatenate(differences)
    low, high = (float(q) for q in np.quantile(spread, [(1 - confidence) / 2, (1 + confidence) / 2]))
    new_right, old_right = new == y, old == y
    challenger_only, champion_only = int((new_right & ~old_right).sum()), int((old_right & ~new_right).sum())
    return Comparison(
        n=n,
        metric=metric,
        champion=observed_old,
        challenger=observed_new,
        difference=observed_new - observed_old,
        low=low,
        high=high,
        confidence=confidence,
        tolerance=tolerance,
        worse=high < -tolerance,
        challenger_only=challenger_only,
        champion_only=champion_only,
        mcnemar_p=mcnemar_exact(challenger_only, champion_only),
    )
