"""The expectation plan run through Great Expectations 1.x on pandas.

One ephemeral data context per process (`gx_context`), with one pandas data source and two whole-dataframe
batch definitions. A validation converts the Polars frame to pandas once (Arrow-backed strings), splits the
plan in two suites and runs each through a `ValidationDefinition`:

- row rules (completeness, types, uniqueness, value sets, text lengths, row count) on the columns they
  need, with result format SUMMARY and ``partial_unexpected_count`` bounded by the config's
  ``sample_rows``: that gives the positions of the first failing rows, which become ids;
- share rules (class floors, split proportions) on a two-column frame (label, split) with result format
  BASIC: they only need counts, and asking SUMMARY of a rule whose "unexpected" rows are most of the
  table (every row not of class ``c``) costs seconds at a million rows for an index list nobody reads.

Why these choices (measured on 930,000 rows, see bench/README.md): GX fingerprints every pandas batch it
loads (``pd.util.hash_pandas_object`` over the whole frame, about 2 s with a 220-character text column),
and ``Batch.validate`` loads the batch a second time after ``get_batch`` did; a `ValidationDefinition`
loads it once. ``unexpected_index_column_names`` makes GX build a dict per unexpected row (5 s for one
share rule); positional indices from the RangeIndex are mapped to ids here instead.

Great Expectations is imported on first use: it takes several seconds to import, and code that never
validates (the Dagster code server listing assets) should not pay for it.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import Any

import polars as pl

from ._rules import Rule, RuleOutcome

__all__ = ["evaluate_gx", "gx_context"]

_LOCK = threading.Lock()
_SOURCE = "factory_dataset"


@dataclass(frozen=True)
class _Engine:
    context: Any  # great_expectations EphemeralDataContext
    rows: Any  # BatchDefinition of the row-rule asset
    shares: Any  # BatchDefinition of the share-rule asset


_engine_state: list[_Engine] = []


def _engine() -> _Engine:
    with _LOCK:
        if not _engine_state:
            os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
            source = context.data_sources.add_pandas(_SOURCE)
            rows = source.add_dataframe_asset("rows").add_batch_definition_whole_dataframe("whole")
            shares = source.add_dataframe_asset("shares").add_batch_definition_whole_dataframe("whole")
            _engine_state.append(_Engine(context, rows, shares))
        return _engine_state[0]


def gx_context() -> Any:
    """The process's Great Expectations context (ephemeral, DESIGN.md: one per process): reuse it.

    It holds the pandas data source the gates validate through. (GX 1.24 resolves a batch definition
    through the context that owns it, so another context created elsewhere does not hide this one's data
    sources; it would only duplicate the setup.)
    """
    return _engine().context


def _expectation(rule: Rule, index: int) -> Any:
    # Typed as a plain module: GX re-exports its expectation classes without ``__all__``, which mypy's
    # strict re-export check would reject name by name.
    gxe: Any = import_module("great_expectations.expectations")

    meta = {"rule": index, "gate": rule.gate}
    column = rule.column or ""
    match rule.kind:
        case "exists":
            return gxe.ExpectColumnToExist(column=column, meta=meta)
        case "row_count":
            return gxe.ExpectTableRowCountToBeBetween(min_value=rule.min_value, max_value=rule.max_value, meta=meta)
        case "not_null":
            return gxe.ExpectColumnValuesToNotBeNull(column=column, meta=meta)
        case "of_type":
            return gxe.ExpectColumnValuesToBeOfType(column=column, type_=rule.type_name, meta=meta)
        case "unique":
            return gxe.ExpectColumnValuesToBeUnique(column=column, meta=meta)
        case "in_set":
            return gxe.ExpectColumnValuesToBeInSet(
                column=column, value_set=list(rule.value_set), mostly=rule.mostly, meta=meta
            )
        case "not_in_set":
            return gxe.ExpectColumnValuesToNotBeInSet(
                column=column, value_set=list(rule.value_set), mostly=rule.mostly, meta=meta
            )
        case "lengths":
            return gxe.ExpectColumnValueLengthsToBeBetween(
                column=column, min_value=rule.min_value, max_value=rule.max_value, mostly=rule.mostly, meta=meta
            )
    raise ValueError(f"no expectation for rule kind {rule.kind!r}")


def _validate(batch_definition: Any, expectations: list[Any], frame: Any, result_format: dict[str, Any]) -> Any:
    """Run one suite on one pandas frame through a throw-away `ValidationDefinition`."""
    import great_expectations as gx

    context = _engine().context
    name = f"factory-{uuid.uuid4().hex}"
    suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
    try:
        definition = context.validation_definitions.add(
            gx.ValidationDefinition(name=name, data=batch_definition, suite=suite)
        )
        try:
            return definition.run(batch_parameters={"dataframe": frame}, result_format=result_format)
        finally:
            context.validation_definitions.delete(name)
    finally:
        context.suites.delete(name)


def _raised(result: Any) -> str | None:
    """The exception message GX caught while evaluating an expectation, if any."""
    info = result.exception_info or {}
    entries = [info] if "raised_exception" in info else list(info.values())
    for entry in entries:
        if isinstance(entry, dict) and entry.get("raised_exception"):
            return str(entry.get("exception_message") or "unknown error")
    return None


def _outcome(rule: Rule, result: Any) -> RuleOutcome:
    details = result.result or {}
    if rule.kind in ("exists", "of_type", "row_count"):
        observed = details.get("observed_value")
        count = int(observed) if rule.kind == "row_count" and observed is not None else 0
        return RuleOutcome(rule, bool(result.success), element_count=count, observed=observed)
    unexpected = int(details.get("unexpected_count") or 0)
    missing = unexpected if rule.kind == "not_null" else int(details.get("missing_count") or 0)
    positions = () if rule.aggregate else tuple(int(i) for i in details.get("partial_unexpected_index_list") or ())
    return RuleOutcome(
        rule,
        bool(result.success),
        element_count=int(details.get("element_count") or 0),
        missing_count=missing,
        unexpected_count=unexpected,
        sample_positions=positions,
    )


def _run_rules(
    batch_definition: Any, frame: pl.DataFrame, rules: Sequence[tuple[int, Rule]], result_format: dict[str, Any]
) -> dict[int, RuleOutcome]:
    if not rules:
        return {}
    expectations = [_expectation(rule, index) for index, rule in rules]
    validated = _validate(batch_definition, expectations, frame.to_pandas(), result_format)
    by_index = dict(rules)
    found: dict[int, RuleOutcome] = {}
    for result in validated.results:
        index = int(result.expectation_config.meta["rule"])
        rule = by_index[index]
        message = _raised(result)
        if message is not None:
            raise RuntimeError(f"Great Expectations failed on {rule.kind} {rule.column or ''}: {message}")
        found[index] = _outcome(rule, result)
    return found


def evaluate_gx(frame: pl.DataFrame, rules: Sequence[Rule], sample_rows: int) -> list[RuleOutcome]:
    """Each rule as a GX expectation, validated in two suites (module docstring); one outcome per rule."""
    engine = _engine()
    row_rules = [(i, r) for i, r in enumerate(rules) if not r.aggregate]
    share_rules = [(i, r) for i, r in enumerate(rules) if r.aggregate]
    wanted = {r.column for _, r in row_rules if r.column is not None}
    row_columns = [name for name in frame.columns if name in wanted]
    share_columns = list(dict.fromkeys(r.column for _, r in share_rules if r.column is not None))
    found = _run_rules(
        engine.rows,
        frame.select(row_columns),
        row_rules,
        {"result_format": "SUMMARY", "partial_unexpected_count": sample_rows},
    )
    found |= _run_rules(engine.shares, frame.select(share_columns), share_rules, {"result_format": "BASIC"})
    missing = [i for i in range(len(rules)) if i not in found]
    if missing:
        raise RuntimeError(f"Great Expectations returned no result for {len(missing)} rule(s)")
    return [found[i] for i in range(len(rules))]
