"""Keys without PII: id and group values that look personal become keyed pseudonyms (issue 11, case 4)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import polars as pl
import pytest

from factory.core.preparation import (
    LINE,
    PSEUDONYM_PREFIX,
    ColumnRule,
    PreparedBatch,
    PrepareRules,
    looks_personal,
    prepare_batch,
    pseudonym,
    pseudonymize,
)

KEY = b"k" * 32
OTHER_KEY = b"o" * 32


def test_a_pseudonym_is_stable_keyed_and_short() -> None:
    first = pseudonym("ann@example.com", KEY)
    assert first == pseudonym("ann@example.com", KEY), "stable across calls (and runs)"
    assert first.startswith(PSEUDONYM_PREFIX) and len(first) == len(PSEUDONYM_PREFIX) + 24
    assert first != pseudonym("bob@example.com", KEY)
    assert first != pseudonym("ann@example.com", OTHER_KEY), "another key, another pseudonym"
    assert "ann" not in first


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16 bytes"):
        pseudonym("x", b"short")


def test_only_values_that_look_personal_are_replaced() -> None:
    values = pl.Series("customer_id", ["C00001", "ann@example.com", None, "+33 6 12 34 56 78", "ORD-58213907"])
    assert looks_personal(values).to_list() == [False, True, False, True, False]
    replaced = pseudonymize(values, KEY).to_list()
    assert replaced[0] == "C00001" and replaced[2] is None and replaced[4] == "ORD-58213907"
    assert replaced[1] == pseudonym("ann@example.com", KEY) and replaced[3] == pseudonym("+33 6 12 34 56 78", KEY)


BODIES = [
    "The parcel is stuck at the depot in Berlin and the tracking page has not changed since Monday morning.",
    "I was charged twice for the annual plan this month, please refund the second payment to my card.",
    "The app crashes every time I open the settings page on my tablet after the latest update was installed.",
    "Please cancel my subscription at the end of the current billing period, I no longer need the service.",
]
RULES = PrepareRules(
    columns=(
        ColumnRule("ticket_id", "string", required=True),
        ColumnRule("created_at", "timestamp", required=True),
        ColumnRule("customer", "string"),
        ColumnRule("body", "string", required=True),
    ),
    id_column="ticket_id",
    timestamp_column="created_at",
    text_columns=("body",),
    partition_start=datetime(2026, 1, 3, tzinfo=UTC),
    partition_end=datetime(2026, 1, 4, tzinfo=UTC),
    group_column="customer",
)
GROUPED = dataclasses.replace(RULES, pseudonym_key=KEY)


def row(ticket_id: str, customer: str = "C1", body: str = BODIES[0]) -> dict[str, str]:
    return {"ticket_id": ticket_id, "created_at": "2026-01-03T10:00:00Z", "customer": customer, "body": body}


def batch(*rows: dict[str, str]) -> pl.DataFrame:
    frame = pl.DataFrame(list(rows), schema=dict.fromkeys(rows[0], pl.String))
    return frame.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias(LINE))


def empty_prior() -> pl.DataFrame:
    return pl.DataFrame(schema={"ticket_id": pl.String, "content_hash": pl.String, "signature": pl.List(pl.UInt32)})


def reasons(result: PreparedBatch) -> dict[int, str]:
    return dict(zip(result.quarantine[LINE].to_list(), result.quarantine["reason"].to_list(), strict=True))


def test_email_ids_and_groups_become_pseudonyms_and_groups_stay_apart() -> None:
    """An email ticket id never reaches prepared; email customers keep one group each, not one <EMAIL> group."""
    raw = batch(
        row("ann@example.com", "ann@example.com", BODIES[0]),
        row("T2", "bob@example.com", BODIES[1]),
        row("T3", "bob@example.com", BODIES[2]),
        row("T4", "C00004", BODIES[3]),
    )
    result = prepare_batch(raw, GROUPED, empty_prior())
    assert result.quarantine.is_empty()
    prepared = result.prepared
    assert prepared["ticket_id"].to_list() == [pseudonym("ann@example.com", KEY), "T2", "T3", "T4"]
    assert prepared["customer"].to_list() == [
        pseudonym("ann@example.com", KEY),
        pseudonym("bob@example.com", KEY),
        pseudonym("bob@example.com", KEY),
        "C00004",
    ]
    assert result.signatures["ticket_id"].to_list()[0] == pseudonym("ann@example.com", KEY)
    assert result.stats["keys_pseudonymized"] == 4
    assert not any("@" in str(value) for value in prepared.rows())


def test_a_pseudonymized_id_still_finds_its_duplicate_in_the_next_batch() -> None:
    ticket = row("ann@example.com")
    first = prepare_batch(batch(ticket), GROUPED, empty_prior())
    again = prepare_batch(batch(ticket), GROUPED, first.signatures)
    assert again.prepared.is_empty() and again.duplicates["duplicate_of"].to_list() == [
        pseudonym("ann@example.com", KEY)
    ]


def test_without_a_key_a_personal_key_value_is_quarantined() -> None:
    raw = batch(row("ann@example.com"), row("T2", body=BODIES[1]))
    result = prepare_batch(raw, RULES, empty_prior())
    assert reasons(result) == {0: "pii_residue"}
    assert result.quarantine["detail"].item() == (
        "key column 'ticket_id' looks like personal data and no pseudonym key is set"
    )
    assert result.prepared["ticket_id"].to_list() == ["T2"]


def test_the_key_never_shows_in_the_rules() -> None:
    assert repr(KEY) not in repr(GROUPED) and "kkkk" not in repr(GROUPED)
