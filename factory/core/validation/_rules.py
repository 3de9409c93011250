"""The expectation plan: rules generated from the config (and reference), evaluated by GX or by Polars.

A `Rule` is one expectation in engine-neutral form. `build_rules` derives the plan from a `GateConfig`, the
frame's columns and row count, and optionally a `ReferenceStats`; `evaluate_polars` computes each rule
directly in Polars; the GX engine (`._gx`) runs the same rules as Great Expectations expectations. Both
return one `RuleOutcome` per rule with the same numbers, and `gates_from_outcomes` turns either into gates,
so the two engines cannot drift apart in what they report.

Semantics follow Great Expectations on pandas, which Polars mirrors:

- a value is missing when null, or NaN in a float column (pandas treats NaN as missing);
- every rule except ``not_null`` looks at non-missing values only; ``mostly`` is the share of them that
  must pass, ``(checked - unexpected) / checked >= mostly``, and a rule with nothing to check passes;
- class and split shares are therefore shares of the rows that have a label (a split), and a class floor
  of ``n`` examples is expressed as the share ``n / rows``: the plan depends on the row count.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl

from ._config import SPLIT_NAMES, GateConfig, ReferenceStats
from ._result import GateOutcome, outcome

__all__ = [
    "EXPECTATION_GATES",
    "Rule",
    "RuleOutcome",
    "build_rules",
    "evaluate_polars",
    "gates_from_outcomes",
]

Kind = Literal["exists", "row_count", "not_null", "of_type", "unique", "in_set", "not_in_set", "lengths"]

# The gates the expectation suite feeds, in report order.
EXPECTATION_GATES: tuple[str, ...] = (
    "columns_present",
    "min_rows",
    "columns_complete",
    "column_types",
    "ids_unique",
    "labels_in_taxonomy",
    "splits_known",
    "text_lengths_in_bounds",
    "min_class_share",
    "split_proportions",
)


@dataclass(frozen=True)
class Rule:
    """One expectation. ``aggregate`` rules are about shares, not rows: they need no row sample."""

    gate: str
    kind: Kind
    column: str | None = None
    value_set: tuple[str, ...] = ()
    type_name: str = ""
    min_value: int | None = None
    max_value: int | None = None
    mostly: float = 1.0
    aggregate: bool = False


@dataclass(frozen=True)
class RuleOutcome:
    """What one engine found for one rule: counts, an observed value where the rule has one, and the
    positions (0-based row numbers) of the first unexpected rows."""

    rule: Rule
    success: bool
    element_count: int = 0
    missing_count: int = 0
    unexpected_count: int = 0
    observed: str | int | None = None
    sample_positions: tuple[int, ...] = field(default=())

    @property
    def checked(self) -> int:
        """Values the rule looked at: all rows for ``not_null``, the non-missing ones otherwise."""
        return self.element_count if self.rule.kind == "not_null" else self.element_count - self.missing_count

    @property
    def share(self) -> float:
        """Share of the checked values that passed (1.0 when nothing was checked)."""
        return (self.checked - self.unexpected_count) / self.checked if self.checked else 1.0


def mostly_success(checked: int, unexpected: int, mostly: float) -> bool:
    """Great Expectations' rule, float for float: vacuously true without values."""
    if checked == 0:
        return True
    return (float(checked) - float(unexpected)) / float(checked) >= mostly


def _default_types(config: GateConfig) -> dict[str, str]:
    types = {name: "str" for name in (config.id_column, config.label_column, config.split_column)}
    if config.group_column:
        types[config.group_column] = "str"
    types.update({name: "str" for name in config.text_columns})
    if config.confidence_column:
        types[config.confidence_column] = "float64"
    return {**types, **config.column_types}


def required_columns(config: GateConfig) -> list[str]:
    names = [config.id_column, config.label_column, config.split_column]
    if config.group_column:
        names.append(config.group_column)
    names += [*config.text_columns, *config.feature_columns]
    if config.confidence_column:
        names.append(config.confidence_column)
    return list(dict.fromkeys(names))


def _length_bounds(config: GateConfig, column: str, reference: ReferenceStats | None) -> tuple[int, int | None]:
    low = config.text_min_length
    high = config.text_max_length.get(column)
    if reference is not None and column in reference.length_quantiles:
        q_low, q_high = reference.length_quantiles[column]
        low = max(low, math.floor(q_low / config.length_slack))
        if high is None:
            high = math.ceil(q_high * config.length_slack)
    return low, high


def build_rules(
    columns: Sequence[str], rows: int, config: GateConfig, reference: ReferenceStats | None = None
) -> tuple[Rule, ...]:
    """The expectation plan for a frame with these columns and this many rows.

    Rules on a column the frame lacks are left out; ``columns_present`` fails for it instead.
    """
    present = set(columns)
    rules: list[Rule] = [Rule("columns_present", "exists", name) for name in required_columns(config)]
    rules.append(Rule("min_rows", "row_count", min_value=config.min_rows))
    complete = [config.id_column, config.label_column, config.split_column]
    complete += [config.group_column] if config.group_column else []
    complete += [*config.required_text_columns]
    complete += [config.confidence_column] if config.confidence_column else []
    rules += [Rule("columns_complete", "not_null", name) for name in dict.fromkeys(complete) if name in present]
    rules += [
        Rule("column_types", "of_type", name, type_name=type_name)
        for name, type_name in _default_types(config).items()
        if name in present
    ]
    if config.id_column in present:
        rules.append(Rule("ids_unique", "unique", config.id_column))
    label, split = config.label_column, config.split_column
    if label in present:
        rules.append(Rule("labels_in_taxonomy", "in_set", label, value_set=config.classes))
    if split in present:
        rules.append(Rule("splits_known", "in_set", split, value_set=SPLIT_NAMES))
    for name in config.text_columns:
        if name in present:
            low, high = _length_bounds(config, name, reference)
            rules.append(
                Rule(
                    "text_lengths_in_bounds",
                    "lengths",
                    name,
                    min_value=low,
                    max_value=high,
                    mostly=config.length_mostly,
                )
            )
    if label in present:
        floor = max(config.min_class_share, config.min_class_examples / rows) if rows else config.min_class_share
        rules += [
            Rule("min_class_share", "in_set", label, value_set=(c,), mostly=min(floor, 1.0), aggregate=True)
            for c in config.classes
        ]
    if split in present:
        for name, target in config.split_fractions.items():
            at_least, at_most = target - config.split_tolerance, target + config.split_tolerance
            if at_least > 0:
                rules.append(
                    Rule("split_proportions", "in_set", split, value_set=(name,), mostly=at_least, aggregate=True)
                )
            if at_most < 1:
                rules.append(
                    Rule(
                        "split_proportions", "not_in_set", split, value_set=(name,), mostly=1 - at_most, aggregate=True
                    )
                )
    return tuple(rules)


# --- Polars engine -------------------------------------------------------------------------------------


def _missing(series: pl.Series) -> pl.Series:
    missing = series.is_null()
    if series.dtype.is_float():
        missing = missing | series.is_nan().fill_null(False)
    return missing


def _observed_type(series: pl.Series) -> str:
    """The pandas dtype name `to_pandas` gives this column (integers with nulls become float64)."""
    dtype = series.dtype
    if dtype == pl.String:
        return "str"
    if dtype.is_integer():
        return "float64" if series.null_count() else str(dtype).lower()
    if dtype.is_float():
        return str(dtype).lower()
    return str(dtype)


def _first(mask: pl.Series, limit: int) -> tuple[int, ...]:
    return tuple(mask.arg_true().head(limit).to_list())


def _unexpected(series: pl.Series, rule: Rule, missing: pl.Series) -> pl.Series:
    """Row mask of the values a row-level rule rejects (missing values are only rejected by ``not_null``)."""
    if rule.kind == "not_null":
        return missing
    if rule.kind == "unique":
        return series.is_duplicated() & ~missing
    if rule.kind in ("in_set", "not_in_set"):
        inside = series.is_in(pl.Series(list(rule.value_set), dtype=series.dtype).implode())
        return (~inside if rule.kind == "in_set" else inside) & ~missing
    lengths = series.cast(pl.String).str.len_chars()
    outside = pl.repeat(False, series.len(), eager=True)
    if rule.min_value is not None:
        outside = outside | (lengths < rule.min_value)
    if rule.max_value is not None:
        outside = outside | (lengths > rule.max_value)
    return outside.fill_null(False) & ~missing


def evaluate_polars(frame: pl.DataFrame, rules: Sequence[Rule], sample_rows: int) -> list[RuleOutcome]:
    """Each rule computed directly in Polars, with Great Expectations' semantics (module docstring)."""
    counts_cache: dict[str, dict[Any, int]] = {}
    missing_cache: dict[str, pl.Series] = {}

    def missing_of(name: str) -> pl.Series:
        if name not in missing_cache:
            missing_cache[name] = _missing(frame[name])
        return missing_cache[name]

    def counts_of(name: str) -> dict[Any, int]:
        if name not in counts_cache:
            counts = frame[name].drop_nulls().value_counts(name="_n")
            counts_cache[name] = dict(zip(counts[name].to_list(), counts["_n"].to_list(), strict=True))
        return counts_cache[name]

    results: list[RuleOutcome] = []
    for rule in rules:
        if rule.kind == "exists":
            results.append(RuleOutcome(rule, rule.column in frame.columns))
            continue
        if rule.kind == "row_count":
            ok = (rule.min_value is None or frame.height >= rule.min_value) and (
                rule.max_value is None or frame.height <= rule.max_value
            )
            results.append(RuleOutcome(rule, ok, frame.height, observed=frame.height))
            continue
        assert rule.column is not None
        series = frame[rule.column]
        if rule.kind == "of_type":
            observed = _observed_type(series)
            results.append(RuleOutcome(rule, observed == rule.type_name, observed=observed))
            continue
        missing = missing_of(rule.column)
        missing_count = int(missing.sum())
        checked = frame.height if rule.kind == "not_null" else frame.height - missing_count
        if rule.aggregate:
            inside = sum(counts_of(rule.column).get(value, 0) for value in rule.value_set)
            unexpected = checked - inside if rule.kind == "in_set" else inside
            positions: tuple[int, ...] = ()
        else:
            bad = _unexpected(series, rule, missing)
            unexpected = int(bad.sum())
            positions = _first(bad, sample_rows)
        results.append(
            RuleOutcome(
                rule,
                mostly_success(checked, unexpected, rule.mostly),
                element_count=frame.height,
                missing_count=missing_count,
                unexpected_count=unexpected,
                sample_positions=positions,
            )
        )
    return results


# --- outcomes to gates ---------------------------------------------------------------------------------

_EXPECTATION_NAMES: dict[Kind, str] = {
    "exists": "expect_column_to_exist",
    "row_count": "expect_table_row_count_to_be_between",
    "not_null": "expect_column_values_to_not_be_null",
    "of_type": "expect_column_values_to_be_of_type",
    "unique": "expect_column_values_to_be_unique",
    "in_set": "expect_column_values_to_be_in_set",
    "not_in_set": "expect_column_values_to_not_be_in_set",
    "lengths": "expect_column_value_lengths_to_be_between",
}

_SUMMARIES: dict[str, tuple[str, str]] = {
    "columns_complete": ("no missing values in the required columns", "missing values in required columns"),
    "ids_unique": ("every id is unique", "ids used more than once"),
    "labels_in_taxonomy": ("every label is in the taxonomy", "labels outside the taxonomy"),
    "splits_known": ("every split is train, validation or test", "unknown split names"),
    "text_lengths_in_bounds": ("text lengths within bounds", "texts too short or too long"),
}


def expectation_name(kind: Kind) -> str:
    return _EXPECTATION_NAMES[kind]


def _problem(rule: Rule, frame: pl.DataFrame, position: int) -> str:
    if rule.kind == "not_null":
        return "missing"
    if rule.kind == "unique":
        return "duplicate id"
    assert rule.column is not None
    if rule.kind == "lengths":
        length = len(str(frame[rule.column][position]))
        return f"length {length} outside [{rule.min_value}, {rule.max_value if rule.max_value is not None else 'inf'}]"
    return f"value {frame[rule.column][position]!r} not allowed"


def _row_sample(
    frame: pl.DataFrame, config: GateConfig, results: Iterable[RuleOutcome]
) -> tuple[list[str], list[dict[str, Any]]]:
    """Failing ids and a PII-free sample (id, label, split, column, problem), first rows of each rule."""
    ids: list[str] = []
    sample: list[dict[str, Any]] = []
    seen: set[str] = set()
    safe = [c for c in (config.label_column, config.split_column) if c in frame.columns]
    has_id = config.id_column in frame.columns
    for result in results:
        for position in result.sample_positions:
            if len(sample) >= config.sample_rows:
                return ids, sample
            row_id = str(frame[config.id_column][position]) if has_id else f"row {position}"
            row: dict[str, Any] = {"id": row_id}
            row.update({name: frame[name][position] for name in safe})
            row.update({"column": result.rule.column, "problem": _problem(result.rule, frame, position)})
            sample.append(row)
            if row_id not in seen:
                seen.add(row_id)
                ids.append(row_id)
    return ids, sample


def _rule_table(results: Sequence[RuleOutcome]) -> list[dict[str, Any]]:
    return [
        {
            "expectation": expectation_name(r.rule.kind),
            "column": r.rule.column or "",
            "checked": r.checked,
            "unexpected": r.unexpected_count,
            "mostly": r.rule.mostly,
            "ok": r.success,
        }
        for r in results
    ]


def _columns_present(results: Sequence[RuleOutcome], config: GateConfig) -> GateOutcome:
    missing = [r.rule.column or "" for r in results if not r.success]
    summary = f"all {len(results)} columns present" if not missing else f"missing column(s): {', '.join(missing)}"
    return outcome(
        "columns_present",
        not missing,
        summary,
        severity=config.severity("columns_present"),
        figures={"columns": len(results), "missing": len(missing)},
        table=[{"column": r.rule.column, "present": r.success} for r in results],
    )


def _min_rows(results: Sequence[RuleOutcome], config: GateConfig) -> GateOutcome:
    (result,) = results
    rows = int(result.observed or 0)
    return outcome(
        "min_rows",
        result.success,
        f"{rows} rows (floor {config.min_rows})",
        severity=config.severity("min_rows"),
        figures={"rows": rows},
        thresholds={"floor": config.min_rows},
    )


def _column_types(results: Sequence[RuleOutcome], config: GateConfig) -> GateOutcome:
    wrong = [r for r in results if not r.success]
    summary = (
        f"{len(results)} columns have their expected types"
        if not wrong
        else "wrong type: " + ", ".join(f"{r.rule.column} is {r.observed}, not {r.rule.type_name}" for r in wrong)
    )
    return outcome(
        "column_types",
        not wrong,
        summary,
        severity=config.severity("column_types"),
        figures={"columns": len(results), "wrong": len(wrong)},
        table=[{"column": r.rule.column, "expected": r.rule.type_name, "ok": r.success} for r in results],
    )


def _class_shares(results: Sequence[RuleOutcome], config: GateConfig) -> GateOutcome:
    table = []
    short = []
    for r in results:
        label = r.rule.value_set[0]
        count = r.checked - r.unexpected_count
        table.append(
            {
                "label": label,
                "count": count,
                "share": round(r.share, 6),
                "floor": round(r.rule.mostly, 6),
                "ok": r.success,
            }
        )
        if not r.success:
            short.append(label)
    floor = max((r.rule.mostly for r in results), default=config.min_class_share)
    summary = (
        f"all {len(results)} classes at or above {floor:.2%} of labels"
        if not short
        else f"{len(short)} class(es) under {floor:.2%} of labels: {', '.join(short)}"
    )
    return outcome(
        "min_class_share",
        not short,
        summary,
        severity=config.severity("min_class_share"),
        figures={"classes": len(results), "short": len(short)},
        thresholds={"min_class_share": config.min_class_share, "min_class_examples": config.min_class_examples},
        table=table,
    )


def _split_shares(results: Sequence[RuleOutcome], config: GateConfig) -> GateOutcome:
    table = []
    off = []
    for name, target in config.split_fractions.items():
        mine = [r for r in results if r.rule.value_set == (name,)]
        ok = all(r.success for r in mine)
        share = next(
            (r.share if r.rule.kind == "in_set" else 1 - r.share for r in mine),
            float("nan"),
        )
        table.append({"split": name, "share": round(share, 6), "target": target, "ok": ok})
        if not ok:
            off.append(f"{name} {share:.1%} (target {target:.0%})")
    summary = (
        f"split shares within {config.split_tolerance:.0%} of the spec"
        if not off
        else f"split shares off by more than {config.split_tolerance:.0%}: {', '.join(off)}"
    )
    return outcome(
        "split_proportions",
        not off,
        summary,
        severity=config.severity("split_proportions"),
        figures={"splits": len(table), "off": len(off)},
        thresholds={"tolerance": config.split_tolerance},
        table=table,
    )


def _row_gate(gate: str, results: Sequence[RuleOutcome], frame: pl.DataFrame, config: GateConfig) -> GateOutcome:
    failed = [r for r in results if not r.success]
    unexpected = sum(r.unexpected_count for r in results)
    ids, sample = _row_sample(frame, config, failed)
    good, bad = _SUMMARIES[gate]
    if not failed:
        summary = good if not unexpected else f"{good} ({unexpected} tolerated outlier(s))"
    else:
        where = ", ".join(f"{r.unexpected_count} in {r.rule.column}" for r in failed)
        summary = f"{bad}: {where}"
    thresholds: dict[str, float | int | str] = {}
    if gate == "text_lengths_in_bounds":
        for r in results:
            high = r.rule.max_value if r.rule.max_value is not None else "none"
            thresholds[f"{r.rule.column}_length"] = f"[{r.rule.min_value}, {high}]"
        thresholds["mostly"] = config.length_mostly
    return outcome(
        gate,
        not failed,
        summary,
        severity=config.severity(gate),
        figures={"unexpected": unexpected},
        thresholds=thresholds,
        table=_rule_table(results),
        failing_ids=ids,
        sample=sample,
    )


def gates_from_outcomes(frame: pl.DataFrame, outcomes: Sequence[RuleOutcome], config: GateConfig) -> list[GateOutcome]:
    """Group rule outcomes by gate, in `EXPECTATION_GATES` order, and explain each gate."""
    by_gate: dict[str, list[RuleOutcome]] = defaultdict(list)
    for result in outcomes:
        by_gate[result.rule.gate].append(result)
    gates: list[GateOutcome] = []
    for gate in EXPECTATION_GATES:
        results = by_gate.get(gate, [])
        if not results and gate == "text_lengths_in_bounds" and not config.text_columns:
            gates.append(outcome(gate, True, "no text columns: nothing to measure", severity=config.severity(gate)))
        elif not results:
            summary = "not checked: the columns it needs are missing (see columns_present)"
            gates.append(outcome(gate, False, summary, severity=config.severity(gate)))
        elif gate == "columns_present":
            gates.append(_columns_present(results, config))
        elif gate == "min_rows":
            gates.append(_min_rows(results, config))
        elif gate == "column_types":
            gates.append(_column_types(results, config))
        elif gate == "min_class_share":
            gates.append(_class_shares(results, config))
        elif gate == "split_proportions":
            gates.append(_split_shares(results, config))
        else:
            gates.append(_row_gate(gate, results, frame, config))
    return gates
