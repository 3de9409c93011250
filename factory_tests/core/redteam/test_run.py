"""Running a suite: a model that ignores casing passes the casing test and a brittle one fails it; golden and
directional expectations are judged as declared; results read back as written."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import polars as pl

from factory.core.redteam import (
    RedTeamResult,
    Scorer,
    SuiteConfig,
    build_suite,
    parse_redteam_file,
    pipeline_scorer,
    run_suite,
)
from factory.core.training import ModelColumns, build_candidate, model_frame

COLUMNS = ModelColumns(text=("body",))
CLASSES = ("billing", "refund")
TRAIN = [
    ("Refund my order please", "refund"),
    ("I want a refund for the broken lamp", "refund"),
    ("Where is my Refund", "refund"),
    ("Please REFUND the payment", "refund"),
    ("My invoice shows a double charge", "billing"),
    ("Charged twice on my Invoice", "billing"),
    ("The bill is wrong this month", "billing"),
    ("Why is my INVOICE so high", "billing"),
]


def _test_rows() -> pl.DataFrame:
    bodies = [text for text, _ in TRAIN] + ["Refund please, the lamp was broken", "Wrong Invoice amount again"]
    return pl.DataFrame({"body": bodies * 5})


def _keyword_scorer(case_sensitive: bool) -> Scorer:
    """refund when the text says Refund (as written, or in any case), else billing."""

    def score(frame: pl.DataFrame) -> tuple[Sequence[str], npt.NDArray[np.float64]]:
        texts = frame["body"].fill_null("").to_list()
        hits = [("Refund" in t) if case_sensitive else ("refund" in t.lower()) for t in texts]
        return list(CLASSES), np.array([[0.2, 0.8] if hit else [0.8, 0.2] for hit in hits])

    return score


def test_a_model_that_ignores_casing_passes_and_a_brittle_one_fails() -> None:
    suite = build_suite("uc", _test_rows(), COLUMNS, None, SuiteConfig(cases=200, tests=("casing",)))
    robust = run_suite(suite, _keyword_scorer(case_sensitive=False)).failure_rates()
    brittle = run_suite(suite, _keyword_scorer(case_sensitive=True))
    assert robust == {"casing": 0.0}
    assert brittle.failure_rates()["casing"] > 0.2
    example = brittle.tests[0].examples[0]
    assert example["predicted"] != example["predicted_variant"] and "variant" in example


def test_the_same_holds_for_fitted_pipelines() -> None:
    """Trained where only the capitalized keyword tells the classes apart: a case-sensitive vectorizer loses it."""
    bodies = [f"{word} please, about order {n}" for n in range(6) for word in ("Refund", "Invoice")]
    frame = pl.DataFrame({"body": bodies})
    labels = ["refund" if body.startswith("Refund") else "billing" for body in bodies]
    suite = build_suite("uc", frame, COLUMNS, None, SuiteConfig(cases=200, tests=("casing",)))
    rates = {}
    for lowercase in (True, False):
        model = build_candidate("tfidf_logreg", COLUMNS, seed=1, max_features=1000)
        model.set_params(features__text__min_df=1, features__text__lowercase=lowercase)
        model.fit(model_frame(frame, COLUMNS), labels)
        rates[lowercase] = run_suite(suite, pipeline_scorer(model, COLUMNS)).failure_rates()["casing"]
    assert rates[True] == 0.0 and rates[False] > 0.1, rates


def _refund_counter(frame: pl.DataFrame) -> tuple[Sequence[str], npt.NDArray[np.float64]]:
    """P(refund) grows with the number of times a text says refund."""
    counts = np.array([t.lower().count("refund") for t in frame["body"].fill_null("").to_list()], dtype=float)
    refund = counts / (counts + 1.0)
    return list(CLASSES), np.stack([1 - refund, refund], axis=1)


def test_directional_and_golden_expectations_are_judged_as_declared() -> None:
    def change(name: str, target: str, direction: str, body: str, **more: float) -> dict[str, object]:
        return {"name": name, "class": target, "direction": direction, "rows": 10, "append": {"body": body}, **more}

    def pair(name: str, label: str, variant: str) -> dict[str, object]:
        return {"name": name, "label": label, "base": {"body": "bill"}, "variant": {"body": variant}}

    file = parse_redteam_file(
        {
            "golden": [
                {"label": "refund", "inputs": {"body": "refund refund"}},
                {"label": "refund", "inputs": {"body": "my bill"}},
            ],
            "directional": [
                change("up holds", "refund", "up", "Refund!"),
                change("down fails", "refund", "down", "refund"),
                change("down within tolerance", "billing", "up", "refund", tolerance=0.6),
                pair("label", "refund", "refund refund"),
                pair("wrong label", "billing", "refund refund"),
            ],
        },
        "file.yaml",
        COLUMNS,
        CLASSES,
    )
    suite = build_suite("uc", _test_rows(), COLUMNS, file, SuiteConfig(cases=0))
    result = run_suite(suite, _refund_counter)
    by_name = {t.name: t for t in result.tests}
    assert (by_name["minimum_functionality"].cases, by_name["minimum_functionality"].failures) == (2, 1)
    directional = by_name["directional"]
    assert directional.cases == 32 and directional.failures == 10 + 1
    assert {e["origin"].split(" test[")[0] for e in directional.examples} == {"down fails"}
    assert by_name["minimum_functionality"].examples[0]["expected"] == "refund"


def test_results_read_back_as_written_and_summarize_the_worst_test() -> None:
    suite = build_suite("uc", _test_rows(), COLUMNS, None, SuiteConfig(cases=300, tests=("casing", "whitespace")))
    result = run_suite(suite, _keyword_scorer(case_sensitive=True))
    again = RedTeamResult.from_json(result.to_json())
    assert again.failure_rates() == result.failure_rates() and again.cases == 300
    assert [t.examples for t in again.tests] == [t.examples for t in result.tests]
    rate = result.failure_rates()["casing"]
    assert result.summary() == f"300 cases, 2 tests; worst: casing {rate:.1%} failing"
    assert RedTeamResult(tests=()).summary() == "0 cases, 0 tests"


def test_two_models_on_the_same_suite_are_compared_case_by_case() -> None:
    suite = build_suite("uc", _test_rows(), COLUMNS, None, SuiteConfig(cases=200, tests=("casing", "whitespace")))
    brittle = run_suite(suite, _keyword_scorer(case_sensitive=True))
    robust = run_suite(suite, _keyword_scorer(case_sensitive=False))
    casing = next(t for t in brittle.tests if t.name == "casing")
    assert len(casing.failed) == casing.failures > 0 and all(0 <= i < casing.cases for i in casing.failed)
    assert brittle.changes(robust) == {"casing": (casing.failures, 0), "whitespace": (0, 0)}
    assert robust.changes(brittle) == {"casing": (0, casing.failures), "whitespace": (0, 0)}
    assert RedTeamResult.from_json(brittle.to_json()).changes(robust) == brittle.changes(robust)
