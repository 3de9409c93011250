"""Cleaning one row at a time: keys pseudonymized, PII scrubbed, long values cut (step 3 of `prepare_batch`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from factory.core.preparation._keys import looks_personal, pseudonym
from factory.core.preparation._pii import PII_TYPES, scrub
from factory.core.preparation._rules import LINE, PrepareRules

__all__ = ["Cleaned", "clean_rows"]


def _key_columns(rules: PrepareRules) -> list[str]:
    """String key columns (the id, the group) whose values are pseudonymized when they look personal."""
    names = dict.fromkeys(name for name in (rules.id_column, rules.group_column) if name is not None)
    return [name for name in names if rules.rule(name).type == "string" and rules.rule(name).values is None]


def _scrubbed_columns(rules: PrepareRules) -> list[str]:
    """String columns that can hold free text: all but the keys and the enumerations."""
    keys = {rules.id_column, *_key_columns(rules)}
    return [
        rule.name for rule in rules.columns if rule.type == "string" and rule.name not in keys and rule.values is None
    ]


def _truncate(frame: pl.DataFrame, rules: PrepareRules) -> pl.DataFrame:
    """Cut strings longer than ``max_length`` characters (trailing space dropped) and flag them."""
    updates = []
    for rule in rules.columns:
        if rule.max_length is None:
            continue
        long = frame[rule.name].str.len_chars().gt(rule.max_length).fill_null(False).alias(f"{rule.name}_truncated")
        updates.append(long)
        if long.any():
            cut = frame[rule.name].str.slice(0, rule.max_length).str.strip_chars_end(" ")
            updates.append(pl.select(pl.when(long).then(cut).otherwise(frame[rule.name])).to_series().alias(rule.name))
    return frame.with_columns(updates)


@dataclass(frozen=True)
class Cleaned:
    """Typed rows with keys pseudonymized, PII scrubbed and long strings truncated, PII counts, the number of
    key values pseudonymized, and the rows PII is left in."""

    frame: pl.DataFrame
    counts: dict[str, int]
    pseudonymized: int
    residue_detail: pl.Series  # per row: null, or which columns still hold PII


def _pseudonymize_keys(
    frame: pl.DataFrame, rules: PrepareRules
) -> tuple[pl.DataFrame, int, dict[str, npt.NDArray[np.bool_]]]:
    """Key values that look personal replaced by their pseudonym; without a pseudonym key, the rows that
    hold such a value (per key column) are returned instead, for the quarantine."""
    pseudonymized = 0
    unkeyed: dict[str, npt.NDArray[np.bool_]] = {}
    for name in _key_columns(rules):
        personal = looks_personal(frame[name], rules.custom_pii)
        if not personal.any():
            continue
        if rules.pseudonym_key is None:
            unkeyed[name] = personal.to_numpy()
            continue
        rows = personal.arg_true()
        replaced = [pseudonym(value, rules.pseudonym_key) for value in frame[name].gather(rows).to_list()]
        frame = frame.with_columns(frame[name].scatter(rows, pl.Series(replaced, dtype=pl.String)))
        pseudonymized += rows.len()
    return frame, pseudonymized, unkeyed


def clean_rows(valid: pl.DataFrame, rules: PrepareRules) -> Cleaned:
    """Pseudonymize keys, scrub, truncate, scrub the truncated values again; see step 3 of the module docstring."""
    frame = valid.select(LINE, *(pl.col(f"{rule.name}__typed").alias(rule.name) for rule in rules.columns))
    frame, pseudonymized, unkeyed = _pseudonymize_keys(frame, rules)
    counts = dict.fromkeys((*PII_TYPES, *rules.custom_pii), 0)
    columns = _scrubbed_columns(rules)
    left: dict[str, npt.NDArray[np.bool_]] = {}
    scrubbed = []
    for name in columns:
        result = scrub(frame[name], rules.custom_pii)
        scrubbed.append(result.text.alias(name))
        left[name] = result.residue.to_numpy() > 0
        counts = {key: counts[key] + result.counts.get(key, 0) for key in counts}
    frame = _truncate(frame.with_columns(scrubbed), rules)
    for name in columns:
        if rules.rule(name).max_length is None:
            continue
        cut = frame[f"{name}_truncated"].arg_true()
        if cut.len() == 0:
            continue
        result = scrub(frame[name].gather(cut), rules.custom_pii)
        frame = frame.with_columns(frame[name].scatter(cut, result.text))
        left[name][cut.to_numpy()] |= result.residue.to_numpy() > 0
        counts = {key: counts[key] + result.counts.get(key, 0) for key in counts}
    return Cleaned(frame, counts, pseudonymized, _residue_detail(frame.height, left, unkeyed))


def _residue_detail(
    height: int, left: Mapping[str, npt.NDArray[np.bool_]], unkeyed: Mapping[str, npt.NDArray[np.bool_]]
) -> pl.Series:
    """Per row, null or why it goes to the quarantine as ``pii_residue`` (column names, never values)."""
    details: list[str | None] = [None] * height
    flags = [*left.values(), *unkeyed.values()]
    for row in np.flatnonzero(np.logical_or.reduce(flags)) if flags else ():
        parts = [f"column {name!r} still holds PII after every scrub pass" for name in left if left[name][row]]
        parts += [
            f"key column {name!r} looks like personal data and no pseudonym key is set"
            for name in unkeyed
            if unkeyed[name][row]
        ]
        details[row] = "; ".join(parts)
    return pl.Series("detail", details, dtype=pl.String)
