"""Reference statistics: what a drift report needs to know about the training data, computed once at publish.

A :class:`ReferenceStats` is a set of bounded sketches of the train split of a dataset version, so that a daily
drift report (`drift_against`) costs time proportional to the day's rows, never to the dataset's:

- numeric column (:class:`NumericSketch`): the 19 interior bin edges at the reference quantiles 5%, 10%, ...,
  95% (20 bins; where quantiles coincide the bins between them stay empty), the count and the mean value of
  each bin, the missing count, and the mean and standard deviation (which normalize the Wasserstein distance);
- categorical column (:class:`CategoricalSketch`): the counts of the 200 most frequent categories, the rest
  summed under ``<other>``, missing values under ``<missing>``;
- text (:class:`TextSketch`): the counts of the 5,000 most frequent terms and the token count of the rest,
  the number of terms seen once (the Good-Turing estimate of the out-of-vocabulary rate), the number of
  texts without a token, text-length bins at the reference deciles, and a seeded uniform sample (reservoir) of
  at most 2,000 texts for the domain classifier. The term statistics (terms, tokens, singletons, texts without
  a token) are counted on a seeded uniform sample of at most 100,000 texts (`term_sample`; all of them below
  that), the daily report's alike: tokenizing is most of a report's time (about 3 s per million texts), and
  a hundred thousand texts (over a million tokens) already put the sampling noise of every text component two
  orders of magnitude under its threshold. Lengths are counted on every text (cheap);
- labels: the count of each class.

Size bound. A sketch's size does not depend on the rows: per numeric column 62 numbers (19 edges, 20 counts, 20
bin means, missing count, mean, standard deviation), per categorical column at most 202 counts, per text at most
5,000 term counts, 6 counts, 19 length numbers and 2,000 texts of at most 2,000 characters, and at most 202
counts of labels. Serialized (`to_json`), a reference with 20 columns and a text column of tickets of a few hundred
characters weighs well under 2 MB (the text sample dominates: 2,000 texts of at most 2,000 characters each).

:class:`PredictionReference` is the same idea for the champion model: its predicted-label counts and confidence
sketch on the test split, and its test macro F1 and accuracy, stored with the model version.

The texts of the sample come from the dataset's train split, that is from prepared (PII-scrubbed) rows, and are
stored beside the dataset that already holds them; the drift report never shows them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from factory.core.monitoring._performance import drop_error, estimate_performance, estimate_standard_error
from factory.core.training import joined_text

__all__ = [
    "MAX_CATEGORIES",
    "MAX_TERMS",
    "NUMERIC_BINS",
    "SAMPLE_TEXTS",
    "CategoricalSketch",
    "NumericSketch",
    "PredictionReference",
    "ReferenceStats",
    "TextSketch",
    "category_counts",
    "dataset_reference",
    "finite_values",
    "term_counts",
    "term_sample",
    "text_lengths",
    "token_lists",
]

FORMAT = 1
NUMERIC_BINS = 20
LENGTH_BINS = 10
MAX_CATEGORIES = 200
MAX_TERMS = 5000
SAMPLE_TEXTS = 2000
TERM_TEXTS = 100_000
MAX_SAMPLE_CHARS = 2000
SAMPLE_SEED = 20261206
OTHER = "<other>"
MISSING = "<missing>"
EMPTY = "<empty>"
_WORD_PATTERN = r"[\p{L}\p{N}]{3,}"


def finite_values(values: pl.Series) -> npt.NDArray[np.float64]:
    """The finite numbers of a column (nulls, NaN and infinities dropped), as float64."""
    numbers = values.cast(pl.Float64, strict=False).drop_nulls().to_numpy()
    finite: npt.NDArray[np.float64] = numbers[np.isfinite(numbers)]
    return finite


def token_lists(texts: pl.Series) -> pl.Series:
    """Lower-cased token list per text (runs of at least 3 letters or digits; null for a null text)."""
    return texts.cast(pl.String).str.to_lowercase().str.extract_all(_WORD_PATTERN)


def term_counts(texts: pl.Series, vocabulary_size: int | None = None) -> dict[str, int]:
    """Count lower-cased tokens (runs of at least 3 letters or digits) over ``texts``, nulls skipped.

    With ``vocabulary_size``, only that many most frequent terms are kept (ties broken alphabetically). The
    dict is ordered by count, descending, then by term.
    """
    if vocabulary_size is not None and vocabulary_size < 0:
        raise ValueError(f"vocabulary_size must be non-negative, got {vocabulary_size}")
    counts = _term_frame(token_lists(texts))
    if vocabulary_size is not None:
        counts = counts.head(vocabulary_size)
    return dict(zip(counts.get_column("term").to_list(), counts.get_column("count").to_list(), strict=True))


def _term_frame(tokens: pl.Series) -> pl.DataFrame:
    """Term counts of token lists, most frequent first (ties alphabetical)."""
    terms = tokens.explode().drop_nulls().alias("term")
    return terms.value_counts(name="count").sort(["count", "term"], descending=[True, False])


def term_sample(texts: pl.Series, seed: int = SAMPLE_SEED) -> pl.Series:
    """The texts whose terms are counted: all of them up to :data:`TERM_TEXTS`, else a seeded uniform sample of
    that many (module docstring)."""
    return texts.sample(TERM_TEXTS, seed=seed) if texts.len() > TERM_TEXTS else texts


def text_lengths(texts: pl.Series) -> npt.NDArray[np.float64]:
    """Length in characters of each non-null text."""
    return texts.drop_nulls().cast(pl.String).str.len_chars().cast(pl.Float64).to_numpy()


def category_counts(values: pl.Series) -> dict[str, int]:
    """Count of each value as text, a null counted under ``<missing>``."""
    counts = values.cast(pl.String).fill_null(MISSING).alias("value").value_counts(name="count")
    return dict(zip(counts.get_column("value").to_list(), counts.get_column("count").to_list(), strict=True))


def _capped(counts: Mapping[str, int], size: int) -> dict[str, int]:
    """The ``size`` largest counts (ties alphabetical, ``<missing>`` always kept), the rest under ``<other>``."""
    ranked = sorted((k for k in counts if k != MISSING), key=lambda k: (-counts[k], k))
    kept = {k: int(counts[k]) for k in ranked[:size]}
    rest = sum(int(counts[k]) for k in ranked[size:])
    if rest:
        kept[OTHER] = kept.get(OTHER, 0) + rest
    if counts.get(MISSING):
        kept[MISSING] = int(counts[MISSING])
    return kept


@dataclass(frozen=True)
class NumericSketch:
    """A numeric column binned at its reference quantiles (module docstring)."""

    edges: list[float]
    counts: list[int]
    bin_means: list[float]
    missing: int
    mean: float
    std: float

    @classmethod
    def of(cls, values: pl.Series, bins: int = NUMERIC_BINS) -> NumericSketch:
        finite = finite_values(values)
        missing = values.len() - finite.size
        if not finite.size:
            return cls([], [0], [0.0], missing, 0.0, 0.0)
        edges = np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)[1:-1])
        counts, sums = bin_counts(finite, edges)
        means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
        return cls(
            edges=edges.tolist(),
            counts=counts.astype(np.int64).tolist(),
            bin_means=means.tolist(),
            missing=int(missing),
            mean=float(finite.mean()),
            std=float(finite.std()),
        )

    @property
    def values(self) -> int:
        """The number of finite reference values."""
        return int(sum(self.counts))


def bin_counts(
    values: npt.NDArray[np.float64], edges: Sequence[float] | npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Count and sum of the values in each bin; bin ``i`` holds ``[edges[i-1], edges[i])`` (open ends)."""
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="right")
    size = len(edges) + 1
    counts = np.bincount(index, minlength=size).astype(np.float64)
    sums = np.asarray(np.bincount(index, weights=values, minlength=size), dtype=np.float64)
    return counts, sums


@dataclass(frozen=True)
class CategoricalSketch:
    """The category counts of a column, capped at :data:`MAX_CATEGORIES` plus ``<other>`` and ``<missing>``."""

    counts: dict[str, int]

    @classmethod
    def of(cls, values: pl.Series) -> CategoricalSketch:
        return cls(_capped(category_counts(values), MAX_CATEGORIES))


@dataclass(frozen=True)
class TextSketch:
    """Terms, lengths and a sample of the reference texts (module docstring)."""

    texts: int
    tokens: int
    terms: dict[str, int]
    other_tokens: int
    singletons: int
    empty: int
    length_edges: list[float]
    length_counts: list[int]
    sample: list[str]

    @classmethod
    def of(cls, texts: pl.Series, seed: int = SAMPLE_SEED) -> TextSketch:
        present = texts.drop_nulls().cast(pl.String)
        if present.is_empty():
            raise ValueError("reference statistics need at least one non-null text")
        tokens = token_lists(term_sample(present, seed))
        terms = _term_frame(tokens)
        counts = terms.get_column("count")
        kept = terms.head(MAX_TERMS)
        total, kept_total = int(counts.sum()), int(kept.get_column("count").sum())
        lengths = text_lengths(present)
        edges = np.unique(np.quantile(lengths, np.linspace(0.0, 1.0, LENGTH_BINS + 1)[1:-1]))
        length_counts, _ = bin_counts(lengths, edges)
        sample = present.sample(min(SAMPLE_TEXTS, present.len()), seed=seed, shuffle=True)
        return cls(
            texts=present.len(),
            tokens=total,
            terms=dict(zip(kept.get_column("term").to_list(), kept.get_column("count").to_list(), strict=True)),
            other_tokens=total - kept_total,
            singletons=int((counts == 1).sum()),
            empty=int((tokens.list.len() == 0).sum()),
            length_edges=edges.tolist(),
            length_counts=length_counts.astype(np.int64).tolist(),
            sample=sample.str.slice(0, MAX_SAMPLE_CHARS).to_list(),
        )


@dataclass(frozen=True)
class ReferenceStats:
    """Bounded sketches of a reference frame (module docstring); `drift_against` compares a day with it."""

    rows: int
    numeric: dict[str, NumericSketch]
    categorical: dict[str, CategoricalSketch]
    text: TextSketch | None
    labels: dict[str, int] | None

    @classmethod
    def of(
        cls,
        frame: pl.DataFrame,
        *,
        numeric: Sequence[str],
        categorical: Sequence[str],
        text: pl.Series | None,
        labels: pl.Series | None,
    ) -> ReferenceStats:
        """Sketch ``frame``'s numeric and categorical columns, the ``text`` (one text per row, when the use case
        has any) and the ``labels``. Raises ValueError for an empty frame or a column it lacks."""
        if frame.is_empty():
            raise ValueError("reference statistics need at least one row")
        missing = [name for name in (*numeric, *categorical) if name not in frame.columns]
        if missing:
            raise ValueError(f"reference frame lacks columns {missing}")
        return cls(
            rows=frame.height,
            numeric={name: NumericSketch.of(frame[name]) for name in numeric},
            categorical={name: CategoricalSketch.of(frame[name]) for name in categorical},
            text=TextSketch.of(text) if text is not None else None,
            labels=_capped(category_counts(labels.drop_nulls()), MAX_CATEGORIES) if labels is not None else None,
        )

    def to_json(self) -> bytes:
        """UTF-8 JSON, keys sorted: the same statistics give the same bytes."""
        return _dumped(self)

    @classmethod
    def from_json(cls, data: bytes) -> ReferenceStats:
        """The statistics `to_json` wrote; ValueError for another format."""
        raw = _loaded(data)
        return cls(
            rows=int(raw["rows"]),
            numeric={k: NumericSketch(**v) for k, v in raw["numeric"].items()},
            categorical={k: CategoricalSketch(**v) for k, v in raw["categorical"].items()},
            text=TextSketch(**raw["text"]) if raw["text"] is not None else None,
            labels=raw["labels"],
        )


@dataclass(frozen=True)
class PredictionReference:
    """The champion's predictions on its test split: the baseline of prediction and confidence drift, and of the
    performance estimate (the test split's realized macro F1 and accuracy next to their CBPE estimate)."""

    rows: int
    labels: dict[str, int]
    confidence: NumericSketch
    macro_f1: float
    accuracy: float
    estimated_macro_f1: float
    estimated_accuracy: float
    estimated_macro_f1_se: float | None = None  # None: a reference stored before the errors were
    estimated_accuracy_se: float | None = None

    @classmethod
    def of(
        cls, probabilities: npt.NDArray[np.float64], classes: Sequence[str], *, macro_f1: float, accuracy: float
    ) -> PredictionReference:
        """From the model's class probabilities on the test split (rows x classes, in the order of ``classes``)
        and its realized metrics there."""
        proba = np.asarray(probabilities, dtype=np.float64)
        if not proba.shape[0]:
            raise ValueError("a prediction reference needs at least one prediction")
        estimated_f1, estimated_accuracy = estimate_performance(proba, classes)
        f1_se, accuracy_se = estimate_standard_error(proba, classes)
        return cls(
            rows=proba.shape[0],
            labels=_capped(category_counts(pl.Series(np.asarray(classes)[proba.argmax(axis=1)])), MAX_CATEGORIES),
            confidence=NumericSketch.of(pl.Series(proba.max(axis=1))),
            macro_f1=float(macro_f1),
            accuracy=float(accuracy),
            estimated_macro_f1=estimated_f1,
            estimated_accuracy=estimated_accuracy,
            estimated_macro_f1_se=f1_se,
            estimated_accuracy_se=accuracy_se,
        )

    def anchored(self, estimate: tuple[float, float]) -> tuple[float, float]:
        """A day's CBPE ``(macro_f1, accuracy)`` anchored on the test split: the realized test metric plus the
        estimate's change from the test split to the day (clipped to [0, 1]). Whatever bias the estimate has
        on this model (imperfect calibration, the ratio of expected counts in F1) cancels, so a calm day reads
        the test figure and a drop reads as a drop."""
        f1 = self.macro_f1 + estimate[0] - self.estimated_macro_f1
        accuracy = self.accuracy + estimate[1] - self.estimated_accuracy
        return float(min(max(f1, 0.0), 1.0)), float(min(max(accuracy, 0.0), 1.0))

    def anchored_error(self, day_error: tuple[float, float]) -> tuple[float, float]:
        """The standard errors of an anchored estimate's drop from the test figure: the day's estimate and the
        test split's each carry a sampling error (`estimate_standard_error`), independent, so they add in
        quadrature (`drop_error`). The day's alone for a reference stored without its own."""
        return drop_error(day_error, (self.estimated_macro_f1_se, self.estimated_accuracy_se))

    def to_json(self) -> bytes:
        return _dumped(self)

    @classmethod
    def from_json(cls, data: bytes) -> PredictionReference:
        raw = _loaded(data)
        return cls(**{**raw, "confidence": NumericSketch(**raw["confidence"])})


def _dumped(stats: ReferenceStats | PredictionReference) -> bytes:
    return json.dumps({"format": FORMAT, **asdict(stats)}, sort_keys=True, ensure_ascii=False).encode()


def _loaded(data: bytes) -> dict[str, Any]:
    raw = json.loads(data)
    if not isinstance(raw, dict) or raw.pop("format", None) != FORMAT:
        raise ValueError(f"not reference statistics of format {FORMAT}")
    return raw


def dataset_reference(
    dataset: pl.DataFrame, *, text_columns: Sequence[str], numeric: Sequence[str], categorical: Sequence[str]
) -> ReferenceStats:
    """The reference statistics of a dataset version: its train split (``split == "train"``), its text columns
    joined into one text per row, its ``label`` column. ValueError when the train split is empty."""
    train = dataset.filter(pl.col("split") == "train")
    return ReferenceStats.of(
        train,
        numeric=numeric,
        categorical=categorical,
        text=joined_text(train, text_columns) if text_columns else None,
        labels=train["label"],
    )
