"""The red-team file: a valid file parses; a bad one is refused with every problem, each placed in the file."""

from __future__ import annotations

from typing import Any

import pytest

from factory.core.redteam import RedTeamFileError, parse_redteam_file
from factory.core.training import ModelColumns

COLUMNS = ModelColumns(text=("body",), categorical=("channel",), numeric=("amount",))
CLASSES = ("billing", "refund")


def _parse(data: Any) -> object:
    return parse_redteam_file(data, "usecases/redteam/uc.yaml", COLUMNS, CLASSES)


def test_a_valid_file_and_an_empty_one_parse() -> None:
    parsed = parse_redteam_file(
        {
            "golden": [{"name": "g", "label": "refund", "inputs": {"body": "money back", "amount": 3}}],
            "directional": [
                {"name": "d", "class": "refund", "direction": "up", "append": {"body": "refund"}, "set": {"amount": 1}}
            ],
            "irrelevant_sentences": ["Sent from my phone."],
        },
        "f.yaml",
        COLUMNS,
        CLASSES,
    )
    assert parsed.golden[0].inputs == {"body": "money back", "amount": 3}
    assert parsed.directional[0].set_ == {"amount": 1} and parsed.directional[0].target == "refund"
    assert _parse(None) == parse_redteam_file({}, "f.yaml", COLUMNS, CLASSES)


@pytest.mark.parametrize(
    ("data", "problems"),
    [
        ([1, 2], ["a red-team file must be a mapping, found list"]),
        ({"golden": [{"label": "refund"}], "extra": 1}, ["golden.0.inputs: Field required", "extra: Extra inputs"]),
        (
            {"golden": [{"label": "shipping", "inputs": {"body": "x", "colour": "red", "amount": "ten"}}]},
            [
                "golden.0.label: 'shipping' is not a class of the use case (billing, refund)",
                "golden.0.inputs: ['colour'] are not input columns",
                "golden.0.inputs.amount: 'ten' is not a number (numeric column)",
            ],
        ),
        (
            {"directional": [{"name": "a", "class": "refund", "direction": "up"}]},
            ["give either `base` and `variant` (a pair) or `append`/`set`"],
        ),
        (
            {"directional": [{"name": "a", "class": "refund", "append": {"body": "x"}}]},
            ["`class` and `direction` go together"],
        ),
        (
            {"directional": [{"name": "a", "append": {"body": "x"}}]},
            ["say what is expected"],
        ),
        (
            {
                "directional": [
                    {"name": "a", "label": "refund", "append": {"channel": "x"}},
                    {"name": "a", "label": "nope", "base": {"body": "x"}, "variant": {"body": 4}},
                ]
            },
            [
                "directional: names repeated: ['a']",
                "directional.0.append: ['channel'] are not text columns",
                "directional.1.label: 'nope' is not a class",
                "directional.1.variant.body: 4 is not text (quote it)",
            ],
        ),
    ],
)
def test_a_bad_file_names_itself_and_every_problem(data: Any, problems: list[str]) -> None:
    with pytest.raises(RedTeamFileError) as raised:
        _parse(data)
    message = str(raised.value)
    assert message.startswith("usecases/redteam/uc.yaml: ")
    for problem in problems:
        assert problem in message, message
