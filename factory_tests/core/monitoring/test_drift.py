"""Drift measures on known distributions: zero for identical data, small for resamples, large for shifts."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest
from scipy.spatial.distance import jensenshannon

from factory.core.monitoring import drift_report, feature_drift, js_divergence, psi, term_counts

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


def test_identical_data_scores_zero(reference: tuple[pl.Series, pl.Series]) -> None:
    texts, labels = reference
    result = drift_report(texts, labels, texts, labels)
    assert result.score == pytest.approx(0.0, abs=1e-12)
    assert result.components["label_psi"] == pytest.approx(0.0, abs=1e-12)
    assert result.components["vocabulary_shift"] == pytest.approx(0.0, abs=1e-12)
    assert result.components["length_psi"] == pytest.approx(0.0, abs=1e-12)
    assert result.top_new_terms == []
    assert result.rows == 5000


@pytest.mark.parametrize("seed", [11, 12, 13])
def test_another_sample_of_the_same_distribution_stays_below_the_threshold(
    reference: tuple[pl.Series, pl.Series], seed: int
) -> None:
    texts, labels = tickets(500, REFERENCE_MIX, seed=seed)
    result = drift_report(*reference, texts, labels)
    assert result.score < 0.2
    assert result.score == max(result.components.values())
    assert result.components["vocabulary_shift"] < 0.1
    assert result.rows == 500


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_a_new_issue_type_jumping_from_1_to_20_percent_crosses_the_threshold(
    reference: tuple[pl.Series, pl.Series], seed: int
) -> None:
    texts, labels = tickets(500, SHIFTED_MIX, seed=seed, novel_share=0.3)
    result = drift_report(*reference, texts, labels)
    assert result.score > 0.2
    assert result.components["label_psi"] > 0.2
    assert result.components["oov_rate_delta"] > 0.01
    assert len(result.top_new_terms) <= 10
    assert "novel0" in dict(result.top_new_terms)


def test_wholesale_new_wording_crosses_the_threshold_without_labels(
    reference: tuple[pl.Series, pl.Series],
) -> None:
    texts, _ = tickets(500, SHIFTED_MIX, seed=31, novel_share=1.0)
    result = drift_report(*reference, texts, None)
    assert "label_psi" not in result.components
    assert result.components["vocabulary_shift"] > 0.2
    assert result.score > 0.2


def test_longer_texts_show_as_length_drift(reference: tuple[pl.Series, pl.Series]) -> None:
    texts, labels = tickets(500, REFERENCE_MIX, seed=41, length_factor=2)
    result = drift_report(*reference, texts, labels)
    assert result.components["length_psi"] > 0.2
    assert result.components["label_psi"] < 0.2


def test_texts_without_words_are_drift(reference: tuple[pl.Series, pl.Series]) -> None:
    usual, _ = tickets(150, REFERENCE_MIX, seed=51)
    texts = pl.concat([usual, pl.Series("text", ["12 ?", "", "-- 42 --"] * 100)])
    shift = drift_report(*reference, texts, None).components["vocabulary_shift"]
    assert shift > 0.2
    assert shift > 4 * drift_report(*reference, usual, None).components["vocabulary_shift"]


def test_drift_needs_text_on_both_sides(reference: tuple[pl.Series, pl.Series]) -> None:
    texts, labels = reference
    with pytest.raises(ValueError, match="non-null text"):
        drift_report(texts, labels, pl.Series([None], dtype=pl.String), None)


def claims(
    count: int, seed: int, *, amount_scale: float = 500.0, regions: tuple[float, ...] = (0.5, 0.3, 0.2)
) -> pl.DataFrame:
    """Synthetic claims: a gamma-distributed amount (a few missing), a small integer and a region."""
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, amount_scale, count)
    return pl.DataFrame(
        {
            "amount": [None if k % 25 == 0 else float(a) for k, a in enumerate(amount)],
            "items": rng.integers(1, 6, count).tolist(),
            "region": [["north", "south", "east"][k] for k in rng.choice(3, size=count, p=np.array(regions))],
        }
    )


CATEGORICAL, NUMERIC = ("region",), ("amount", "items")


def test_features_of_another_sample_stay_below_the_threshold() -> None:
    reference = claims(4000, 1)
    for seed in range(2, 7):
        components = feature_drift(reference, claims(300, seed), CATEGORICAL, NUMERIC)
        assert set(components) == {"numeric_psi.amount", "numeric_psi.items", "categorical_shift.region"}
        assert max(components.values()) < 0.1, components
        result = drift_report(None, pl.Series(["a"]), None, None, features=components)
        assert result.score == max(components.values()) < THRESHOLD
        assert result.top_new_terms == [] and set(result.components) == set(components)


def test_identical_features_score_zero() -> None:
    frame = claims(500, 1)
    assert all(v == pytest.approx(0.0, abs=1e-12) for v in feature_drift(frame, frame, CATEGORICAL, NUMERIC).values())


def test_a_numeric_shift_crosses_the_threshold_and_is_named() -> None:
    reference = claims(4000, 1)
    components = feature_drift(reference, claims(300, 2, amount_scale=900.0), CATEGORICAL, NUMERIC)
    result = drift_report(None, pl.Series(["a"]), None, None, features=components)
    assert components["numeric_psi.amount"] > THRESHOLD
    assert components["categorical_shift.region"] < 0.1 and components["numeric_psi.items"] < 0.1
    assert result.score == components["numeric_psi.amount"]
    assert result.top_features[0][0] == "amount"


def test_a_categorical_shift_crosses_the_threshold_and_is_named() -> None:
    reference = claims(4000, 1)
    components = feature_drift(reference, claims(300, 2, regions=(0.2, 0.2, 0.6)), CATEGORICAL, NUMERIC)
    result = drift_report(None, pl.Series(["a"]), None, None, features=components)
    assert components["categorical_shift.region"] > THRESHOLD
    assert result.top_features[0][0] == "region"
    assert components["numeric_psi.amount"] < 0.1


def test_missing_values_that_appear_are_drift() -> None:
    reference = claims(2000, 1)
    current = claims(300, 2).with_columns(pl.lit(None, dtype=pl.Float64).alias("amount"))
    assert feature_drift(reference, current, (), ("amount",))["numeric_psi.amount"] > THRESHOLD


def test_features_join_the_text_components_in_one_score(reference: tuple[pl.Series, pl.Series]) -> None:
    texts, labels = reference
    current = tickets(300, REFERENCE_MIX, seed=3)
    shifted = feature_drift(claims(2000, 1), claims(300, 2, amount_scale=900.0), CATEGORICAL, NUMERIC)
    result = drift_report(texts, labels, current[0], current[1], features=shifted)
    assert {"length_psi", "vocabulary_shift", "oov_rate_delta", "label_psi", "numeric_psi.amount"} <= set(
        result.components
    )
    assert result.score == max(result.components.values()) == shifted["numeric_psi.amount"]
    text_only = drift_report(texts, labels, current[0], current[1])
    assert all(result.components[k] == v for k, v in text_only.components.items())


def test_nothing_to_compare_is_an_error() -> None:
    with pytest.raises(ValueError, match="to compare"):
        drift_report(None, pl.Series(["a"]), None, None)
    assert feature_drift(claims(10, 1).clear(), claims(10, 2), CATEGORICAL, NUMERIC) == {}
