"""Candidates, evaluation and selection on a small synthetic text task with a known answer."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from factory.core.training import model_text, train_and_select

WORDS = {"billing": "invoice charge payment", "refund": "refund money back", "outage": "down error outage"}


def _split(n: int, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    labels = [str(x) for x in rng.choice(list(WORDS), size=n)]
    docs = [f"hello {WORDS[label]} thanks {rng.integers(1000)}" for label in labels]
    return docs, labels


def test_linear_model_beats_the_majority_baseline_and_is_chosen() -> None:
    splits = {"train": _split(300, 1), "validation": _split(60, 2), "test": _split(60, 3)}
    selection = train_and_select(
        splits,
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


def test_empty_split_is_an_error() -> None:
    splits = {"train": _split(30, 1), "validation": ([], []), "test": _split(10, 3)}
    with pytest.raises(ValueError, match="validation split is empty"):
        train_and_select(
            splits, classes=list(WORDS), candidates=["majority"], metric="macro_f1", seed=1, max_features=100
        )


def test_model_text_joins_text_and_tokenizes_features() -> None:
    frame = pl.DataFrame({"subject": ["Hi", None], "body": ["card declined", "late"], "channel": ["chat", None]})
    assert model_text(frame, ["subject", "body"], ["channel"]) == [
        "Hi card declined channel_chat",
        " late channel_none",
    ]
