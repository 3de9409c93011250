"""The gates Great Expectations has no expectation for: leakage across splits, shift, label confidence.

Leakage (DESIGN.md invariant 4: no group, exact duplicate or near duplicate crosses splits):

- ``no_exact_duplicates_across_splits``: rows sharing a content hash sit in two or more splits;
- ``no_near_duplicates_across_splits``: a row of validation or test is a MinHash/LSH near duplicate
  (`factory.core.preparation.near_duplicates`) of a row in another split, with a different content hash (exact
  copies are the previous gate's);
- ``no_group_across_splits``: a group key has rows in two or more splits.

Shift against the last published version (`ReferenceStats`), on the PSI scale of `factory.core.monitoring`:
``label_mix_matches_reference`` (the label mix) and ``features_match_reference`` (each categorical or
numeric feature column, and the length of each text column, binned at the reference's deciles).

Label quality: ``low_confidence_share`` (labels with confidence under a floor; a missing confidence counts
as low).

Every sample names rows by id, with split and label: never text, never group keys (a group key may be a
customer's identity; groups are numbered instead).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl

from factory.core.monitoring import psi
from factory.core.preparation import digest, join_content, minhash_signatures, near_duplicates, signatures_from_series

from ._config import GateConfig, ReferenceStats, length_key, value_counts
from ._result import GateOutcome, outcome

__all__ = [
    "OWN_GATES",
    "exact_duplicates_across_splits",
    "features_match_reference",
    "groups_across_splits",
    "label_mix_matches_reference",
    "low_confidence_share",
    "near_duplicates_across_splits",
    "own_checks",
]

OWN_GATES: tuple[str, ...] = (
    "no_exact_duplicates_across_splits",
    "no_near_duplicates_across_splits",
    "no_group_across_splits",
    "label_mix_matches_reference",
    "features_match_reference",
    "low_confidence_share",
)

_POS = "_row"


def _missing_columns(frame: pl.DataFrame, names: Sequence[str | None]) -> list[str]:
    return [name for name in names if name is not None and name not in frame.columns]


def _not_checked(gate: str, config: GateConfig, missing: list[str]) -> GateOutcome:
    return outcome(gate, False, f"not checked: column(s) missing: {', '.join(missing)}", severity=config.severity(gate))


def _sample(frame: pl.DataFrame, config: GateConfig, rows: pl.DataFrame) -> tuple[list[str], list[dict[str, Any]]]:
    """Ids and PII-free rows (id, split, label and the extra columns of ``rows``) for the first failing rows."""
    head = rows.head(config.sample_rows)
    extra = [c for c in head.columns if c != _POS]
    keep = [c for c in (config.id_column, config.split_column, config.label_column) if c in frame.columns]
    picked = frame.select(keep)[head[_POS].to_list()] if head.height else frame.select(keep).clear()
    table = pl.concat([picked, head.select(extra)], how="horizontal").rename({config.id_column: "id"})
    sample = table.to_dicts()
    return [str(row["id"]) for row in sample], sample


def _text_is_content(config: GateConfig) -> bool:
    """Whether a row's content is its text (`factory.core.preparation.PrepareRules.text_is_content`)."""
    return bool(config.text_columns) and (not config.feature_columns or bool(config.required_text_columns))


def _content_columns(config: GateConfig) -> list[str]:
    """The columns a row's content is made of (`factory.core.preparation.PrepareRules.content_columns`)."""
    if _text_is_content(config):
        return list(config.text_columns)
    return [*config.text_columns, *config.feature_columns]


def content_hashes(frame: pl.DataFrame, config: GateConfig) -> pl.Series:
    """The frame's content hash column, or the hash of its content columns when it has none."""
    if config.content_hash_column in frame.columns:
        return frame[config.content_hash_column]
    content = join_content(frame, _content_columns(config), normalized=config.texts_normalized)
    return digest(content)


def exact_duplicates_across_splits(frame: pl.DataFrame, config: GateConfig) -> GateOutcome:
    """No content hash occurs in two splits."""
    gate = "no_exact_duplicates_across_splits"
    needs = [config.split_column] + ([] if config.content_hash_column in frame.columns else _content_columns(config))
    if missing := _missing_columns(frame, [config.id_column, *needs]):
        return _not_checked(gate, config, missing)
    keys = pl.DataFrame({"_hash": content_hashes(frame, config), "_split": frame[config.split_column]})
    keys = keys.with_row_index(_POS).filter(pl.col("_hash").is_not_null())
    spread = keys.group_by("_hash").agg(
        pl.col("_split").n_unique().alias("_splits"), pl.col(_POS).min().alias("_first")
    )
    crossing = spread.filter(pl.col("_splits") > 1).sort("_first").with_row_index("duplicate_group", offset=1)
    rows = (
        keys.join(crossing.select("_hash", "duplicate_group"), on="_hash")
        .sort("duplicate_group", _POS)
        .select(_POS, "duplicate_group")
    )
    ids, sample = _sample(frame, config, rows)
    passed = crossing.is_empty()
    summary = (
        "no content appears in two splits"
        if passed
        else f"{crossing.height} content hash(es) appear in several splits, over {rows.height} rows"
    )
    return outcome(
        gate,
        passed,
        summary,
        severity=config.severity(gate),
        figures={"hashes_across_splits": crossing.height, "rows_involved": rows.height},
        failing_ids=ids,
        sample=sample,
    )


def _hashes_at(frame: pl.DataFrame, config: GateConfig, positions: pl.Series) -> pl.Series:
    """Content hashes of the rows at `positions` (computed for those rows only when the frame has none)."""
    if config.content_hash_column in frame.columns:
        return frame[config.content_hash_column].gather(positions)
    return content_hashes(frame.select(_content_columns(config))[positions.to_list()], config)


def _signatures(frame: pl.DataFrame, config: GateConfig) -> np.ndarray[Any, np.dtype[np.uint32]]:
    if config.signature_column in frame.columns:
        return signatures_from_series(frame[config.signature_column], config.near_duplicates.num_perm)
    content = join_content(frame, config.text_columns, normalized=config.texts_normalized)
    return minhash_signatures(content, config.near_duplicates)


def near_duplicates_across_splits(frame: pl.DataFrame, config: GateConfig) -> GateOutcome:
    """No row of one split is a near duplicate of a row of another split.

    Train rows are the "prior" of `near_duplicates` and validation/test rows the batch, so a batch row is
    reported when similar to a train row or to an earlier batch row of the other evaluation split. A batch
    row points at its single most similar kept row: when that one is in its own split, a weaker match in
    another split goes unreported (the gate still fails whenever the stronger partner leaks).
    """
    gate = "no_near_duplicates_across_splits"
    if not _text_is_content(config):
        # MinHash reads words: when the content is not text alone there is nothing to compare (exact
        # duplicates still are).
        summary = "the content is not text alone: near duplicates not looked for"
        return outcome(gate, True, summary, severity=config.severity(gate))
    needs = [config.id_column, config.split_column]
    if config.signature_column not in frame.columns:
        needs += list(config.text_columns)
    if missing := _missing_columns(frame, needs):
        return _not_checked(gate, config, missing)
    signatures = _signatures(frame, config)
    split = frame[config.split_column]
    is_train = (split == "train").fill_null(False).to_numpy()
    prior = np.flatnonzero(is_train)
    batch = np.flatnonzero(~is_train)
    positions = pl.Series(_POS, np.arange(frame.height, dtype=np.int64))
    found = near_duplicates(
        positions.gather(batch),
        signatures,
        prior_ids=positions.gather(prior),
        prior_signatures=signatures[prior],
        config=config.near_duplicates,
        rows=batch,
    )
    left, right = found[_POS], found["duplicate_of"]
    crossing = (split.gather(left) != split.gather(right)).fill_null(True)
    if found.height:
        hashes = _hashes_at(frame, config, pl.concat([left, right]))
        crossing = crossing & (hashes.head(found.height) != hashes.tail(found.height)).fill_null(True)
    pairs = found.filter(crossing.fill_null(True))
    ids = frame[config.id_column].cast(pl.String)
    rows = pairs.select(
        _POS,
        ids.gather(pairs["duplicate_of"]).alias("duplicate_of"),
        split.gather(pairs["duplicate_of"]).alias("duplicate_split"),
        pl.col("similarity").round(3),
    )
    failing, sample = _sample(frame, config, rows)
    passed = pairs.is_empty()
    threshold = config.near_duplicates.threshold
    summary = (
        f"no near duplicates (Jaccard >= {threshold}) across splits"
        if passed
        else f"{pairs.height} row(s) of validation/test are near duplicates of a row in another split"
    )
    return outcome(
        gate,
        passed,
        summary,
        severity=config.severity(gate),
        figures={"rows_across_splits": pairs.height, "rows_compared": frame.height},
        thresholds={"jaccard": threshold},
        failing_ids=failing,
        sample=sample,
    )


def groups_across_splits(frame: pl.DataFrame, config: GateConfig) -> GateOutcome:
    """No group key has rows in two splits."""
    gate = "no_group_across_splits"
    if config.group_column is None:
        return outcome(gate, True, "no group column declared", severity=config.severity(gate))
    if missing := _missing_columns(frame, [config.id_column, config.group_column, config.split_column]):
        return _not_checked(gate, config, missing)
    keys = frame.select(pl.col(config.group_column).alias("_group"), pl.col(config.split_column).alias("_split"))
    keys = keys.with_row_index(_POS).filter(pl.col("_group").is_not_null())
    spread = keys.group_by("_group").agg(
        pl.col("_split").n_unique().alias("_splits"), pl.col(_POS).min().alias("_first")
    )
    crossing = spread.filter(pl.col("_splits") > 1).sort("_first").with_row_index("group", offset=1)
    rows = keys.join(crossing.select("_group", "group"), on="_group").sort("group", _POS).select(_POS, "group")
    ids, sample = _sample(frame, config, rows)
    passed = crossing.is_empty()
    summary = (
        f"every {config.group_column} sits in one split"
        if passed
        else f"{crossing.height} {config.group_column} value(s) have rows in several splits ({rows.height} rows)"
    )
    return outcome(
        gate,
        passed,
        summary,
        severity=config.severity(gate),
        figures={"groups_across_splits": crossing.height, "rows_involved": rows.height},
        failing_ids=ids,
        sample=sample,
    )


def _no_reference(gate: str, config: GateConfig) -> GateOutcome:
    return outcome(
        gate, True, "no published version to compare with", severity=config.severity(gate), figures={"skipped": "yes"}
    )


def label_mix_matches_reference(
    frame: pl.DataFrame, config: GateConfig, reference: ReferenceStats | None
) -> GateOutcome:
    """The label mix is within ``max_shift_psi`` (PSI) of the last published version's."""
    gate = "label_mix_matches_reference"
    if reference is None or not reference.label_counts:
        return _no_reference(gate, config)
    if missing := _missing_columns(frame, [config.label_column]):
        return _not_checked(gate, config, missing)
    current = value_counts(frame[config.label_column])
    if not current:
        return outcome(gate, False, "no labels to compare", severity=config.severity(gate))
    score = psi(reference.label_counts, current)
    ref_total, cur_total = sum(reference.label_counts.values()), sum(current.values())
    table: list[dict[str, Any]] = [
        {
            "label": label,
            "reference_share": round(reference.label_counts.get(label, 0) / ref_total, 4),
            "share": round(current.get(label, 0) / cur_total, 4),
        }
        for label in sorted(set(reference.label_counts) | set(current))
    ]
    table.sort(key=lambda row: -abs(float(row["share"]) - float(row["reference_share"])))
    passed = score <= config.max_shift_psi
    summary = f"label mix PSI {score:.3f} {'<=' if passed else '>'} {config.max_shift_psi} vs the last version"
    return outcome(
        gate,
        passed,
        summary,
        severity=config.severity(gate),
        figures={"psi": round(score, 6), "reference_rows": reference.rows},
        thresholds={"max_psi": config.max_shift_psi},
        table=table,
    )


def _psi_or_inf(expected: dict[str, int], actual: dict[str, int]) -> float:
    """PSI of two count maps; infinite when the current side has no values at all."""
    if not sum(actual.values()):
        return math.inf
    return psi(expected, actual)


def features_match_reference(frame: pl.DataFrame, config: GateConfig, reference: ReferenceStats | None) -> GateOutcome:
    """Each feature column, and each text column's length, is within ``max_shift_psi`` of the last version."""
    gate = "features_match_reference"
    if reference is None:
        return _no_reference(gate, config)
    compared: list[tuple[str, dict[str, int], dict[str, int]]] = [
        (name, counts, value_counts(frame[name]))
        for name, counts in reference.categorical.items()
        if name in frame.columns and counts
    ]
    numeric = [(name, frame[name]) for name in config.feature_columns if name in frame.columns]
    lengths = [
        (length_key(c), frame[c].cast(pl.String).str.len_chars()) for c in config.text_columns if c in frame.columns
    ]
    for name, values in (*numeric, *lengths):
        binned = reference.binned.get(name)
        if binned is not None and sum(binned.counts) > 0:
            compared.append((name, binned.as_counts(), binned.bin(values)))
    scores = {name: _psi_or_inf(expected, actual) for name, expected, actual in compared}
    table: list[dict[str, Any]] = [
        {"feature": name, "psi": round(score, 6), "ok": score <= config.max_shift_psi} for name, score in scores.items()
    ]
    shifted = [name for name, score in scores.items() if score > config.max_shift_psi]
    summary = (
        f"{len(table)} feature(s) within PSI {config.max_shift_psi} of the last version"
        if not shifted
        else f"{len(shifted)} feature(s) shifted beyond PSI {config.max_shift_psi}: {', '.join(shifted)}"
    )
    worst = round(max(scores.values(), default=0.0), 6)
    return outcome(
        gate,
        not shifted,
        summary,
        severity=config.severity(gate),
        figures={"features": len(table), "shifted": len(shifted), "max_psi_seen": worst},
        thresholds={"max_psi": config.max_shift_psi},
        table=table,
    )


def low_confidence_share(frame: pl.DataFrame, config: GateConfig) -> GateOutcome:
    """At most ``max_low_confidence_share`` of labels have confidence under ``confidence_floor``."""
    gate = "low_confidence_share"
    if config.confidence_column is None:
        return outcome(gate, True, "no confidence column declared", severity=config.severity(gate))
    if missing := _missing_columns(frame, [config.id_column, config.confidence_column]):
        return _not_checked(gate, config, missing)
    confidence = frame[config.confidence_column].cast(pl.Float64)
    low = (confidence < config.confidence_floor).fill_null(True) | confidence.is_nan().fill_null(True)
    count = int(low.sum())
    share = count / frame.height if frame.height else 0.0
    rows = pl.DataFrame({_POS: low.arg_true(), "confidence": confidence.filter(low).round(3)})
    ids, sample = _sample(frame, config, rows)
    passed = share <= config.max_low_confidence_share
    summary = (
        f"{share:.1%} of labels under confidence {config.confidence_floor} "
        f"({'<=' if passed else '>'} {config.max_low_confidence_share:.0%})"
    )
    return outcome(
        gate,
        passed,
        summary,
        severity=config.severity(gate),
        figures={"low_confidence": count, "share": round(share, 6)},
        thresholds={"confidence_floor": config.confidence_floor, "max_share": config.max_low_confidence_share},
        failing_ids=ids if not passed else (),
        sample=sample if not passed else (),
    )


def own_checks(frame: pl.DataFrame, config: GateConfig, reference: ReferenceStats | None = None) -> list[GateOutcome]:
    """The gates of this module, in `OWN_GATES` order."""
    return [
        exact_duplicates_across_splits(frame, config),
        near_duplicates_across_splits(frame, config),
        groups_across_splits(frame, config),
        label_mix_matches_reference(frame, config, reference),
        features_match_reference(frame, config, reference),
        low_confidence_share(frame, config),
    ]
