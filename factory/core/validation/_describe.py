"""What each dataset gate checks, its threshold and the tool that evaluates it, in words for the catalog."""

from __future__ import annotations

from ._config import GateConfig
from ._rules import EXPECTATION_GATES

__all__ = ["gate_descriptions"]

_GX = "Great Expectations"
_OURS = "the factory's own check (factory.core.validation)"


def _shares(fractions: dict[str, float]) -> str:
    return ", ".join(f"{name} {share:.0%}" for name, share in fractions.items())


def gate_descriptions(config: GateConfig) -> dict[str, str]:
    """One sentence per gate of `GATES` order: what passes, with the figures of ``config`` and the spec keys
    they come from, then who evaluates it and whether a failure blocks publishing."""
    low, high = config.length_quantiles
    text = {
        "columns_present": "The id, label, split, group, text and feature columns are all present.",
        "min_rows": f"At least {config.min_rows} rows (`gates.min_rows`).",
        "columns_complete": "No null in the id, label, split and group columns, nor in a required text column.",
        "column_types": "Every column has its declared type (the id, label, split and text columns are strings).",
        "ids_unique": f"Every `{config.id_column}` is unique.",
        "labels_in_taxonomy": f"Every label is one of the {len(config.classes)} classes of `labeling.classes`.",
        "splits_known": "Every split is train, validation or test.",
        "text_lengths_in_bounds": (
            f"At least {config.length_mostly:.1%} of each text column's lengths are between {config.text_min_length} "
            "and its `max_length`, and, once a version is published, within its "
            f"{low:.1%}-{high:.1%} length quantiles widened {config.length_slack:g} times."
        ),
        "min_class_share": (
            f"Every class has at least {config.min_class_share:.1%} of the rows (`gates.min_class_share`) and "
            f"{config.min_class_examples} examples (`gates.min_class_examples`)."
        ),
        "split_proportions": (
            f"Each split's share is within {config.split_tolerance:.0%} of its target "
            f"({_shares(config.split_fractions)}; `splits`)."
        ),
        "no_exact_duplicates_across_splits": "No two identical rows (same content hash) sit in different splits.",
        "no_near_duplicates_across_splits": (
            f"No validation or test row is a near duplicate (MinHash Jaccard at least "
            f"{config.near_duplicates.threshold:g}, `near_duplicates.threshold`) of a row in another split."
        ),
        "no_group_across_splits": "No group key has rows in two splits.",
        "label_mix_matches_reference": (
            f"The label mix is within PSI {config.max_shift_psi:g} (`drift.threshold`) of the last published "
            "version's; passes when there is none."
        ),
        "features_match_reference": (
            f"Each feature column, and each text column's length, is within PSI {config.max_shift_psi:g} "
            "(`drift.threshold`) of the last published version; passes when there is none."
        ),
        "low_confidence_share": (
            f"At most {config.max_low_confidence_share:.0%} of labels (`gates.max_low_confidence_share`) have a "
            f"confidence under {config.confidence_floor:g} (`gates.confidence_floor`)."
        ),
    }
    described = {}
    for gate, sentence in text.items():
        tool = f"{_GX}, an expectation suite built from the spec" if gate in EXPECTATION_GATES else _OURS
        effect = "blocks publishing" if config.severity(gate) == "error" else "warns (`gates.severities`)"
        described[gate] = f"{sentence} Evaluated by {tool}; a failure {effect}."
    return described
