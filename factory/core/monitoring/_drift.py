"""Distribution drift between the training dataset and one day of traffic.

Scaling. Every component of a :class:`DriftResult` is on the scale of the population stability index (PSI),
whose usual reading is: below 0.1 stable, 0.1 to 0.25 moderate, above 0.25 a real shift. The headline score is
the largest component, so one threshold (about 0.2) applies to all of them:

- ``label_psi``: PSI of the predicted-label mix today against the label mix of the training set.
- ``length_psi``: PSI of text length in characters, binned at the deciles of the reference lengths.
- ``vocabulary_shift``: Jensen-Shannon divergence (base 2) of the term distributions, multiplied by
  ``8 ln 2`` (about 5.55). For small differences both PSI and ``8 ln(2) JS`` reduce to the same chi-square
  sum ``sum (p - q)^2 / m``, so the product reads as a PSI (for large shifts it stays below the PSI, as JS
  saturates). The terms compared are the most frequent ones of both sides together (largest summed share,
  so a term that is new today gets its own bucket), plus an ``<other>`` bucket for the rest and an
  ``<empty>`` bucket for texts without a token. The number of terms grows with today's sample (one per 50
  current tokens, between 10 and 500), which keeps the sampling noise of two samples of one distribution
  near 0.02 to 0.05 instead of growing with the vocabulary. Token counts dilute a topic shift among the
  common words: a topic that moves from 1% to 20% of texts moves far fewer tokens, so ``label_psi`` is the
  sharper detector for it and ``vocabulary_shift`` the one for wording that changes wholesale.
- ``oov_rate_delta``: today's share of tokens never seen in the reference, minus the share expected for a
  fresh sample of the reference distribution (the Good-Turing estimate: reference terms seen once over
  reference tokens). A rate difference is at most the PSI of the in/out-of-vocabulary split for the rates
  seen in text, so it is a conservative member of the maximum. It is negative when today is more familiar.

Features (tabular inputs), one component each:

- ``numeric_psi.<column>``: PSI of a numeric feature binned at the deciles of its reference values (equal
  deciles merged), with missing values as a bin of their own.
- ``categorical_shift.<column>``: ``8 ln 2`` times the JS divergence of a categorical feature's category
  frequencies (missing values as a category), on the same PSI scale as ``vocabulary_shift`` and with the
  same bucketing (the most frequent categories of both sides, the rest under ``<other>``), so a
  high-cardinality column does not score its sampling noise.

The text components are computed only when there is text. The headline ``score`` stays one number, the
largest component of all (text, label and features): one threshold reads every one of them, and
``top_features`` names the features that moved most (largest component first).

Two samples of one distribution score well below 0.2 at a few hundred texts per day. Fewer rows make every
component noisier: the caller should compare ``DriftResult.rows`` with a minimum before trusting a score.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import polars as pl

__all__ = ["DriftResult", "drift_report", "feature_drift", "js_divergence", "psi", "term_counts"]

_WORD_PATTERN = r"[\p{L}\p{N}]{3,}"
_OTHER = "<other>"
_EMPTY = "<empty>"
_JS_TO_PSI = 8.0 * math.log(2.0)
_TOKENS_PER_TERM = 50
_MIN_TERMS = 10
_MAX_TERMS = 500
_LENGTH_BINS = 10
_NEW_TERM_MIN_COUNT = 3
_NEW_TERM_MIN_LIFT = 10.0
_TOP_NEW_TERMS = 10
_TOP_FEATURES = 5
_MISSING = "<missing>"
NUMERIC_PREFIX = "numeric_psi."
CATEGORICAL_PREFIX = "categorical_shift."


@dataclass(frozen=True)
class DriftResult:
    """Drift of one day against the reference (module docstring for the components and their scale)."""

    score: float
    components: dict[str, float]
    top_new_terms: list[tuple[str, int]]
    rows: int
    top_features: list[tuple[str, float]] = field(default_factory=list)


def psi(expected: Mapping[str, int], actual: Mapping[str, int], epsilon: float = 1e-4) -> float:
    """Population stability index ``sum (a - e) ln(a / e)`` over the union of categories.

    Counts become shares; shares below ``epsilon`` (a category absent on one side) are raised to it.
    """
    if epsilon <= 0:
        raise ValueError(f"epsilon must be positive, got {epsilon}")
    p, q = _aligned_shares(expected, actual)
    p, q = np.maximum(p, epsilon), np.maximum(q, epsilon)
    return float(np.sum((q - p) * np.log(q / p)))


def js_divergence(expected: Mapping[str, int], actual: Mapping[str, int]) -> float:
    """Jensen-Shannon divergence in bits (0 for equal distributions, 1 for disjoint ones)."""
    p, q = _aligned_shares(expected, actual)
    m = (p + q) / 2.0
    value = (_kl_bits(p, m) + _kl_bits(q, m)) / 2.0
    return float(min(max(value, 0.0), 1.0))


def term_counts(texts: pl.Series, vocabulary_size: int | None = None) -> dict[str, int]:
    """Count lower-cased tokens (runs of at least 3 letters or digits) over ``texts``, nulls skipped.

    With ``vocabulary_size``, only that many most frequent terms are kept (ties broken alphabetically). The
    dict is ordered by count, descending, then by term.
    """
    if vocabulary_size is not None and vocabulary_size < 0:
        raise ValueError(f"vocabulary_size must be non-negative, got {vocabulary_size}")
    tokens = _token_lists(texts).explode().drop_nulls().alias("term")
    counts = tokens.value_counts(name="count").sort(["count", "term"], descending=[True, False])
    if vocabulary_size is not None:
        counts = counts.head(vocabulary_size)
    return dict(zip(counts.get_column("term").to_list(), counts.get_column("count").to_list(), strict=True))


def drift_report(
    reference_texts: pl.Series | None,
    reference_labels: pl.Series,
    current_texts: pl.Series | None,
    current_labels: pl.Series | None,
    *,
    features: Mapping[str, float] | None = None,
) -> DriftResult:
    """Compare one day (texts, when the use case has any, and, when available, predicted labels) with the
    training dataset; ``features`` are the feature components (`feature_drift`), joined into the score.

    ``label_psi`` is left out when ``current_labels`` is None, the text components when the texts are None.
    Raises ValueError when a side given has no text, or when nothing at all is compared.
    """
    components: dict[str, float] = {}
    top_new_terms: list[tuple[str, int]] = []
    rows = 0
    if reference_texts is not None and current_texts is not None:
        if reference_texts.drop_nulls().is_empty() or current_texts.drop_nulls().is_empty():
            raise ValueError("drift needs at least one non-null text on each side (reference and current)")
        reference_terms, current_terms = _terms_with_empty(reference_texts), _terms_with_empty(current_texts)
        components |= {
            "length_psi": _length_psi(reference_texts, current_texts),
            "vocabulary_shift": _vocabulary_shift(reference_terms, current_terms),
            "oov_rate_delta": _oov_rate_delta(reference_terms, current_terms),
        }
        top_new_terms = _top_new_terms(reference_terms, current_terms)
        rows = current_texts.len()
    if current_labels is not None:
        components["label_psi"] = psi(_category_counts(reference_labels), _category_counts(current_labels))
        rows = max(rows, current_labels.len())
    features = dict(features or {})
    components |= features
    if not components:
        raise ValueError("drift needs text, predicted labels or features to compare")
    ranked = sorted(features.items(), key=lambda item: (-item[1], item[0]))
    return DriftResult(
        score=max(components.values()),
        components=dict(sorted(components.items())),
        top_new_terms=top_new_terms,
        rows=rows,
        top_features=[(_feature_name(key), value) for key, value in ranked[:_TOP_FEATURES]],
    )


def feature_drift(
    reference: pl.DataFrame, current: pl.DataFrame, categorical: Sequence[str], numeric: Sequence[str]
) -> dict[str, float]:
    """One component per feature (module docstring): ``numeric_psi.<column>`` for each numeric column and
    ``categorical_shift.<column>`` for each categorical one. Empty sides give no component."""
    if reference.is_empty() or current.is_empty():
        return {}
    components = {f"{NUMERIC_PREFIX}{name}": _numeric_psi(reference[name], current[name]) for name in numeric}
    for name in categorical:
        expected = _category_counts(reference[name].cast(pl.String).fill_null(_MISSING))
        actual = _category_counts(current[name].cast(pl.String).fill_null(_MISSING))
        components[f"{CATEGORICAL_PREFIX}{name}"] = _vocabulary_shift(expected, actual)
    return components


def _feature_name(component: str) -> str:
    for prefix in (NUMERIC_PREFIX, CATEGORICAL_PREFIX):
        if component.startswith(prefix):
            return component[len(prefix) :]
    return component


def _numeric_psi(reference: pl.Series, current: pl.Series) -> float:
    """PSI of a numeric column at the deciles of its reference values, missing values in a bin of their own."""
    reference_values = _finite(reference)
    current_values = _finite(current)
    deciles = np.linspace(0.0, 1.0, _LENGTH_BINS + 1)[1:-1]
    edges = np.unique(np.quantile(reference_values, deciles)) if reference_values.size else np.zeros(0)
    expected = _binned(reference_values, edges) | {_MISSING: reference.len() - reference_values.size}
    actual = _binned(current_values, edges) | {_MISSING: current.len() - current_values.size}
    return psi(expected, actual)


def _finite(values: pl.Series) -> npt.NDArray[np.float64]:
    numbers = values.cast(pl.Float64, strict=False).drop_nulls().to_numpy()
    finite: npt.NDArray[np.float64] = numbers[np.isfinite(numbers)]
    return finite


def _aligned_shares(
    expected: Mapping[str, int], actual: Mapping[str, int]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Shares of both count maps over the sorted union of their categories."""
    categories = sorted(set(expected) | set(actual))
    p = np.array([expected.get(c, 0) for c in categories], dtype=np.float64)
    q = np.array([actual.get(c, 0) for c in categories], dtype=np.float64)
    for name, counts in (("expected", p), ("actual", q)):
        if (counts < 0).any() or not counts.sum() > 0:
            raise ValueError(f"{name} counts must be non-negative with a positive total")
    return p / p.sum(), q / q.sum()


def _kl_bits(p: npt.NDArray[np.float64], m: npt.NDArray[np.float64]) -> float:
    """Kullback-Leibler divergence in bits, with ``0 log 0 = 0`` (``m`` is positive wherever ``p`` is)."""
    support = p > 0
    return float(np.sum(p[support] * np.log2(p[support] / m[support])))


def _token_lists(texts: pl.Series) -> pl.Series:
    """Lower-cased token list per text (null for a null text)."""
    return texts.cast(pl.String).str.to_lowercase().str.extract_all(_WORD_PATTERN)


def _terms_with_empty(texts: pl.Series) -> dict[str, int]:
    """Term counts plus the number of non-null texts without any token, under ``<empty>``."""
    counts = term_counts(texts)
    empty = int((_token_lists(texts).list.len() == 0).sum())
    if empty:
        counts[_EMPTY] = empty
    return counts


def _category_counts(values: pl.Series) -> dict[str, int]:
    """Count of each non-null value, keyed by its text."""
    counts = values.drop_nulls().cast(pl.String).alias("value").value_counts(name="count")
    return dict(zip(counts.get_column("value").to_list(), counts.get_column("count").to_list(), strict=True))


def _length_psi(reference_texts: pl.Series, current_texts: pl.Series) -> float:
    """PSI of text length in characters, binned at the deciles of the reference lengths."""
    reference = _lengths(reference_texts)
    deciles = np.linspace(0.0, 1.0, _LENGTH_BINS + 1)[1:-1]
    edges = np.unique(np.quantile(reference, deciles))
    return psi(_binned(reference, edges), _binned(_lengths(current_texts), edges))


def _lengths(texts: pl.Series) -> npt.NDArray[np.float64]:
    """Length in characters of each non-null text."""
    return texts.drop_nulls().cast(pl.String).str.len_chars().cast(pl.Float64).to_numpy()


def _binned(values: npt.NDArray[np.float64], edges: npt.NDArray[np.float64]) -> dict[str, int]:
    """Counts per bin, keyed by bin index; bin ``i`` holds values in ``[edges[i-1], edges[i])``."""
    bins = np.searchsorted(edges, values, side="right")
    counts = np.bincount(bins, minlength=len(edges) + 1)
    return {str(index): int(count) for index, count in enumerate(counts)}


def _vocabulary_shift(reference: Mapping[str, int], current: Mapping[str, int]) -> float:
    """``8 ln 2`` times the JS divergence over the most frequent terms of both sides, plus the buckets."""
    size = min(max(sum(current.values()) // _TOKENS_PER_TERM, _MIN_TERMS), _MAX_TERMS)
    kept = set(_most_frequent_overall(_without_empty(reference), _without_empty(current), size)) | {_EMPTY}
    return _JS_TO_PSI * js_divergence(_bucketed(reference, kept), _bucketed(current, kept))


def _most_frequent_overall(reference: Mapping[str, int], current: Mapping[str, int], size: int) -> list[str]:
    """The ``size`` terms with the largest share summed over both sides (ties alphabetical)."""
    reference_total = sum(reference.values()) or 1
    current_total = sum(current.values()) or 1
    weight = {term: count / reference_total for term, count in reference.items()}
    for term, count in current.items():
        weight[term] = weight.get(term, 0.0) + count / current_total
    return sorted(weight, key=lambda term: (-weight[term], term))[:size]


def _without_empty(counts: Mapping[str, int]) -> dict[str, int]:
    """The real terms, most frequent first, without the ``<empty>`` pseudo-term."""
    return {term: count for term, count in counts.items() if term != _EMPTY}


def _bucketed(counts: Mapping[str, int], kept: set[str]) -> dict[str, int]:
    """Counts of the kept terms, everything else summed under ``<other>``."""
    bucketed = {term: count for term, count in counts.items() if term in kept}
    bucketed[_OTHER] = sum(count for term, count in counts.items() if term not in kept)
    return bucketed


def _oov_rate_delta(reference: Mapping[str, int], current: Mapping[str, int]) -> float:
    """Today's out-of-vocabulary token rate minus the Good-Turing rate expected without drift."""
    reference_terms, current_terms = _without_empty(reference), _without_empty(current)
    current_total = sum(current_terms.values())
    reference_total = sum(reference_terms.values())
    if not current_total or not reference_total:
        return 0.0
    unseen = sum(count for term, count in current_terms.items() if term not in reference_terms)
    singletons = sum(1 for count in reference_terms.values() if count == 1)
    return unseen / current_total - singletons / reference_total


def _top_new_terms(reference: Mapping[str, int], current: Mapping[str, int]) -> list[tuple[str, int]]:
    """Terms seen 3+ times today and 10x more frequent than in the reference (add-one smoothed)."""
    reference_terms, current_terms = _without_empty(reference), _without_empty(current)
    reference_total = sum(reference_terms.values()) or 1
    current_total = sum(current_terms.values()) or 1
    new = [
        (term, count)
        for term, count in current_terms.items()
        if count >= _NEW_TERM_MIN_COUNT
        and count / current_total >= _NEW_TERM_MIN_LIFT * (reference_terms.get(term, 0) + 1) / reference_total
    ]
    return sorted(new, key=lambda item: (-item[1], item[0]))[:_TOP_NEW_TERMS]
