"""PII scrubbing measured on the labeled evaluation set (`factory_tests.pii_eval`): recall and precision.

Scoring is per entity, through the public API only (`scrub`, `residue`). In each string, for each PII type:

* the expected entities are the labeled values of that type; one is *gone* when its exact value no longer
  appears in the scrubbed text;
* true positives are the gone entities, capped by the number of placeholders of that type in the output
  (a value replaced by a placeholder of another type is a miss, and that placeholder a false positive);
* false positives are the placeholders of that type beyond the expected count, and a string without any
  entity counts at least one false positive if the scrub changed it at all.

Run with ``-s`` to see the table: overall and per type, how many strings came out exactly as labeled (a
stricter view that also shows partial scrubs such as ``<IPV6>66``; reported, not asserted), and how many
values of each hard-negative family the scrub altered.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cache

import polars as pl
import pytest

from factory.core.preparation import PII_TYPES, placeholder, residue, scrub
from factory_tests.pii_eval import (
    NEGATIVE_FAMILIES,
    PII_KINDS,
    EvalExample,
    build_eval_set,
    digest,
    iban_valid,
    isbn_valid,
    luhn_valid,
    ssn_issuable,
)

SEED = 20261122
SIZE = 6000
# The set's digest for the default arguments: a change to the generator must update it on purpose.
PINNED_DIGEST = "1196dcf1121bb1a2f45a7bcbc997b5a1e921e80891b763fa5c8cc8ff399c7aea"

MIN_RECALL, MIN_PRECISION, MIN_TYPE_RECALL = 0.99, 0.98, 0.97


@dataclass
class Tally:
    expected: int = 0
    found: int = 0
    false_positives: int = 0

    @property
    def recall(self) -> float:
        return self.found / self.expected if self.expected else 1.0

    @property
    def precision(self) -> float:
        flagged = self.found + self.false_positives
        return self.found / flagged if flagged else 1.0


@dataclass
class Score:
    overall: Tally = field(default_factory=Tally)
    per_type: dict[str, Tally] = field(default_factory=lambda: {kind: Tally() for kind in PII_TYPES})
    misses: list[tuple[str, str, str, str]] = field(default_factory=list)  # (type, value, text, scrubbed)
    false_positives: list[tuple[str, str, str]] = field(default_factory=list)  # (type, text, scrubbed)
    negatives_seen: Counter[str] = field(default_factory=Counter)
    negatives_broken: Counter[str] = field(default_factory=Counter)
    untyped_changes: int = 0
    exact: int = 0  # strings scrubbed exactly as the labels say (every value replaced by its placeholder)


@cache
def _eval_set() -> tuple[EvalExample, ...]:
    return tuple(build_eval_set(SIZE, SEED))


@cache
def _scrubbed() -> tuple[str, ...]:
    return tuple(scrub(pl.Series([example.text for example in _eval_set()])).text.to_list())


def _ideal(example: EvalExample) -> str:
    text = example.text
    for kind, value in sorted(example.entities, key=lambda entity: -len(entity[1])):
        text = text.replace(value, placeholder(kind))
    return text


def _score_example(example: EvalExample, scrubbed: str, score: Score) -> None:
    extras = 0
    for kind in PII_TYPES:
        values = [value for entity_kind, value in example.entities if entity_kind == kind]
        placeholders = scrubbed.count(placeholder(kind))
        kept = [value for value in values if value in scrubbed]
        gone = [value for value in values if value not in scrubbed]
        found = min(len(gone), placeholders)
        extra = max(0, placeholders - len(values))
        tally = score.per_type[kind]
        tally.expected += len(values)
        tally.found += found
        tally.false_positives += extra
        extras += extra
        score.misses += [(kind, value, example.text, scrubbed) for value in kept + gone[found:]]
        score.false_positives += [(kind, example.text, scrubbed)] * extra
    if not example.entities and scrubbed != example.text and not extras:
        score.untyped_changes += 1  # changed without a placeholder: still a false positive
        score.false_positives.append(("changed", example.text, scrubbed))
    if scrubbed == _ideal(example):
        score.exact += 1
    for family, value in example.negatives:
        score.negatives_seen[family] += 1
        if value not in scrubbed:
            score.negatives_broken[family] += 1


@cache
def _score() -> Score:
    score = Score()
    for example, scrubbed in zip(_eval_set(), _scrubbed(), strict=True):
        _score_example(example, scrubbed, score)
    for tally in score.per_type.values():
        score.overall.expected += tally.expected
        score.overall.found += tally.found
        score.overall.false_positives += tally.false_positives
    score.overall.false_positives += score.untyped_changes
    return score


def _table(score: Score) -> str:
    lines = [f"{'type':<12}{'expected':>9}{'found':>7}{'missed':>7}{'false+':>7}{'recall':>8}{'precision':>10}"]
    for name, tally in [*score.per_type.items(), ("overall", score.overall)]:
        lines.append(
            f"{name:<12}{tally.expected:>9}{tally.found:>7}{tally.expected - tally.found:>7}"
            f"{tally.false_positives:>7}{tally.recall:>8.4f}{tally.precision:>10.4f}"
        )
    lines += [f"strings scrubbed exactly as labeled: {score.exact} of {len(_eval_set())}"]
    lines += ["", f"{'hard-negative family':<20}{'values':>7}{'altered':>8}"]
    lines += [
        f"{family:<20}{score.negatives_seen[family]:>7}{score.negatives_broken[family]:>8}"
        for family in NEGATIVE_FAMILIES
    ]
    return "\n".join(lines)


def _failures(score: Score, limit: int = 3) -> str:
    by_type: dict[str, list[str]] = {}
    for kind, value, _, scrubbed in score.misses:
        by_type.setdefault(f"missed {kind}", []).append(f"{value!r} -> {scrubbed!r}")
    for kind, text, scrubbed in score.false_positives:
        by_type.setdefault(f"false {kind}", []).append(f"{text!r} -> {scrubbed!r}")
    return "\n".join(f"{key}: {examples[:limit]}" for key, examples in sorted(by_type.items()))


# --- the set itself ------------------------------------------------------------------------------------


def test_the_set_uses_the_scrubbers_type_names() -> None:
    assert PII_KINDS == PII_TYPES


def test_the_set_is_large_varied_and_balanced() -> None:
    examples = _eval_set()
    assert len(examples) >= 5000
    assert sum(not example.entities for example in examples) / len(examples) >= 0.35
    assert all(len(example.entities) <= 3 for example in examples)
    per_type = Counter(kind for example in examples for kind, _ in example.entities)
    assert {kind: per_type[kind] >= 300 for kind in PII_TYPES} == dict.fromkeys(PII_TYPES, True), per_type
    per_family = Counter(family for example in examples for family in {family for family, _ in example.negatives})
    assert {family: per_family[family] >= 100 for family in NEGATIVE_FAMILIES} == dict.fromkeys(
        NEGATIVE_FAMILIES, True
    ), per_family
    assert len({example.text for example in examples}) / len(examples) > 0.95
    assert not any(placeholder(kind) in example.text for example in examples for kind in PII_TYPES)


def test_every_label_is_an_exact_substring_and_checksums_hold() -> None:
    for example in _eval_set():
        for kind, value in (*example.entities, *example.negatives):
            assert value in example.text, (kind, value, example.text)
        for kind, value in example.entities:
            digits = re.sub(r"[ \-]", "", value)
            if kind == "CARD":
                assert digits.isdigit() and 13 <= len(digits) <= 19 and luhn_valid(digits), value
            elif kind == "IBAN":
                assert iban_valid(value), value
            elif kind == "SSN":
                assert ssn_issuable(value), value
        for family, value in example.negatives:
            digits = re.sub(r"[ \-]", "", value)
            if family == "luhn_invalid_16":
                assert len(digits) == 16 and not luhn_valid(digits), value
            elif family == "invalid_iban":
                assert not iban_valid(value), value
            elif family == "invalid_ssn":
                assert not ssn_issuable(value), value
            elif family == "isbn":
                assert isbn_valid(value), value


def test_the_generator_is_deterministic_and_its_digest_is_pinned() -> None:
    again = build_eval_set(SIZE, SEED)
    assert again == list(_eval_set())
    assert digest(again) == PINNED_DIGEST
    assert digest(build_eval_set(200, SEED + 1)) != digest(build_eval_set(200, SEED))


# --- the scrubber on the set ---------------------------------------------------------------------------


def test_report_recall_and_precision() -> None:
    """Prints the table (visible with ``-s``); the assertions are in the tests below."""
    score = _score()
    print("\nPII evaluation set:", len(_eval_set()), "strings")
    print(_table(score))
    assert score.overall.expected > 0


def test_overall_recall_and_precision_meet_the_targets() -> None:
    score = _score()
    assert score.overall.recall >= MIN_RECALL, _failures(score)
    assert score.overall.precision >= MIN_PRECISION, _failures(score)


@pytest.mark.parametrize("kind", PII_TYPES)
def test_recall_per_type_meets_the_floor(kind: str) -> None:
    score = _score()
    tally = score.per_type[kind]
    misses = [f"{value!r} -> {scrubbed!r}" for missed, value, _, scrubbed in score.misses if missed == kind]
    assert tally.recall >= MIN_TYPE_RECALL, f"{kind} recall {tally.recall:.4f}; misses: {misses[:10]}"


def test_no_residue_after_scrubbing() -> None:
    left = residue(pl.Series(_scrubbed()))
    assert left.len() == len(_eval_set())
    offenders = [text for text, count in zip(_scrubbed(), left.to_list(), strict=True) if count]
    assert not offenders, offenders[:5]
