"""The dataset gate suite: what a staged dataset version must prove before it is published.

`run_gates` is the entry point. It returns one `GateOutcome` (a `factory.core.gates.GateResult` with a
severity, thresholds and failing row ids) per gate, in a fixed order:

- expectations, generated from the spec (`GateConfig`) and the last published version (`ReferenceStats`)
  and validated by Great Expectations 1.x: ``columns_present``, ``min_rows``, ``columns_complete``,
  ``column_types``, ``ids_unique``, ``labels_in_taxonomy``, ``splits_known``, ``text_lengths_in_bounds``,
  ``min_class_share`` (share and example floor per class) and ``split_proportions``;
- checks of our own in Polars/NumPy: ``no_exact_duplicates_across_splits``,
  ``no_near_duplicates_across_splits``, ``no_group_across_splits``, ``label_mix_matches_reference``,
  ``features_match_reference`` and ``low_confidence_share``.

`expectations_only` runs the GX part alone and `polars_equivalent` computes the same expectations directly
in Polars, with the same semantics and the same report: the benchmark times one against the other and the
tests prove they agree. No Dagster here; `factory.defs` turns outcomes into asset check results.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import polars as pl

from ._checks import (
    OWN_GATES,
    exact_duplicates_across_splits,
    features_match_reference,
    groups_across_splits,
    label_mix_matches_reference,
    low_confidence_share,
    near_duplicates_across_splits,
    own_checks,
)
from ._config import SPLIT_NAMES, Binned, GateConfig, ReferenceStats, gate_config_from_spec, reference_stats
from ._describe import gate_descriptions
from ._gx import evaluate_gx, gx_context
from ._result import GateOutcome, Severity
from ._rules import EXPECTATION_GATES, Rule, RuleOutcome, build_rules, evaluate_polars, gates_from_outcomes

__all__ = [
    "EXPECTATION_GATES",
    "GATES",
    "OWN_GATES",
    "SPLIT_NAMES",
    "Binned",
    "GateConfig",
    "GateOutcome",
    "ReferenceStats",
    "Rule",
    "RuleOutcome",
    "Severity",
    "blocking",
    "build_rules",
    "evaluate_gx",
    "evaluate_polars",
    "exact_duplicates_across_splits",
    "expectations_only",
    "features_match_reference",
    "gate_config_from_spec",
    "gate_descriptions",
    "gates_from_outcomes",
    "groups_across_splits",
    "gx_context",
    "label_mix_matches_reference",
    "low_confidence_share",
    "near_duplicates_across_splits",
    "own_checks",
    "polars_equivalent",
    "reference_stats",
    "run_gates",
]

GATES: tuple[str, ...] = EXPECTATION_GATES + OWN_GATES

Reference = ReferenceStats | pl.DataFrame | None


def _stats(reference: Reference, config: GateConfig) -> ReferenceStats | None:
    if isinstance(reference, pl.DataFrame):
        return reference_stats(reference, config)
    return reference


def expectations_only(frame: pl.DataFrame, config: GateConfig, reference: Reference = None) -> list[GateOutcome]:
    """The expectation gates, validated by Great Expectations (in `EXPECTATION_GATES` order)."""
    rules = build_rules(frame.columns, frame.height, config, _stats(reference, config))
    return gates_from_outcomes(frame, evaluate_gx(frame, rules, config.sample_rows), config)


def polars_equivalent(frame: pl.DataFrame, config: GateConfig, reference: Reference = None) -> list[GateOutcome]:
    """The same expectation gates computed directly in Polars: same rules, same semantics, same report."""
    rules = build_rules(frame.columns, frame.height, config, _stats(reference, config))
    return gates_from_outcomes(frame, evaluate_polars(frame, rules, config.sample_rows), config)


def run_gates(frame: pl.DataFrame, config: GateConfig, reference: Reference = None) -> list[GateOutcome]:
    """Every dataset gate on a staged frame, in `GATES` order.

    ``reference`` is the last published version, as a frame or (cheaper) as its `ReferenceStats`; without
    it the shift gates pass as skipped and text length bounds come from the config alone.

    Our checks run on a worker thread while Great Expectations validates on this one: GX spends most of
    its time in Python (it holds the GIL), our checks mostly in Polars and compiled MinHash kernels (which
    release it), so on two cores the suite takes about the longer of the two instead of their sum.
    """
    stats = _stats(reference, config)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gates") as pool:
        ours = pool.submit(own_checks, frame, config, stats)
        expectations = expectations_only(frame, config, stats)
        return [*expectations, *ours.result()]


def blocking(outcomes: list[GateOutcome]) -> list[GateOutcome]:
    """The failed gates of severity ``error``: publishing must stop if this is not empty."""
    return [gate for gate in outcomes if gate.blocking]
