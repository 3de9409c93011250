"""Run a red-team suite on a model and measure each test's failure rate.

A model is anything `Scorer` describes: rows of model inputs in, its classes and one probability row per input
out. `pipeline_scorer` makes one of a fitted factory pipeline. Each test is scored in one batch: its cases'
base rows and variant rows go through a single ``predict_proba`` call, on one thread.

A case fails when: ``mft``, the predicted label is not the expected one; ``invariance``, the variant's label
differs from the base's; ``directional``, the declared class's probability moves the wrong way by more than the
tolerance, or (when a label is declared) the variant does not get it. The failure rate of a test is its failing
cases over its cases.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
from threadpoolctl import threadpool_limits

from factory.core.redteam._suite import Case, RedTeamSuite
from factory.core.training import ModelColumns, model_inputs

__all__ = ["RedTeamResult", "Scorer", "TestResult", "pipeline_scorer", "run_suite"]

Scorer = Callable[[pl.DataFrame], tuple[Sequence[str], npt.NDArray[np.float64]]]
"""Rows of model inputs -> (the model's classes, one probability row per input row, columns in class order)."""

_EXAMPLES = 3
_EXAMPLE_CHARS = 160
_RESULTS_FORMAT = 1


def pipeline_scorer(model: Any, columns: ModelColumns) -> Scorer:
    """A `Scorer` for a fitted pipeline of the factory (or any classifier reading the same model frame)."""

    def score(frame: pl.DataFrame) -> tuple[Sequence[str], npt.NDArray[np.float64]]:
        proba = np.asarray(model.predict_proba(model_inputs(model, frame, columns)), dtype=np.float64)
        return [str(c) for c in model.classes_], proba

    return score


@dataclass(frozen=True)
class TestResult:
    """One test's outcome; ``examples`` shows a few failing cases (inputs shortened, predictions given) and
    ``failed`` lists the position of every failing case among the test's cases, so that two models run on the same
    suite can be compared case by case (`RedTeamResult.changes`)."""

    __test__ = False  # not a pytest test class, despite its name

    name: str
    kind: str
    cases: int
    failures: int
    examples: tuple[dict[str, Any], ...] = ()
    failed: tuple[int, ...] = ()

    @property
    def failure_rate(self) -> float:
        return self.failures / self.cases if self.cases else 0.0


@dataclass(frozen=True)
class RedTeamResult:
    """The outcome of a suite on one model, test by test, and the seconds scoring took."""

    tests: tuple[TestResult, ...]
    seconds: float = 0.0

    @property
    def cases(self) -> int:
        return sum(t.cases for t in self.tests)

    def failure_rates(self) -> dict[str, float]:
        return {t.name: t.failure_rate for t in self.tests}

    def worst(self) -> TestResult | None:
        """The test with the highest failure rate (the first such), None without tests."""
        return max(self.tests, key=lambda t: t.failure_rate, default=None)

    def summary(self) -> str:
        """One line: ``1,240 cases, 7 tests; worst: typos 3.1% failing``."""
        worst = self.worst()
        tail = f"; worst: {worst.name} {worst.failure_rate:.1%} failing" if worst is not None else ""
        return f"{self.cases:,} cases, {len(self.tests)} tests{tail}"

    def changes(self, baseline: RedTeamResult) -> dict[str, tuple[int, int]]:
        """Per test both results share, case by case against `baseline` (another model on the same suite): how many
        cases fail here and passed there (broken), and how many pass here and failed there (fixed). The discordant
        counts a McNemar test reads."""
        before = {t.name: set(t.failed) for t in baseline.tests}
        out = {}
        for test in self.tests:
            if test.name in before:
                now = set(test.failed)
                out[test.name] = (len(now - before[test.name]), len(before[test.name] - now))
        return out

    def rows(self) -> list[dict[str, Any]]:
        """One row per test (test, kind, cases, failures, failure rate): for tables."""
        return [
            {
                "test": t.name,
                "kind": t.kind,
                "cases": t.cases,
                "failures": t.failures,
                "failure_rate": round(t.failure_rate, 4),
            }
            for t in self.tests
        ]

    def to_json(self) -> str:
        """Per test name: kind, cases, failures, failure_rate and failing examples; plus the seconds."""
        tests = {
            t.name: {
                "kind": t.kind,
                "cases": t.cases,
                "failures": t.failures,
                "failure_rate": t.failure_rate,
                "examples": list(t.examples),
                "failed": list(t.failed),
            }
            for t in self.tests
        }
        return json.dumps({"format": _RESULTS_FORMAT, "seconds": self.seconds, "tests": tests}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> RedTeamResult:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != _RESULTS_FORMAT:
            raise ValueError("not red-team results of a known format")
        tests = tuple(
            TestResult(
                name=name,
                kind=str(entry["kind"]),
                cases=int(entry["cases"]),
                failures=int(entry["failures"]),
                examples=tuple(entry.get("examples", ())),
                failed=tuple(int(i) for i in entry.get("failed", ())),
            )
            for name, entry in data["tests"].items()
        )
        return cls(tests=tests, seconds=float(data.get("seconds", 0.0)))


def _short(inputs: dict[str, Any] | None) -> dict[str, Any] | None:
    if inputs is None:
        return None
    return {
        k: (v[:_EXAMPLE_CHARS] + "..." if isinstance(v, str) and len(v) > _EXAMPLE_CHARS else v)
        for k, v in inputs.items()
    }


def _example(case: Case, base_label: str, variant_label: str | None) -> dict[str, Any]:
    example = {"origin": case.origin, "base": _short(case.base), "predicted": base_label}
    if case.variant is not None:
        example |= {"variant": _short(case.variant), "predicted_variant": variant_label}
    if case.label is not None:
        example["expected"] = case.label
    if case.target is not None:
        example["expected_move"] = f"{case.target} {case.direction}"
    return example


def _failed(
    case: Case, classes: Sequence[str], base: npt.NDArray[np.float64], variant: npt.NDArray[np.float64] | None
) -> bool:
    base_label = classes[int(base.argmax())]
    if case.kind == "mft":
        return base_label != case.label
    assert variant is not None, f"a {case.kind} case has a variant"
    variant_label = classes[int(variant.argmax())]
    if case.kind == "invariance":
        return base_label != variant_label
    if case.label is not None and variant_label != case.label:
        return True
    if case.target is None:
        return False
    column = list(classes).index(case.target) if case.target in classes else None
    move = 0.0 if column is None else float(variant[column] - base[column])
    return move < -case.tolerance if case.direction == "up" else move > case.tolerance


def _run_test(suite: RedTeamSuite, name: str, cases: list[Case], scorer: Scorer) -> TestResult:
    variants = [c.variant for c in cases if c.variant is not None]
    classes, proba = scorer(suite.frame([c.base for c in cases] + variants))
    bases, rest = proba[: len(cases)], proba[len(cases) :]
    at = 0
    failed: list[int] = []
    examples: list[dict[str, Any]] = []
    for index, case in enumerate(cases):
        variant = None
        if case.variant is not None:
            variant, at = rest[at], at + 1
        if _failed(case, classes, bases[index], variant):
            failed.append(index)
            if len(examples) < _EXAMPLES:
                label = classes[int(variant.argmax())] if variant is not None else None
                examples.append(_example(case, classes[int(bases[index].argmax())], label))
    return TestResult(
        name=name,
        kind=cases[0].kind,
        cases=len(cases),
        failures=len(failed),
        examples=tuple(examples),
        failed=tuple(failed),
    )


def run_suite(suite: RedTeamSuite, scorer: Scorer) -> RedTeamResult:
    """Score every test of `suite` with `scorer` (one batch per test) and count the failing cases."""
    started = time.perf_counter()
    # One thread for BLAS and OpenMP: the batches are small, and a gradient-boosting model's OpenMP threads
    # spinning against a busy machine took 30 s for what one thread does in 0.2 s (measured on 2 shared cores).
    with threadpool_limits(limits=1):
        tests = tuple(_run_test(suite, name, cases, scorer) for name, cases in suite.by_test().items())
    return RedTeamResult(tests=tests, seconds=time.perf_counter() - started)
