"""Candidates, evaluation and selection on small synthetic tasks with a known answer: a text task, and a mixed
frame of numeric, categorical and text columns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
import skops.io as sio
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from factory.core.training import (
    CANDIDATES,
    MISSING,
    SKOPS_TRUSTED_TYPES,
    TEXT_COLUMN,
    ModelColumns,
    Selection,
    build_candidate,
    class_probabilities,
    model_frame,
    model_text,
    predict,
    reads_documents,
    train_and_select,
)

WORDS = {"billing": "invoice charge payment", "refund": "refund money back", "outage": "down error outage"}
TEXT = ModelColumns(text=("text",))
MIXED = ModelColumns(text=("note",), categorical=("region", "product"), numeric=("amount", "age"))
TABULAR = ModelColumns(categorical=("region", "product"), numeric=("amount", "age"))
TEXT_LADDER = ("tfidf_logreg", "complement_nb", "tfidf_svm")


def _split(n: int, seed: int) -> tuple[pd.DataFrame, list[str]]:
    rng = np.random.default_rng(seed)
    labels = [str(x) for x in rng.choice(list(WORDS), size=n)]
    docs = [f"hello {WORDS[label]} thanks {rng.integers(1000)}" for label in labels]
    return model_frame(pl.DataFrame({"text": docs}), TEXT), labels


def _claims(n: int, seed: int) -> tuple[pl.DataFrame, list[str]]:
    """Claims whose label follows the amount (numeric) and the region (categorical); the note is noise, some
    values are missing."""
    rng = np.random.default_rng(seed)
    amount = rng.gamma(2.0, 500.0, n)
    region = rng.choice(["north", "south", "east"], n)
    risky = (amount > 1500) | (region == "east")
    labels = np.where(risky, "review", "pay").tolist()
    frame = pl.DataFrame(
        {
            "note": [[None, "water damage", "stolen bike"][i] for i in rng.integers(0, 3, n)],
            "region": region.tolist(),
            "product": [[None, "home", "car"][i] for i in rng.integers(0, 3, n)],
            "amount": [None if i % 17 == 0 else float(a) for i, a in enumerate(amount)],
            "age": rng.integers(18, 90, n).tolist(),
        }
    )
    return frame, [str(label) for label in labels]


def test_linear_model_beats_the_majority_baseline_and_is_chosen() -> None:
    splits = {"train": _split(300, 1), "validation": _split(60, 2), "test": _split(60, 3)}
    selection = train_and_select(
        splits,
        TEXT,
        classes=list(WORDS),
        candidates=["majority", "tfidf_logreg"],
        metric="macro_f1",
        seed=1,
        max_features=1000,
    )
    assert selection.chosen.name == "tfidf_logreg"
    assert selection.test["macro_f1"] > 0.95
    baseline = next(c for c in selection.candidates if c.name == "majority")
    assert baseline.validation["macro_f1"] < 0.4
    assert selection.sizes == {"train": 300, "validation": 60, "test": 60}
    assert {row["candidate"] for row in selection.summary_rows()} == {"majority", "tfidf_logreg"}


@pytest.mark.parametrize("name", ["complement_nb", "tfidf_svm"])
def test_a_text_ladder_candidate_learns_text_gives_probabilities_and_survives_skops(name: str) -> None:
    splits = {"train": _split(300, 1), "validation": _split(60, 2), "test": _split(60, 3)}
    selection = train_and_select(
        splits, TEXT, classes=list(WORDS), candidates=["majority", name], metric="macro_f1", seed=1, max_features=1000
    )
    assert selection.chosen.name == name and selection.test["macro_f1"] > 0.95
    model = selection.model
    assert model is not None
    proba = model.predict_proba(splits["test"][0])
    assert proba.shape == (60, len(WORDS)) and np.allclose(proba.sum(axis=1), 1.0)
    restored = sio.loads(sio.dumps(model), trusted=list(SKOPS_TRUSTED_TYPES))
    frame = pl.DataFrame({"text": splits["test"][0][TEXT_COLUMN].tolist()})
    assert predict(restored, frame, TEXT).equals(predict(model, frame, TEXT))


def test_the_svm_is_calibrated_with_fewer_folds_when_a_class_is_rare_and_passed_over_without_two_rows() -> None:
    """Calibration folds shrink to the rarest class's training rows; one row cannot calibrate a model without
    probabilities of its own: alone on the ladder it is an error that says so, beside others it is not chosen."""
    splits = {"train": _split(300, 1), "validation": _split(60, 2), "test": _split(60, 3)}
    inputs, labels = splits["train"]

    def select(rare_rows: int, candidates: list[str]) -> Selection:
        rare = [*labels[:-rare_rows], *["rare"] * rare_rows]
        return train_and_select(
            {**splits, "train": (inputs, rare)},
            TEXT,
            classes=[*WORDS, "rare"],
            candidates=candidates,
            metric="macro_f1",
            seed=1,
            max_features=1000,
            tolerance=1.0,  # the first eligible candidate
        )

    selection = select(2, ["tfidf_svm"])
    assert selection.calibration is not None and selection.calibration.calibrated
    assert selection.calibration.folds == 2 and selection.calibration.ece_before is None
    with pytest.raises(ValueError, match="fewer than 2 training rows"):
        select(1, ["tfidf_svm"])
    passed_over = select(1, ["tfidf_svm", "tfidf_logreg"])
    assert passed_over.chosen.name == "tfidf_logreg" and passed_over.candidates[0].name == "tfidf_svm"


@pytest.mark.parametrize("columns", [MIXED, TABULAR], ids=["mixed", "tabular"])
def test_every_candidate_learns_a_mixed_frame_and_survives_skops(columns: ModelColumns) -> None:
    parts = {name: _claims(n, seed) for name, n, seed in (("train", 600, 1), ("validation", 200, 2), ("test", 200, 3))}
    splits = {name: (model_frame(frame, columns), labels) for name, (frame, labels) in parts.items()}
    names = [c for c in CANDIDATES if c not in TEXT_LADDER or columns.text]
    selection = train_and_select(
        splits, columns, classes=["pay", "review"], candidates=names, metric="macro_f1", seed=3, max_features=1000
    )
    scores = {c.name: c.validation["macro_f1"] for c in selection.candidates}
    assert scores["majority"] < 0.5
    assert all(scores[name] > 0.85 for name in names if name != "majority"), scores
    assert scores["hist_gb"] > 0.95, scores  # the trees find the amount threshold
    frame, inputs = parts["test"][0], splits["test"][0]
    for result in selection.candidates:
        restored = sio.loads(sio.dumps(result.model), trusted=list(SKOPS_TRUSTED_TYPES))
        assert (restored.predict(inputs) == result.model.predict(inputs)).all()
    assert selection.model is not None
    restored = sio.loads(sio.dumps(selection.model), trusted=list(SKOPS_TRUSTED_TYPES))
    assert predict(restored, frame, columns).equals(predict(selection.model, frame, columns))


def test_unseen_categories_and_bad_numbers_are_predicted_not_refused() -> None:
    frame, labels = _claims(300, 4)
    model = build_candidate("hist_gb", TABULAR, seed=1, max_features=10).fit(model_frame(frame, TABULAR), labels)
    odd = pl.DataFrame(
        {"region": ["mars", None], "product": ["boat", "car"], "amount": ["12.5", "lots"], "age": [None, "40"]}
    )
    predicted = predict(model, odd, TABULAR)
    assert predicted.height == 2 and predicted["label"].is_in(["pay", "review"]).all()


def test_model_frame_joins_text_and_types_features() -> None:
    frame = pl.DataFrame(
        {"note": ["Hi", None], "region": [None, "east"], "amount": ["3.5", " inf "], "age": [40, None]}
    )
    columns = ModelColumns(text=("note",), categorical=("region",), numeric=("amount", "age"))
    built = model_frame(frame, columns)
    assert list(built.columns) == [TEXT_COLUMN, "region", "amount", "age"]
    assert built[TEXT_COLUMN].tolist() == ["Hi", ""]
    assert built["region"].tolist() == [MISSING, "east"]
    assert built["amount"].tolist()[0] == 3.5 and np.isnan(built["amount"].tolist()[1])
    assert built["age"].tolist()[0] == 40.0 and np.isnan(built["age"].tolist()[1])


def test_a_candidate_without_its_inputs_is_an_error() -> None:
    with pytest.raises(ValueError, match="tfidf_logreg reads text"):
        build_candidate("tfidf_logreg", TABULAR, seed=1, max_features=10)
    with pytest.raises(ValueError, match="complement_nb reads text"):
        build_candidate("complement_nb", TABULAR, seed=1, max_features=10)
    with pytest.raises(ValueError, match="hist_gb reads features"):
        build_candidate("hist_gb", TEXT, seed=1, max_features=10)
    with pytest.raises(ValueError, match="unknown model candidate"):
        build_candidate("forest", TEXT, seed=1, max_features=10)
    with pytest.raises(ValueError, match="at least one input"):
        ModelColumns()


def test_a_document_model_registered_before_frames_still_predicts() -> None:
    docs, labels = ["refund money", "invoice charge"] * 10, ["refund", "billing"] * 10
    legacy = Pipeline([("tfidf", TfidfVectorizer()), ("clf", LogisticRegression())]).fit(docs, labels)
    assert reads_documents(legacy)
    frame = pl.DataFrame({"text": ["refund money please"], "channel": ["chat"]})
    assert predict(legacy, frame, ModelColumns(text=("text",), categorical=("channel",)))["label"].to_list() == [
        "refund"
    ]


def test_empty_split_is_an_error() -> None:
    splits = {"train": _split(30, 1), "validation": _split(0, 2), "test": _split(10, 3)}
    with pytest.raises(ValueError, match="validation split is empty"):
        train_and_select(
            splits, TEXT, classes=list(WORDS), candidates=["majority"], metric="macro_f1", seed=1, max_features=100
        )


def test_model_text_joins_text_and_tokenizes_features() -> None:
    frame = pl.DataFrame({"subject": ["Hi", None], "body": ["card declined", "late"], "channel": ["chat", None]})
    assert model_text(frame, ["subject", "body"], ["channel"]) == [
        "Hi card declined channel_chat",
        " late channel_none",
    ]


def test_gradient_boosting_fits_over_ten_thousand_rows_with_a_class_of_one_row() -> None:
    """scikit-learn's early stopping switches on from 10,000 rows with a stratified hold-out that refuses a class of
    one row; the candidate does without it."""
    rng = np.random.default_rng(0)
    rows = 10_050
    columns = ModelColumns(numeric=("x",))
    frame = pd.DataFrame({"x": rng.normal(size=rows)})
    labels = ["low" if value < 0 else "high" for value in frame["x"]]
    labels[0] = "rare"
    model = build_candidate("hist_gb", columns, seed=1, max_features=100).fit(frame, labels)
    assert set(model.classes_) == {"high", "low", "rare"}


def test_class_probabilities_follow_the_taxonomy_with_zero_for_a_class_the_model_never_saw() -> None:
    frame, labels = _claims(300, 5)
    model = build_candidate("onehot_logreg", TABULAR, seed=1, max_features=10).fit(model_frame(frame, TABULAR), labels)
    taxonomy = ["review", "escalate", "pay"]
    proba = class_probabilities(model, frame.head(20), TABULAR, taxonomy)
    assert proba.shape == (20, 3) and np.allclose(proba.sum(axis=1), 1.0) and (proba[:, 1] == 0).all()
    predicted = predict(model, frame.head(20), TABULAR)
    assert [taxonomy[i] for i in proba.argmax(axis=1)] == predicted["label"].to_list()
    assert np.allclose(proba.max(axis=1), predicted["confidence"].to_numpy())
    assert class_probabilities(model, frame.clear(), TABULAR, taxonomy).shape == (0, 3)
