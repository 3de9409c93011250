"""Annotator quality on simulated annotators with known truth, and agreement statistics against references."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from factory.core.labeling import aggregate, annotator_scores
from factory.core.labeling._agreement import agreement_stats
from factory.core.labeling._annotator_scores import cohen_kappa_pairs
from factory.core.labeling._disagreement_report import confused_label_pairs, disagreement_report
from factory.core.labeling._labeler_drift import labeler_drift

CLASSES = ["billing", "refund", "bug", "outage", "account", "shipping"]
PRIOR = [0.25, 0.15, 0.2, 0.1, 0.2, 0.1]
PARTNER = {"billing": "refund", "refund": "billing", "bug": "outage", "outage": "bug"}
START = datetime(2024, 5, 1, tzinfo=UTC)
DAYS = 10
GOOD = {"ana": 0.95, "ben": 0.9, "cy": 0.88, "dee": 0.85, "eva": 0.8}
SPAMMER = "sam"
DECAYING = "tia"
ANNOTATORS = [*GOOD, SPAMMER, DECAYING]
TIMED_SCHEMA = pl.Schema(
    {"item_id": pl.Int64(), "annotator": pl.String(), "label": pl.String(), "created_at": pl.Datetime("us", "UTC")}
)


def accuracy(annotator: str, days: float) -> float:
    """The chance a simulated annotator is right ``days`` after the start (the spammer never tries)."""
    if annotator == DECAYING:
        return 0.9 - 0.5 * days / DAYS
    return GOOD.get(annotator, 0.0)


def simulate(items: int = 4000, per_item: int = 5, seed: int = 7) -> pl.DataFrame:
    """Annotations of ``items`` items over ten days, ``per_item`` distinct annotators each.

    Good annotators err towards the class's confusable partner most of the time, the spammer answers uniformly
    at random and the decaying annotator's accuracy falls linearly from 0.9 to 0.4.
    """
    rng = np.random.default_rng(seed)
    truth = rng.choice(len(CLASSES), size=items, p=PRIOR)
    item_days = rng.uniform(0, DAYS, size=items)
    rows: list[tuple[int, str, str, datetime]] = []
    for item in range(items):
        true = CLASSES[truth[item]]
        for annotator in rng.permutation(ANNOTATORS)[:per_item]:
            days = item_days[item] + rng.uniform(0, 0.01)
            rows.append((item, str(annotator), _label(rng, str(annotator), true, days), START + timedelta(days=days)))
    return pl.DataFrame(rows, schema=TIMED_SCHEMA, orient="row")


def _label(rng: np.random.Generator, annotator: str, true: str, days: float) -> str:
    if annotator == SPAMMER:
        return str(rng.choice(CLASSES))
    if rng.uniform() < accuracy(annotator, days):
        return true
    if true in PARTNER and rng.uniform() < 0.7:
        return PARTNER[true]
    return str(rng.choice([label for label in CLASSES if label != true]))


@pytest.fixture(scope="module")
def simulated() -> pl.DataFrame:
    return simulate()


@pytest.fixture(scope="module")
def consensus(simulated: pl.DataFrame) -> pl.DataFrame:
    return aggregate(simulated, CLASSES, method="mv").labels.select("item_id", "label")


def make_annotations(rows: Sequence[tuple[int, str, str | None]]) -> pl.DataFrame:
    """A long-form annotation frame from ``(item_id, annotator, label)`` tuples."""
    return pl.DataFrame(rows, schema={"item_id": pl.Int64, "annotator": pl.String, "label": pl.String}, orient="row")


def timed(rows: Sequence[tuple[int, str, str | None, datetime]]) -> pl.DataFrame:
    """Annotations with ``created_at`` from ``(item_id, annotator, label, created_at)`` tuples."""
    return pl.DataFrame(rows, schema=TIMED_SCHEMA, orient="row")


# --- Cohen's kappa -------------------------------------------------------------------------------------------


def test_cohen_kappa_pairs_match_sklearn_on_every_pair(simulated: pl.DataFrame) -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    pairs = cohen_kappa_pairs(simulated, CLASSES)
    assert pairs.height == len(ANNOTATORS) * (len(ANNOTATORS) - 1) // 2
    for row in pairs.iter_rows(named=True):
        a = simulated.filter(pl.col("annotator") == row["annotator_a"]).select("item_id", "label")
        b = simulated.filter(pl.col("annotator") == row["annotator_b"]).select("item_id", pl.col("label").alias("b"))
        shared = a.join(b, on="item_id", how="inner")
        assert row["shared_items"] == shared.height
        reference = metrics.cohen_kappa_score(shared["label"].to_list(), shared["b"].to_list())
        assert row["kappa"] == pytest.approx(reference, abs=1e-6)
        assert row["agreement"] == pytest.approx((shared["label"] == shared["b"]).mean(), abs=1e-12)


def test_cohen_kappa_pairs_match_statsmodels_on_a_contingency_table(simulated: pl.DataFrame) -> None:
    inter_rater = pytest.importorskip("statsmodels.stats.inter_rater")
    a = simulated.filter(pl.col("annotator") == "ana").select("item_id", "label")
    b = simulated.filter(pl.col("annotator") == DECAYING).select("item_id", pl.col("label").alias("b"))
    shared = a.join(b, on="item_id", how="inner")
    table = np.zeros((len(CLASSES), len(CLASSES)))
    for left, right in shared.select("label", "b").iter_rows():
        table[CLASSES.index(left), CLASSES.index(right)] += 1
    pair = cohen_kappa_pairs(simulated, CLASSES).filter(
        (pl.col("annotator_a") == "ana") & (pl.col("annotator_b") == DECAYING)
    )
    assert pair["kappa"].item() == pytest.approx(inter_rater.cohens_kappa(table).kappa, abs=1e-6)


def test_cohen_kappa_pairs_on_a_hand_computed_example() -> None:
    rows: list[tuple[int, str, str | None]] = [(1, "x", "bug"), (2, "x", "bug"), (3, "x", "billing")]
    rows += [
        (4, "x", "billing"),
        (1, "y", "bug"),
        (2, "y", "billing"),
        (3, "y", "billing"),
        (4, "y", "billing"),
        (5, "y", "bug"),
    ]
    rows += [(1, "z", "spam"), (2, "z", None)]
    result = cohen_kappa_pairs(make_annotations(rows), CLASSES, min_shared=1)
    # x: 2 bug, 2 billing; y on shared items: 1 bug, 3 billing. po = 3/4, pe = (2*1 + 2*3)/16 = 1/2.
    assert result.to_dicts() == [
        {"annotator_a": "x", "annotator_b": "y", "shared_items": 4, "agreement": 0.75, "kappa": pytest.approx(0.5)}
    ]
    assert result.schema == pl.Schema(
        {
            "annotator_a": pl.String,
            "annotator_b": pl.String,
            "shared_items": pl.Int64,
            "agreement": pl.Float64,
            "kappa": pl.Float64,
        }
    )
    assert cohen_kappa_pairs(make_annotations(rows), CLASSES, min_shared=5).is_empty()


def test_cohen_kappa_pairs_keep_the_latest_label_of_a_repeated_annotation() -> None:
    day = START
    rows = [(1, "x", "bug", day), (1, "x", "billing", day + timedelta(hours=1)), (1, "y", "billing", day)]
    rows += [(2, "x", "feature", day), (2, "y", "feature", day)]
    result = cohen_kappa_pairs(timed(rows[::-1]), ["billing", "bug", "feature"], min_shared=1)
    assert result.select("shared_items", "agreement", "kappa").row(0) == (2, 1.0, 1.0)


def test_cohen_kappa_is_one_when_both_use_a_single_class() -> None:
    rows = [(item, coder, "bug") for item in range(3) for coder in "xy"]
    assert cohen_kappa_pairs(make_annotations(rows), CLASSES, min_shared=1)["kappa"].to_list() == [1.0]


def test_annotator_ids_need_not_be_strings() -> None:
    frame = pl.DataFrame(
        {"item_id": [1, 1, 2, 2], "annotator": [20, 10, 20, 10], "label": ["bug", "bug", "bug", "spam"]}
    )
    consensus = pl.DataFrame({"item_id": [1, 2], "label": ["bug", "bug"]})
    pairs = cohen_kappa_pairs(frame, CLASSES, min_shared=1)
    assert pairs.select("annotator_a", "annotator_b", "shared_items").rows() == [(10, 20, 1)]
    scores = annotator_scores(frame, consensus, CLASSES, min_items=2, min_shared=1)
    assert scores.filter("spammer")["annotator"].to_list() == [10]
    report = disagreement_report(frame, consensus, CLASSES, scores=scores)
    assert "- **10**: likely spammer" in report


def test_cohen_kappa_pairs_on_empty_input() -> None:
    result = cohen_kappa_pairs(make_annotations([]), CLASSES)
    assert result.is_empty()
    assert result.columns == ["annotator_a", "annotator_b", "shared_items", "agreement", "kappa"]


# --- annotator scores ----------------------------------------------------------------------------------------


def test_only_the_spammer_is_flagged(simulated: pl.DataFrame, consensus: pl.DataFrame) -> None:
    scores = annotator_scores(simulated, consensus, CLASSES)
    assert scores.filter("spammer")["annotator"].to_list() == [SPAMMER]
    spammer = scores.filter(pl.col("annotator") == SPAMMER)
    assert abs(spammer["consensus_kappa"].item()) < 0.1
    assert abs(spammer["spammer_score"].item()) < 0.03
    good = scores.filter(pl.col("annotator").is_in(list(GOOD)))
    assert good.select(pl.col("consensus_kappa").min() > 0.7, pl.col("spammer_score").min() > 0.5).row(0) == (
        True,
        True,
    )


def test_annotator_scores_columns_and_figures(simulated: pl.DataFrame, consensus: pl.DataFrame) -> None:
    gold = consensus.filter(pl.col("item_id") % 10 == 0)
    pairs = cohen_kappa_pairs(simulated, CLASSES)
    scores = annotator_scores(simulated, consensus, CLASSES, gold=gold, pairs=pairs)
    assert scores.columns == [
        "annotator",
        "annotations",
        "n_gold",
        "gold_accuracy",
        "n_consensus",
        "consensus_accuracy",
        "consensus_kappa",
        "spammer_score",
        "n_pairs",
        "mean_pair_kappa",
        "spammer",
    ]
    assert scores["annotator"].to_list() == sorted(ANNOTATORS)
    assert scores["annotations"].sum() == simulated.height
    assert scores["n_consensus"].sum() == simulated.height
    assert scores["n_gold"].sum() == simulated.filter(pl.col("item_id") % 10 == 0).height
    assert scores["n_pairs"].to_list() == [len(ANNOTATORS) - 1] * len(ANNOTATORS)
    ana = scores.filter(pl.col("annotator") == "ana").row(0, named=True)
    involved = pairs.filter((pl.col("annotator_a") == "ana") | (pl.col("annotator_b") == "ana"))
    assert ana["mean_pair_kappa"] == pytest.approx(involved["kappa"].mean())
    assert ana["consensus_accuracy"] > 0.9
    # Computing the pairs inside gives the same table (up to the order of floating-point sums).
    assert_frame_equal(scores, annotator_scores(simulated, consensus, CLASSES, gold=gold), abs_tol=1e-12)


def test_spammer_score_separates_random_constant_and_systematic_labelers() -> None:
    rows: list[tuple[int, str, str | None]] = []
    for item in range(120):
        true = CLASSES[item % 3]
        rows += [(item, "perfect", true), (item, "constant", "bug")]
        rows.append((item, "swapper", {"billing": "refund", "refund": "bug", "bug": "billing"}[true]))
    consensus = pl.DataFrame({"item_id": range(120), "label": [CLASSES[item % 3] for item in range(120)]})
    scores = annotator_scores(make_annotations(rows), consensus, CLASSES, min_shared=1)
    by_name = {row["annotator"]: row for row in scores.iter_rows(named=True)}
    assert by_name["perfect"]["spammer_score"] == pytest.approx(1.0)
    assert by_name["perfect"]["consensus_kappa"] == pytest.approx(1.0)
    assert by_name["constant"]["spammer_score"] == pytest.approx(0.0, abs=1e-12)
    assert by_name["constant"]["spammer"]
    # Always wrong, but in a consistent way: a guideline problem, not a spammer.
    assert by_name["swapper"]["consensus_kappa"] < 0
    assert by_name["swapper"]["spammer_score"] == pytest.approx(1.0)
    assert not by_name["swapper"]["spammer"]
    assert not by_name["perfect"]["spammer"]


def test_spammer_needs_min_items_and_out_of_taxonomy_labels_count_as_wrong() -> None:
    rows = [(item, "junk", "spam") for item in range(60)] + [(item, "few", "bug") for item in range(10)]
    consensus = pl.DataFrame({"item_id": range(60), "label": [CLASSES[item % 3] for item in range(60)]})
    scores = annotator_scores(make_annotations(rows), consensus, CLASSES)
    junk, few = (scores.filter(pl.col("annotator") == name).row(0, named=True) for name in ("junk", "few"))
    assert (junk["consensus_accuracy"], junk["consensus_kappa"], junk["spammer"]) == (0.0, 0.0, True)
    assert (few["n_consensus"], few["spammer"]) == (10, False)
    assert annotator_scores(make_annotations(rows), consensus, CLASSES, min_items=5).filter("spammer").height == 2


def test_annotator_scores_reject_a_consensus_outside_the_taxonomy() -> None:
    frame = make_annotations([(1, "x", "bug")])
    with pytest.raises(ValueError, match="outside the taxonomy"):
        annotator_scores(frame, pl.DataFrame({"item_id": [1], "label": ["spam"]}), CLASSES)
    with pytest.raises(ValueError, match="listed twice"):
        annotator_scores(frame, pl.DataFrame({"item_id": [1, 1], "label": ["bug", "bug"]}), CLASSES)


# --- drift ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("window", ["1d", 250])
def test_only_the_decaying_annotator_drifts(
    simulated: pl.DataFrame, consensus: pl.DataFrame, window: str | int
) -> None:
    drift = labeler_drift(simulated, consensus, window=window)
    assert drift.alerts["annotator"].to_list() == [DECAYING]
    alert = drift.alerts.row(0, named=True)
    assert alert["baseline"] > 0.75
    assert alert["latest"] < 0.55
    assert alert["drop"] == pytest.approx(alert["baseline"] - alert["latest"])
    assert alert["message"].startswith(f"{DECAYING}: agreement with the consensus fell from")
    assert drift.windows.columns == ["annotator", "window_start", "items", "agreement"]
    assert drift.windows["items"].sum() == simulated.height


def test_drift_windows_baseline_and_small_windows() -> None:
    def day(n: int) -> datetime:
        return START + timedelta(days=n, hours=3)

    rows: list[tuple[int, str, str | None, datetime]] = []
    plan = [(0, 4, 4), (1, 4, 2), (2, 4, 1), (3, 1, 0)]  # (day, items, agreeing): the last window is too small
    item = 0
    for offset, items, agreeing in plan:
        for k in range(items):
            rows.append((item, "x", "bug" if k < agreeing else "billing", day(offset)))
            item += 1
    consensus = pl.DataFrame({"item_id": range(item), "label": ["bug"] * item})
    drift = labeler_drift(timed(rows), consensus, min_items=4, baseline_windows=1)
    assert drift.windows["agreement"].to_list() == [1.0, 0.5, 0.25, 0.0]
    assert drift.windows["window_start"][0] == START
    alert = drift.alerts.row(0, named=True)
    assert (alert["baseline"], alert["latest"], alert["drop"], alert["items"]) == (1.0, 0.25, 0.75, 4)
    assert alert["window_start"] == START + timedelta(days=2)
    assert "first 1 window)" in alert["message"]
    pooled = labeler_drift(timed(rows), consensus, min_items=4).alerts.row(0, named=True)
    assert pooled["baseline"] == 0.75  # first two windows pooled, the latest never in the baseline
    assert labeler_drift(timed(rows), consensus, min_items=4, drop=0.8).alerts.is_empty()
    assert labeler_drift(timed(rows), consensus, min_items=5).alerts.is_empty()


def test_drift_needs_created_at() -> None:
    with pytest.raises(ValueError, match="created_at"):
        labeler_drift(make_annotations([(1, "x", "bug")]), pl.DataFrame({"item_id": [1], "label": ["bug"]}))


# --- confusion report ----------------------------------------------------------------------------------------

REPORT_ROWS: list[tuple[int, str, str | None]] = [
    (5, "x", "refund"),
    (3, "x", "refund"),
    (1, "x", "refund"),
    (1, "y", "billing"),
    (2, "x", "billing"),
    (4, "x", "bug"),
    (4, "y", "outage"),
    (6, "y", "not-a-class"),
]
REPORT_CONSENSUS = pl.DataFrame({"item_id": [1, 2, 3, 4, 5, 6], "label": ["billing"] * 3 + ["bug", "billing", "bug"]})


def test_confused_label_pairs_are_ordered_counted_and_sorted() -> None:
    pairs = confused_label_pairs(make_annotations(REPORT_ROWS), REPORT_CONSENSUS, CLASSES, examples=2)
    assert pairs.to_dicts() == [
        {
            "consensus_label": "billing",
            "annotator_label": "refund",
            "count": 3,
            "rate": 0.6,
            "example_item_ids": [1, 3],
        },
        {
            "consensus_label": "bug",
            "annotator_label": "outage",
            "count": 1,
            "rate": 0.5,
            "example_item_ids": [4],
        },
    ]
    assert confused_label_pairs(make_annotations(REPORT_ROWS), REPORT_CONSENSUS, CLASSES, top=1).height == 1


def test_disagreement_report_is_markdown_without_item_text(simulated: pl.DataFrame, consensus: pl.DataFrame) -> None:
    with_text = simulated.with_columns(pl.format("call me at jane{}@example.com", "item_id").alias("text"))
    scores = annotator_scores(simulated, consensus, CLASSES)
    drift = labeler_drift(simulated, consensus)
    report = disagreement_report(with_text, consensus, CLASSES, scores=scores, drift_alerts=drift.alerts)
    assert report.startswith("## Where annotators disagree with the consensus\n")
    assert "| consensus label | annotator label | count | rate | example item ids |" in report
    assert "example.com" not in report
    assert f"- **{SPAMMER}**: likely spammer" in report
    assert f"- **{DECAYING}**: agreement with the consensus fell from" in report
    assert "flagged spammer(s) are left out" in report
    table = [line for line in report.splitlines() if line.startswith("| billing | refund |")]
    assert len(table) == 1
    assert report == disagreement_report(with_text, consensus, CLASSES, scores=scores, drift_alerts=drift.alerts)


def test_disagreement_report_on_a_small_batch() -> None:
    report = disagreement_report(make_annotations(REPORT_ROWS), REPORT_CONSENSUS, CLASSES)
    assert "| billing | refund | 3 | 60.0% | 1, 3, 5 |" in report
    assert "| bug | outage | 1 | 50.0% | 4 |" in report
    assert "not-a-class" not in report
    assert "Annotators to look at" not in report
    agreeing = make_annotations([(1, "x", "billing")])
    quiet = disagreement_report(
        agreeing, REPORT_CONSENSUS, CLASSES, scores=annotator_scores(agreeing, REPORT_CONSENSUS, CLASSES)
    )
    assert "_(no disagreement with the consensus)_" in quiet
    assert "No annotator is flagged as a spammer or as drifting." in quiet


# --- agreement statistics against reference implementations -------------------------------------------------


def random_reliability_data(seed: int, coders: int, units: int, missing: float) -> np.ndarray:
    """A coders x units matrix of class codes with NaN for missing values; coders agree with a hidden truth."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 5, size=units)
    data = np.where(rng.uniform(size=(coders, units)) < 0.6, truth, rng.integers(0, 5, size=(coders, units)))
    return np.where(rng.uniform(size=(coders, units)) < missing, np.nan, data.astype(np.float64))


def from_matrix(data: np.ndarray) -> pl.DataFrame:
    """Long-form annotations from a coders x units matrix (NaN is no annotation)."""
    rows = [
        (unit, f"coder{coder}", str(int(data[coder, unit])))
        for coder in range(data.shape[0])
        for unit in range(data.shape[1])
        if not math.isnan(data[coder, unit])
    ]
    return make_annotations(rows)


@pytest.mark.parametrize(("seed", "coders", "missing"), [(0, 3, 0.3), (1, 8, 0.5), (2, 20, 0.8)])
def test_krippendorff_alpha_matches_the_reference_package(seed: int, coders: int, missing: float) -> None:
    krippendorff = pytest.importorskip("krippendorff")
    data = random_reliability_data(seed, coders, units=200, missing=missing)
    counts = (~np.isnan(data)).sum(axis=0)
    assert len(set(counts.tolist())) > 2  # varying numbers of annotations per item, including 0 and 1
    reference = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    ours = agreement_stats(from_matrix(data), ["0", "1", "2", "3", "4"]).krippendorff_alpha
    assert ours == pytest.approx(reference, abs=1e-6)


@pytest.mark.parametrize(("seed", "raters"), [(3, 2), (4, 5), (5, 14)])
def test_fleiss_kappa_matches_statsmodels(seed: int, raters: int) -> None:
    inter_rater = pytest.importorskip("statsmodels.stats.inter_rater")
    data = random_reliability_data(seed, raters, units=150, missing=0.0)
    table, _ = inter_rater.aggregate_raters(data.T.astype(np.int64))
    reference = inter_rater.fleiss_kappa(table, method="fleiss")
    assert agreement_stats(from_matrix(data), ["0", "1", "2", "3", "4"]).fleiss_kappa == pytest.approx(
        reference, abs=1e-6
    )
