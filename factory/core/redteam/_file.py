"""The red-team file of a use case: golden cases and directional expectations, kept beside its spec.

``<use-case directory>/redteam/<name>.yaml`` (a subdirectory, so the spec loader, which reads the top-level
``*.yaml`` only, never takes it for a use case). Both sections are optional, and so is the file: a use case
without one still gets the invariance tests generated from its test split.

```yaml
golden:                       # minimum-functionality cases: these inputs must get this label
  - name: double charge       # optional, shown in failing examples
    label: billing
    inputs: {subject: Charged twice, body: I see two charges of $19.99 this month., channel: email}
directional:                  # a change that must move one class's probability one way (or give a label)
  - name: a refund request raises refund
    class: refund
    direction: up             # up or down; a move the other way by more than `tolerance` fails
    append: {body: I want my money back.}   # applied to `rows` rows of the test split
    rows: 40
  - name: a late report is denied
    class: deny
    direction: up
    set: {days_to_report: 150}
  - name: contrast pair       # or an explicit pair of inputs
    class: fraud
    direction: up
    label: fraud              # optional: the variant must get this label
    base: {claim_type: travel, claim_amount: 600, policy_age_days: 900}
    variant: {claim_type: travel, claim_amount: 600, policy_age_days: 5}
irrelevant_sentences: [Sent from my phone.]   # optional: sentences the irrelevant-sentence test appends
```

Input columns a case leaves out are missing values (empty text, a missing category, an imputed number).
`parse_redteam_file` checks the file against the use case (classes, input columns, numbers for numeric
columns) and raises `RedTeamFileError` with every problem, each with its place in the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from factory.core.training import ModelColumns

__all__ = ["DirectionalEntry", "GoldenEntry", "RedTeamFile", "RedTeamFileError", "parse_redteam_file"]

Value = str | int | float | bool | None


class RedTeamFileError(ValueError):
    """A red-team file that cannot be used; the message names the file and every problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class GoldenEntry(_Strict):
    """A minimum-functionality case: ``inputs`` must be labeled ``label``."""

    label: str
    inputs: dict[str, Value]
    name: str | None = None


class DirectionalEntry(_Strict):
    """A directional expectation: ``variant`` (or each sampled test row changed by ``append`` and ``set``) must
    move the probability of ``class`` ``direction`` (by no less than ``-tolerance``), and/or get ``label``."""

    name: str
    target: str | None = Field(default=None, alias="class")
    direction: Literal["up", "down"] | None = None
    label: str | None = None
    tolerance: Annotated[float, Field(ge=0, le=1)] = 0.0
    base: dict[str, Value] | None = None
    variant: dict[str, Value] | None = None
    append: dict[str, str] = Field(default_factory=dict)
    set_: dict[str, Value] = Field(default_factory=dict, alias="set")
    rows: Annotated[int, Field(ge=1, le=10_000)] = 20

    @model_validator(mode="after")
    def _one_form(self) -> DirectionalEntry:
        pair = self.base is not None or self.variant is not None
        change = bool(self.append or self.set_)
        if pair == change:
            raise ValueError("give either `base` and `variant` (a pair) or `append`/`set` (a change to test rows)")
        if pair and (self.base is None or self.variant is None):
            raise ValueError("a pair needs both `base` and `variant`")
        if (self.direction is None) != (self.target is None):
            raise ValueError("`class` and `direction` go together")
        if self.direction is None and self.label is None:
            raise ValueError("say what is expected: `class` with `direction`, and/or `label`")
        return self


class RedTeamFile(_Strict):
    golden: tuple[GoldenEntry, ...] = ()
    directional: tuple[DirectionalEntry, ...] = ()
    irrelevant_sentences: tuple[str, ...] = ()


def _problems_with_inputs(where: str, inputs: dict[str, Value], columns: ModelColumns) -> list[str]:
    problems = []
    known = set(columns.inputs)
    unknown = sorted(set(inputs) - known)
    if unknown:
        problems.append(f"{where}: {unknown} are not input columns of the use case ({sorted(known)})")
    for column in columns.numeric:
        value = inputs.get(column)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            problems.append(f"{where}.{column}: {value!r} is not a number (numeric column)")
    for column in (*columns.text, *columns.categorical):
        value = inputs.get(column)
        if value is not None and not isinstance(value, str):
            problems.append(f"{where}.{column}: {value!r} is not text (quote it)")
    return problems


def _problems(file: RedTeamFile, columns: ModelColumns, classes: Sequence[str]) -> list[str]:
    problems = []

    def known_class(where: str, name: str | None) -> None:
        if name is not None and name not in classes:
            problems.append(f"{where}: {name!r} is not a class of the use case ({', '.join(classes)})")

    for index, golden in enumerate(file.golden):
        known_class(f"golden.{index}.label", golden.label)
        problems += _problems_with_inputs(f"golden.{index}.inputs", golden.inputs, columns)
    names = [entry.name for entry in file.directional]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        problems.append(f"directional: names repeated: {repeated}")
    for index, entry in enumerate(file.directional):
        where = f"directional.{index}"
        known_class(f"{where}.class", entry.target)
        known_class(f"{where}.label", entry.label)
        for part in ("base", "variant"):
            given = getattr(entry, part)
            if given is not None:
                problems += _problems_with_inputs(f"{where}.{part}", given, columns)
        problems += _problems_with_inputs(f"{where}.set", entry.set_, columns)
        not_text = sorted(set(entry.append) - set(columns.text))
        if not_text:
            problems.append(f"{where}.append: {not_text} are not text columns ({list(columns.text)})")
    return problems


def parse_redteam_file(data: Any, origin: str, columns: ModelColumns, classes: Sequence[str]) -> RedTeamFile:
    """Validate a red-team file's parsed YAML for a use case with these input columns and classes; an empty file
    is an empty `RedTeamFile`. ``RedTeamFileError`` names `origin` and lists every problem."""
    if data is None:
        return RedTeamFile()
    if not isinstance(data, dict):
        raise RedTeamFileError(f"{origin}: a red-team file must be a mapping, found {type(data).__name__}")
    try:
        parsed = RedTeamFile.model_validate(data)
    except ValidationError as error:
        lines = [f"{origin}: {error.error_count()} problem(s) in the red-team file"]
        for item in error.errors():
            where = ".".join(str(part) for part in item["loc"]) or "(top level)"
            lines.append(f"  - {where}: {item['msg']}")
        raise RedTeamFileError("\n".join(lines)) from None
    problems = _problems(parsed, columns, classes)
    if problems:
        raise RedTeamFileError(
            "\n".join([f"{origin}: {len(problems)} problem(s) in the red-team file", *(f"  - {p}" for p in problems)])
        )
    return parsed
