"""Tests of the demo ticket stream: determinism, shape, realism and the injected-value ledger."""

from __future__ import annotations

import difflib
import re
from datetime import date, timedelta
from typing import Any

import polars as pl
import pytest

from factory.demo import CATEGORIES, CHANNELS, DemoConfig, TicketBatch, generate_day, truth_for
from factory.demo.tickets import MALFORMED_KINDS, stable_uniform
from factory.demo.vocabulary import NEW_PRODUCTS
from factory_tests.helpers import number

DAY = date(2026, 1, 5)
CONFIG = DemoConfig()
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def luhn_valid(number: str) -> bool:
    digits = [int(char) for char in number if char.isdigit()]
    total = 0
    for index, digit in enumerate(reversed(digits)):
        doubled = digit * 2 if index % 2 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return total % 10 == 0


@pytest.fixture(scope="module")
def batch() -> TicketBatch:
    return generate_day(DAY, CONFIG)


@pytest.fixture(scope="module")
def week() -> list[TicketBatch]:
    return [generate_day(DAY + timedelta(days=offset), CONFIG) for offset in range(5)]


def clean_rows(batch: TicketBatch) -> pl.DataFrame:
    """Raw rows without a defect: each ticket id there belongs to exactly one row."""
    malformed = batch.injected.filter(pl.col("kind").str.starts_with("malformed_"))["row"]
    return batch.raw.with_row_index("row").filter(~pl.col("row").is_in(malformed.implode())).drop("row")


def rows_of(batch: TicketBatch, kind: str) -> pl.DataFrame:
    """Raw rows that the ledger marks with ``kind``, with the ledger detail."""
    raw = batch.raw.with_row_index("row")
    marks = batch.injected.filter(pl.col("kind") == kind)
    return marks.join(raw, on="row", how="left")


# Determinism -------------------------------------------------------------------------------------------


def test_same_day_and_config_give_identical_frames(batch: TicketBatch) -> None:
    again = generate_day(DAY, CONFIG)
    assert again.raw.equals(batch.raw)
    assert again.truth.equals(batch.truth)
    assert again.injected.equals(batch.injected)


def test_another_day_or_seed_gives_other_tickets(batch: TicketBatch) -> None:
    next_day = generate_day(DAY + timedelta(days=1), CONFIG)
    other_seed = generate_day(DAY, DemoConfig(seed=8))
    assert next_day.raw["body"].to_list() != batch.raw["body"].to_list()
    assert next_day.raw["ticket_id"].str.starts_with("TCK-20260106-").any()
    assert other_seed.raw["body"].to_list() != batch.raw["body"].to_list()
    assert other_seed.truth["category"].to_list() != batch.truth["category"].to_list()


def test_truth_for_equals_the_generated_truth(batch: TicketBatch) -> None:
    assert truth_for(DAY, CONFIG).equals(batch.truth)
    truth_for(DAY, CONFIG).drop_in_place("category")
    assert truth_for(DAY, CONFIG).equals(batch.truth)


def test_stable_uniform_does_not_depend_on_the_rest_of_the_batch() -> None:
    keys = pl.Series(["TCK-1", "TCK-22", "", "TCK-333"])
    together = stable_uniform(keys, 7, "purpose", 2)
    alone = stable_uniform(keys.slice(3, 1), 7, "purpose", 2)
    assert (together[3] == alone[0]).all()
    assert not (stable_uniform(keys, 8, "purpose", 2) == together).any()
    with pytest.raises(ValueError, match="null"):
        stable_uniform(pl.Series(["a", None]), 7, "purpose")


@pytest.mark.parametrize(
    "changes",
    [{"rows_per_day": 0}, {"pii_rate": 1.5}, {"gold_share": -0.1}, {"exact_duplicate_rate": 0.6}],
)
def test_config_rejects_impossible_values(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        DemoConfig(**changes)


# Shape -------------------------------------------------------------------------------------------------


def test_frames_have_the_promised_schema(batch: TicketBatch) -> None:
    columns = ["ticket_id", "created_at", "customer_id", "channel", "subject", "body"]
    assert batch.raw.schema == pl.Schema(dict.fromkeys(columns, pl.String))
    assert batch.truth.schema == pl.Schema({"ticket_id": pl.String, "category": pl.String})
    assert batch.injected.schema == pl.Schema({"row": pl.UInt32, "kind": pl.String, "detail": pl.String})


def test_row_count_is_rows_per_day(batch: TicketBatch) -> None:
    assert batch.raw.height == CONFIG.rows_per_day
    assert generate_day(DAY, DemoConfig(rows_per_day=137)).raw.height == 137


@pytest.mark.parametrize(
    "config",
    [
        DemoConfig(pii_rate=0, exact_duplicate_rate=0, near_duplicate_rate=0, malformed_rate=0),
        DemoConfig(rows_per_day=1),
        DemoConfig(rows_per_day=40, pii_rate=1.0, malformed_rate=0.44, exact_duplicate_rate=0),
    ],
)
def test_extreme_configs_still_give_consistent_batches(config: DemoConfig) -> None:
    batch = generate_day(DAY, config)
    assert batch.raw.height == config.rows_per_day
    assert batch.truth["ticket_id"].sort().equals(batch.raw["ticket_id"].drop_nulls().unique().sort())
    assert batch.injected.filter(pl.col("kind").str.starts_with("pii_")).height >= (config.pii_rate == 1.0)


def test_clean_rows_look_like_real_tickets(batch: TicketBatch) -> None:
    clean = clean_rows(batch)
    assert clean["ticket_id"].str.contains(r"^TCK-20260105-\d{6}$").all()
    assert clean["created_at"].str.contains(ISO_UTC.pattern).all()
    assert clean["created_at"].str.starts_with("2026-01-05T").all()
    assert clean["customer_id"].str.contains(r"^C\d{6}$").all()
    assert clean["channel"].is_in(CHANNELS).all()
    assert clean["created_at"].is_sorted()
    assert clean["ticket_id"].n_unique() == clean.height


def test_truth_has_one_row_per_distinct_ticket_id(batch: TicketBatch) -> None:
    ids = batch.raw["ticket_id"].drop_nulls().unique().sort()
    assert batch.truth["ticket_id"].sort().equals(ids)
    assert batch.truth["category"].is_in(CATEGORIES).all()


def test_texts_are_varied_and_of_realistic_length(batch: TicketBatch) -> None:
    lengths = batch.raw["body"].drop_nulls().filter(batch.raw["body"].drop_nulls() != "").str.len_chars()
    assert 150 <= number(lengths.median()) <= 400
    assert number(lengths.quantile(0.05)) >= 90
    assert number(lengths.max()) <= 700
    assert batch.raw["subject"].n_unique() > 500
    assert batch.raw["body"].n_unique() > 0.9 * CONFIG.rows_per_day


def test_customers_follow_a_skewed_pool(batch: TicketBatch) -> None:
    counts = batch.raw["customer_id"].value_counts()["count"]
    assert number(counts.max()) >= 4
    assert batch.raw["customer_id"].n_unique() > 1000


def test_channel_mix_is_not_uniform(batch: TicketBatch) -> None:
    shares = batch.raw["channel"].value_counts(normalize=True)
    email = shares.filter(pl.col("channel") == "email")["proportion"].item()
    phone = shares.filter(pl.col("channel") == "phone")["proportion"].item()
    assert email > 2 * phone


# Categories and drift ----------------------------------------------------------------------------------


def test_all_categories_appear_with_an_uneven_mix(week: list[TicketBatch]) -> None:
    truth = pl.concat([day.truth for day in week])
    shares = truth["category"].value_counts(normalize=True)
    assert set(shares["category"]) == set(CATEGORIES)
    assert number(shares["proportion"].max()) > 3 * number(shares["proportion"].min())
    outage = shares.filter(pl.col("category") == "outage")["proportion"].item()
    assert outage < 0.03


def test_drift_shifts_categories_vocabulary_and_channels() -> None:
    start = DAY + timedelta(days=2)
    config = DemoConfig(drift_start=start)
    before = [generate_day(DAY + timedelta(days=offset), config) for offset in range(2)]
    after = [generate_day(start + timedelta(days=offset), config) for offset in range(2)]

    def share(batches: list[TicketBatch], expression: pl.Expr) -> float:
        frame = pl.concat([item.raw.join(item.truth, on="ticket_id", how="left") for item in batches])
        return float(frame.select(expression.mean()).item())

    outage = pl.col("category") == "outage"
    assert share(before, outage) < 0.03 < 0.12 < share(after, outage)
    migration = pl.col("body").str.contains("migration|status page")
    assert share(before, migration) == 0.0 < 0.2 < share(after, migration)
    new_line = pl.concat_str("subject", "body", ignore_nulls=True).str.contains("|".join(NEW_PRODUCTS))
    assert share(before, new_line) == 0.0 < share(after, new_line)
    chat = pl.col("channel") == "chat"
    assert share(after, chat) > share(before, chat) + 0.1


# Injected values ---------------------------------------------------------------------------------------


def test_every_injected_value_appears_verbatim_in_its_row(week: list[TicketBatch]) -> None:
    for day in week:
        for kind in ("pii_email", "pii_phone", "pii_card", "hard_negative"):
            rows = rows_of(day, kind)
            assert rows.height > 0, kind
            text = pl.concat_str("subject", "body", separator="\n", ignore_nulls=True)
            assert rows.select(text.str.contains(pl.col("detail"), literal=True).all()).item(), kind


def test_pii_reaches_about_pii_rate_of_the_tickets(week: list[TicketBatch]) -> None:
    pii_rows = sum(day.injected.filter(pl.col("kind").str.starts_with("pii_"))["row"].n_unique() for day in week)
    assert pii_rows / (len(week) * CONFIG.rows_per_day) == pytest.approx(CONFIG.pii_rate, abs=0.015)


def test_pii_values_have_real_formats(batch: TicketBatch) -> None:
    emails = rows_of(batch, "pii_email")["detail"]
    assert emails.str.contains(r"^[\w.]+@[\w-]+(\.[\w-]+)+$").all()
    phones = rows_of(batch, "pii_phone")["detail"]
    assert phones.str.contains(r"^(\+\d{1,2} |\(\d{3}\) |06)[\d -]+$").all()
    cards = rows_of(batch, "pii_card")["detail"].to_list()
    assert all(luhn_valid(card) for card in cards)
    assert any(" " in card for card in cards)
    assert any("-" in card for card in cards)


def test_hard_negatives_look_sensitive_but_are_not(week: list[TicketBatch]) -> None:
    values = pl.concat([rows_of(day, "hard_negative")["detail"] for day in week])
    sixteen = values.filter(values.str.replace_all(" ", "").str.contains(r"^\d{16}$")).to_list()
    assert sixteen
    assert not any(luhn_valid(value) for value in sixteen)
    assert values.str.contains(r"^ORD-\d{8}$").any()
    assert values.str.contains(r"^\d+\.\d+\.\d+\.\d+$").any()


def test_exact_duplicates_repeat_their_originals(batch: TicketBatch) -> None:
    previous = generate_day(DAY - timedelta(days=1), CONFIG)
    originals = pl.concat([clean_rows(batch), clean_rows(previous)])
    truth = pl.concat([batch.truth, truth_for(DAY - timedelta(days=1), CONFIG)])
    duplicates = rows_of(batch, "exact_duplicate")
    joined = duplicates.join(originals, left_on="detail", right_on="ticket_id", suffix="_original")
    assert joined.height == duplicates.height
    for column in ("customer_id", "channel", "subject", "body"):
        assert (joined[column] == joined[f"{column}_original"]).all(), column
    assert (joined["ticket_id"] != joined["detail"]).all()
    same_day = joined.filter(pl.col("detail").str.starts_with("TCK-20260105-"))
    assert 0 < same_day.height < joined.height
    assert (same_day["created_at"] > same_day["created_at_original"]).all()
    categories = joined.join(truth, on="ticket_id").join(
        truth, left_on="detail", right_on="ticket_id", suffix="_original"
    )
    assert categories.height == duplicates.height
    assert (categories["category"] == categories["category_original"]).all()


def test_near_duplicates_are_small_edits_of_their_originals(batch: TicketBatch) -> None:
    previous = generate_day(DAY - timedelta(days=1), CONFIG)
    originals = pl.concat([clean_rows(batch), clean_rows(previous)])
    truth = pl.concat([batch.truth, truth_for(DAY - timedelta(days=1), CONFIG)])
    near = rows_of(batch, "near_duplicate")
    joined = near.join(originals, left_on="detail", right_on="ticket_id", suffix="_original")
    assert joined.height == near.height
    for body, original in zip(joined["body"], joined["body_original"], strict=True):
        assert body != original
        assert difflib.SequenceMatcher(None, body, original, autojunk=False).ratio() > 0.8
    same_category = joined.join(truth, on="ticket_id").join(
        truth, left_on="detail", right_on="ticket_id", suffix="_original"
    )
    assert (same_category["category"] == same_category["category_original"]).all()


def test_duplicates_carry_the_pii_of_their_originals(batch: TicketBatch) -> None:
    duplicate_rows = batch.injected.filter(pl.col("kind").is_in(["exact_duplicate", "near_duplicate"]))["row"]
    pii = batch.injected.filter(pl.col("kind").str.starts_with("pii_") & pl.col("row").is_in(duplicate_rows.implode()))
    assert pii.height > 0


def test_malformed_rows_show_their_defect(week: list[TicketBatch]) -> None:
    seen: set[str] = set()
    for day in week:
        for kind in MALFORMED_KINDS:
            rows = rows_of(day, kind)
            if rows.height:
                seen.add(kind)
                assert_defect(kind, rows, day)
    assert seen == set(MALFORMED_KINDS)


def assert_defect(kind: str, rows: pl.DataFrame, day: TicketBatch) -> None:
    if kind == "malformed_null_ticket_id":
        assert rows["ticket_id"].is_null().all()
    elif kind == "malformed_empty_body":
        assert (rows["body"].is_null() | (rows["body"] == "")).all()
    elif kind == "malformed_unparseable_created_at":
        parsed = rows["created_at"].str.to_datetime("%Y-%m-%dT%H:%M:%SZ", strict=False)
        assert parsed.is_null().all()
    elif kind == "malformed_future_created_at":
        assert rows["created_at"].str.starts_with("2099-").all()
    elif kind == "malformed_unknown_channel":
        assert not rows["channel"].is_in(CHANNELS).any()
    else:
        counts = day.raw["ticket_id"].value_counts().filter(pl.col("ticket_id").is_in(rows["ticket_id"].implode()))
        assert (counts["count"] >= 2).all()
        owners = day.raw.filter(pl.col("ticket_id").is_in(rows["ticket_id"].implode()))
        assert owners["body"].n_unique() >= 2
