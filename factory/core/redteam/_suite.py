"""Generate a use case's red-team suite: golden cases, invariance cases from its test split, directional cases.

Invariance tests (each case: a test row and a perturbed copy that must keep the row's predicted label):

- ``typos``: one or two typing errors (swapped, dropped, doubled or neighbouring-key letters) in words of four
  letters or more; ``casing``: the text lower-cased, upper-cased or its first letter flipped; ``whitespace``:
  doubled spaces, tabs and line breaks between words, spaces around the text; ``punctuation``: sentence
  punctuation removed, or ``!``/``?``/``...`` added, or a comma after the first word.
- ``pii_swap``: a PII placeholder preparation left (``<EMAIL>``, ``<PHONE>``, ``<CARD>``, ``<IBAN>`` and the
  use case's custom kinds) replaced by another kind; a text with none gets the same contact sentence twice,
  once with ``<EMAIL>`` and once with ``<PHONE>``, and the two must agree.
- ``name_amount_swap``: a first name or an amount (``$19.99``) replaced by another; only rows that hold one.
- ``irrelevant_sentence``: a sentence that says nothing about any class appended.
- ``numeric_jitter`` (features): every float feature multiplied by ``1 + u``, ``u`` uniform within
  ``jitter`` (default 0.1%). Why only this for numbers: a use case's numbers are measurements or counts whose
  every unit can matter (one more prior claim, a report one day later, a policy a day younger are real
  changes, and the label may rightly follow them), so the only change that must not move a prediction is one
  well inside the measurement's own noise, and integer columns (counts, days, ages) have none below a unit:
  they are left alone. Categorical features are left alone too: a category's spelling is checked against the
  schema by preparation (an unknown casing is quarantined), so a recased category never reaches a model.

The text tests perturb one non-empty text column of the row (the column holding the placeholder, for
``pii_swap``; the last non-empty one, for ``irrelevant_sentence``), so a tabular use case with a free-text note
gets them on its note, and a row without a note is not used. A use case without text columns gets the
golden and directional cases and ``numeric_jitter`` only.

Sizes: golden and directional cases as the file declares (each change entry on ``rows`` sampled test rows),
then the invariance tests share what is left of ``cases`` equally (a row may be drawn more than once, each
time with its own perturbation). Every random choice comes from a generator seeded by ``seed`` and the test's
name: the same test split, file and settings give the same suite.

Text from the red-team file is scrubbed like prepared data (`factory.core.preparation.scrub`), so no case
holds personal data: the test rows are prepared data already, and the perturbations add none.
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import polars as pl

from factory.core.preparation import scrub
from factory.core.redteam import _perturb as perturb
from factory.core.redteam._file import DirectionalEntry, RedTeamFile
from factory.core.training import ModelColumns

__all__ = ["INVARIANCE_TESTS", "TEXT_TESTS", "Case", "RedTeamSuite", "SuiteConfig", "build_suite"]

TEXT_TESTS = (
    "typos",
    "casing",
    "whitespace",
    "punctuation",
    "pii_swap",
    "name_amount_swap",
    "irrelevant_sentence",
)
INVARIANCE_TESTS = (*TEXT_TESTS, "numeric_jitter")
CONTACT_KINDS = ("EMAIL", "PHONE", "CARD", "IBAN")
"""Placeholder kinds `pii_swap` swaps between, besides the use case's custom kinds."""

_SUITE_FORMAT = 1

Inputs = dict[str, Any]
Kind = Literal["mft", "invariance", "directional"]


@dataclass(frozen=True)
class Case:
    """One expectation. ``mft``: ``base`` gets ``label``. ``invariance``: ``variant`` gets the label ``base``
    gets. ``directional``: from ``base`` to ``variant`` the probability of ``target`` moves ``direction`` (a move
    the other way by more than ``tolerance`` fails) and, when ``label`` is set, ``variant`` gets it."""

    test: str
    kind: Kind
    base: Inputs
    variant: Inputs | None = None
    label: str | None = None
    target: str | None = None
    direction: Literal["up", "down"] | None = None
    tolerance: float = 0.0
    origin: str = ""
    """Where the case came from: ``test[<row>]`` (a position in the test split), ``golden[<n>] <name>``."""


@dataclass(frozen=True)
class SuiteConfig:
    """What to generate: at least ``cases`` cases (the invariance tests fill up to it), from ``seed``, with
    the invariance tests in ``tests``; ``jitter`` is `numeric_jitter`'s relative bound."""

    cases: int = 1000
    seed: int = 17
    tests: tuple[str, ...] = INVARIANCE_TESTS
    jitter: float = 0.001


@dataclass(frozen=True)
class RedTeamSuite:
    """A generated suite: the model input columns by kind and the cases, in test order."""

    use_case: str
    columns: ModelColumns
    cases: tuple[Case, ...]
    seed: int = 17

    @property
    def tests(self) -> list[str]:
        """The test names, in the order cases appear."""
        return list(dict.fromkeys(case.test for case in self.cases))

    def by_test(self) -> dict[str, list[Case]]:
        grouped: dict[str, list[Case]] = {}
        for case in self.cases:
            grouped.setdefault(case.test, []).append(case)
        return grouped

    def to_jsonl(self) -> str:
        """A header line (format, use case, seed, input columns by kind), then one JSON object per case."""
        header = {
            "redteam_suite": _SUITE_FORMAT,
            "use_case": self.use_case,
            "seed": self.seed,
            "text": list(self.columns.text),
            "categorical": list(self.columns.categorical),
            "numeric": list(self.columns.numeric),
        }
        lines = [json.dumps(header, ensure_ascii=False)]
        lines += [json.dumps(asdict(case), ensure_ascii=False, sort_keys=True) for case in self.cases]
        return "\n".join(lines) + "\n"

    @classmethod
    def from_jsonl(cls, text: str) -> RedTeamSuite:
        """The suite `to_jsonl` wrote; ``ValueError`` for anything else."""
        lines = [line for line in text.splitlines() if line.strip()]
        if not lines:
            raise ValueError("an empty red-team suite file")
        header = json.loads(lines[0])
        if not isinstance(header, dict) or header.get("redteam_suite") != _SUITE_FORMAT:
            raise ValueError("not a red-team suite (its first line is no suite header of a known format)")
        columns = ModelColumns(header["text"], header["categorical"], header["numeric"])
        cases = tuple(Case(**json.loads(line)) for line in lines[1:])
        return cls(use_case=str(header["use_case"]), columns=columns, cases=cases, seed=int(header["seed"]))

    def frame(self, inputs: Sequence[Inputs]) -> pl.DataFrame:
        """Rows of model inputs as a frame a model reads (`factory.core.training.model_inputs`): text and
        categorical columns as strings, numeric ones as floats, a column a case leaves out as missing."""
        schema: dict[str, Any] = {c: pl.String for c in (*self.columns.text, *self.columns.categorical)}
        schema |= {c: pl.Float64 for c in self.columns.numeric}
        data = {name: [_typed(row.get(name), dtype is pl.Float64) for row in inputs] for name, dtype in schema.items()}
        return pl.DataFrame(data, schema=schema)


def _typed(value: Any, numeric: bool) -> Any:
    if value is None:
        return None
    if numeric:
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None
    return str(value)


def _rng(seed: int, purpose: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(purpose.encode())])


@dataclass
class _Rows:
    """The test split's input values, one dict per row, and what each row offers the tests."""

    rows: list[Inputs]
    columns: ModelColumns
    floats: tuple[str, ...]
    eligible: dict[str, list[int]] = field(default_factory=dict)

    def texts(self, row: Inputs) -> list[str]:
        return [c for c in self.columns.text if isinstance(row.get(c), str) and any(ch.isalpha() for ch in row[c])]


def _rows(test: pl.DataFrame, columns: ModelColumns) -> _Rows:
    present = [c for c in columns.inputs if c in test.columns]
    floats = tuple(c for c in columns.numeric if c in test.columns and test.schema[c].is_float())
    found = _Rows(test.select(present).to_dicts(), columns, floats)
    with_text = [i for i, row in enumerate(found.rows) if found.texts(row)]
    for name in TEXT_TESTS:
        found.eligible[name] = with_text
    found.eligible["name_amount_swap"] = [
        i for i in with_text if any(perturb.has_name_or_amount(found.rows[i][c]) for c in found.texts(found.rows[i]))
    ]
    found.eligible["numeric_jitter"] = [
        i for i, row in enumerate(found.rows) if any(isinstance(row.get(c), int | float) and row[c] for c in floats)
    ]
    return found


Perturbation = Callable[[Inputs, np.random.Generator], tuple[Inputs, Inputs] | None]


def _text_change(
    rows: _Rows, change: Callable[[str, np.random.Generator], str | None], pick: Literal["any", "last"] = "any"
) -> Perturbation:
    def apply(row: Inputs, rng: np.random.Generator) -> tuple[Inputs, Inputs] | None:
        texts = rows.texts(row)
        if not texts:
            return None
        column = texts[-1] if pick == "last" else texts[int(rng.integers(len(texts)))]
        changed = change(row[column], rng)
        return None if changed is None else (row, {**row, column: changed})

    return apply


def _pii_swap(rows: _Rows, kinds: Sequence[str]) -> Perturbation:
    def apply(row: Inputs, rng: np.random.Generator) -> tuple[Inputs, Inputs] | None:
        texts = rows.texts(row)
        if not texts:
            return None
        for column in texts:
            swapped = perturb.placeholder_swap(row[column], rng, kinds)
            if swapped is not None:
                return row, {**row, column: swapped}
        column = texts[-1]
        with_email, with_phone = perturb.contact_pair(row[column], rng)
        return {**row, column: with_email}, {**row, column: with_phone}

    return apply


def _numeric_jitter(rows: _Rows, relative: float) -> Perturbation:
    def apply(row: Inputs, rng: np.random.Generator) -> tuple[Inputs, Inputs] | None:
        changed = {
            c: perturb.jitter(float(row[c]), rng, relative)
            for c in rows.floats
            if isinstance(row.get(c), int | float) and row[c]
        }
        return (row, {**row, **changed}) if changed else None

    return apply


def _perturbations(rows: _Rows, config: SuiteConfig, kinds: Sequence[str], sentences: Sequence[str]) -> dict[str, Any]:
    return {
        "typos": _text_change(rows, perturb.typos),
        "casing": _text_change(rows, perturb.casing),
        "whitespace": _text_change(rows, perturb.whitespace),
        "punctuation": _text_change(rows, perturb.punctuation),
        "pii_swap": _pii_swap(rows, kinds),
        "name_amount_swap": _text_change(rows, perturb.name_or_amount),
        "irrelevant_sentence": _text_change(
            rows, lambda text, rng: perturb.irrelevant_sentence(text, rng, sentences), pick="last"
        ),
        "numeric_jitter": _numeric_jitter(rows, config.jitter),
    }


def _draws(eligible: Sequence[int], count: int, rng: np.random.Generator) -> Iterable[int]:
    """Eligible rows in a seeded order, again in a new order when `count` exceeds them, up to 3x `count` draws
    (a draw whose perturbation changes nothing is skipped)."""
    drawn = 0
    while eligible and drawn < 3 * count:
        for index in rng.permutation(len(eligible)).tolist():
            yield eligible[index]
            drawn += 1


def _invariance(name: str, rows: _Rows, perturbation: Perturbation, count: int, seed: int) -> list[Case]:
    rng = _rng(seed, name)
    cases: list[Case] = []
    for index in _draws(rows.eligible[name], count, rng):
        pair = perturbation(rows.rows[index], rng)
        if pair is not None and pair[0] != pair[1]:
            cases.append(Case(test=name, kind="invariance", base=pair[0], variant=pair[1], origin=f"test[{index}]"))
        if len(cases) == count:
            break
    return cases


def _scrub_file(file: RedTeamFile, columns: ModelColumns, custom_pii: Mapping[str, str]) -> RedTeamFile:
    """The file with every text it gives (text inputs, appended and set text, irrelevant sentences) scrubbed of PII in
    one pass, as preparation scrubs data: a maintained file may quote a real e-mail address by mistake."""
    texts: list[str] = []

    def collect(value: Any) -> Any:
        texts.append(value)
        return len(texts) - 1

    def inputs(given: Mapping[str, Any] | None, only_text: bool = True) -> Any:
        if given is None:
            return None
        return {
            c: (collect(v) if isinstance(v, str) and (c in columns.text or not only_text) else v)
            for c, v in given.items()
        }

    plan = {
        "golden": [inputs(g.inputs) for g in file.golden],
        "directional": [
            (inputs(d.base), inputs(d.variant), inputs(d.append, False), inputs(d.set_)) for d in file.directional
        ],
        "sentences": [collect(s) for s in file.irrelevant_sentences],
    }
    if not texts:
        return file
    clean = scrub(pl.Series(texts, dtype=pl.String), custom_pii).text.to_list()

    def filled(planned: Any, given: Mapping[str, Any] | None) -> Any:
        if given is None:
            return None
        return {c: (clean[planned[c]] if isinstance(v, str) and planned[c] != v else v) for c, v in given.items()}

    golden = tuple(
        g.model_copy(update={"inputs": filled(p, g.inputs)}) for g, p in zip(file.golden, plan["golden"], strict=True)
    )
    directional = tuple(
        d.model_copy(
            update={
                "base": filled(b, d.base),
                "variant": filled(v, d.variant),
                "append": filled(a, d.append),
                "set_": filled(t, d.set_),
            }
        )
        for d, (b, v, a, t) in zip(file.directional, plan["directional"], strict=True)
    )
    sentences = tuple(clean[i] for i in plan["sentences"])
    return file.model_copy(update={"golden": golden, "directional": directional, "irrelevant_sentences": sentences})


def _golden(file: RedTeamFile) -> list[Case]:
    return [
        Case(
            test="minimum_functionality",
            kind="mft",
            base=dict(entry.inputs),
            label=entry.label,
            origin=f"golden[{index}]" + (f" {entry.name}" if entry.name else ""),
        )
        for index, entry in enumerate(file.golden)
    ]


def _changed(row: Inputs, entry: DirectionalEntry) -> Inputs:
    out = {**row, **entry.set_}
    for column, text in entry.append.items():
        current = out.get(column)
        out[column] = f"{current.rstrip()} {text}" if isinstance(current, str) and current.strip() else text
    return out


def _directional_case(entry: DirectionalEntry, base: Inputs, variant: Inputs, origin: str) -> Case:
    return Case(
        test="directional",
        kind="directional",
        base=base,
        variant=variant,
        label=entry.label,
        target=entry.target,
        direction=entry.direction,
        tolerance=entry.tolerance,
        origin=origin,
    )


def _directional(file: RedTeamFile, rows: _Rows, seed: int) -> list[Case]:
    cases: list[Case] = []
    for number, entry in enumerate(file.directional):
        if entry.base is not None and entry.variant is not None:
            cases.append(_directional_case(entry, dict(entry.base), dict(entry.variant), entry.name))
            continue
        if not rows.rows:
            continue
        rng = _rng(seed, f"directional:{number}")
        picked = rng.choice(len(rows.rows), size=min(entry.rows, len(rows.rows)), replace=False).tolist()
        for index in sorted(picked):
            row = rows.rows[index]
            cases.append(_directional_case(entry, row, _changed(row, entry), f"{entry.name} test[{index}]"))
    return cases


def build_suite(
    use_case: str,
    test: pl.DataFrame,
    columns: ModelColumns,
    file: RedTeamFile | None,
    config: SuiteConfig,
    custom_pii: Mapping[str, str] | None = None,
) -> RedTeamSuite:
    """The suite of a use case from its test split's rows (`test`: at least the input columns present, as the
    dataset types them), its red-team file (None: no golden or directional cases) and `config` (module
    docstring)."""
    custom = dict(custom_pii or {})
    file = _scrub_file(file or RedTeamFile(), columns, custom)
    rows = _rows(test, columns)
    seed = config.seed
    fixed = _golden(file) + _directional(file, rows, seed)
    kinds = [*CONTACT_KINDS, *sorted(custom)]
    sentences = file.irrelevant_sentences or perturb.NEUTRAL_SENTENCES
    perturbations = _perturbations(rows, config, kinds, sentences)
    wanted = [name for name in INVARIANCE_TESTS if name in config.tests and rows.eligible.get(name)]
    if not columns.text:
        wanted = [name for name in wanted if name not in TEXT_TESTS]
    left = max(config.cases - len(fixed), 0)
    made: dict[str, list[Case]] = {}
    for position, name in enumerate(wanted):  # an even share of what is left; a short test leaves more to the rest
        made[name] = _invariance(name, rows, perturbations[name], math.ceil(left / (len(wanted) - position)), seed)
        left -= len(made[name])
    for name in wanted:  # then tests with rows to spare make up what short ones could not (a prefix-stable redraw)
        if left <= 0:
            break
        more = _invariance(name, rows, perturbations[name], len(made[name]) + left, seed)
        left -= len(more) - len(made[name])
        made[name] = more
    cases = [*fixed, *(case for name in wanted for case in made[name])]
    return RedTeamSuite(use_case=use_case, columns=columns, cases=tuple(cases), seed=seed)
