"""Label-issue detection on data with known flipped labels, and the review queue's budget, reasons and order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest

from factory.core.labeling import REVIEW_REASONS, PIIResidueError, ReviewPolicy, _label_issues, aggregate, review_tasks
from factory.core.labeling._label_issues import find_label_issues, fit_sample, out_of_fold_probabilities
from factory.core.labeling._review_policy import CANDIDATE_COLUMNS, review_candidates, select_review_queue
from factory.core.preparation import scrub
from factory.core.training import ModelColumns

CLASSES = ["billing", "shipping", "login", "crash", "refund"]
VOCABULARY = {
    "billing": "invoice charge charged payment card statement plan price fee billed overcharged annual monthly "
    "receipt tax",
    "shipping": "parcel delivery courier tracking shipped package arrive warehouse address dispatch postal transit "
    "carrier late delayed",
    "login": "password login account locked reset sign username access authentication code verify session email "
    "twofactor credentials",
    "crash": "app crashes freezes error screen update version android iphone settings bug closes loading blank "
    "spinning",
    "refund": "refund return money back reimbursement returned credit exchange damaged broken cracked faulty "
    "replacement store policy",
}
FILLER = [
    "please",
    "help",
    "i",
    "my",
    "the",
    "a",
    "is",
    "it",
    "and",
    "can",
    "you",
    "we",
    "have",
    "since",
    "this",
    "today",
    "still",
    "not",
    "again",
]


@dataclass(frozen=True)
class Noisy:
    """A synthetic ticket set: texts, true and given labels (some flipped), and which items were flipped."""

    texts: list[str]
    truth: list[str]
    given: list[str]
    flipped: set[int]

    def labels(self) -> pl.DataFrame:
        return pl.DataFrame({"item_id": [f"T{i:04d}" for i in range(len(self.texts))], "label": self.given})


def noisy_tickets(n: int = 400, flip_share: float = 0.08, own_word_share: float = 0.45, seed: int = 0) -> Noisy:
    """Texts of 6-10 words, each from the class vocabulary with probability `own_word_share`, else filler;
    `flip_share` of the labels moved to another class, chosen at random."""
    rng = np.random.default_rng(seed)
    words = {name: text.split() for name, text in VOCABULARY.items()}
    truth = rng.integers(0, len(CLASSES), n)
    texts = []
    for code in truth:
        own = words[CLASSES[code]]
        picks = [
            own[rng.integers(len(own))] if rng.random() < own_word_share else FILLER[rng.integers(len(FILLER))]
            for _ in range(rng.integers(6, 11))
        ]
        texts.append(" ".join(picks))
    given = truth.copy()
    flipped = rng.choice(n, round(flip_share * n), replace=False)
    given[flipped] = (truth[flipped] + rng.integers(1, len(CLASSES), flipped.size)) % len(CLASSES)
    return Noisy(texts, [CLASSES[c] for c in truth], [CLASSES[c] for c in given], set(flipped.tolist()))


@pytest.fixture(scope="module")
def noisy() -> Noisy:
    return noisy_tickets()


@pytest.fixture(scope="module")
def issues(noisy: Noisy) -> pl.DataFrame:
    probabilities = out_of_fold_probabilities(noisy.texts, noisy.given, CLASSES, folds=5, seed=0)
    return find_label_issues(noisy.labels(), probabilities, CLASSES)


# --- label issues --------------------------------------------------------------------------------------


def test_flipped_labels_are_found(noisy: Noisy, issues: pl.DataFrame) -> None:
    found = set(np.flatnonzero(issues["is_issue"].to_numpy()).tolist())
    hits = len(found & noisy.flipped)

    assert len(noisy.flipped) == 32
    assert hits / len(noisy.flipped) >= 0.75  # recall (0.88 at this seed)
    assert hits / len(found) >= 0.8  # precision (0.90 at this seed)


def test_label_quality_ranks_flipped_labels_lowest(noisy: Noisy, issues: pl.DataFrame) -> None:
    quality = issues["label_quality"].to_numpy()
    flipped = np.zeros(quality.size, dtype=bool)
    flipped[list(noisy.flipped)] = True
    # Area under the ROC curve of "low quality means flipped", by pairwise comparison.
    auc = float((quality[flipped][:, None] < quality[~flipped][None, :]).mean())

    assert auc >= 0.95


def test_suggested_labels_recover_the_truth_of_flagged_items(noisy: Noisy, issues: pl.DataFrame) -> None:
    flagged = issues.with_row_index("row").filter(pl.col("is_issue"))
    truth = [noisy.truth[row] for row in flagged["row"]]

    assert np.mean(np.array(truth) == flagged["suggested_label"].to_numpy()) >= 0.85


def test_issue_frame_layout(noisy: Noisy, issues: pl.DataFrame) -> None:
    assert issues.columns == ["item_id", "label", "suggested_label", "confidence", "label_quality", "is_issue"]
    assert issues["item_id"].equals(noisy.labels()["item_id"])
    assert (issues["confidence"] >= issues["label_quality"]).all()


def test_out_of_fold_probabilities_are_distributions_and_deterministic(noisy: Noisy) -> None:
    texts, labels = noisy.texts[:120], noisy.given[:120]
    first = out_of_fold_probabilities(texts, labels, CLASSES, folds=3, seed=4)
    again = out_of_fold_probabilities(pl.Series(texts), pl.Series(labels), CLASSES, folds=3, seed=4)

    assert first.shape == (120, len(CLASSES))
    np.testing.assert_allclose(first.sum(axis=1), 1.0)
    np.testing.assert_array_equal(first, again)


def test_out_of_fold_probabilities_handle_rare_and_absent_classes() -> None:
    classes = ["a", "b", "c", "d", "e"]
    texts = ["apple banana pear"] * 6 + ["car truck bus"] * 6 + ["dog cat"] + ["elephant zebra", "elephant lion"]
    labels = ["a"] * 6 + ["b"] * 6 + ["d"] + ["e", "e"]  # d has one item, e two (fewer than 5 folds), c none

    probabilities = out_of_fold_probabilities(texts, labels, classes, folds=5)

    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert (probabilities[:, classes.index("c")] == 0).all()
    assert probabilities[12, classes.index("d")] == 0  # its only item never trains on its own label
    issues = find_label_issues(pl.DataFrame({"item_id": range(15), "label": labels}), probabilities, classes)
    assert not issues["is_issue"][12]  # cleanlab leaves a class's single item alone
    assert issues["suggested_label"][:12].to_list() == labels[:12]


def test_out_of_fold_probabilities_fall_back_to_class_shares() -> None:
    # Two items, two folds: each training fold holds one class; no words at all: an empty vocabulary.
    np.testing.assert_array_equal(out_of_fold_probabilities(["x y", "z w"], ["a", "b"], ["a", "b"]), [[0, 1], [1, 0]])
    blank = out_of_fold_probabilities(["", None, "", ""], ["a", "a", "b", "b"], ["a", "b"], folds=2)
    np.testing.assert_array_equal(blank, np.full((4, 2), 0.5))


@pytest.mark.parametrize(
    ("texts", "labels", "folds", "message"),
    [
        (["a", "b"], ["x", "nope"], 5, "outside the taxonomy"),
        (["a", "b"], ["x", None], 5, "null"),
        (["a"], ["x"], 5, "two items"),
        (["a", "b"], ["x", "y"], 1, "folds"),
        (["a", "b", "c"], ["x", "y"], 2, "3 texts but 2 labels"),
    ],
)
def test_out_of_fold_probabilities_reject_bad_input(
    texts: list[str], labels: list[str | None], folds: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        out_of_fold_probabilities(texts, labels, ["x", "y"], folds=folds)


def test_find_label_issues_with_one_class_flags_nothing() -> None:
    labels = pl.DataFrame({"item_id": [1, 2], "label": ["a", "a"]})
    found = find_label_issues(labels, np.array([[0.2, 0.8], [1.0, 0.0]]), ["a", "b"])

    assert found["is_issue"].to_list() == [False, False]
    assert found["suggested_label"].to_list() == ["b", "a"]
    assert found["label_quality"].to_list() == [0.2, 1.0]


def test_find_label_issues_renormalizes_rows() -> None:
    labels = pl.DataFrame({"item_id": [1, 2], "label": ["a", "b"]})
    found = find_label_issues(labels, np.array([[2.0, 2.0], [1.0, 3.0]]), ["a", "b"])

    assert found["label_quality"].to_list() == [0.5, 0.75]


@pytest.mark.parametrize(
    ("labels", "probabilities", "message"),
    [
        (pl.DataFrame({"item_id": [1, 2], "label": ["a", "b"]}), np.ones((3, 2)) / 2, "shape"),
        (pl.DataFrame({"item_id": [1, 2], "label": ["a", "b"]}), np.array([[1.0, -0.1], [0.5, 0.5]]), "non-negative"),
        (pl.DataFrame({"item_id": [1, 2], "label": ["a", "b"]}), np.array([[0.0, 0.0], [0.5, 0.5]]), "positive"),
        (pl.DataFrame({"item_id": [1, 1], "label": ["a", "b"]}), np.ones((2, 2)) / 2, "twice"),
        (pl.DataFrame({"item_id": [1, 2], "label": ["a", "z"]}), np.ones((2, 2)) / 2, "taxonomy"),
        (pl.DataFrame({"item_id": [1, 2]}), np.ones((2, 2)) / 2, "lacks columns"),
    ],
)
def test_find_label_issues_rejects_bad_input(
    labels: pl.DataFrame, probabilities: npt.NDArray[np.float64], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        find_label_issues(labels, probabilities, ["a", "b"])


def test_candidates_join_annotator_agreement(issues: pl.DataFrame) -> None:
    annotations = pl.DataFrame(
        {"item_id": ["T0000", "T0000", "T0001"], "annotator": ["a", "b", "a"], "label": ["billing", "crash", "login"]}
    )
    candidates = review_candidates(issues, aggregate(annotations, CLASSES, method="mv").labels)

    assert candidates.columns == list(CANDIDATE_COLUMNS)
    assert candidates.height == issues.height
    agreement = dict(zip(candidates["item_id"], candidates["agreement"], strict=True))
    assert (agreement["T0000"], agreement["T0001"], agreement["T0002"]) == (0.0, None, None)


# --- review queue --------------------------------------------------------------------------------------


def candidate(
    item_id: str,
    label: str = "billing",
    *,
    confidence: float | None = 0.95,
    model_label: str | None = None,
    agreement: float | None = 1.0,
    is_issue: bool | None = False,
    label_quality: float | None = 0.95,
) -> dict[str, Any]:
    return {
        "item_id": item_id,
        "label": label,
        "confidence": confidence,
        "model_label": model_label or label,
        "agreement": agreement,
        "is_issue": is_issue,
        "label_quality": label_quality,
    }


def candidates_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    schema = {
        "item_id": pl.String,
        "label": pl.String,
        "confidence": pl.Float64,
        "model_label": pl.String,
        "agreement": pl.Float64,
        "is_issue": pl.Boolean,
        "label_quality": pl.Float64,
    }
    return pl.DataFrame(rows, schema=schema)


def mixed_candidates() -> pl.DataFrame:
    """100 items: 10 suspected errors, 10 disputed, 10 uncertain, rare classes 'outage' and 'legal', 60 plain."""
    rows = [
        candidate(f"E{i:02d}", is_issue=True, label_quality=0.05 + 0.02 * i, model_label="refund") for i in range(10)
    ]
    rows += [candidate(f"D{i:02d}", "refund", agreement=0.0 if i < 3 else 1 / 3) for i in range(10)]
    rows += [candidate(f"U{i:02d}", "shipping", confidence=0.3 + 0.01 * i) for i in range(10)]
    rows += [candidate(f"R{i}", "outage", confidence=0.9 - 0.1 * i) for i in range(3)]
    rows += [candidate(f"L{i}", "legal", confidence=0.8) for i in range(2)]
    rows += [candidate(f"P{i:02d}", ["billing", "refund", "shipping"][i % 3], agreement=None) for i in range(65)]
    return candidates_frame(rows)


def test_the_queue_respects_the_budget_and_never_repeats() -> None:
    queue = select_review_queue(mixed_candidates(), 20)

    assert queue.height == 20
    assert queue["item_id"].n_unique() == 20
    assert queue["priority"].to_list() == list(range(1, 21))
    assert queue["score"].is_sorted(descending=True)


def test_every_reason_gets_its_quota() -> None:
    queue = select_review_queue(mixed_candidates(), 20)
    taken = dict(queue.group_by("selected_for").len().iter_rows())

    # 40/25/20/15 % of 20 items; every category has enough candidates to fill its slots.
    assert taken == {"label_error": 8, "disagreement": 5, "low_confidence": 4, "rare_class": 3}
    picked = queue.filter(pl.col("selected_for") == "label_error")["item_id"].sort().to_list()
    assert picked == [f"E{i:02d}" for i in range(8)]  # lowest label quality first
    disputed = queue.filter(pl.col("selected_for") == "disagreement")["item_id"].sort().to_list()
    assert disputed[:3] == ["D00", "D01", "D02"]  # no agreement at all first
    uncertain = queue.filter(pl.col("selected_for") == "low_confidence")["item_id"].sort().to_list()
    assert uncertain == ["U00", "U01", "U02", "U03"]


def test_rare_classes_are_each_covered() -> None:
    queue = select_review_queue(mixed_candidates(), 20)
    rare = queue.filter(pl.col("selected_for") == "rare_class")

    assert set(rare["label"]) == {"outage", "legal"}
    assert "R2" in rare["item_id"].to_list()  # the least confident 'outage' item comes first
    assert all("rare_class" in reasons for reasons in rare["reasons"])


def test_reasons_list_every_qualifying_reason() -> None:
    frame = candidates_frame(
        [
            candidate(
                "both", "outage", confidence=0.2, is_issue=True, label_quality=0.1, agreement=0.0, model_label="billing"
            ),
            *(candidate(f"P{i:02d}") for i in range(40)),
        ]
    )
    queue = select_review_queue(frame, 3)

    first = queue.row(0, named=True)
    assert first["item_id"] == "both"
    assert first["reasons"] == ["label_error", "disagreement", "low_confidence", "rare_class"]
    assert first["selected_for"] == "label_error"
    assert queue["reasons"][1].to_list() == []


def test_unused_quota_goes_to_the_best_scores() -> None:
    frame = candidates_frame([candidate(f"P{i:02d}", confidence=0.99 - 0.01 * i) for i in range(30)])
    queue = select_review_queue(frame, 5)

    assert queue["selected_for"].to_list() == ["score"] * 5
    assert queue["item_id"].to_list() == ["P29", "P28", "P27", "P26", "P25"]  # least confident first


def test_the_queue_is_deterministic_under_row_order_and_ties() -> None:
    frame = mixed_candidates()
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=7)

    assert select_review_queue(frame, 25).equals(select_review_queue(shuffled, 25))
    ties = candidates_frame([candidate(name) for name in ["c", "a", "d", "b"]])
    assert select_review_queue(ties, 2)["item_id"].to_list() == ["a", "b"]


def test_budget_edges() -> None:
    frame = mixed_candidates()
    empty = select_review_queue(frame, 0)

    assert empty.is_empty()
    assert {"reasons", "selected_for", "score", "priority"} <= set(empty.columns)
    everything = select_review_queue(frame, 1000)
    assert everything.height == frame.height
    assert set(everything["item_id"]) == set(frame["item_id"])
    with pytest.raises(ValueError, match="non-negative"):
        select_review_queue(frame, -1)


def test_a_small_budget_still_covers_every_reason() -> None:
    queue = select_review_queue(mixed_candidates(), 4)

    assert sorted(queue["selected_for"]) == sorted(set(REVIEW_REASONS) - {"label_conflict"}), "no conflict to take"
    conflicted = mixed_candidates().with_columns(label_conflict=pl.col("item_id") == "P00")
    assert "label_conflict" in select_review_queue(conflicted, 1)["selected_for"].to_list()


def test_label_conflicts_are_served_first_from_their_own_share() -> None:
    conflicted = mixed_candidates().with_columns(
        label_conflict=pl.col("item_id").is_in([f"P{i:02d}" for i in range(10)])
    )
    conflicted = conflicted.with_columns(
        confidence=pl.when(pl.col("item_id") == "P09").then(0.6).otherwise(pl.col("confidence"))
    )
    queue = select_review_queue(conflicted, 20)
    taken = dict(queue.group_by("selected_for").len().iter_rows())

    # 20% of 20 to conflicts first, then 40/25/20/15 % of the 16 left (largest remainder, ties in reason order).
    assert taken == {"label_conflict": 4, "label_error": 7, "disagreement": 4, "low_confidence": 3, "rare_class": 2}
    picked = queue.filter(pl.col("selected_for") == "label_conflict")
    assert picked["item_id"].sort().to_list() == ["P00", "P01", "P02", "P09"], "least confident first"
    assert all(reasons[0] == "label_conflict" for reasons in picked["reasons"])
    assert "label_conflict" not in queue.columns, "the flag is a reason, not a column of the queue"
    assert queue.filter(pl.col("item_id") == "P09")["priority"].item() < 20


def test_a_day_without_conflicts_is_queued_as_if_the_reason_did_not_exist() -> None:
    shares = {"label_error": 0.4, "disagreement": 0.25, "low_confidence": 0.2, "rare_class": 0.15}
    before = select_review_queue(mixed_candidates(), 20, ReviewPolicy(quotas=shares, weights=shares))
    none = mixed_candidates().with_columns(label_conflict=pl.lit(False))
    assert select_review_queue(none, 20).equals(before)
    assert select_review_queue(mixed_candidates(), 20).equals(before)


def test_class_counts_decide_what_is_rare() -> None:
    frame = candidates_frame(
        [candidate(f"B{i}", "billing") for i in range(5)] + [candidate(f"S{i}", "shipping") for i in range(5)]
    )
    counts = {"billing": 5000, "shipping": 40}
    policy = ReviewPolicy(quotas={"rare_class": 1.0})

    queue = select_review_queue(frame, 3, policy, class_counts=counts)

    assert queue["selected_for"].to_list() == ["rare_class"] * 3
    assert set(queue["label"]) == {"shipping"}


def test_extra_columns_are_carried_and_nulls_tolerated() -> None:
    frame = mixed_candidates().with_columns(pl.lit("x").alias("note"))
    frame = frame.with_columns(
        pl.when(pl.col("item_id") == "P00").then(None).otherwise(pl.col("confidence")).alias("confidence")
    )

    queue = select_review_queue(frame, 100)

    assert "note" in queue.columns
    assert queue.height == 100


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"quotas": {"label_error": 0.8, "rare_class": 0.4}}, "more than the whole budget"),
        ({"quotas": {"label_conflict": 1.5}}, "more than the whole budget"),
        ({"quotas": {"vibes": 0.1}}, "unknown reasons"),
        ({"weights": {"label_error": -1.0}}, "non-negative"),
        ({"rare_share": 2.0}, "rare_share"),
    ],
)
def test_inconsistent_policies_raise(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ReviewPolicy(**kwargs)


def test_duplicated_candidates_raise() -> None:
    frame = candidates_frame([candidate("a"), candidate("a")])
    with pytest.raises(ValueError, match="twice"):
        select_review_queue(frame, 1)


# --- review tasks --------------------------------------------------------------------------------------


RAW = [
    "Charged twice, my card is 4111 1111 1111 1111",
    "Parcel late, call +44 20 7946 0958",
    "App crashes on start",
]


def a_queue() -> tuple[pl.DataFrame, pl.DataFrame]:
    frame = candidates_frame(
        [
            candidate("T1", "billing", is_issue=True, label_quality=0.1, model_label="refund", confidence=0.7),
            candidate("T2", "shipping", confidence=0.3),
            candidate("T3", "crash"),
        ]
    )
    raw_items = pl.DataFrame({"item_id": ["T1", "T2", "T3"], "body": RAW})
    return select_review_queue(frame, 3), raw_items


def test_review_tasks_export_scrubbed_text_in_priority_order() -> None:
    queue, raw_items = a_queue()
    prepared = raw_items.with_columns(scrub(raw_items["body"]).text.alias("body"))

    tasks = review_tasks(queue, prepared, "body", "tfidf_logreg@3")

    assert [task["data"]["item_id"] for task in tasks] == queue["item_id"].to_list()
    first = tasks[0]
    assert first["data"]["text"] == "Charged twice, my card is <CARD>"
    assert first["data"]["current_label"] == "billing"
    assert first["data"]["reasons"] == "label_error, rare_class"  # the model's label, refund, has no item
    assert first["data"]["priority"] == 1
    assert first["predictions"][0]["result"][0]["value"]["choices"] == ["refund"]
    assert first["predictions"][0]["score"] == 0.7


def test_review_tasks_refuse_raw_text() -> None:
    queue, raw_items = a_queue()

    with pytest.raises(PIIResidueError, match="prepared"):
        review_tasks(queue, raw_items, "body", "v1")


def test_review_tasks_need_every_queued_item() -> None:
    queue, raw_items = a_queue()

    with pytest.raises(ValueError, match="no prepared text"):
        review_tasks(queue, raw_items.head(1).with_columns(pl.lit("fine").alias("body")), "body", "v1")


# --- bounded cost: the fit sample ------------------------------------------------------------------------


def test_fit_sample_keeps_exactly_the_cap_and_every_class(noisy: Noisy) -> None:
    codes = np.array([CLASSES.index(label) for label in noisy.given], dtype=np.int64)
    codes[:3] = 4  # a rare class keeps its share: 3 items of class 4 at the front...
    codes[3:] = np.where(codes[3:] == 4, 0, codes[3:])  # ...and no other
    sample = fit_sample(codes, 50, seed=1)

    assert sample.sum() == 50
    assert set(codes[sample].tolist()) == set(range(len(CLASSES)))
    shares = np.bincount(codes[sample], minlength=len(CLASSES)) / 50
    np.testing.assert_allclose(shares[:4], np.bincount(codes, minlength=len(CLASSES))[:4] / codes.size, atol=0.03)
    np.testing.assert_array_equal(sample, fit_sample(codes, 50, seed=1))
    assert fit_sample(codes, codes.size, seed=1).all()
    with pytest.raises(ValueError, match="max_fit_rows must be at least 2"):
        fit_sample(codes, 1, seed=1)


def test_capped_fit_sees_at_most_max_fit_rows_and_still_finds_flipped_labels(
    noisy: Noisy, monkeypatch: pytest.MonkeyPatch
) -> None:
    fitted: list[int] = []
    original = _label_issues._fit_predict

    def recording(
        docs: list[str],
        codes: npt.NDArray[np.int64],
        train: npt.NDArray[np.bool_],
        test: npt.NDArray[np.bool_],
        n_classes: int,
        seed: int,
        fast: bool = False,
        columns: ModelColumns | None = None,
    ) -> npt.NDArray[np.float64]:
        assert not (train & test).any(), "a fold model never sees the items it predicts"
        fitted.append(int(train.sum()))
        return original(docs, codes, train, test, n_classes, seed, fast, columns)

    monkeypatch.setattr(_label_issues, "_fit_predict", recording)
    capped = out_of_fold_probabilities(noisy.texts, noisy.given, CLASSES, folds=5, seed=0, max_fit_rows=200)

    assert len(fitted) == 5 and max(fitted) <= 200 and sum(fitted) == 4 * 200  # each sampled item in 4 fits
    assert capped.shape == (len(noisy.texts), len(CLASSES))
    np.testing.assert_allclose(capped.sum(axis=1), 1.0)
    issues = find_label_issues(noisy.labels(), capped, CLASSES)
    found = set(np.flatnonzero(issues["is_issue"].to_numpy()).tolist())
    assert len(found & noisy.flipped) / len(noisy.flipped) >= 0.6  # half the fit data, most flips still found


def test_a_cap_above_the_batch_changes_nothing(noisy: Noisy) -> None:
    texts, labels = noisy.texts[:150], noisy.given[:150]
    uncapped = out_of_fold_probabilities(texts, labels, CLASSES, folds=3, seed=2)

    np.testing.assert_array_equal(
        uncapped, out_of_fold_probabilities(texts, labels, CLASSES, folds=3, seed=2, max_fit_rows=150)
    )


def test_the_fast_model_serves_many_classes_and_finds_flipped_labels(noisy: Noisy) -> None:
    exact = out_of_fold_probabilities(noisy.texts, noisy.given, CLASSES, folds=5, seed=0, fast_from_classes=6)
    fast = out_of_fold_probabilities(noisy.texts, noisy.given, CLASSES, folds=5, seed=0, fast_from_classes=5)

    assert not np.array_equal(exact, fast), "5 classes reach fast_from_classes=5 and not 6"
    np.testing.assert_array_equal(exact, out_of_fold_probabilities(noisy.texts, noisy.given, CLASSES, folds=5, seed=0))
    np.testing.assert_allclose(fast.sum(axis=1), 1.0)
    found = set(np.flatnonzero(find_label_issues(noisy.labels(), fast, CLASSES)["is_issue"].to_numpy()).tolist())
    assert len(found & noisy.flipped) / len(noisy.flipped) >= 0.75
    assert len(found & noisy.flipped) / len(found) >= 0.8
