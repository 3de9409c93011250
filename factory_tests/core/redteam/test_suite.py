"""Suite generation: deterministic, at least the requested size, and every perturbation does what it says
without touching placeholders or digits, and without adding personal data."""

from __future__ import annotations

import re

import numpy as np
import polars as pl
import pytest

from factory.core.preparation import residue
from factory.core.redteam import (
    INVARIANCE_TESTS,
    TEXT_TESTS,
    Case,
    RedTeamSuite,
    SuiteConfig,
    build_suite,
    parse_redteam_file,
)
from factory.core.redteam import _perturb as perturb
from factory.core.training import ModelColumns
from factory.spec import RedTeamSpec
from factory_tests.helpers import TICKET_TEXTS

TEXT = ModelColumns(text=("subject", "body"), categorical=("channel",))
TABULAR = ModelColumns(text=("note",), categorical=("claim_type",), numeric=("claim_amount", "prior_claims"))
CLASSES = ("billing", "refund", "shipping_delay")


def _tickets(rows: int = 60) -> pl.DataFrame:
    """Prepared-looking tickets: some hold placeholders, names and amounts, as prepared data does."""
    extras = ["", " You can reach me at <EMAIL>.", " Thanks, Anna", " I was charged $19.99 twice.", " Call <PHONE>."]
    return pl.DataFrame(
        {
            "subject": [TICKET_TEXTS[i % len(TICKET_TEXTS)][:25] if i % 4 else None for i in range(rows)],
            "body": [TICKET_TEXTS[i % len(TICKET_TEXTS)] + extras[i % len(extras)] for i in range(rows)],
            "channel": ["email", "chat", "web"] * (rows // 3),
        }
    )


def _claims(rows: int = 40) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "note": [
                None if i % 5 == 0 else f"Windscreen cracked on the bypass. Photos attached {i}." for i in range(rows)
            ],
            "claim_type": ["auto_glass"] * rows,
            "claim_amount": [450.0 + i for i in range(rows)],
            "prior_claims": [i % 3 for i in range(rows)],
        }
    )


def test_the_spec_offers_exactly_the_generated_tests() -> None:
    assert RedTeamSpec().tests == INVARIANCE_TESTS
    with pytest.raises(ValueError, match="unknown red-team tests"):
        RedTeamSpec(tests=("typos", "spelling_bee"))


def test_generation_is_deterministic_and_fills_the_requested_size() -> None:
    config = SuiteConfig(cases=1000, seed=5)
    first = build_suite("tickets", _tickets(), TEXT, None, config)
    again = build_suite("tickets", _tickets(), TEXT, None, config)
    other_seed = build_suite("tickets", _tickets(), TEXT, None, SuiteConfig(cases=1000, seed=6))
    assert first.to_jsonl() == again.to_jsonl()
    assert first.to_jsonl() != other_seed.to_jsonl()
    assert len(first.cases) >= 1000
    assert first.tests == list(TEXT_TESTS), "numeric_jitter needs a float feature"
    assert all(case.base != case.variant for case in first.cases)
    assert RedTeamSuite.from_jsonl(first.to_jsonl()) == first


def test_only_the_enabled_tests_are_generated() -> None:
    suite = build_suite("tickets", _tickets(), TEXT, None, SuiteConfig(cases=100, tests=("casing", "typos")))
    assert suite.tests == ["typos", "casing"] and len(suite.cases) == 100


def _changed(case: Case) -> tuple[str, str]:
    assert case.variant is not None
    column = next(c for c in case.base if case.base[c] != case.variant[c])
    return case.base[column], case.variant[column]


def _by_test(suite: RedTeamSuite, test: str) -> list[tuple[str, str]]:
    return [_changed(case) for case in suite.by_test()[test]]


DIGITS = re.compile(r"\d")


@pytest.fixture(scope="module")
def suite() -> RedTeamSuite:
    return build_suite("tickets", _tickets(), TEXT, None, SuiteConfig(cases=700, seed=3))


def test_typos_change_a_letter_or_two_and_never_a_digit_or_a_placeholder(suite: RedTeamSuite) -> None:
    for before, after in _by_test(suite, "typos"):
        assert before != after and abs(len(before) - len(after)) <= 2
        assert DIGITS.findall(before) == DIGITS.findall(after)
        assert perturb.PLACEHOLDER.findall(before) == perturb.PLACEHOLDER.findall(after)
        assert before.split()[0][0] == after.split()[0][0]


def test_casing_changes_case_only_and_keeps_placeholders(suite: RedTeamSuite) -> None:
    for before, after in _by_test(suite, "casing"):
        assert before != after and before.lower() == after.lower()
        assert perturb.PLACEHOLDER.findall(before) == perturb.PLACEHOLDER.findall(after)


def test_whitespace_changes_spacing_only(suite: RedTeamSuite) -> None:
    for before, after in _by_test(suite, "whitespace"):
        assert before != after and before.split() == after.split()


def test_punctuation_changes_punctuation_only(suite: RedTeamSuite) -> None:
    def words(text: str) -> list[str]:
        return re.findall(r"[\w<>.$€£]+", re.sub(r"[.,!?;:]+(?=\s|$)", " ", text))

    for before, after in _by_test(suite, "punctuation"):
        assert before != after and words(before) == words(after)
        assert perturb.PLACEHOLDER.findall(before) == perturb.PLACEHOLDER.findall(after)


def test_pii_swap_changes_the_kind_of_placeholder_only(suite: RedTeamSuite) -> None:
    cases = suite.by_test()["pii_swap"]
    swapped = added = 0
    for case in cases:
        before, after = _changed(case)
        kinds = perturb.PLACEHOLDER.findall(before), perturb.PLACEHOLDER.findall(after)
        assert len(kinds[0]) == len(kinds[1]) >= 1 and kinds[0] != kinds[1]
        assert perturb.PLACEHOLDER.sub("<X>", before) == perturb.PLACEHOLDER.sub("<X>", after)
        if case.base == suite_row(case):
            swapped += 1
        else:
            added += 1
    assert swapped and added, "texts with a placeholder swap it; texts without get a contact sentence pair"


def suite_row(case: Case) -> dict[str, object]:
    index = int(case.origin.removeprefix("test[").removesuffix("]"))
    return _tickets().select(TEXT.inputs).row(index, named=True)


def test_name_and_amount_swaps_put_another_name_or_amount_in_place(suite: RedTeamSuite) -> None:
    names = amounts = 0
    for before, after in _by_test(suite, "name_amount_swap"):
        if "Anna" in before and "Anna" not in after:
            assert any(f"Thanks, {n}" in after for n in perturb.NAMES if n != "Anna")
            names += 1
        else:
            assert "$19.99" in before and "$19.99" not in after
            assert re.search(r"charged \$\d+\.\d\d twice", after)
            amounts += 1
    assert names and amounts


def test_the_irrelevant_sentence_is_appended(suite: RedTeamSuite) -> None:
    for before, after in _by_test(suite, "irrelevant_sentence"):
        assert after.startswith(before.rstrip()) and after[len(before.rstrip()) :].strip() in perturb.NEUTRAL_SENTENCES


def test_numeric_jitter_moves_only_float_features_and_only_a_little() -> None:
    suite = build_suite("claims", _claims(), TABULAR, None, SuiteConfig(cases=400, jitter=0.001))
    assert "numeric_jitter" in suite.tests and "name_amount_swap" not in suite.tests
    for case in suite.by_test()["numeric_jitter"]:
        assert case.variant is not None
        before, after = case.base["claim_amount"], case.variant["claim_amount"]
        assert before != after and abs(after - before) <= 0.001 * before
        assert {k: v for k, v in case.base.items() if k != "claim_amount"} == {
            k: v for k, v in case.variant.items() if k != "claim_amount"
        }, "integer counts, categories and the note stay as they are"
    note_tests = [case for case in suite.cases if case.test == "typos"]
    assert note_tests and all(case.base["note"] is not None for case in note_tests), (
        "a claim without a note is not used"
    )


def test_a_use_case_without_text_gets_jitter_and_the_file_only() -> None:
    columns = ModelColumns(categorical=("claim_type",), numeric=("claim_amount",))
    file = parse_redteam_file(
        {"golden": [{"label": "refund", "inputs": {"claim_type": "auto_glass", "claim_amount": 10}}]},
        "f.yaml",
        columns,
        CLASSES,
    )
    suite = build_suite("claims", _claims().drop("note"), columns, file, SuiteConfig(cases=50))
    assert suite.tests == ["minimum_functionality", "numeric_jitter"] and len(suite.cases) == 50


def test_no_case_holds_personal_data_even_when_the_file_quotes_some() -> None:
    file = parse_redteam_file(
        {
            "golden": [{"label": "billing", "inputs": {"body": "Charged twice, write to jane.doe@example.com"}}],
            "directional": [
                {"name": "n", "class": "refund", "direction": "up", "append": {"body": "Call me on +44 7700 900123."}},
                {"name": "s", "class": "billing", "direction": "up", "set": {"body": "Mail jane.doe@example.com now"}},
            ],
        },
        "f.yaml",
        TEXT,
        CLASSES,
    )
    suite = build_suite("tickets", _tickets(), TEXT, file, SuiteConfig(cases=1000))
    texts = [
        value
        for case in suite.cases
        for inputs in (case.base, case.variant or {})
        for column, value in inputs.items()
        if column in TEXT.text and isinstance(value, str)
    ]
    assert int(residue(pl.Series(texts)).sum()) == 0
    golden = suite.by_test()["minimum_functionality"][0]
    assert golden.base["body"] == "Charged twice, write to <EMAIL>"


def test_directional_changes_are_applied_to_sampled_test_rows() -> None:
    file = parse_redteam_file(
        {
            "directional": [
                {
                    "name": "money back",
                    "class": "refund",
                    "direction": "up",
                    "rows": 7,
                    "append": {"body": "Refund me."},
                },
                {"name": "by chat", "label": "billing", "set": {"channel": "chat"}, "rows": 5},
            ]
        },
        "f.yaml",
        TEXT,
        CLASSES,
    )
    suite = build_suite("tickets", _tickets(), TEXT, file, SuiteConfig(cases=0))
    cases = suite.by_test()["directional"]
    assert [c.origin.split(" test[")[0] for c in cases] == ["money back"] * 7 + ["by chat"] * 5
    for case in cases[:7]:
        assert case.variant is not None and case.variant["body"] == f"{case.base['body'].rstrip()} Refund me."
        assert (case.target, case.direction) == ("refund", "up")
    assert all(c.variant is not None and c.variant["channel"] == "chat" and c.label == "billing" for c in cases[7:])


def test_perturbations_leave_texts_they_cannot_change_alone() -> None:
    rng = np.random.default_rng(0)
    assert perturb.typos("ok 123 <EMAIL>", rng) is None
    assert perturb.name_or_amount("no names here", rng) is None
    assert perturb.placeholder_swap("plain text", rng, ("EMAIL", "PHONE")) is None
    assert perturb.irrelevant_sentence("   ", rng, perturb.NEUTRAL_SENTENCES) is None


def test_tests_with_rows_to_spare_make_up_for_short_ones() -> None:
    """Lower-case, digit-free texts without names: casing and name/amount swaps find few rows, the other tests
    fill the suite to its minimum."""
    words = ["parcel late again", "refund please now", "cannot log in today", "card charged twice"]
    rows = 150
    test = pl.DataFrame({"text": [f"{words[i % 4]} {'x' * (i % 7)}" for i in range(rows)]})
    suite = build_suite("plain", test, ModelColumns(text=("text",)), None, SuiteConfig(cases=1000, seed=3))
    counts = {name: len(cases) for name, cases in suite.by_test().items()}
    assert len(suite.cases) >= 1000, counts
    assert len(set(counts.values())) > 1  # uneven: the short tests' share went to the others
    again = build_suite("plain", test, ModelColumns(text=("text",)), None, SuiteConfig(cases=1000, seed=3))
    assert again.to_jsonl() == suite.to_jsonl()
