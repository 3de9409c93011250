"""The dataset gate suite: each gate passes on a clean staged dataset and fails, naming the rows, on a bad one;
Great Expectations and the Polars equivalent report the same thing."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import polars as pl
import pytest

from factory.core.dataset import assign_split
from factory.core.preparation import content_hash
from factory.core.validation import (
    GATES,
    GateConfig,
    GateOutcome,
    ReferenceStats,
    blocking,
    exact_duplicates_across_splits,
    expectations_only,
    features_match_reference,
    gate_config_from_spec,
    groups_across_splits,
    label_mix_matches_reference,
    low_confidence_share,
    near_duplicates_across_splits,
    own_checks,
    polars_equivalent,
    reference_stats,
    run_gates,
)
from factory.spec import UseCaseSpec, load_spec
from factory_tests.helpers import SHIPPED_SPEC

ROWS = 2000
Engine = Callable[..., list[GateOutcome]]
ENGINES = pytest.mark.parametrize("engine", [expectations_only, polars_equivalent], ids=["gx", "polars"])


@pytest.fixture(scope="module")
def spec() -> UseCaseSpec:
    return load_spec(SHIPPED_SPEC)


@pytest.fixture(scope="module")
def config(spec: UseCaseSpec) -> GateConfig:
    return gate_config_from_spec(spec)


def _words(rng: np.random.Generator, vocabulary: list[str], low: int, high: int, rows: int) -> list[str]:
    return [" ".join(rng.choice(vocabulary, size=int(rng.integers(low, high)))) for _ in range(rows)]


def staged(spec: UseCaseSpec, rows: int = ROWS, seed: int = 3) -> pl.DataFrame:
    """A clean staged dataset: random-word texts (no two alike), balanced labels, two tickets per customer."""
    rng = np.random.default_rng(seed)
    vocabulary = [f"{a}{b}{c}" for a in "bcdfgklmnprst" for b in "aeiou" for c in "lmnrstx"]
    classes = list(spec.labeling.classes)
    frame = pl.DataFrame(
        {
            "ticket_id": [f"TCK-{i:06d}" for i in range(rows)],
            "created_at": ["2026-01-02T10:00:00Z"] * rows,
            "customer_id": [f"C{i // 2:05d}" for i in range(rows)],
            "channel": rng.choice(["email", "chat", "phone", "web"], size=rows).tolist(),
            "subject": _words(rng, vocabulary, 3, 7, rows),
            "body": _words(rng, vocabulary, 30, 45, rows),
            "label": [classes[i % len(classes)] for i in range(rows)],
            "label_confidence": np.where(rng.random(rows) < 0.05, 0.4, 0.95),
            "label_source": ["consensus"] * rows,
        }
    )
    return frame.with_columns(
        assign_split(frame["customer_id"], spec.splits.fractions(), spec.splits.salt),
        content_hash(frame, ["subject", "body"]),
    )


@pytest.fixture(scope="module")
def clean(spec: UseCaseSpec) -> pl.DataFrame:
    return staged(spec)


def _gate(outcomes: list[GateOutcome], name: str) -> GateOutcome:
    (found,) = [g for g in outcomes if g.name == name]
    return found


def _set(frame: pl.DataFrame, column: str, rows: list[int], value: object) -> pl.DataFrame:
    index = pl.int_range(pl.len())
    return frame.with_columns(
        pl.when(index.is_in(rows))
        .then(pl.lit(value, dtype=frame.schema[column]))
        .otherwise(pl.col(column))
        .alias(column)
    )


def _row_of(frame: pl.DataFrame, split: str, skip: int = 0) -> int:
    return int((frame["split"] == split).arg_true()[skip])


def _ids(frame: pl.DataFrame, rows: list[int]) -> set[str]:
    return {frame["ticket_id"][i] for i in rows}


# --- the clean dataset ---------------------------------------------------------------------------------


def test_clean_dataset_passes_every_gate(clean: pl.DataFrame, config: GateConfig) -> None:
    outcomes = run_gates(clean, config, reference=clean)
    assert [g.name for g in outcomes] == list(GATES)
    assert [(g.name, g.summary) for g in outcomes if not g.passed] == []
    assert blocking(outcomes) == []
    assert all(not g.failing_ids and not g.sample for g in outcomes)
    assert _gate(outcomes, "min_class_share").figures["classes"] == len(config.classes)


def test_gx_and_polars_agree_on_a_clean_and_on_a_bad_frame(clean: pl.DataFrame, config: GateConfig) -> None:
    bad = _set(clean, "label", [3, 40], None)
    bad = _set(bad, "label", [7], "teleportation")
    bad = _set(bad, "ticket_id", [9], clean["ticket_id"][8])
    bad = _set(bad, "body", [11, 12, 13], "hi")
    bad = _set(bad, "label_confidence", [15], float("nan"))
    bad = _set(bad, "split", [17], "holdout")
    strict = replace(config, text_min_length=5)
    for frame in (clean, bad):
        gx, direct = expectations_only(frame, strict), polars_equivalent(frame, strict)
        assert [(g.name, g.passed, g.figures, g.table, g.sample) for g in gx] == [
            (g.name, g.passed, g.figures, g.table, g.sample) for g in direct
        ]
    assert {g.name for g in gx if not g.passed} == {
        "columns_complete",
        "labels_in_taxonomy",
        "ids_unique",
        "text_lengths_in_bounds",
        "splits_known",
    }


@pytest.mark.parametrize("case", ["empty", "all_train"])
def test_gx_and_polars_agree_on_degenerate_frames(case: str, clean: pl.DataFrame, config: GateConfig) -> None:
    frame = clean.clear() if case == "empty" else clean.with_columns(pl.lit("train").alias("split"))
    gx, direct = expectations_only(frame, config), polars_equivalent(frame, config)
    assert [(g.name, g.passed, g.figures) for g in gx] == [(g.name, g.passed, g.figures) for g in direct]
    failed = {g.name for g in run_gates(frame, config) if not g.passed}
    assert failed == ({"min_rows"} if case == "empty" else {"split_proportions"})


# --- expectations, on both engines ---------------------------------------------------------------------


@ENGINES
def test_missing_labels_fail_completeness_and_are_named(
    engine: Engine, clean: pl.DataFrame, config: GateConfig
) -> None:
    rows = [5, 77, 1500]
    gate = _gate(engine(_set(clean, "label", rows, None), config), "columns_complete")
    assert not gate.passed and gate.blocking
    assert set(gate.failing_ids) == _ids(clean, rows)
    assert {(s["column"], s["problem"]) for s in gate.sample} == {("label", "missing")}
    assert gate.figures["unexpected"] == 3 and "3 in label" in gate.summary


@ENGINES
def test_unknown_label_fails_the_taxonomy(engine: Engine, clean: pl.DataFrame, config: GateConfig) -> None:
    gate = _gate(engine(_set(clean, "label", [42], "teleportation"), config), "labels_in_taxonomy")
    assert not gate.passed
    assert gate.failing_ids == (clean["ticket_id"][42],)
    assert gate.sample[0]["problem"] == "value 'teleportation' not allowed"


@ENGINES
def test_duplicate_ids_fail_uniqueness(engine: Engine, clean: pl.DataFrame, config: GateConfig) -> None:
    gate = _gate(engine(_set(clean, "ticket_id", [101], clean["ticket_id"][100]), config), "ids_unique")
    assert not gate.passed
    assert gate.failing_ids == (clean["ticket_id"][100],)
    assert gate.figures["unexpected"] == 2  # both rows that share the id


@ENGINES
def test_too_short_text_fails_the_length_bounds(engine: Engine, clean: pl.DataFrame, config: GateConfig) -> None:
    strict = replace(config, text_min_length=5)
    rows = [10, 20, 30]  # 0.15% of the bodies, above the 0.1% the bounds tolerate
    gate = _gate(engine(_set(clean, "body", rows, "zq"), strict), "text_lengths_in_bounds")
    assert not gate.passed
    assert set(gate.failing_ids) == _ids(clean, rows)
    assert gate.sample[0]["problem"] == "length 2 outside [5, 5000]"
    assert "zq" not in json.dumps(gate.sample)  # never the text itself
    assert gate.thresholds["body_length"] == "[5, 5000]"
    one = _gate(engine(_set(clean, "body", [10], "zq"), strict), "text_lengths_in_bounds")
    assert one.passed and "1 tolerated" in one.summary


@ENGINES
def test_length_bounds_follow_the_reference_quantiles(engine: Engine, clean: pl.DataFrame, config: GateConfig) -> None:
    stats = reference_stats(clean, config)
    low = stats.length_quantiles["body"][0]
    gate = _gate(engine(_set(clean, "body", [1, 2, 3], "x" * 12), config, stats), "text_lengths_in_bounds")
    assert not gate.passed, f"12 characters should be under half the reference's low quantile {low}"
    assert set(gate.failing_ids) == _ids(clean, [1, 2, 3])
    assert _gate(engine(clean, config, stats), "text_lengths_in_bounds").passed


@ENGINES
def test_a_class_below_its_floor_fails(engine: Engine, clean: pl.DataFrame, config: GateConfig) -> None:
    outage = (clean["label"] == "outage").arg_true().to_list()
    thinned = _set(clean, "label", outage[3:], "billing")  # 3 examples left: under 10 examples and 0.2%
    gate = _gate(engine(thinned, config), "min_class_share")
    assert not gate.passed
    assert "outage" in gate.summary
    row = next(r for r in gate.table if r["label"] == "outage")
    assert (row["count"], row["ok"]) == (3, False)
    assert gate.thresholds == {"min_class_share": 0.002, "min_class_examples": 10}


@ENGINES
def test_skewed_splits_fail_the_proportions(engine: Engine, clean: pl.DataFrame, config: GateConfig) -> None:
    test_rows = (clean["split"] == "test").arg_true().to_list()
    skewed = _set(clean, "split", test_rows[: len(test_rows) * 3 // 4], "train")
    gate = _gate(engine(skewed, config), "split_proportions")
    assert not gate.passed
    by_split = {r["split"]: r for r in gate.table}
    assert not by_split["test"]["ok"] and by_split["test"]["share"] < 0.05
    assert "test" in gate.summary


@ENGINES
def test_missing_columns_fail_presence_and_skip_their_gates(
    engine: Engine, clean: pl.DataFrame, config: GateConfig
) -> None:
    outcomes = engine(clean.drop("label"), config)
    present = _gate(outcomes, "columns_present")
    assert not present.passed and "label" in present.summary
    assert not _gate(outcomes, "labels_in_taxonomy").passed
    assert "not checked" in _gate(outcomes, "min_class_share").summary


# --- leakage, shift and confidence ---------------------------------------------------------------------


def test_exact_duplicate_straddling_train_and_test_is_named(clean: pl.DataFrame, config: GateConfig) -> None:
    train, test = _row_of(clean, "train"), _row_of(clean, "test")
    leaked = clean.with_columns(
        _set(clean, "body", [test], clean["body"][train])["body"],
        _set(clean, "subject", [test], clean["subject"][train])["subject"],
    )
    leaked = leaked.with_columns(content_hash(leaked, ["subject", "body"]))
    gate = exact_duplicates_across_splits(leaked, config)
    assert not gate.passed and gate.blocking
    assert set(gate.failing_ids) == _ids(clean, [train, test])
    assert {(s["split"], s["duplicate_group"]) for s in gate.sample} == {("train", 1), ("test", 1)}
    without_hash = exact_duplicates_across_splits(leaked.drop("content_hash"), config)
    assert set(without_hash.failing_ids) == _ids(clean, [train, test])  # hashes computed from the text
    assert exact_duplicates_across_splits(clean, config).passed


def test_near_duplicate_straddling_splits_is_named(clean: pl.DataFrame, config: GateConfig) -> None:
    train, test = _row_of(clean, "train"), _row_of(clean, "test")
    words = clean["body"][train].split()
    edited = " ".join([*words[:-1], "changed"])
    leaked = clean.with_columns(
        _set(clean, "body", [test], edited)["body"],
        _set(clean, "subject", [test], clean["subject"][train])["subject"],
    )
    leaked = leaked.with_columns(content_hash(leaked, ["subject", "body"]))
    assert exact_duplicates_across_splits(leaked, config).passed  # not an exact copy
    gate = near_duplicates_across_splits(leaked, config)
    assert not gate.passed
    assert gate.failing_ids == (clean["ticket_id"][test],)
    (row,) = gate.sample
    assert (row["duplicate_of"], row["duplicate_split"], row["split"]) == (clean["ticket_id"][train], "train", "test")
    assert row["similarity"] >= config.near_duplicates.threshold
    assert near_duplicates_across_splits(leaked.drop("content_hash"), config).failing_ids == gate.failing_ids
    assert near_duplicates_across_splits(clean, config).passed


def test_a_group_in_two_splits_is_named_without_its_key(clean: pl.DataFrame, config: GateConfig) -> None:
    row = _row_of(clean, "train")
    partner = row + 1 if clean["customer_id"][row + 1] == clean["customer_id"][row] else row - 1
    moved = _set(clean, "split", [row], "test")
    gate = groups_across_splits(moved, config)
    assert not gate.passed
    assert set(gate.failing_ids) == _ids(clean, [row, partner])
    assert {s["group"] for s in gate.sample} == {1}
    assert clean["customer_id"][row] not in json.dumps(gate.sample)
    assert groups_across_splits(clean, config).passed


def test_shifted_label_mix_warns_against_the_reference(clean: pl.DataFrame, config: GateConfig) -> None:
    reference = reference_stats(clean, config)
    shifted = _set(clean, "label", list(range(0, ROWS, 2)), "billing")
    gate = label_mix_matches_reference(shifted, config, reference)
    assert not gate.passed
    assert gate.severity == "warn" and not gate.blocking
    assert float(gate.figures["psi"]) > config.max_shift_psi
    assert gate.table[0]["label"] == "billing"  # the largest move first
    assert label_mix_matches_reference(clean, config, reference).passed
    assert label_mix_matches_reference(shifted, config, None).figures["skipped"] == "yes"


def test_shifted_channel_and_lengths_fail_the_feature_gate(clean: pl.DataFrame, config: GateConfig) -> None:
    reference = reference_stats(clean, config)
    shifted = clean.with_columns(
        pl.lit("phone").alias("channel"), (pl.col("body") + " " + pl.col("body")).alias("body")
    )
    gate = features_match_reference(shifted, config, reference)
    assert not gate.passed
    assert {r["feature"] for r in gate.table if not r["ok"]} == {"channel", "length(body)"}
    assert features_match_reference(clean, config, reference).passed


def test_too_many_low_confidence_labels_fail(clean: pl.DataFrame, config: GateConfig) -> None:
    rows = list(range(0, ROWS, 3))
    gate = low_confidence_share(_set(clean, "label_confidence", rows, 0.3), config)
    assert not gate.passed and gate.blocking
    assert float(gate.figures["share"]) > config.max_low_confidence_share
    assert len(gate.failing_ids) == config.sample_rows
    assert set(gate.failing_ids) <= set(clean["ticket_id"]) and set(gate.sample[0]) == {
        "id",
        "split",
        "label",
        "confidence",
    }
    assert low_confidence_share(clean, config).passed


def test_own_checks_report_in_order_and_skip_shift_without_reference(clean: pl.DataFrame, config: GateConfig) -> None:
    outcomes = own_checks(clean, config)
    assert [g.name for g in outcomes] == list(GATES[-len(outcomes) :])
    assert all(g.passed for g in outcomes)


# --- config and reference ------------------------------------------------------------------------------


def test_gate_config_reads_the_spec(spec: UseCaseSpec) -> None:
    config = gate_config_from_spec(spec, split_tolerance=0.02)
    assert config.id_column == "ticket_id" and config.group_column == "customer_id"
    assert config.classes == spec.labeling.classes
    assert config.min_rows == spec.gates.min_rows and config.min_class_share == spec.gates.min_class_share
    assert config.required_text_columns == ("body",)
    assert config.text_max_length == {"subject": 300, "body": 5000}
    assert config.split_fractions == {"train": 0.8, "validation": 0.1, "test": 0.1}
    assert config.near_duplicates.num_perm == spec.near_duplicates.num_perm
    assert config.max_shift_psi == spec.drift.threshold
    assert config.split_tolerance == 0.02
    assert config.severity("label_mix_matches_reference") == "warn" and config.severity("ids_unique") == "error"


def test_gate_config_rejects_contradictions() -> None:
    with pytest.raises(ValueError, match="split_fractions names unknown splits"):
        GateConfig(id_column="id", classes=("a", "b"), split_fractions={"holdout": 1.0})
    with pytest.raises(ValueError, match="severities"):
        GateConfig(id_column="id", classes=("a", "b"), severities={"ids_unique": "fatal"})  # type: ignore[dict-item]  # the error under test


def test_reference_stats_round_trip_through_json(clean: pl.DataFrame, config: GateConfig) -> None:
    stats = reference_stats(clean, config)
    again = ReferenceStats.from_dict(json.loads(json.dumps(stats.to_dict())))
    assert again == stats
    assert sum(stats.label_counts.values()) == ROWS
    assert set(stats.binned) == {"length(subject)", "length(body)"}
    assert set(stats.categorical) == {"channel"}


@ENGINES
def test_without_text_columns_the_length_gate_has_nothing_to_measure(
    engine: Engine, clean: pl.DataFrame, config: GateConfig
) -> None:
    tabular = replace(config, text_columns=(), required_text_columns=(), text_max_length={})
    gate = _gate(engine(clean, tabular), "text_lengths_in_bounds")
    assert gate.passed and gate.summary == "no text columns: nothing to measure"
