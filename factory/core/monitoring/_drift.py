"""Distribution drift of one day of traffic against the stored reference statistics (`ReferenceStats`).

`drift_against` reads the day's rows once (vectorized, time proportional to them) and the bounded reference
sketches; the only model it fits is a small domain classifier on at most 2,000 texts a side, and the day's
terms are counted on at most 100,000 of its texts (`term_sample`, as the reference's), so text costs a bounded
time however large the day.

Two kinds of numbers come out.

**Components** (``DriftResult.components``), all on the scale of the population stability index (PSI: below
0.1 stable, 0.1 to 0.25 moderate, above 0.25 a real shift). The headline ``score`` is the largest of them, so
one threshold (``drift.threshold``, about 0.2) reads every one, as in the first drift report:

- ``label_psi``: PSI of the day's predicted-label mix against the champion's predicted-label mix on its test
  split (or, without that, the label mix of the training set).
- ``confidence_psi``: PSI of the day's confidences on the deciles of the champion's test-split confidences.
- ``length_psi``: PSI of text length in characters, binned at the deciles of the reference lengths.
- ``vocabulary_shift``: Jensen-Shannon divergence (base 2) of the term distributions times ``8 ln 2`` (about
  5.55): for small differences both PSI and ``8 ln(2) JS`` reduce to the chi-square sum ``sum (p - q)^2 / m``.
  The terms compared are the most frequent of both sides together (one per 50 of the day's tokens, between
  10 and 500), plus ``<other>`` and ``<empty>`` (texts without a token) buckets.
- ``oov_rate_delta``: the day's share of tokens outside the reference vocabulary minus the share expected for
  a fresh sample of the reference (Good-Turing: terms seen once over tokens; when the stored vocabulary is
  capped, the token share of the terms left out, which contains every singleton).
- ``numeric_psi.<column>``: PSI of a numeric feature on the deciles of the reference (its stored quantile
  bins merged in pairs) plus a missing bin.
- ``categorical_shift.<column>``: ``8 ln 2`` times the JS divergence of the category mix, bucketed as the
  vocabulary.

**Verdicts** (``DriftResult.verdicts``), one per property, each with the measure its threshold applies to, so
that a small, real shift on a large day is caught and the noise of a small day is not (Evidently switches from
tests on small data to distances on large data for the same reason). A verdict is drifted when the effect is at
least its threshold **and**, where a test applies, the difference is significant (chi-squared test of
homogeneity on the bins or categories, cells expected under 5 pooled; p under ``alpha``, 0.001):

- ``numeric.<column>`` / ``prediction.confidence``: Wasserstein-1 distance between the binned sketches
  (each bin an atom at its mean value), divided by the reference standard deviation; a shift of the mean by
  d standard deviations gives at least d. Threshold ``numeric_wasserstein`` (0.05).
- ``missing.<column>``: change of a numeric column's missing share (only when either side has missing
  values). Threshold ``category_share`` (2 points).
- ``categorical.<column>`` / ``prediction.label``: the largest change of one category's share, in share
  points. Threshold ``category_share`` (2 points).
- ``text.length_psi``, ``text.vocabulary_shift``, ``text.oov_rate_delta``: the components above, threshold
  ``psi`` (the length with the chi-squared test too; tokens are not independent draws, so the vocabulary has
  no test).
- ``text.domain_classifier``: cross-validated (5 folds) ROC AUC of a classifier (hashed word and bigram
  TF-IDF, multinomial naive Bayes: thirty times cheaper than a logistic regression here, and a ranking is all
  an AUC needs) telling up to 2,000 reference texts from as many of the day's: 0.5 when they cannot be told
  apart. Threshold ``domain_auc`` (0.55, as Evidently), with the Mann-Whitney test of AUC > 0.5.

``drifted`` is true when any verdict is. ``top_features`` names the features that moved most: drifted ones
first, then by their PSI-scale component. Fewer rows make every measure noisier; the tests keep the verdicts
quiet on two samples of one distribution from 300 rows up.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from scipy import stats
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.naive_bayes import MultinomialNB
from sklearn.pipeline import make_pipeline

from factory.core.monitoring._reference import (
    EMPTY,
    MISSING,
    OTHER,
    SAMPLE_SEED,
    SAMPLE_TEXTS,
    NumericSketch,
    PredictionReference,
    ReferenceStats,
    TextSketch,
    bin_counts,
    category_counts,
    finite_values,
    term_sample,
    text_lengths,
    token_lists,
)

__all__ = ["DriftResult", "DriftThresholds", "Verdict", "drift_against", "js_divergence", "psi"]

_JS_TO_PSI = 8.0 * math.log(2.0)
_TOKENS_PER_TERM = 50
_MIN_TERMS = 10
_MAX_COMPARED_TERMS = 500
_NEW_TERM_MIN_COUNT = 3
_NEW_TERM_MIN_LIFT = 10.0
_TOP_NEW_TERMS = 10
_TOP_FEATURES = 5
_MIN_EXPECTED = 5.0
_DOMAIN_FOLDS = 5
_DOMAIN_MIN_TEXTS = 20
_HASH_FEATURES = 2**18
NUMERIC_PREFIX = "numeric_psi."
CATEGORICAL_PREFIX = "categorical_shift."


@dataclass(frozen=True)
class DriftThresholds:
    """Per-kind thresholds of the verdicts (module docstring); ``psi`` is also the headline score's."""

    psi: float = 0.2
    numeric_wasserstein: float = 0.05
    category_share: float = 0.02
    domain_auc: float = 0.55
    alpha: float = 0.001


@dataclass(frozen=True)
class Verdict:
    """One property compared with its threshold; ``p_value`` is the significance test's, when one applies."""

    component: str
    kind: str
    measure: str
    value: float
    threshold: float
    drifted: bool
    p_value: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DriftResult:
    """Drift of one day against the reference (module docstring for the components and verdicts)."""

    score: float
    components: dict[str, float]
    top_new_terms: list[tuple[str, int]]
    rows: int
    top_features: list[tuple[str, float]] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    drifted: bool = False


def psi(expected: Mapping[str, int], actual: Mapping[str, int], epsilon: float = 1e-4) -> float:
    """Population stability index ``sum (a - e) ln(a / e)`` over the union of categories.

    Counts become shares; shares below ``epsilon`` (a category absent on one side) are raised to it.
    """
    if epsilon <= 0:
        raise ValueError(f"epsilon must be positive, got {epsilon}")
    p, q = _aligned_shares(expected, actual)
    return _psi_of_shares(p, q, epsilon)


def js_divergence(expected: Mapping[str, int], actual: Mapping[str, int]) -> float:
    """Jensen-Shannon divergence in bits (0 for equal distributions, 1 for disjoint ones)."""
    p, q = _aligned_shares(expected, actual)
    m = (p + q) / 2.0
    value = (_kl_bits(p, m) + _kl_bits(q, m)) / 2.0
    return float(min(max(value, 0.0), 1.0))


def drift_against(
    reference: ReferenceStats,
    current: pl.DataFrame,
    *,
    numeric: Sequence[str],
    categorical: Sequence[str],
    text: pl.Series | None,
    labels: pl.Series | None,
    thresholds: DriftThresholds | None = None,
    predictions: PredictionReference | None = None,
    confidence: pl.Series | None = None,
) -> DriftResult:
    """Compare one day with the reference statistics (module docstring).

    ``numeric`` and ``categorical`` name the feature columns of ``current`` to compare (each must be sketched in
    ``reference``); ``text`` is the day's text (one per row) when the use case has text; ``labels`` the day's
    predicted labels. With ``predictions`` (the champion's test-split reference) the predicted labels are
    compared with the champion's predictions and ``confidence`` (the day's confidences) with its confidences;
    without it, the labels are compared with the training labels. Raises ValueError when nothing is compared,
    a column has no reference sketch, or a side given has no text.
    """
    limits = thresholds or DriftThresholds()
    components: dict[str, float] = {}
    verdicts: list[Verdict] = []
    top_new_terms: list[tuple[str, int]] = []
    unknown = [c for c in numeric if c not in reference.numeric] + [
        c for c in categorical if c not in reference.categorical
    ]
    if unknown:
        raise ValueError(f"no reference statistics for columns {unknown}")
    rows = current.height
    if rows:
        for name in numeric:
            value, found = _numeric_drift(reference.numeric[name], current[name], f"numeric.{name}", "numeric", limits)
            components[f"{NUMERIC_PREFIX}{name}"] = value
            verdicts += found
        for name in categorical:
            value, verdict = _categorical_drift(
                reference.categorical[name].counts, category_counts(current[name]), f"categorical.{name}", limits
            )
            components[f"{CATEGORICAL_PREFIX}{name}"] = value
            verdicts.append(verdict)
    if text is not None:
        if reference.text is None:
            raise ValueError("the reference statistics hold no text")
        if text.drop_nulls().is_empty():
            raise ValueError("drift needs at least one non-null text on each side (reference and current)")
        text_components, text_verdicts, top_new_terms = _text_drift(reference.text, text, limits)
        components |= text_components
        verdicts += text_verdicts
        rows = max(rows, text.len())
    if labels is not None and not labels.drop_nulls().is_empty():
        expected = predictions.labels if predictions is not None else reference.labels
        if expected:
            actual = category_counts(labels.drop_nulls())
            components["label_psi"] = psi(expected, actual)
            verdicts.append(_categorical_drift(expected, actual, "prediction.label", limits, kind="prediction")[1])
            rows = max(rows, labels.len())
    if predictions is not None and confidence is not None and not confidence.drop_nulls().is_empty():
        value, found = _numeric_drift(
            predictions.confidence, confidence.drop_nulls(), "prediction.confidence", "prediction", limits
        )
        components["confidence_psi"] = value
        verdicts += found
    if not components:
        raise ValueError("drift needs text, predicted labels or features to compare")
    return DriftResult(
        score=max(components.values()),
        components=dict(sorted(components.items())),
        top_new_terms=top_new_terms,
        rows=rows,
        top_features=_top_features(components, verdicts),
        verdicts=verdicts,
        drifted=any(v.drifted for v in verdicts),
    )


def _top_features(components: Mapping[str, float], verdicts: Sequence[Verdict]) -> list[tuple[str, float]]:
    """The features that moved most: drifted ones first, then by PSI-scale component."""
    drifted = {v.component.split(".", 1)[1] for v in verdicts if v.drifted and v.kind in ("numeric", "categorical")}
    features = [
        (key.split(".", 1)[1], value)
        for key, value in components.items()
        if key.startswith((NUMERIC_PREFIX, CATEGORICAL_PREFIX))
    ]
    ranked = sorted(features, key=lambda item: (item[0] not in drifted, -item[1], item[0]))
    return ranked[:_TOP_FEATURES]


def _numeric_drift(
    sketch: NumericSketch, values: pl.Series, component: str, kind: str, limits: DriftThresholds
) -> tuple[float, list[Verdict]]:
    """PSI of a numeric column on the stored deciles (plus a missing bin), its Wasserstein verdict named
    ``component`` and, when either side has missing values, its missing-share verdict (``missing.<name>``)."""
    finite = finite_values(values)
    missing = values.len() - finite.size
    counts, sums = bin_counts(finite, sketch.edges)
    reference_counts = np.asarray(sketch.counts, dtype=np.float64)
    value = _psi_of_counts(np.append(_deciles(reference_counts), sketch.missing), np.append(_deciles(counts), missing))
    wasserstein, p_value = 0.0, 1.0
    if finite.size and sketch.values:
        wasserstein = _binned_wasserstein(sketch, counts, sums)
        p_value = _homogeneity_p(reference_counts, counts)
    verdicts = [
        _verdict(
            component,
            kind,
            "wasserstein_std",
            wasserstein,
            limits.numeric_wasserstein,
            p_value,
            limits.alpha,
        )
    ]
    if sketch.missing or missing:
        reference_total, current_total = sketch.values + sketch.missing, finite.size + missing
        delta = abs(missing / max(current_total, 1) - sketch.missing / max(reference_total, 1))
        split_p = _homogeneity_p(
            np.array([sketch.values, sketch.missing], dtype=np.float64),
            np.array([finite.size, missing], dtype=np.float64),
        )
        verdicts.append(
            _verdict(
                f"missing.{component.split('.', 1)[1]}",
                kind,
                "share_change",
                delta,
                limits.category_share,
                split_p,
                limits.alpha,
            )
        )
    return value, verdicts


def _deciles(counts: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Counts of the 20 quantile bins merged in pairs into the 10 decile bins (the PSI's usual grid, whose noise
    on a few hundred rows stays well under the threshold)."""
    return counts.reshape(-1, 2).sum(axis=1) if counts.size % 2 == 0 else counts


def _binned_wasserstein(sketch: NumericSketch, counts: npt.NDArray[np.float64], sums: npt.NDArray[np.float64]) -> float:
    """Wasserstein-1 distance between the two binned distributions (each bin an atom at the mean of its values),
    in reference standard deviations."""
    reference_means = np.asarray(sketch.bin_means, dtype=np.float64)
    current_means = np.divide(sums, counts, out=reference_means.copy(), where=counts > 0)
    reference_weights = np.asarray(sketch.counts, dtype=np.float64) / sketch.values
    current_weights = counts / counts.sum()
    positions = np.concatenate([reference_means, current_means])
    weights = np.concatenate([reference_weights, -current_weights])
    order = np.argsort(positions, kind="stable")
    cumulative = np.cumsum(weights[order])[:-1]
    distance = float(np.sum(np.abs(cumulative) * np.diff(positions[order])))
    scale = sketch.std if sketch.std > 0 else max(abs(sketch.mean), 1.0)
    return distance / scale


def _categorical_drift(
    expected: Mapping[str, int], actual: Mapping[str, int], component: str, limits: DriftThresholds, kind: str = ""
) -> tuple[float, Verdict]:
    """JS divergence on the PSI scale and the largest share change (with its chi-squared test) of two category
    mixes; a category of the day outside a capped reference counts under ``<other>``."""
    if OTHER in expected:
        folded: dict[str, int] = {}
        for key, count in actual.items():
            bucket = key if key in expected else OTHER
            folded[bucket] = folded.get(bucket, 0) + count
        actual = folded
    categories = sorted(set(expected) | set(actual))
    p = np.array([expected.get(c, 0) for c in categories], dtype=np.float64)
    q = np.array([actual.get(c, 0) for c in categories], dtype=np.float64)
    shift = _vocabulary_shift(expected, actual)
    change = float(np.max(np.abs(p / p.sum() - q / q.sum())))
    verdict = _verdict(
        component,
        kind or "categorical",
        "share_change",
        change,
        limits.category_share,
        _homogeneity_p(p, q),
        limits.alpha,
    )
    return shift, verdict


def _verdict(
    component: str, kind: str, measure: str, value: float, threshold: float, p_value: float | None, alpha: float
) -> Verdict:
    significant = p_value is None or p_value < alpha
    return Verdict(component, kind, measure, float(value), threshold, bool(value >= threshold and significant), p_value)


def _homogeneity_p(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> float:
    """p-value of the chi-squared test that two count vectors come from one distribution; cells expected under 5
    in either sample are pooled into one (the approximation needs it)."""
    total_a, total_b = a.sum(), b.sum()
    if total_a <= 0 or total_b <= 0:
        return 1.0
    column = a + b
    smaller = np.minimum(column * total_a, column * total_b) / (total_a + total_b)
    rare = smaller < _MIN_EXPECTED
    a = np.append(a[~rare & (column > 0)], a[rare].sum())
    b = np.append(b[~rare & (column > 0)], b[rare].sum())
    keep = (a + b) > 0
    a, b = a[keep], b[keep]
    if a.size < 2:
        return 1.0
    column = a + b
    expected_a = column * total_a / (total_a + total_b)
    expected_b = column * total_b / (total_a + total_b)
    statistic = float(np.sum((a - expected_a) ** 2 / expected_a) + np.sum((b - expected_b) ** 2 / expected_b))
    return float(stats.chi2.sf(statistic, a.size - 1))


def _text_drift(
    sketch: TextSketch, texts: pl.Series, limits: DriftThresholds
) -> tuple[dict[str, float], list[Verdict], list[tuple[str, int]]]:
    present = texts.drop_nulls().cast(pl.String)
    tokens = token_lists(term_sample(present))
    terms = tokens.explode().drop_nulls().alias("term").value_counts(name="count")
    current = dict(zip(terms.get_column("term").to_list(), terms.get_column("count").to_list(), strict=True))
    empty = int((tokens.list.len() == 0).sum())
    reference = dict(sketch.terms)
    current_total = sum(current.values())
    length_counts, _ = bin_counts(text_lengths(present), sketch.length_edges)
    reference_lengths = np.asarray(sketch.length_counts, dtype=np.float64)
    components = {
        "length_psi": _psi_of_counts(reference_lengths, length_counts),
        "vocabulary_shift": _vocabulary_shift(
            {**sketch.terms, OTHER: sketch.other_tokens, EMPTY: sketch.empty}, {**current, EMPTY: empty}
        ),
        "oov_rate_delta": _oov_rate_delta(sketch, current),
    }
    auc, auc_p = _domain_auc(sketch.sample, present)
    verdicts = [
        _verdict(
            "text.length_psi",
            "text",
            "psi",
            components["length_psi"],
            limits.psi,
            _homogeneity_p(reference_lengths, length_counts),
            limits.alpha,
        ),
        _verdict("text.vocabulary_shift", "text", "js_psi", components["vocabulary_shift"], limits.psi, None, 1.0),
        _verdict("text.oov_rate_delta", "text", "rate_delta", components["oov_rate_delta"], limits.psi, None, 1.0),
    ]
    if auc is not None:
        verdicts.append(
            _verdict("text.domain_classifier", "text", "roc_auc", auc, limits.domain_auc, auc_p, limits.alpha)
        )
    return components, verdicts, _top_new_terms(reference, sketch.tokens, current, current_total)


def _oov_rate_delta(sketch: TextSketch, current: Mapping[str, int]) -> float:
    """The day's out-of-vocabulary token rate minus the rate expected without drift (module docstring)."""
    current_total = sum(current.values())
    if not current_total or not sketch.tokens:
        return 0.0
    unseen = sum(count for term, count in current.items() if term not in sketch.terms)
    return unseen / current_total - max(sketch.other_tokens, sketch.singletons) / sketch.tokens


def _top_new_terms(
    reference: Mapping[str, int], reference_total: int, current: Mapping[str, int], current_total: int
) -> list[tuple[str, int]]:
    """Terms seen 3+ times today (in the texts `term_sample` keeps) and 10x more frequent than in the reference
    (add-one smoothed; a term outside the stored vocabulary counts 0)."""
    reference_total, current_total = reference_total or 1, current_total or 1
    new = [
        (term, count)
        for term, count in current.items()
        if count >= _NEW_TERM_MIN_COUNT
        and count / current_total >= _NEW_TERM_MIN_LIFT * (reference.get(term, 0) + 1) / reference_total
    ]
    return sorted(new, key=lambda item: (-item[1], item[0]))[:_TOP_NEW_TERMS]


def _domain_auc(sample: Sequence[str], current: pl.Series) -> tuple[float | None, float | None]:
    """Cross-validated ROC AUC of a classifier telling reference texts from the day's, on as many of each (at most
    2,000), with the one-sided p-value of AUC > 0.5 (Mann-Whitney, normal approximation). None for too few texts."""
    size = min(len(sample), current.len(), SAMPLE_TEXTS)
    if size < _DOMAIN_MIN_TEXTS:
        return None, None
    rng = np.random.default_rng(SAMPLE_SEED)
    reference = [sample[i] for i in rng.choice(len(sample), size=size, replace=False)]
    today = current.sample(size, seed=SAMPLE_SEED).to_list()
    target = np.repeat([0, 1], size)
    model = make_pipeline(
        HashingVectorizer(n_features=_HASH_FEATURES, ngram_range=(1, 2), alternate_sign=False, norm=None),
        TfidfTransformer(sublinear_tf=True),
        MultinomialNB(alpha=0.1),
    )
    folds = StratifiedKFold(n_splits=_DOMAIN_FOLDS, shuffle=True, random_state=SAMPLE_SEED)
    texts = np.array(reference + today, dtype=object)
    scores = cross_val_predict(model, texts, target, cv=folds, method="predict_log_proba")
    auc = float(roc_auc_score(target, scores[:, 1] - scores[:, 0]))
    spread = math.sqrt((2 * size + 1) / (12.0 * size * size))
    return auc, float(stats.norm.sf((auc - 0.5) / spread))


def _psi_of_counts(expected: npt.NDArray[np.float64], actual: npt.NDArray[np.float64]) -> float:
    if expected.sum() <= 0 or actual.sum() <= 0:
        return 0.0
    return _psi_of_shares(expected / expected.sum(), actual / actual.sum(), 1e-4)


def _psi_of_shares(p: npt.NDArray[np.float64], q: npt.NDArray[np.float64], epsilon: float) -> float:
    p, q = np.maximum(p, epsilon), np.maximum(q, epsilon)
    return float(np.sum((q - p) * np.log(q / p)))


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


def _vocabulary_shift(reference: Mapping[str, int], current: Mapping[str, int]) -> float:
    """``8 ln 2`` times the JS divergence over the most frequent terms or categories of both sides (one per 50 of
    the day's, between 10 and 500), the rest under ``<other>``, ``<missing>`` and ``<empty>`` always kept, so that
    a large vocabulary or a high-cardinality column does not score its sampling noise."""
    special = (OTHER, MISSING, EMPTY)
    reference_total = sum(c for k, c in reference.items() if k not in special) or 1
    current_total = sum(c for k, c in current.items() if k not in special) or 1
    size = min(max(current_total // _TOKENS_PER_TERM, _MIN_TERMS), _MAX_COMPARED_TERMS)
    weight = {k: c / reference_total for k, c in reference.items() if k not in special}
    for key, count in current.items():
        if key not in special:
            weight[key] = weight.get(key, 0.0) + count / current_total
    kept = set(sorted(weight, key=lambda key: (-weight[key], key))[:size]) | {MISSING, EMPTY}
    return _JS_TO_PSI * js_divergence(_bucketed(reference, kept), _bucketed(current, kept))


def _bucketed(counts: Mapping[str, int], kept: set[str]) -> dict[str, int]:
    """Counts of the kept keys, everything else summed under ``<other>``."""
    bucketed = {key: count for key, count in counts.items() if key in kept}
    bucketed[OTHER] = sum(count for key, count in counts.items() if key not in kept)
    return bucketed
