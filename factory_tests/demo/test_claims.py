"""Tests of the demo claims stream: determinism, class mix, duplicates, defects, drift, and its PII through
preparation."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import f1_score

from factory.core.ingestion import split_for_preparation
from factory.core.preparation import prepare_batch, residue
from factory.defs import UseCase
from factory.demo.claims import (
    CLAIM_CHANNELS,
    CLAIM_CLASSES,
    CLAIM_COLUMNS,
    CLAIM_TYPES,
    DRIFT,
    MALFORMED_KINDS,
    PII_KINDS,
    REGIONS,
    ClaimBatch,
    claims_truth_for,
    generate_claims,
)
from factory.demo.plugin import DemoSource
from factory.demo.tickets import DemoConfig
from factory.paths import package_path
from factory.spec import load_spec
from factory_tests.helpers import number

START = date(2026, 1, 1)
DRIFT_START = date(2026, 1, 6)
CONFIG = DemoConfig(seed=11, rows_per_day=1500, drift_start=DRIFT_START)
SPEC = package_path("usecases", "claims_review.yaml")
NUMERIC = ("claim_amount", "policy_age_days", "prior_claims", "days_to_report", "claimant_age")


def digest(frame: pl.DataFrame) -> str:
    return hashlib.sha256(frame.write_csv().encode()).hexdigest()[:16]


@pytest.fixture(scope="module")
def batch() -> ClaimBatch:
    return generate_claims(START, CONFIG)


@pytest.fixture(scope="module")
def days() -> list[ClaimBatch]:
    return [generate_claims(START + timedelta(days=offset), CONFIG) for offset in range(8)]


def labeled(batches: list[ClaimBatch]) -> pl.DataFrame:
    """Clean rows (every numeric parses) with their decision, numbers as floats."""
    frames = [b.raw.join(b.truth, on="claim_id", how="inner") for b in batches]
    typed = pl.concat(frames).with_columns(pl.col(name).cast(pl.Float64, strict=False) for name in NUMERIC)
    finite = pl.all_horizontal(pl.col(name).is_finite() for name in NUMERIC)
    known = pl.col("region").is_in(REGIONS) & pl.col("claim_type").is_in(CLAIM_TYPES)
    return typed.drop_nulls([*NUMERIC, "channel"]).filter(finite & known)


def features(frame: pl.DataFrame) -> np.ndarray:
    codes = [
        frame[name].replace_strict(list(values), list(range(len(values))), return_dtype=pl.Float64).to_numpy()
        for name, values in (("claim_type", CLAIM_TYPES), ("region", REGIONS), ("channel", CLAIM_CHANNELS))
    ]
    return np.column_stack([*codes, *(frame[name].to_numpy() for name in NUMERIC)])


def rows_of(batch: ClaimBatch, kind: str) -> pl.DataFrame:
    """Raw rows that the ledger marks with ``kind``, with the ledger detail."""
    return batch.injected.filter(pl.col("kind") == kind).join(batch.raw.with_row_index("row"), on="row", how="left")


# Determinism -------------------------------------------------------------------------------------------


def test_same_day_and_config_give_identical_frames(batch: ClaimBatch) -> None:
    again = generate_claims(START, CONFIG)
    assert again.raw.equals(batch.raw)
    assert again.truth.equals(batch.truth)
    assert again.injected.equals(batch.injected)


def test_the_stream_is_pinned(batch: ClaimBatch) -> None:
    """A change to the generator changes these digests: update them only on purpose (the demo's figures move)."""
    assert (digest(batch.raw), digest(batch.truth), digest(batch.injected)) == (
        "bfff7b3ba90c8258",
        "5ab1ca38238accbe",
        "dc460b78ba951b03",
    )


def test_another_day_or_seed_gives_other_claims(batch: ClaimBatch) -> None:
    assert not generate_claims(START, replace(CONFIG, seed=12)).raw.equals(batch.raw)
    assert not generate_claims(START + timedelta(days=1), CONFIG).raw.equals(batch.raw)


def test_truth_for_equals_the_generated_truth(batch: ClaimBatch) -> None:
    assert claims_truth_for(START, CONFIG).equals(batch.truth)


# Shape -------------------------------------------------------------------------------------------------


def test_rows_are_all_string_columns_sorted_by_time(batch: ClaimBatch) -> None:
    assert batch.raw.columns == list(CLAIM_COLUMNS)
    assert set(batch.raw.dtypes) == {pl.String}
    assert batch.raw.height == CONFIG.rows_per_day
    malformed = batch.injected.filter(pl.col("kind").str.starts_with("malformed_"))["row"]
    clean = batch.raw.with_row_index("row").filter(~pl.col("row").is_in(malformed.implode()))
    assert clean["submitted_at"].is_sorted()
    assert batch.truth.columns == ["claim_id", "label"]
    assert batch.truth["claim_id"].is_unique().all()


def test_notes_are_optional_and_short(batch: ClaimBatch) -> None:
    notes = batch.raw["note"]
    assert 0.7 < notes.is_not_null().mean() < 0.9  # type: ignore[operator]  # mean of booleans is a float
    assert number(notes.str.len_chars().max()) <= 300


def test_the_decision_is_imbalanced_as_promised(days: list[ClaimBatch]) -> None:
    before = pl.concat([b.truth for b in days[: (DRIFT_START - START).days]])
    shares = dict(before["label"].value_counts(normalize=True).iter_rows())
    assert set(shares) == set(CLAIM_CLASSES)
    assert 0.64 < shares["approve"] < 0.76
    assert 0.15 < shares["review"] < 0.25
    assert 0.04 < shares["deny"] < 0.10
    assert 0.015 < shares["fraud"] < 0.05


def test_a_model_of_the_features_learns_the_decision_and_the_drift_costs_it(days: list[ClaimBatch]) -> None:
    cut = (DRIFT_START - START).days
    train, held_out, drifted = labeled(days[: cut - 1]), labeled(days[cut - 1 : cut]), labeled(days[cut:])
    model = HistGradientBoostingClassifier(random_state=0, categorical_features=[0, 1, 2])
    model.fit(features(train), train["label"].to_numpy())
    before = f1_score(held_out["label"].to_numpy(), model.predict(features(held_out)), average="macro")
    after = f1_score(drifted["label"].to_numpy(), model.predict(features(drifted)), average="macro")
    assert before > 0.65
    assert after < before - 0.04


# Duplicates and defects --------------------------------------------------------------------------------


def test_exact_duplicates_repeat_a_claim_under_a_new_id(days: list[ClaimBatch]) -> None:
    batch = days[1]
    repeated = rows_of(batch, "exact_duplicate")
    assert repeated.height == round(CONFIG.rows_per_day * CONFIG.exact_duplicate_rate)
    assert repeated["claim_id"].is_unique().all()
    sources = pl.concat([days[0].raw, batch.raw])
    copied = repeated.join(sources, left_on="detail", right_on="claim_id", how="inner", suffix="_source")
    assert copied.height == repeated.height
    assert (copied["detail"] != copied["claim_id"]).all()
    for name in CLAIM_COLUMNS[2:]:
        assert copied[name].eq_missing(copied[f"{name}_source"]).all(), name
    from_yesterday = copied["detail"].str.contains(f"{START:%Y%m%d}").sum()
    assert 0 < from_yesterday < copied.height


def test_duplicates_carry_the_decision_of_their_originals(days: list[ClaimBatch]) -> None:
    batch = days[1]
    truth = pl.concat([days[0].truth, batch.truth])
    pairs = rows_of(batch, "exact_duplicate").select("claim_id", "detail")
    joined = pairs.join(truth, on="claim_id").join(truth, left_on="detail", right_on="claim_id", suffix="_source")
    assert joined.height == pairs.height
    assert (joined["label"] == joined["label_source"]).all()


def test_malformed_rows_show_their_defect(days: list[ClaimBatch]) -> None:
    seen = set()
    for batch in days:
        for kind in MALFORMED_KINDS:
            rows = rows_of(batch, kind)
            seen |= {kind} if rows.height else set()
            if kind == "malformed_null_claim_id":
                assert rows["claim_id"].is_null().all()
            elif kind == "malformed_bad_amount":
                parsed = rows["claim_amount"].cast(pl.Float64, strict=False)
                assert (parsed.is_null() | ~parsed.is_finite()).all()
            elif kind == "malformed_bad_integer":
                assert rows["policy_age_days"].cast(pl.Int64, strict=False).is_null().all()
            elif kind == "malformed_missing_claim_type":
                assert rows["claim_type"].is_null().all()
            elif kind == "malformed_unknown_region":
                assert not rows["region"].is_in(REGIONS).any()
            else:
                parsed = rows["submitted_at"].str.to_datetime("%Y-%m-%dT%H:%M:%SZ", strict=False)
                assert parsed.is_null().all()
    assert seen == set(MALFORMED_KINDS)
    null_ids = rows_of(days[0], "malformed_null_claim_id").height
    assert days[0].truth.height == CONFIG.rows_per_day - null_ids


# Drift -------------------------------------------------------------------------------------------------


def test_drift_shifts_the_mix_the_amounts_and_the_notes(days: list[ClaimBatch]) -> None:
    cut = (DRIFT_START - START).days
    before, after = labeled(days[:cut]), labeled(days[cut:])

    def share(frame: pl.DataFrame, column: str, value: str) -> float:
        return number((frame[column] == value).mean())

    assert share(after, "region", "south") > share(before, "region", "south") + 0.1
    assert share(after, "claim_type", "home_water") > share(before, "claim_type", "home_water") + 0.05
    assert share(after, "channel", "app") > share(before, "channel", "app") + 0.08
    for kind in ("auto_collision", "home_water"):
        ratio = number(after.filter(pl.col("claim_type") == kind)["claim_amount"].median()) / number(
            before.filter(pl.col("claim_type") == kind)["claim_amount"].median()
        )
        assert DRIFT.inflation - 0.15 < ratio < DRIFT.inflation + 0.15
    assert share(after, "label", "fraud") > 1.5 * share(before, "label", "fraud")
    storm = re.compile(r"(?i)storm|hail")
    assert not before["note"].drop_nulls().str.contains(storm.pattern).any()
    assert number(after["note"].drop_nulls().str.contains(storm.pattern).mean()) > 0.1


def test_no_drift_without_a_drift_start() -> None:
    calm = replace(CONFIG, drift_start=None)
    late = START + timedelta(days=7)
    assert generate_claims(late, calm).raw["note"].drop_nulls().str.contains("(?i)storm").sum() == 0


# PII ---------------------------------------------------------------------------------------------------


def test_pii_sits_in_the_notes_in_real_formats(days: list[ClaimBatch]) -> None:
    injected = pl.concat([rows_of(batch, kind) for batch in days for kind in PII_KINDS])
    assert set(injected["kind"]) == set(PII_KINDS)
    assert all(detail in note for detail, note in zip(injected["detail"], injected["note"], strict=True))
    share = injected.height / (len(days) * CONFIG.rows_per_day)
    assert 0.5 * CONFIG.pii_rate < share < 1.5 * CONFIG.pii_rate
    found = residue(injected["detail"])
    assert (found > 0).all(), "the preparation layer's detector must recognize every injected value"


def test_preparation_scrubs_the_pii_and_accounts_for_every_row() -> None:
    """The raw day as the demo source lands it, through the shipped spec's preparation rules."""
    spec = load_spec(SPEC)
    source = spec.demo_source
    assert source is not None and source.generator == "claims"
    day = spec.start_date.isoformat()
    landed = DemoSource().land(spec, source, day).frame.with_columns(pl.lit(source.name).alias("source"))
    split = split_for_preparation(landed, spec.schema.column_names(), spec.schema.id)
    prior = pl.DataFrame(schema={"claim_id": pl.String, "content_hash": pl.String, "signature": pl.List(pl.UInt32)})
    prepared = prepare_batch(split.parseable, UseCase(spec).prepare_rules(day), prior)
    injected = generate_claims(spec.start_date, replace(CONFIG, seed=source.seed, drift_start=source.drift_start))
    values = injected.injected.filter(pl.col("kind").is_in(PII_KINDS))["detail"]
    assert values.len() > 50
    assert landed["note"].drop_nulls().str.contains_any(values.to_list()).sum() >= values.len() // 2
    notes = prepared.prepared["note"].drop_nulls()
    assert not notes.str.contains_any(values.to_list()).any()
    assert (residue(notes) == 0).all()
    assert notes.str.contains("<EMAIL>|<PHONE>|<IBAN>").sum() > 0.5 * values.len()
    counted = prepared.prepared.height + prepared.quarantine.height + prepared.duplicates.height
    assert counted + split.rejected.height == landed.height
    assert prepared.duplicates.height >= round(source.rows_per_day * CONFIG.exact_duplicate_rate) // 2
    reasons = set(prepared.quarantine["reason"])
    assert {"bad_float", "bad_integer", "value_not_allowed"} <= reasons
