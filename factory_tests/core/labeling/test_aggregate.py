"""Dawid-Skene aggregation on a simulated crowd with known truth, on hand-built cases and against crowd-kit."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import numpy as np
import polars as pl
import pytest

from factory.core.labeling import Aggregation, DawidSkeneFit, aggregate
from factory_tests.helpers import number

CLASSES = ["billing", "bug", "feature"]
COLUMNS = ["item_id", "label", "confidence", "n_annotations", "agreement", "source"]
METHODS: tuple[Literal["ds", "mv"], ...] = ("ds", "mv")


@dataclass(frozen=True)
class Crowd:
    """Simulated annotations with the true class of every item."""

    annotations: pl.DataFrame
    truth: pl.DataFrame
    classes: list[str]


def _confusions(n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """``[a, true, answer]`` for 12 annotators: 2 good, 6 mediocre with a shared confusion, 4 spammers."""
    eye = np.eye(n_classes)
    off = (1 - eye) / (n_classes - 1)
    partner = np.roll(eye, 1, axis=1)  # mediocre annotators often answer k + 1 for k
    rest = (1 - eye - partner) / (n_classes - 2)
    good = [right * eye + (1 - right) * off for right in (0.9, 0.92)]
    mediocre = [right * eye + 0.25 * partner + (0.75 - right) * rest for right in rng.uniform(0.5, 0.6, 6)]
    uniform = [np.full((n_classes, n_classes), 1 / n_classes)] * 2
    constant = [np.outer(np.ones(n_classes), eye[c]) for c in (0, 3)]
    return np.stack(good + mediocre + uniform + constant)


@cache
def simulated_crowd(items: int = 3_000, per_item: int = 5, n_classes: int = 15, seed: int = 11) -> Crowd:
    """A fixed-seed crowd: each item labelled by ``per_item`` distinct annotators drawn uniformly."""
    rng = np.random.default_rng(seed)
    confusion = _confusions(n_classes, rng)
    truth = rng.choice(n_classes, size=items, p=rng.dirichlet(np.full(n_classes, 2.0)))
    who = np.argsort(rng.random((items, confusion.shape[0])), axis=1)[:, :per_item].ravel()
    item = np.repeat(np.arange(items), per_item)
    cdf = np.cumsum(confusion, axis=2)[who, truth[item]]
    answer = np.minimum((rng.random(item.size)[:, None] > cdf).sum(axis=1), n_classes - 1)
    classes = [f"c{k:02d}" for k in range(n_classes)]
    names = pl.Series([f"w{a:02d}" for a in range(confusion.shape[0])])
    annotations = pl.DataFrame(
        {"item_id": item, "annotator": names.gather(who), "label": pl.Series(classes).gather(answer)}
    )
    return Crowd(
        annotations, pl.DataFrame({"item_id": np.arange(items), "truth": pl.Series(classes).gather(truth)}), classes
    )


def ds_fit(annotations: pl.DataFrame, classes: Sequence[str], **settings: Any) -> DawidSkeneFit:
    """The fitted Dawid-Skene model of `aggregate` (the default method)."""
    result = aggregate(annotations, classes, **settings)
    assert result.fit is not None
    return result.fit


def ds_labels(annotations: pl.DataFrame, classes: Sequence[str], **settings: Any) -> pl.DataFrame:
    """The labels of `aggregate` by Dawid-Skene."""
    return aggregate(annotations, classes, **settings).labels


def vote_labels(annotations: pl.DataFrame, classes: Sequence[str]) -> pl.DataFrame:
    """The labels of `aggregate` by majority vote."""
    return aggregate(annotations, classes, method="mv").labels


def accuracy(labels: pl.DataFrame, truth: pl.DataFrame) -> float:
    """Share of items whose label equals the truth (a missing item counts as wrong)."""
    joined = truth.join(labels, on="item_id", how="left")
    return float(joined.select((pl.col("label") == pl.col("truth")).fill_null(False).mean()).item())


def make_annotations(rows: Sequence[tuple[int, str, str | None]]) -> pl.DataFrame:
    """A long-form annotation frame from ``(item_id, annotator, label)`` tuples."""
    return pl.DataFrame(rows, schema={"item_id": pl.Int64, "annotator": pl.String, "label": pl.String}, orient="row")


def row(frame: pl.DataFrame, item_id: object) -> dict[str, object]:
    """The single row of ``frame`` for ``item_id``."""
    (found,) = frame.filter(pl.col("item_id") == item_id).to_dicts()
    return found


@cache
def simulated_fit() -> DawidSkeneFit:
    """Dawid-Skene on the default simulated crowd (shared by several tests)."""
    crowd = simulated_crowd()
    return ds_fit(crowd.annotations, crowd.classes)


def test_dawid_skene_beats_majority_vote_by_three_points() -> None:
    crowd = simulated_crowd()
    fit = simulated_fit()
    ds = accuracy(fit.labels, crowd.truth)
    mv = accuracy(vote_labels(crowd.annotations, crowd.classes), crowd.truth)
    assert fit.converged
    assert ds >= mv + 0.03, (ds, mv)


def test_output_matches_the_majority_vote_layout() -> None:
    crowd = simulated_crowd()
    labels = simulated_fit().labels
    votes = vote_labels(crowd.annotations, crowd.classes)
    assert labels.columns == COLUMNS
    assert labels.schema == votes.schema
    assert labels.get_column("item_id").to_list() == votes.get_column("item_id").to_list()
    assert labels.select("n_annotations", "agreement").equals(votes.select("n_annotations", "agreement"))
    assert set(labels.get_column("source")) == {"ds"}


def test_confidence_is_a_calibrated_ish_probability() -> None:
    crowd = simulated_crowd()
    fit = simulated_fit()
    labels = fit.labels.join(crowd.truth, on="item_id")
    confidence = labels.get_column("confidence")
    assert number(confidence.min()) >= 0.0
    assert number(confidence.max()) <= 1.0
    correct = labels.filter(pl.col("label") == pl.col("truth")).get_column("confidence").mean()
    wrong = labels.filter(pl.col("label") != pl.col("truth")).get_column("confidence").mean()
    assert number(correct) > number(wrong) + 0.1
    assert fit.posteriors.shape == (labels.height, len(crowd.classes))
    np.testing.assert_allclose(fit.posteriors.sum(axis=1), 1.0)
    np.testing.assert_array_equal(fit.posteriors.max(axis=1), confidence.to_numpy())
    # Higher confidence, higher accuracy: compare the realised accuracy of the confidence terciles.
    ranked = labels.sort("confidence").with_columns((pl.col("label") == pl.col("truth")).alias("right"))
    terciles = [part.select(pl.col("right").mean()).item() for part in ranked.iter_slices(ranked.height // 3)][:3]
    assert terciles == sorted(terciles), terciles
    # Dawid-Skene is overconfident (it treats answers as independent given the truth), but not wildly.
    assert number(confidence.mean()) - accuracy(fit.labels, crowd.truth) < 0.1


def test_fit_recovers_annotator_skill_and_priors() -> None:
    fit = simulated_fit()
    assert fit.annotators == [f"w{a:02d}" for a in range(12)]
    assert fit.confusion.shape == (12, 15, 15)
    np.testing.assert_allclose(fit.confusion.sum(axis=2), 1.0)
    np.testing.assert_allclose(fit.priors.sum(), 1.0)
    quality = dict(fit.quality.select("annotator", "accuracy").iter_rows())
    assert min(quality["w00"], quality["w01"]) > 0.85  # good annotators
    assert all(0.4 < quality[f"w{a:02d}"] < 0.7 for a in range(2, 8))  # mediocre
    assert all(quality[f"w{a:02d}"] < 0.2 for a in range(8, 12))  # spammers
    assert fit.quality.get_column("n_annotations").sum() == simulated_crowd().annotations.height
    # A mediocre annotator's confusion puts mass on the partner class k + 1.
    mediocre = fit.confusion[2]
    assert np.mean([mediocre[k, (k + 1) % 15] for k in range(15)]) > 0.15


def test_gold_items_are_clamped_and_improve_the_fit() -> None:
    crowd = simulated_crowd()
    gold = crowd.truth.head(300).rename({"truth": "label"})
    # Flip half of the gold labels away from the truth: the clamp must still win on those items.
    gold = gold.with_columns(
        pl.when(pl.col("item_id") % 2 == 1).then(pl.lit(crowd.classes[0])).otherwise(pl.col("label")).alias("label")
    )
    fit = ds_fit(crowd.annotations, crowd.classes, gold=gold)
    on_gold = fit.labels.join(gold, on="item_id", suffix="_gold")
    assert on_gold.height == 300
    assert (on_gold.get_column("label") == on_gold.get_column("label_gold")).all()
    assert (on_gold.get_column("confidence") == 1.0).all()
    assert set(on_gold.get_column("source")) == {"gold"}
    assert set(fit.labels.filter(pl.col("item_id") >= 300).get_column("source")) == {"ds"}

    true_gold = crowd.truth.head(600).rename({"truth": "label"})
    rest = crowd.truth.filter(pl.col("item_id") >= 600)
    without = accuracy(simulated_fit().labels, rest)
    with_gold = accuracy(ds_labels(crowd.annotations, crowd.classes, gold=true_gold), rest)
    assert with_gold >= without


def test_gold_is_an_anchor_not_just_an_override() -> None:
    # Two perfectly consistent annotators who disagree on every item: one answers the truth, the other the next
    # class. Without gold the data cannot tell them apart; gold on five items says whom to trust on the rest.
    rows = [(item, "first", CLASSES[item % 3]) for item in range(30)]
    rows += [(item, "second", CLASSES[(item + 1) % 3]) for item in range(30)]
    frame = make_annotations(rows)
    for trusted, shift in (("first", 0), ("second", 1)):
        gold = pl.DataFrame({"item_id": range(5), "label": [CLASSES[(item + shift) % 3] for item in range(5)]})
        result = ds_labels(frame, CLASSES, gold=gold)
        expected = [CLASSES[(item + shift) % 3] for item in range(30)]
        assert result.get_column("label").to_list() == expected, trusted
        assert number(result.filter(pl.col("source") == "ds").get_column("confidence").min()) > 0.9


def test_gold_items_without_in_taxonomy_annotations_keep_their_gold_row() -> None:
    frame = make_annotations([(1, "a", "spam"), (2, "a", "bug"), (2, "b", "bug")])
    gold = pl.DataFrame({"item_id": [1, 99], "label": ["billing", "bug"]})
    fit = ds_fit(frame, CLASSES, gold=gold)
    assert fit.labels.get_column("item_id").to_list() == [1, 2]
    assert row(fit.labels, 1) == {
        "item_id": 1,
        "label": "billing",
        "confidence": 1.0,
        "n_annotations": 0,
        "agreement": None,
        "source": "gold",
    }
    np.testing.assert_array_equal(fit.posteriors[0], [1.0, 0.0, 0.0])


def test_zero_weight_annotations_have_no_effect() -> None:
    crowd = simulated_crowd(items=500)
    base = crowd.annotations.with_columns(pl.lit(1.0).alias("weight"))
    noise = crowd.annotations.head(400).with_columns(
        pl.lit("w99").alias("annotator"), pl.lit(crowd.classes[0]).alias("label"), pl.lit(0.0).alias("weight")
    )
    plain = ds_labels(base, crowd.classes)
    padded = ds_labels(pl.concat([base, noise]), crowd.classes)
    assert padded.select("item_id", "label").equals(plain.select("item_id", "label"))
    np.testing.assert_allclose(padded.get_column("confidence"), plain.get_column("confidence"), atol=1e-6)


def test_weights_of_one_match_no_weights_and_weights_can_be_ignored() -> None:
    crowd = simulated_crowd(items=500)
    plain = ds_labels(crowd.annotations, crowd.classes)
    ones = ds_labels(crowd.annotations.with_columns(pl.lit(1.0).alias("weight")), crowd.classes)
    assert ones.equals(plain)
    heavy = crowd.annotations.with_columns(pl.lit(5.0).alias("weight"))
    assert ds_labels(heavy, crowd.classes, weights=None).equals(plain)
    assert ds_labels(heavy.rename({"weight": "w"}), crowd.classes, weights="w").height == plain.height


@pytest.mark.parametrize(("heavy", "expected"), [("feedback", "feature"), ("annotator", "bug")])
def test_the_heavier_answer_wins_a_tie(heavy: str, expected: str) -> None:
    frame = make_annotations([(1, "annotator", "bug"), (1, "feedback", "feature"), (2, "annotator", "billing")])
    weighted = frame.with_columns(pl.when(pl.col("annotator") == heavy).then(3.0).otherwise(1.0).alias("weight"))
    result = row(ds_labels(weighted, CLASSES), 1)
    assert result["label"] == expected
    assert result["n_annotations"] == 2


@pytest.mark.parametrize(
    ("weight", "message"),
    [([-1.0, 1.0], "non-negative"), ([float("inf"), 1.0], "finite"), ([None, 1.0], "null")],
)
def test_bad_weights_raise(weight: list[float | None], message: str) -> None:
    frame = make_annotations([(1, "a", "bug"), (1, "b", "bug")]).with_columns(
        pl.Series("weight", weight, dtype=pl.Float64)
    )
    with pytest.raises(ValueError, match=message):
        ds_labels(frame, CLASSES)


def test_labels_outside_the_taxonomy_are_ignored() -> None:
    crowd = simulated_crowd(items=500)
    junk = crowd.annotations.head(300).with_columns(  # other annotators: a later answer replaces an earlier one
        pl.format("{}-junk", "annotator").alias("annotator"),
        pl.when(pl.col("item_id") % 2 == 0).then(pl.lit("spam")).otherwise(pl.lit(None)).alias("label"),
    )
    plain = ds_labels(crowd.annotations, crowd.classes)
    assert ds_labels(pl.concat([crowd.annotations, junk]), crowd.classes).equals(plain)
    only_junk = make_annotations([(1, "a", "spam"), (2, "a", None), (3, "a", "bug")])
    assert ds_labels(only_junk, CLASSES).get_column("item_id").to_list() == [3]


def test_string_and_integer_item_ids_give_the_same_labels() -> None:
    crowd = simulated_crowd(items=500)
    by_int = ds_labels(crowd.annotations, crowd.classes)
    as_text = crowd.annotations.with_columns(pl.format("item-{}", pl.col("item_id").cast(pl.String).str.zfill(4)))
    by_text = ds_labels(as_text, crowd.classes)
    assert by_text.schema["item_id"] == pl.String
    assert by_text.get_column("item_id").to_list() == sorted(by_text.get_column("item_id").to_list())
    assert by_text.drop("item_id").equals(by_int.drop("item_id"))


def test_integer_annotators_are_accepted() -> None:
    frame = pl.DataFrame({"item_id": [1, 1, 2], "annotator": [7, 8, 7], "label": ["bug", "bug", "feature"]})
    fit = ds_fit(frame, CLASSES)
    assert fit.annotators == ["7", "8"]
    assert fit.labels.get_column("label").to_list() == ["bug", "feature"]


def test_single_annotator_reproduces_their_answers() -> None:
    frame = make_annotations([(item, "solo", CLASSES[item % 3]) for item in range(30)])
    result = ds_labels(frame, CLASSES)
    assert result.get_column("label").to_list() == [CLASSES[item % 3] for item in range(30)]
    assert result.get_column("agreement").null_count() == 30


def test_one_item() -> None:
    frame = make_annotations([(1, "a", "bug"), (1, "b", "bug"), (1, "c", "billing")])
    fit = ds_fit(frame, CLASSES)
    assert fit.labels.height == 1
    assert row(fit.labels, 1)["label"] == "bug"
    assert 0.0 <= number(row(fit.labels, 1)["confidence"]) <= 1.0
    assert row(fit.labels, 1)["n_annotations"] == 3


def test_empty_input_gives_an_empty_frame() -> None:
    empty = make_annotations([])
    fit = ds_fit(empty, CLASSES)
    assert fit.labels.is_empty()
    assert fit.labels.schema == vote_labels(empty, CLASSES).schema
    assert fit.confusion.shape == (0, 3, 3)
    assert fit.posteriors.shape == (0, 3)
    assert fit.iterations == 0
    only_junk = make_annotations([(1, "a", "spam")])
    assert ds_labels(only_junk, CLASSES).is_empty()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"classes": []}, "must not be empty"),
        ({"classes": ["bug", "bug"]}, "distinct"),
        ({"max_iter": 0}, "max_iter"),
        ({"tol": -1.0}, "tol"),
        ({"smoothing": 0.0}, "smoothing"),
        ({"diagonal": -1.0}, "diagonal"),
        ({"weights": "missing"}, "weight column"),
        ({"gold": pl.DataFrame({"item_id": [1], "label": ["spam"]})}, "outside the taxonomy"),
        ({"gold": pl.DataFrame({"item_id": [1, 1], "label": ["bug", "bug"]})}, "listed twice"),
    ],
)
def test_bad_arguments_raise(kwargs: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {"annotations": make_annotations([(1, "a", "bug")]), "classes": CLASSES} | kwargs
    with pytest.raises(ValueError, match=message):
        ds_fit(**arguments)


def test_null_ids_and_missing_columns_raise() -> None:
    with pytest.raises(ValueError, match="null item_id"):
        ds_labels(
            make_annotations([(1, "a", "bug")]).with_columns(pl.lit(None, dtype=pl.Int64).alias("item_id")), CLASSES
        )
    with pytest.raises(ValueError, match="null annotator"):
        ds_labels(
            make_annotations([(1, "a", "bug")]).with_columns(pl.lit(None, dtype=pl.String).alias("annotator")), CLASSES
        )
    with pytest.raises(ValueError, match="annotator"):
        ds_labels(pl.DataFrame({"item_id": [1], "label": ["bug"]}), CLASSES)


def test_same_input_same_output_whatever_the_row_order() -> None:
    crowd = simulated_crowd(items=1_000)
    first = ds_fit(crowd.annotations, crowd.classes)
    again = ds_fit(crowd.annotations, crowd.classes)
    assert first.labels.equals(again.labels)
    np.testing.assert_array_equal(first.confusion, again.confusion)
    shuffled = ds_labels(crowd.annotations.sample(fraction=1.0, shuffle=True, seed=3), crowd.classes)
    assert shuffled.select("item_id", "label").equals(first.labels.select("item_id", "label"))
    np.testing.assert_allclose(shuffled.get_column("confidence"), first.labels.get_column("confidence"), atol=1e-12)


def test_aggregate_dispatches_and_describes_the_run() -> None:
    crowd = simulated_crowd(items=500)
    ds = aggregate(crowd.annotations, crowd.classes)
    assert isinstance(ds, Aggregation)
    assert ds.method == "ds"
    assert ds.fit is not None
    assert ds.labels.equals(ds.fit.labels)
    assert ds.annotator_accuracy.equals(ds.fit.quality)
    assert (ds.iterations, ds.converged) == (ds.fit.iterations, ds.fit.converged)
    mv = aggregate(crowd.annotations, crowd.classes, method="mv")
    assert (mv.method, mv.fit, mv.iterations, mv.converged) == ("mv", None, 0, True)
    assert mv.annotator_accuracy.is_empty()
    assert set(mv.labels.get_column("source")) == {"vote"}
    with pytest.raises(ValueError, match="unknown aggregation method"):
        aggregate(crowd.annotations, crowd.classes, method="glad")  # type: ignore[arg-type]  # the error under test


def test_majority_vote_counts_every_answer_once_whatever_the_weights() -> None:
    crowd = simulated_crowd(items=500)
    plain = vote_labels(crowd.annotations, crowd.classes)
    weighted = crowd.annotations.with_columns(pl.lit(2.0).alias("weight"))
    assert aggregate(weighted, crowd.classes, method="mv").labels.equals(plain)
    assert aggregate(weighted, crowd.classes, method="mv", weights=None).labels.equals(plain)
    with pytest.raises(ValueError, match="counts every answer once"):
        aggregate(weighted.rename({"weight": "w"}), crowd.classes, method="mv", weights="w")


def test_only_the_latest_answer_of_an_annotator_counts() -> None:
    first = make_annotations([(1, "a", "bug"), (1, "b", "billing"), (1, "c", "billing")])
    again = make_annotations([(1, "b", "bug"), (1, "c", "bug")])
    for method in METHODS:
        labels = aggregate(pl.concat([first, again]), CLASSES, method=method).labels
        assert row(labels, 1)["label"] == "bug", method
        assert row(labels, 1)["n_annotations"] == 3, method


def test_empty_gold_is_no_gold() -> None:
    crowd = simulated_crowd(items=500)
    empty = pl.DataFrame(schema={"item_id": pl.Int64, "label": pl.String})
    for method in METHODS:
        with_empty = aggregate(crowd.annotations, crowd.classes, method=method, gold=empty)
        assert with_empty.labels.equals(aggregate(crowd.annotations, crowd.classes, method=method).labels)


def test_max_iter_bounds_the_iterations() -> None:
    crowd = simulated_crowd()
    fit = ds_fit(crowd.annotations, crowd.classes, max_iter=2)
    assert fit.iterations == 2
    assert not fit.converged


@cache
def _crowd_kit_fit() -> tuple[pl.DataFrame, np.ndarray, int]:
    """crowd-kit's DawidSkene(n_iter=100) on the default simulated crowd: labels, posteriors in our row and
    class order, and the EM rounds it ran. Importing crowd-kit alone takes several seconds."""
    aggregation = pytest.importorskip("crowdkit.aggregation")
    crowd = simulated_crowd()
    frame = crowd.annotations.rename({"item_id": "task", "annotator": "worker"}).to_pandas()
    model = aggregation.DawidSkene(n_iter=100)
    with warnings.catch_warnings():  # crowd-kit 1.4 uses pandas APIs that pandas 3.1 deprecates
        warnings.filterwarnings("ignore", module=r"crowdkit\.")
        labels = model.fit_predict(frame)
    frame = pl.DataFrame({"item_id": labels.index.to_numpy(), "label": labels.to_numpy().astype(str)})
    posteriors = model.probas_.sort_index()[crowd.classes].to_numpy()
    return frame.sort("item_id"), posteriors, len(model.loss_history_)


def test_reproduces_crowd_kit_when_configured_alike() -> None:
    # Same start (vote shares), same number of EM rounds, no prior to speak of (crowd-kit only clips at 1e-10).
    crowd = simulated_crowd()
    theirs, posteriors, rounds = _crowd_kit_fit()
    ours = ds_fit(crowd.annotations, crowd.classes, smoothing=1e-8, diagonal=0.0, tol=0.0, max_iter=rounds)
    assert ours.labels.select("item_id", "label").equals(theirs)
    np.testing.assert_allclose(ours.posteriors, posteriors, atol=1e-3)


def test_at_least_as_accurate_as_crowd_kit_with_default_settings() -> None:
    crowd = simulated_crowd()
    theirs, _, _ = _crowd_kit_fit()
    ours = simulated_fit().labels
    agree = ours.join(theirs, on="item_id", suffix="_crowdkit").select(pl.col("label") == pl.col("label_crowdkit"))
    assert number(agree.to_series().mean()) >= 0.9
    assert accuracy(ours, crowd.truth) >= accuracy(theirs, crowd.truth)


def test_dawid_skene_falls_back_to_the_vote_when_no_item_has_two_annotators() -> None:
    """One given label per item (pre-labeled data) leaves Dawid-Skene unidentifiable: its EM drifts to low
    confidences. The labels are then the vote, each single answer certain, disagreeing copies at their share."""
    rng = np.random.default_rng(3)
    classes = [f"c{k}" for k in range(60)]
    given = [classes[k] for k in rng.integers(0, 60, size=1500)]
    annotations = pl.DataFrame(
        {"item_id": [f"i{n:05d}" for n in range(1500)], "annotator": ["given"] * 1500, "label": given}
    )
    result = aggregate(annotations, classes)
    assert result.method == "mv" and result.fallback is not None
    labels = result.labels.sort("item_id")
    assert labels["label"].to_list() == given
    assert labels["confidence"].min() == 1.0

    corrected = pl.DataFrame(
        {"item_id": ["i00000"], "annotator": ["reviewer"], "label": ["c59" if given[0] != "c59" else "c58"]}
    )
    weighted = pl.concat([annotations.with_columns(weight=pl.lit(1.0)), corrected.with_columns(weight=pl.lit(2.0))])
    first = aggregate(weighted, classes).labels.sort("item_id").row(0, named=True)
    assert first["label"] == corrected["label"][0], "a correction weighing 2 outvotes the given label"
    assert first["confidence"] == pytest.approx(2 / 3)

    second = annotations.with_columns(pl.lit("second").alias("annotator"))
    redundant = aggregate(pl.concat([annotations, second]), classes)
    assert redundant.method == "ds" and redundant.fallback is None, "every item twice: Dawid-Skene runs"
