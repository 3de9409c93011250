"""Drift measures on known distributions: zero for identical data, small for resamples, large for shifts."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
from scipy.spatial.distance import jensenshannon

from factory.core.monitoring import DriftResult, ReferenceStats, drift_against, js_divergence, psi, term_counts

THRESHOLD = 0.2  # the spec's default drift threshold
CLASSES = [f"topic{k}" for k in range(10)]
# The last topic is the "new issue type": 1% of the training data.
REFERENCE_MIX = np.array([0.2, 0.15, 0.12, 0.11, 0.1, 0.09, 0.08, 0.07, 0.07, 0.01])
SHIFTED_MIX = np.append(REFERENCE_MIX[:9] * 0.8 / REFERENCE_MIX[:9].sum(), 0.2)


def zipf(size: int) -> npt.NDArray[np.float64]:
    """Zipf-like probabilities over ``size`` ranks."""
    weights = 1.0 / np.arange(1, size + 1, dtype=np.float64) ** 1.1
    shares: npt.NDArray[np.float64] = weights / weights.sum()
    return shares


def tickets(
    count: int, mix: npt.NDArray[np.float64], seed: int, novel_share: float = 0.0, length_factor: int = 1
) -> tuple[pl.Series, pl.Series]:
    """Synthetic ticket texts and their topics.

    Half of each text's words come from 300 common words, half from 40 words of its topic. With
    ``novel_share``, that share of the last topic's words come from 30 words never seen in the reference.
    """
    rng = np.random.default_rng(seed)
    topics = rng.choice(len(CLASSES), size=count, p=mix)
    lengths = (4 + rng.poisson(10, size=count)) * length_factor
    owner = np.repeat(topics, lengths)
    size = int(lengths.sum())
    common = np.char.add("common", rng.choice(300, size=size, p=zipf(300)).astype(str))
    specific = np.char.add(
        np.char.add(np.array(CLASSES)[owner], "word"), rng.choice(40, size=size, p=zipf(40)).astype(str)
    )
    novel = np.char.add("novel", rng.choice(30, size=size, p=zipf(30)).astype(str))
    use_novel = (owner == len(CLASSES) - 1) & (rng.random(size) < novel_share)
    words = np.where(rng.random(size) < 0.5, common, np.where(use_novel, novel, specific))
    texts = (
        pl.DataFrame({"text_id": np.repeat(np.arange(count), lengths), "word": words})
        .group_by("text_id", maintain_order=True)
        .agg(pl.col("word").str.join(" "))
        .get_column("word")
    )
    return texts.alias("text"), pl.Series("label", np.array(CLASSES)[topics])


@pytest.fixture(scope="module")
def reference() -> tuple[pl.Series, pl.Series]:
    """The training set: 5,000 tickets."""
    return tickets(5000, REFERENCE_MIX, seed=1)


def text_reference(texts: pl.Series, labels: pl.Series) -> ReferenceStats:
    """Reference statistics of a text-only training set."""
    return ReferenceStats.of(pl.DataFrame({"text": texts}), numeric=(), categorical=(), text=texts, labels=labels)


@pytest.fixture(scope="module")
def stats(reference: tuple[pl.Series, pl.Series]) -> ReferenceStats:
    return text_reference(*reference)


def text_drift(stats: ReferenceStats, texts: pl.Series, labels: pl.Series | None) -> DriftResult:
    """A day of texts (and predicted labels) against the reference statistics."""
    return drift_against(stats, pl.DataFrame({"text": texts}), numeric=(), categorical=(), text=texts, labels=labels)


def test_psi_known_value() -> None:
    expected = 0.25 * math.log(2) + 0.25 * math.log(1.5)
    assert psi({"a": 50, "b": 50}, {"a": 25, "b": 75}) == pytest.approx(expected)


def test_psi_floors_absent_categories_at_epsilon() -> None:
    value = psi({"a": 10}, {"a": 5, "b": 5}, epsilon=1e-3)
    expected = (0.5 - 1.0) * math.log(0.5) + (0.5 - 1e-3) * math.log(0.5 / 1e-3)
    assert value == pytest.approx(expected)


def test_psi_of_identical_mixes_is_zero_whatever_the_sample_size() -> None:
    assert psi({"a": 1, "b": 3}, {"a": 100, "b": 300}) == pytest.approx(0.0, abs=1e-12)


def test_js_divergence_known_values() -> None:
    assert js_divergence({"a": 7, "b": 3}, {"b": 30, "a": 70}) == pytest.approx(0.0, abs=1e-12)
    assert js_divergence({"a": 1}, {"b": 1}) == pytest.approx(1.0)
    # p = (1, 0), q = (1/2, 1/2): JS = (log2(4/3) + (1/2) log2(2/3) + 1/2) / 2.
    expected = (math.log2(4 / 3) + 0.5 * math.log2(2 / 3) + 0.5) / 2
    assert js_divergence({"a": 4}, {"a": 2, "b": 2}) == pytest.approx(expected)


def test_js_divergence_agrees_with_scipy_and_is_symmetric() -> None:
    p = {"a": 5, "b": 1, "c": 9, "d": 0}
    q = {"a": 2, "b": 7, "c": 1, "e": 4}
    keys = sorted(set(p) | set(q))
    reference = jensenshannon([p.get(k, 0) for k in keys], [q.get(k, 0) for k in keys], base=2) ** 2
    assert js_divergence(p, q) == pytest.approx(reference)
    assert js_divergence(q, p) == pytest.approx(js_divergence(p, q))


@pytest.mark.parametrize("bad", [{}, {"a": 0}, {"a": -1, "b": 3}])
def test_divergences_reject_empty_or_negative_counts(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="counts"):
        psi(bad, {"a": 1})
    with pytest.raises(ValueError, match="counts"):
        js_divergence({"a": 1}, bad)


def test_term_counts_tokenizes_lower_cased_words_of_three_or_more() -> None:
    texts = pl.Series(["The CAT's cat sat on 2 mats, 123 ab", None, "Straße café x1y"])
    assert term_counts(texts) == {
        "cat": 2,
        "123": 1,
        "café": 1,
        "mats": 1,
        "sat": 1,
        "straße": 1,
        "the": 1,
        "x1y": 1,
    }


def test_term_counts_keeps_the_most_frequent_terms() -> None:
    texts = pl.Series(["alpha beta beta gamma gamma gamma delta delta"])
    assert term_counts(texts, vocabulary_size=2) == {"gamma": 3, "beta": 2}
    assert list(term_counts(texts, vocabulary_size=3)) == ["gamma", "beta", "delta"]


def test_identical_data_scores_zero(reference: tuple[pl.Series, pl.Series], stats: ReferenceStats) -> None:
    texts, labels = reference
    result = text_drift(stats, texts, labels)
    assert result.score == pytest.approx(0.0, abs=1e-12)
    assert result.components["label_psi"] == pytest.approx(0.0, abs=1e-12)
    assert result.components["vocabulary_shift"] == pytest.approx(0.0, abs=1e-12)
    assert result.components["length_psi"] == pytest.approx(0.0, abs=1e-12)
    assert result.top_new_terms == []
    assert result.rows == 5000
    assert not result.drifted


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_another_sample_of_the_same_distribution_stays_below_the_threshold(stats: ReferenceStats, seed: int) -> None:
    texts, labels = tickets(500, REFERENCE_MIX, seed=seed)
    result = text_drift(stats, texts, labels)
    assert result.score < 0.2
    assert result.score == max(result.components.values())
    assert result.components["vocabulary_shift"] < 0.1
    assert result.rows == 500
    assert not result.drifted, [v for v in result.verdicts if v.drifted]
    domain = next(v for v in result.verdicts if v.component == "text.domain_classifier")
    assert domain.value < 0.55


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_a_new_issue_type_jumping_from_1_to_20_percent_crosses_the_threshold(stats: ReferenceStats, seed: int) -> None:
    texts, labels = tickets(500, SHIFTED_MIX, seed=seed, novel_share=0.3)
    result = text_drift(stats, texts, labels)
    assert result.score > 0.2
    assert result.components["label_psi"] > 0.2
    assert result.components["oov_rate_delta"] > 0.01
    assert len(result.top_new_terms) <= 10
    assert "novel0" in dict(result.top_new_terms)
    drifted = {v.component for v in result.verdicts if v.drifted}
    assert "prediction.label" in drifted
    assert result.drifted


def test_wholesale_new_wording_crosses_the_threshold_without_labels(stats: ReferenceStats) -> None:
    texts, _ = tickets(500, SHIFTED_MIX, seed=31, novel_share=1.0)
    result = text_drift(stats, texts, None)
    assert "label_psi" not in result.components
    assert result.components["vocabulary_shift"] > 0.2
    assert result.score > 0.2
    assert "text.domain_classifier" in {v.component for v in result.verdicts if v.drifted}


def test_longer_texts_show_as_length_drift(stats: ReferenceStats) -> None:
    texts, labels = tickets(500, REFERENCE_MIX, seed=41, length_factor=2)
    result = text_drift(stats, texts, labels)
    assert result.components["length_psi"] > 0.2
    assert result.components["label_psi"] < 0.2
    assert "text.length_psi" in {v.component for v in result.verdicts if v.drifted}


def test_texts_without_words_are_drift(stats: ReferenceStats) -> None:
    usual, _ = tickets(150, REFERENCE_MIX, seed=51)
    texts = pl.concat([usual, pl.Series("text", ["12 ?", "", "-- 42 --"] * 100)])
    shift = text_drift(stats, texts, None).components["vocabulary_shift"]
    assert shift > 0.2
    assert shift > 4 * text_drift(stats, usual, None).components["vocabulary_shift"]


def test_drift_needs_text_on_both_sides(stats: ReferenceStats) -> None:
    with pytest.raises(ValueError, match="non-null text"):
        text_drift(stats, pl.Series([None], dtype=pl.String), None)
    features = ReferenceStats.of(claims(10, 1), numeric=("amount",), categorical=(), text=None, labels=None)
    with pytest.raises(ValueError, match="no text"):
        drift_against(features, claims(10, 2), numeric=(), categorical=(), text=pl.Series(["a b c"]), labels=None)


def claims(
    count: int,
    seed: int,
    *,
    amount_scale: float = 500.0,
    regions: tuple[float, ...] = (0.5, 0.3, 0.2),
    shift: float = 0.0,
) -> pl.DataFrame:
    """Synthetic claims: a gamma-distributed amount (a few missing), a small integer, a normal score (its mean
    moved by ``shift`` standard deviations) and a region."""
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, amount_scale, count)
    return pl.DataFrame(
        {
            "amount": np.where(np.arange(count) % 25 == 0, np.nan, amount),
            "items": rng.integers(1, 6, count),
            "score": rng.normal(shift, 1.0, count),
            "region": np.array(["north", "south", "east"])[rng.choice(3, size=count, p=np.array(regions))],
        }
    ).with_columns(pl.col("amount").fill_nan(None))


CATEGORICAL, NUMERIC = ("region",), ("amount", "items", "score")


def claims_reference(count: int, seed: int = 1) -> ReferenceStats:
    return ReferenceStats.of(claims(count, seed), numeric=NUMERIC, categorical=CATEGORICAL, text=None, labels=None)


def feature_drift(reference: ReferenceStats, current: pl.DataFrame) -> DriftResult:
    return drift_against(reference, current, numeric=NUMERIC, categorical=CATEGORICAL, text=None, labels=None)


@pytest.mark.parametrize(("rows", "reference_rows"), [(300, 4000), (100_000, 100_000)])
def test_features_of_another_sample_are_calm_small_and_large(rows: int, reference_rows: int) -> None:
    reference = claims_reference(reference_rows)
    for seed in range(2, 7):
        result = feature_drift(reference, claims(rows, seed))
        assert set(result.components) == {
            "numeric_psi.amount",
            "numeric_psi.items",
            "numeric_psi.score",
            "categorical_shift.region",
        }
        assert result.score == max(result.components.values()) < (0.1 if rows < 1000 else 0.01), result.components
        assert not result.drifted, [v for v in result.verdicts if v.drifted]
        assert result.top_new_terms == []


def test_identical_features_score_zero() -> None:
    frame = claims(500, 1)
    reference = ReferenceStats.of(frame, numeric=NUMERIC, categorical=CATEGORICAL, text=None, labels=None)
    result = feature_drift(reference, frame)
    assert all(v == pytest.approx(0.0, abs=1e-12) for v in result.components.values())
    assert all(v.value == pytest.approx(0.0, abs=1e-9) for v in result.verdicts)


def test_a_numeric_shift_crosses_the_threshold_and_is_named() -> None:
    result = feature_drift(claims_reference(4000), claims(300, 2, amount_scale=900.0))
    assert result.components["numeric_psi.amount"] > THRESHOLD
    assert result.components["categorical_shift.region"] < 0.1 and result.components["numeric_psi.items"] < 0.1
    assert result.score == result.components["numeric_psi.amount"]
    assert result.top_features[0][0] == "amount"
    assert {v.component for v in result.verdicts if v.drifted} == {"numeric.amount"}


def test_a_categorical_shift_crosses_the_threshold_and_is_named() -> None:
    result = feature_drift(claims_reference(4000), claims(300, 2, regions=(0.2, 0.2, 0.6)))
    assert result.components["categorical_shift.region"] > THRESHOLD
    assert result.top_features[0][0] == "region"
    assert result.components["numeric_psi.amount"] < 0.1
    assert {v.component for v in result.verdicts if v.drifted} == {"categorical.region"}


def test_subtle_shifts_are_caught_on_large_days_only() -> None:
    """A 0.1 standard-deviation mean shift and a 3-point change of one category's share: drifted at 200,000 rows
    (though their PSI-scale components stay far under the headline threshold), not claimed at 300."""
    subtle = {"shift": 0.1, "regions": (0.47, 0.33, 0.2)}
    large = feature_drift(claims_reference(200_000), claims(200_000, 2, **subtle))  # type: ignore[arg-type]
    assert {v.component for v in large.verdicts if v.drifted} == {"numeric.score", "categorical.region"}
    assert large.score < 0.05 and large.drifted
    assert {name for name, _ in large.top_features[:2]} == {"score", "region"}
    score = next(v for v in large.verdicts if v.component == "numeric.score")
    assert score.value == pytest.approx(0.1, abs=0.02) and score.p_value is not None and score.p_value < 1e-6
    small = feature_drift(claims_reference(4000), claims(300, 2, **subtle))  # type: ignore[arg-type]
    assert not small.drifted


def test_missing_values_that_appear_are_drift() -> None:
    current = claims(300, 2).with_columns(pl.lit(None, dtype=pl.Float64).alias("amount"))
    result = feature_drift(claims_reference(2000), current)
    assert result.components["numeric_psi.amount"] > THRESHOLD
    missing = next(v for v in result.verdicts if v.component == "missing.amount")
    assert missing.drifted and missing.value == pytest.approx(1 - 2000 // 25 / 2000, abs=0.01)


def test_a_new_category_beyond_a_capped_reference_counts_as_other() -> None:
    many = pl.DataFrame({"code": [f"c{k % 400}" for k in range(40_000)]})
    reference = ReferenceStats.of(many, numeric=(), categorical=("code",), text=None, labels=None)
    assert len(reference.categorical["code"].counts) == 201 and "<other>" in reference.categorical["code"].counts
    day = many.sample(2000, seed=3)
    calm = drift_against(reference, day, numeric=(), categorical=("code",), text=None, labels=None)
    assert not calm.drifted
    novel = pl.DataFrame({"code": ["brand-new"] * 1000 + [f"c{k}" for k in range(1000)]})
    shifted = drift_against(reference, novel, numeric=(), categorical=("code",), text=None, labels=None)
    assert shifted.drifted


def test_features_join_the_text_components_in_one_score(
    reference: tuple[pl.Series, pl.Series], stats: ReferenceStats
) -> None:
    texts, labels = reference
    frame = claims(5000, 1)
    both = ReferenceStats.of(frame, numeric=NUMERIC, categorical=CATEGORICAL, text=texts, labels=labels)
    current_texts, current_labels = tickets(300, REFERENCE_MIX, seed=3)
    current = claims(300, 2, amount_scale=900.0)
    result = drift_against(
        both, current, numeric=NUMERIC, categorical=CATEGORICAL, text=current_texts, labels=current_labels
    )
    assert {"length_psi", "vocabulary_shift", "oov_rate_delta", "label_psi", "numeric_psi.amount"} <= set(
        result.components
    )
    assert result.score == max(result.components.values()) == result.components["numeric_psi.amount"]
    text_only = text_drift(stats, current_texts, current_labels)
    assert all(result.components[k] == pytest.approx(v) for k, v in text_only.components.items())


def test_nothing_to_compare_is_an_error() -> None:
    reference = claims_reference(100)
    with pytest.raises(ValueError, match="to compare"):
        drift_against(reference, claims(10, 2), numeric=(), categorical=(), text=None, labels=None)
    with pytest.raises(ValueError, match="no reference statistics"):
        drift_against(reference, claims(10, 2), numeric=("other",), categorical=(), text=None, labels=None)


def test_terms_are_counted_on_a_bounded_sample_and_still_tell_drift_from_noise(
    reference: tuple[pl.Series, pl.Series], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above ``TERM_TEXTS`` texts, both sides count terms on a seeded sample of that many (the bound that keeps a
    report on a million texts in seconds); lengths still count every text, and the verdicts keep their meaning."""
    monkeypatch.setattr("factory.core.monitoring._reference.TERM_TEXTS", 1000)
    texts, labels = reference
    sampled = text_reference(texts, labels)
    assert sampled.text is not None and sampled.text.texts == 5000 and sum(sampled.text.length_counts) == 5000
    assert sampled.text.tokens < 0.3 * sum(len(text.split()) for text in texts)
    assert sampled == text_reference(texts, labels)  # seeded: the same sample every time
    calm = text_drift(sampled, tickets(3000, REFERENCE_MIX, seed=61)[0], None)
    assert not calm.drifted, [v for v in calm.verdicts if v.drifted]
    assert calm.components["vocabulary_shift"] < 0.1
    shifted = text_drift(sampled, tickets(3000, SHIFTED_MIX, seed=62, novel_share=1.0)[0], None)
    assert shifted.components["vocabulary_shift"] > 0.2 and shifted.drifted
    assert "novel0" in dict(shifted.top_new_terms)
    assert shifted.rows == 3000
