"""The ladder: grid search on train, the cheapest candidate within tolerance of the best, refit on train +
validation, calibration, and a test split that never reaches a choice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
import skops.io as sio

from factory.core.training import (
    GRIDS,
    SKOPS_TRUSTED_TYPES,
    TEXT_COLUMN,
    ModelColumns,
    Selection,
    model_frame,
    train_and_select,
)

TEXT = ModelColumns(text=("text",))
LADDER = ("majority", "complement_nb", "tfidf_logreg", "tfidf_svm")
WORDS = {
    "billing": ["invoice", "charge", "payment", "bill"],
    "refund": ["refund", "money", "back", "return"],
    "outage": ["down", "error", "outage", "broken"],
}


def _split(n: int, seed: int, *, noise: float = 0.25) -> tuple[pd.DataFrame, list[str]]:
    """Texts whose label shows in one of a few words, with a share of rows whose words belong to another label."""
    rng = np.random.default_rng(seed)
    labels = [str(x) for x in rng.choice(list(WORDS), size=n)]
    docs = []
    for label in labels:
        source = str(rng.choice(list(WORDS))) if rng.random() < noise else label
        docs.append(f"hello {rng.choice(WORDS[source])} {rng.choice(WORDS[source])} ref {rng.integers(1000)}")
    return model_frame(pl.DataFrame({"text": docs}), TEXT), labels


def _splits() -> dict[str, tuple[pd.DataFrame, list[str]]]:
    return {"train": _split(400, 1), "validation": _split(150, 2), "test": _split(150, 3)}


def _select(splits: dict[str, tuple[pd.DataFrame, list[str]]], **options: object) -> Selection:
    return train_and_select(
        splits,
        TEXT,
        classes=list(WORDS),
        candidates=LADDER,
        metric="macro_f1",
        seed=4,
        max_features=2000,
        bootstrap=100,
        **options,  # type: ignore[arg-type]  # the selection options of train_and_select
    )


def _choices(selection: Selection) -> list[tuple[object, ...]]:
    return [
        (c.name, c.params, c.cv_score, c.interval, tuple(sorted(c.validation.items()))) for c in selection.candidates
    ]


def test_the_test_split_never_reaches_a_choice() -> None:
    """Scrambled test labels and texts leave every search, every validation figure and the choice unchanged;
    only the test figures move."""
    splits = _splits()
    honest = _select(splits)
    inputs, labels = splits["test"]
    rng = np.random.default_rng(9)
    poisoned_inputs = inputs.assign(**{TEXT_COLUMN: rng.permutation(inputs[TEXT_COLUMN].to_numpy())})
    poisoned = _select({**splits, "test": (poisoned_inputs, [str(x) for x in rng.permutation(labels)])})
    assert _choices(poisoned) == _choices(honest)
    assert poisoned.chosen.name == honest.chosen.name and poisoned.calibration == honest.calibration
    assert poisoned.test["macro_f1"] < honest.test["macro_f1"] - 0.2


def test_the_one_se_rule_picks_the_cheapest_candidate_within_the_best_standard_error() -> None:
    selection = _select(_splits())
    best = selection.best
    assert selection.rule == "one_se" and selection.tolerance == best.interval.se
    values = [c.interval.value for c in selection.candidates]
    index = [c.name for c in selection.candidates].index(selection.chosen.name)
    assert values[index] >= best.interval.value - best.interval.se
    assert all(v < best.interval.value - best.interval.se for v in values[:index])
    assert selection.chosen.name != "majority"
    assert "chosen" in selection.summary_line() and "test macro F1" in selection.summary_line()


def test_max_loss_caps_what_the_one_se_rule_gives_up() -> None:
    splits = _splits()
    capped = _select(splits, max_loss=0.0)
    assert capped.tolerance == 0.0 and capped.chosen.name == capped.best.name
    loose = _select(splits, max_loss=1.0)
    assert loose.tolerance == loose.best.interval.se


def test_a_fixed_tolerance_trades_the_metric_for_a_cheaper_candidate() -> None:
    splits = _splits()
    assert _select(splits, tolerance=1.0).chosen.name == "majority"
    strict = _select(splits, tolerance=0.0)
    assert strict.chosen.name == strict.best.name and strict.rule == "fixed"


def test_every_candidate_is_measured_and_its_grid_searched_on_train() -> None:
    selection = _select(_splits())
    rows = {row["candidate"]: row for row in selection.summary_rows()}
    assert list(rows) == list(LADDER)
    for name, row in rows.items():
        assert row["grid_tried"] == len(GRIDS[name]) and row["grid_skipped"] == 0
        assert row["params"] in GRIDS[name]
        assert row["low"] <= row["validation_macro_f1"] <= row["high"]
        assert row["size_kb"] > 0 and row["ms_per_1k"] > 0 and row["fit_s"] >= 0
        assert (row["cv_score"] is None) == (len(GRIDS[name]) == 1)
    assert not selection.budget_exhausted
    assert [r["class"] for r in selection.per_class] == list(WORDS)
    assert sum(r["support"] for r in selection.per_class) == 150


def test_search_max_rows_bounds_the_search_not_the_fits() -> None:
    """The grid search cross-validates on a stratified sample of 150 of the 400 train rows; each candidate's
    chosen configuration is still fit on all 400: where both searches chose the same configuration, the validation
    figures are the same."""
    splits = _splits()
    full, bounded = _select(splits), _select(splits, search_max_rows=150)
    assert (full.search_rows, bounded.search_rows) == (400, 150)
    assert [c.cv_score for c in bounded.candidates] != [c.cv_score for c in full.candidates]
    same = [(a, b) for a, b in zip(full.candidates, bounded.candidates, strict=True) if a.params == b.params]
    assert len(same) >= 2
    for a, b in same:
        assert a.validation == b.validation, a.name


def test_rungs_in_worker_processes_give_the_same_selection() -> None:
    """Two worker processes search, fit and score the candidates: the same configurations, scores, choice and
    test figures as one after another here, and the fitted models came back whole (they predict the same)."""
    splits = _splits()
    here, side_by_side = _select(splits), _select(splits, workers=2)
    assert _choices(side_by_side) == _choices(here)
    assert side_by_side.chosen.name == here.chosen.name and side_by_side.test == here.test
    assert here.worker_cpu_seconds == 0 < side_by_side.worker_cpu_seconds, "the workers' CPU time is counted"
    inputs, _ = splits["test"]
    for a, b in zip(here.candidates, side_by_side.candidates, strict=True):
        assert list(b.model.predict(inputs)) == list(a.model.predict(inputs)), a.name
        assert b.size_bytes > 0


def test_a_spent_time_budget_skips_grid_points_and_still_fits_every_default() -> None:
    selection = _select(_splits(), time_budget_seconds=1e-9)
    assert selection.budget_exhausted
    for candidate in selection.candidates:
        assert candidate.params == GRIDS[candidate.name][0] and candidate.cv_score is None
        assert candidate.grid_tried == 1 and candidate.grid_skipped == len(GRIDS[candidate.name]) - 1


def test_the_choice_is_refit_on_train_and_validation() -> None:
    """A class seen only in validation is known to the refit model, not to the candidate fit on train."""
    splits = _splits()
    inputs, labels = splits["validation"]
    extra = model_frame(pl.DataFrame({"text": ["zebra stripes savanna"] * 6}), TEXT)
    validation = (pd.concat([inputs, extra], ignore_index=True), [*labels, *["zoo"] * 6])
    selection = train_and_select(
        {**splits, "validation": validation},
        TEXT,
        classes=[*WORDS, "zoo"],
        candidates=["majority", "tfidf_logreg"],
        metric="macro_f1",
        seed=4,
        max_features=2000,
        bootstrap=50,
    )
    assert selection.model is not None
    assert "zoo" not in selection.chosen.model.classes_ and "zoo" in selection.model.classes_
    assert selection.sizes == {"train": 400, "validation": 156, "test": 150}


def test_the_calibrated_choice_has_probabilities_and_survives_skops() -> None:
    splits = _splits()
    selection = train_and_select(
        splits, TEXT, classes=list(WORDS), candidates=["tfidf_svm"], metric="macro_f1", seed=4, max_features=2000
    )
    calibration = selection.calibration
    assert calibration is not None and calibration.calibrated and calibration.ece_before is None
    assert 0 <= calibration.ece_after < 0.2
    model = selection.model
    assert model is not None
    proba = model.predict_proba(splits["test"][0])
    assert np.allclose(proba.sum(axis=1), 1.0)
    restored = sio.loads(sio.dumps(model), trusted=list(SKOPS_TRUSTED_TYPES))
    assert np.allclose(restored.predict_proba(splits["test"][0]), proba)


@pytest.mark.parametrize("name", ["complement_nb", "tfidf_logreg"])
def test_calibration_is_kept_only_when_it_lowers_the_validation_error(name: str) -> None:
    selection = train_and_select(
        _splits(), TEXT, classes=list(WORDS), candidates=[name], metric="macro_f1", seed=4, max_features=2000
    )
    calibration = selection.calibration
    assert calibration is not None and calibration.ece_before is not None
    assert calibration.calibrated == (calibration.ece_after <= calibration.ece_before)
    assert ("CalibratedClassifierCV" in repr(selection.model)) == calibration.calibrated
