"""prepare_batch: typing, quarantine reasons, scrubbing, deduplication and the reconciliation invariant."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from factory.core.preparation import (
    LINE,
    REASONS,
    ColumnRule,
    PreparedBatch,
    PrepareRules,
    content_hash,
    prepare_batch,
    residue,
)
from factory.core.preparation import _prepare as prepare

RULES = PrepareRules(
    columns=(
        ColumnRule("ticket_id", "string", required=True),
        ColumnRule("created_at", "timestamp", required=True),
        ColumnRule("channel", "string", required=True, values=("email", "chat")),
        ColumnRule("subject", "string", max_length=40),
        ColumnRule("body", "string", required=True),
        ColumnRule("priority", "integer"),
        ColumnRule("score", "float"),
    ),
    id_column="ticket_id",
    timestamp_column="created_at",
    text_columns=("subject", "body"),
    partition_start=datetime(2026, 1, 3, tzinfo=UTC),
    partition_end=datetime(2026, 1, 4, tzinfo=UTC),
    custom_pii={"ACCOUNT_NUMBER": r"\bACCT-\d{8}\b"},
)
BODIES = [
    "The parcel is stuck at the depot in Berlin and the tracking page has not changed since Monday morning.",
    "I was charged twice for the annual plan this month, please refund the second payment to my card.",
    "The app crashes every time I open the settings page on my tablet after the latest update was installed.",
    "Please cancel my subscription at the end of the current billing period, I no longer need the service.",
    "My password reset email never arrives, I checked the spam folder and waited for more than an hour now.",
]


def row(**overrides: str | None) -> dict[str, str | None]:
    values: dict[str, str | None] = {
        "ticket_id": "T1",
        "created_at": "2026-01-03T10:00:00Z",
        "channel": "email",
        "subject": "Help",
        "body": BODIES[0],
        "priority": "2",
        "score": "0.5",
    }
    values.update(overrides)
    return values


def batch(*rows: dict[str, str | None]) -> pl.DataFrame:
    columns = list(rows[0]) if rows else [rule.name for rule in RULES.columns]
    data = {name: [r[name] for r in rows] for name in columns}
    frame = pl.DataFrame(data, schema=dict.fromkeys(columns, pl.String))
    return frame.with_columns(pl.int_range(pl.len(), dtype=pl.Int64).alias(LINE))


def empty_prior() -> pl.DataFrame:
    return pl.DataFrame(schema={"ticket_id": pl.String, "content_hash": pl.String, "signature": pl.List(pl.UInt32)})


def assert_reconciles(raw: pl.DataFrame, result: PreparedBatch) -> None:
    lines = [result.prepared[LINE], result.quarantine[LINE], result.duplicates[LINE]]
    placed = pl.concat(lines).sort().to_list()
    assert placed == sorted(raw[LINE].to_list())  # each line once, none lost
    stats = result.stats
    assert stats["rows_in"] == raw.height == stats["prepared"] + stats["quarantined"] + stats["duplicates"]


def reasons(result: PreparedBatch) -> dict[int, str]:
    return dict(zip(result.quarantine[LINE].to_list(), result.quarantine["reason"].to_list(), strict=True))


def test_every_reason_code() -> None:
    raw = batch(
        row(ticket_id="ok", body=BODIES[0]),
        row(ticket_id=None, body=BODIES[1]),  # missing_required (the id)
        row(ticket_id="blank-body", body="  \u200b "),  # missing_required after normalization
        row(ticket_id="bad-ts", created_at="yesterday", body=BODIES[2]),
        row(ticket_id="future", created_at="2026-01-09T00:00:00Z", body=BODIES[3]),
        row(ticket_id="bad-int", priority="high", body=BODIES[4]),
        row(ticket_id="bad-float", score="nan", body=BODIES[0] + " one"),
        row(ticket_id="fax", channel="fax", body=BODIES[1] + " two"),
        row(ticket_id="ok", body=BODIES[2] + " three"),  # duplicate_id: same id, other content
    )
    rules = PrepareRules(
        columns=(*RULES.columns[:3], ColumnRule("subject", "string"), ColumnRule("body", "string"), *RULES.columns[5:]),
        id_column="ticket_id",
        timestamp_column="created_at",
        text_columns=("subject", "body"),
        partition_start=RULES.partition_start,
        partition_end=RULES.partition_end,
    )
    empty_text = batch(row(ticket_id="empty", subject=None, body=" "))
    result = prepare_batch(raw, RULES, empty_prior())
    assert reasons(result) == {
        1: "missing_required",
        2: "missing_required",
        3: "bad_timestamp",
        4: "future_timestamp",
        5: "bad_integer",
        6: "bad_float",
        7: "value_not_allowed",
        8: "duplicate_id",
    }
    assert prepare_batch(empty_text, rules, empty_prior()).quarantine["reason"].to_list() == ["empty_text"]
    assert result.prepared["ticket_id"].to_list() == ["ok"]
    assert all(detail for detail in result.quarantine["detail"].to_list())
    assert set(REASONS) <= {key.removeprefix("quarantine.") for key in result.stats}
    assert result.stats["quarantine.missing_required"] == 2
    assert_reconciles(raw, result)


def test_a_row_with_several_problems_gets_the_first_reason_and_every_detail() -> None:
    raw = batch(row(created_at="soon", priority="x", channel="fax"))
    quarantined = prepare_batch(raw, RULES, empty_prior()).quarantine.row(0, named=True)
    assert quarantined["reason"] == "bad_timestamp"
    assert "created_at" in quarantined["detail"]
    assert "priority" in quarantined["detail"]
    assert "channel" in quarantined["detail"]


def test_quarantine_keeps_the_raw_payload_exactly() -> None:
    raw = batch(row(ticket_id="T9", created_at="not a date", body="Mail me at jane@example.com  \n please"))
    raw = raw.with_columns(pl.lit("crm").alias("source_system"))  # an undeclared column travels in the payload
    quarantine = prepare_batch(raw, RULES, empty_prior()).quarantine
    assert quarantine.columns == [LINE, "ticket_id", "reason", "detail", "payload"]
    payload = json.loads(quarantine["payload"].item())
    assert payload == raw.drop(LINE).row(0, named=True)
    assert payload["body"] == "Mail me at jane@example.com  \n please"


def test_types_timestamps_and_truncation() -> None:
    raw = batch(
        row(ticket_id="a", created_at="2026-01-03T12:00:00+02:00", priority=" 7 ", score="1e3", body=BODIES[0]),
        row(ticket_id="b", created_at="2026-01-03 09:30", priority=None, score="", body=BODIES[1]),
        row(
            ticket_id="c",
            created_at="2026-01-03",
            subject="A subject that is far too long for this limit",
            body=BODIES[2],
        ),
    )
    prepared = prepare_batch(raw, RULES, empty_prior()).prepared
    assert prepared.schema["created_at"] == pl.Datetime("us", "UTC")
    assert prepared.schema["priority"] == pl.Int64
    assert prepared.schema["score"] == pl.Float64
    assert prepared.schema["content_hash"] == pl.String
    assert prepared.schema[LINE] == pl.Int64
    assert prepared["created_at"].to_list() == [
        datetime(2026, 1, 3, 10, 0, tzinfo=UTC),
        datetime(2026, 1, 3, 9, 30, tzinfo=UTC),
        datetime(2026, 1, 3, 0, 0, tzinfo=UTC),
    ]
    assert prepared["priority"].to_list() == [7, None, 2]
    assert prepared["score"].to_list() == [1000.0, None, 0.5]
    assert prepared["subject_truncated"].to_list() == [False, False, True]
    assert prepared["subject"][2] == "A subject that is far too long for this"  # cut at 40, space dropped
    assert "subject_truncated" in prepared.columns and "body_truncated" not in prepared.columns


def test_text_is_normalized_and_scrubbed_and_hashed_consistently() -> None:
    raw = batch(
        row(ticket_id="a", subject="Re:\u00a0 card", body="Pay with 4111 1111 1111 1111, mail a@b.com, ACCT-12345678."),
        row(ticket_id="b", subject=None, body="Call  +44 20 7946 0958\nor version 10.2.3.4"),
    )
    result = prepare_batch(raw, RULES, empty_prior())
    prepared = result.prepared
    assert prepared["subject"].to_list() == ["Re: card", None]
    assert prepared["body"].to_list() == [
        "Pay with <CARD>, mail <EMAIL>, <ACCOUNT_NUMBER>.",
        "Call <PHONE> or version 10.2.3.4",
    ]
    assert result.pii_counts == {
        "EMAIL": 1,
        "PHONE": 1,
        "CARD": 1,
        "IBAN": 0,
        "SSN": 0,
        "IPV4": 0,
        "IPV6": 0,
        "URL_SECRET": 0,
        "ACCOUNT_NUMBER": 1,
    }
    for name in ("subject", "body"):
        assert residue(prepared[name], RULES.custom_pii).sum() == 0
    assert prepared["content_hash"].equals(content_hash(prepared, RULES.text_columns), check_names=False)
    assert prepared["ticket_id"].to_list() == result.signatures["ticket_id"].to_list()


def test_a_bad_row_does_not_drop_good_rows() -> None:
    good = [row(ticket_id=f"g{i}", body=body) for i, body in enumerate(BODIES)]
    raw = batch(*good[:2], row(ticket_id="bad", created_at="2026-99-99"), *good[2:])
    result = prepare_batch(raw, RULES, empty_prior())
    assert result.prepared["ticket_id"].to_list() == [f"g{i}" for i in range(5)]
    assert result.quarantine["ticket_id"].to_list() == ["bad"]
    assert_reconciles(raw, result)


def test_exact_and_near_duplicates_within_the_batch() -> None:
    raw = batch(
        row(ticket_id="a", body=BODIES[0]),
        row(ticket_id="b", body="  " + BODIES[0].upper() + " "),  # exact after normalization and lower-casing
        row(ticket_id="c", body=BODIES[0].replace("Monday", "Tuesday")),  # near
        row(ticket_id="a", body=BODIES[0], created_at="2026-01-03T11:00:00Z"),  # same id, same content: exact
        row(ticket_id="d", body=BODIES[1]),
    )
    result = prepare_batch(raw, RULES, empty_prior())
    assert result.duplicates.columns == [LINE, "ticket_id", "duplicate_of", "kind", "similarity"]
    assert result.duplicates.select(LINE, "duplicate_of", "kind").to_dicts() == [
        {LINE: 1, "duplicate_of": "a", "kind": "exact"},
        {LINE: 2, "duplicate_of": "a", "kind": "near"},
        {LINE: 3, "duplicate_of": "a", "kind": "exact"},
    ]
    similarity = result.duplicates["similarity"].to_list()
    assert similarity[0] == similarity[2] == 1.0
    assert RULES.minhash.threshold <= similarity[1] <= 1.0
    assert result.prepared["ticket_id"].to_list() == ["a", "d"]
    assert_reconciles(raw, result)


def test_a_duplicate_keeps_the_value_of_the_label_columns_and_nothing_else() -> None:
    rules = PrepareRules(
        **{
            **RULES.__dict__,
            "columns": (*RULES.columns, ColumnRule("category", "string")),
            "label_columns": ("category",),
        }
    )
    raw = batch(
        row(ticket_id="a", body=BODIES[0], category="billing"),
        row(ticket_id="b", body=BODIES[0].upper(), category="  shipping "),  # exact, labeled differently
        row(ticket_id="c", body=BODIES[0].replace("Monday", "Tuesday"), category=None),  # near, unlabeled
        row(ticket_id="d", body=BODIES[1], category="billing"),
    )
    result = prepare_batch(raw, rules, empty_prior())
    assert result.duplicates.columns == [LINE, "ticket_id", "duplicate_of", "kind", "similarity", "category"]
    assert result.duplicates.select("ticket_id", "duplicate_of", "kind", "category").rows() == [
        ("b", "a", "exact", "shipping"),
        ("c", "a", "near", None),
    ]
    assert result.prepared["category"].to_list() == ["billing", "billing"]
    assert_reconciles(raw, result)
    with pytest.raises(ValueError, match="label column 'body' must be a declared string column that is no text"):
        PrepareRules(**{**RULES.__dict__, "label_columns": ("body",)})


def test_signatures_feed_the_next_batch() -> None:
    first = batch(*(row(ticket_id=f"t{i}", body=body) for i, body in enumerate(BODIES)))
    day_one = prepare_batch(first, RULES, empty_prior())
    assert day_one.signatures.schema == empty_prior().schema
    second = batch(
        row(ticket_id="t9", body=BODIES[1]),  # exact duplicate of yesterday's t1
        row(ticket_id="t8", body=BODIES[2].replace("tablet", "phone")),  # near duplicate of t2
        row(ticket_id="t0", body="A completely different complaint about the colour of the invoice header."),
        row(ticket_id="t3", body=BODIES[3]),  # same id and content as yesterday: exact duplicate
        row(ticket_id="t7", body="Something new entirely, about the warranty of a kettle bought last spring."),
    )
    day_two = prepare_batch(second, RULES, day_one.signatures)
    assert day_two.duplicates.select("ticket_id", "duplicate_of", "kind").to_dicts() == [
        {"ticket_id": "t9", "duplicate_of": "t1", "kind": "exact"},
        {"ticket_id": "t8", "duplicate_of": "t2", "kind": "near"},
        {"ticket_id": "t3", "duplicate_of": "t3", "kind": "exact"},
    ]
    assert reasons(day_two) == {2: "duplicate_id"}  # t0 existed yesterday with other content
    assert "earlier partition" in day_two.quarantine["detail"].item()
    assert day_two.prepared["ticket_id"].to_list() == ["t7"]
    assert_reconciles(second, day_two)


TABULAR = PrepareRules(
    **{
        **RULES.__dict__,
        "text_columns": (),
        "feature_columns": ("channel", "priority", "score"),
        "columns": RULES.columns,
    }
)


def test_without_text_rows_are_typed_exact_duplicates_go_and_near_ones_stay() -> None:
    """A tabular use case: no row is refused for empty text, numbers are typed (a wrong type is quarantined
    as with text), the content is the features (same features: exact duplicate, whatever the text), and
    rows that differ in a feature are never near duplicates."""
    raw = batch(
        row(ticket_id="a", subject=None, body=None),
        row(ticket_id="b", subject=None, body="other words", priority="2", score="0.5"),  # same features as a
        row(ticket_id="c", priority="3"),
        row(ticket_id="d", priority="two"),
        row(ticket_id="e", score="nan"),
        row(ticket_id="f", body=BODIES[0].replace("Monday", "Tuesday"), score="0.75"),
    )
    rules = PrepareRules(
        **{**TABULAR.__dict__, "columns": (*RULES.columns[:4], ColumnRule("body", "string"), *RULES.columns[5:])}
    )
    result = prepare_batch(raw, rules, empty_prior())
    assert result.prepared["ticket_id"].to_list() == ["a", "c", "f"]
    assert result.prepared.schema["priority"] == pl.Int64 and result.prepared.schema["score"] == pl.Float64
    assert result.prepared["priority"].to_list() == [2, 3, 2]
    assert reasons(result) == {3: "bad_integer", 4: "bad_float"}
    assert result.duplicates.select("ticket_id", "duplicate_of", "kind").to_dicts() == [
        {"ticket_id": "b", "duplicate_of": "a", "kind": "exact"}
    ]
    assert result.prepared["content_hash"].equals(
        content_hash(result.prepared, ("channel", "priority", "score")), check_names=False
    )
    assert all(set(signature) == {0} for signature in result.signatures["signature"].to_list())
    assert_reconciles(raw, result)
    day_two = prepare_batch(batch(row(ticket_id="g", body="anything at all")), rules, result.signatures)
    assert day_two.duplicates.select("ticket_id", "duplicate_of").to_dicts() == [
        {"ticket_id": "g", "duplicate_of": "a"}
    ]


def test_with_features_an_empty_text_is_optional() -> None:
    optional_body = (*RULES.columns[:4], ColumnRule("body", "string"), *RULES.columns[5:])
    raw = batch(row(ticket_id="empty", subject=None, body=" "), row(ticket_id="text", body=BODIES[1]))
    text_only = PrepareRules(**{**RULES.__dict__, "columns": optional_body})
    assert reasons(prepare_batch(raw, text_only, empty_prior())) == {0: "empty_text"}
    with_features = PrepareRules(**{**text_only.__dict__, "feature_columns": ("channel",)})
    assert prepare_batch(raw, with_features, empty_prior()).prepared["ticket_id"].to_list() == ["empty", "text"]
    required = PrepareRules(**{**RULES.__dict__, "feature_columns": ("channel",)})
    assert reasons(prepare_batch(raw, required, empty_prior())) == {0: "missing_required"}


def test_a_ten_megabyte_field_is_handled() -> None:
    huge = ("all work and no play makes a dull support ticket, " * 200_000)[:10_000_000]
    rules = PrepareRules(
        **{
            **RULES.__dict__,
            "columns": (*RULES.columns[:4], ColumnRule("body", "string", max_length=5000), *RULES.columns[5:]),
        }
    )
    raw = batch(row(ticket_id="big", body=huge + " mail me at big@example.com"), row(ticket_id="small"))
    result = prepare_batch(raw, rules, empty_prior())
    assert result.prepared["ticket_id"].to_list() == ["big", "small"]
    assert result.prepared["body"].str.len_chars().to_list()[0] <= 5000
    assert result.prepared["body_truncated"].to_list() == [True, False]
    assert result.pii_counts["EMAIL"] == 1  # scrubbed before truncation, so never cut in half
    untruncated = prepare_batch(raw, RULES, empty_prior())
    assert untruncated.prepared["body"][0] == " ".join(f"{huge} mail me at <EMAIL>".split())


def test_preparation_is_idempotent() -> None:
    raw = batch(
        row(ticket_id="a", body=BODIES[0] + " call 415-555-0132"),
        row(ticket_id="b", body=BODIES[0]),
        row(ticket_id="c", created_at="bad"),
        row(ticket_id="d", body=BODIES[0].replace("Berlin", "Paris")),
    )
    first, second = (prepare_batch(raw, RULES, empty_prior()) for _ in range(2))
    for name in ("prepared", "quarantine", "duplicates", "signatures"):
        assert_frame_equal(getattr(first, name), getattr(second, name))
    assert first.stats == second.stats
    assert first.pii_counts == second.pii_counts


def test_slicing_the_batch_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = batch(
        *(row(ticket_id=f"t{i}", body=body + " call 415-555-0132") for i, body in enumerate(BODIES)),
        row(ticket_id="t1", body=BODIES[2]),
        row(ticket_id="bad", created_at="never"),
        row(ticket_id="copy", body=BODIES[0] + " call 415-555-0132"),
        row(ticket_id="near", body=BODIES[3].replace("service", "product") + " call 415-555-0132"),
    )
    whole = prepare_batch(raw, RULES, empty_prior())
    monkeypatch.setattr(prepare, "_SLICE_ROWS", 2)
    monkeypatch.setattr(prepare, "_FINGERPRINT_ROWS", 3)
    sliced = prepare_batch(raw, RULES, empty_prior())
    for name in ("prepared", "quarantine", "duplicates", "signatures"):
        assert_frame_equal(getattr(sliced, name), getattr(whole, name))
    assert sliced.pii_counts == whole.pii_counts == {**dict.fromkeys(whole.pii_counts, 0), "PHONE": 7}
    assert whole.stats["duplicates"] == 2


def test_a_row_placed_twice_fails_the_reconciliation(monkeypatch: pytest.MonkeyPatch) -> None:
    deduplicate = prepare._deduplicate

    def twice(*args: Any) -> tuple[pl.DataFrame, pl.DataFrame]:
        conflicts, duplicates = deduplicate(*args)
        return conflicts, pl.concat([duplicates, duplicates])

    monkeypatch.setattr(prepare, "_deduplicate", twice)
    raw = batch(row(ticket_id="a"), row(ticket_id="b"))
    with pytest.raises(RuntimeError, match="lost or repeated rows"):
        prepare_batch(raw, RULES, empty_prior())


def test_an_empty_batch_works() -> None:
    result = prepare_batch(batch(), RULES, empty_prior())
    assert result.prepared.height == result.quarantine.height == result.duplicates.height == 0
    assert result.prepared.schema["created_at"] == pl.Datetime("us", "UTC")
    assert result.signatures.schema["signature"] == pl.List(pl.UInt32)
    assert result.stats["rows_in"] == 0
    assert set(result.pii_counts.values()) == {0}
    assert prepare_batch(batch(), RULES, pl.DataFrame()).stats == result.stats


def test_unsorted_lines_and_integer_ids() -> None:
    rules = PrepareRules(
        **{**RULES.__dict__, "columns": (ColumnRule("ticket_id", "integer", required=True), *RULES.columns[1:])}
    )
    raw = batch(
        row(ticket_id="12", body=BODIES[0]), row(ticket_id="x", body=BODIES[1]), row(ticket_id="13", body=BODIES[0])
    )
    raw = raw.reverse()
    result = prepare_batch(raw, rules, pl.DataFrame())
    assert result.prepared["ticket_id"].to_list() == [12]
    assert result.duplicates.select("ticket_id", "duplicate_of").to_dicts() == [{"ticket_id": 13, "duplicate_of": 12}]
    assert result.quarantine.select("ticket_id", "reason").to_dicts() == [{"ticket_id": "x", "reason": "bad_integer"}]
    assert_reconciles(raw, result)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda raw: raw.drop("body"), r"lacks declared columns \['body'\]"),
        (lambda raw: raw.drop(LINE), r"lacks declared columns \['_line'\]"),
        (lambda raw: raw.with_columns(pl.lit(1).alias(LINE)), "unique"),
        (lambda raw: raw.with_columns(pl.col("priority").cast(pl.Int64)), "must be String"),
    ],
)
def test_schema_errors_of_the_whole_batch_raise(mutate: Any, message: str) -> None:
    raw = batch(row(ticket_id="a"), row(ticket_id="b", body=BODIES[1]))
    with pytest.raises(ValueError, match=message):
        prepare_batch(mutate(raw), RULES, empty_prior())


def test_a_prior_without_its_columns_raises() -> None:
    with pytest.raises(ValueError, match="prior index lacks columns"):
        prepare_batch(batch(row()), RULES, pl.DataFrame({"ticket_id": ["x"]}))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id_column": "nope"}, "id column 'nope'"),
        ({"timestamp_column": "body"}, "timestamp column 'body'"),
        ({"text_columns": ()}, "at least one text or feature column"),
        ({"feature_columns": ("nope",)}, "feature column 'nope'"),
        ({"text_columns": ("priority",)}, "text column 'priority'"),
        ({"partition_end": datetime(2026, 1, 1, tzinfo=UTC)}, "before partition_start"),
        ({"future_tolerance": timedelta(hours=-1)}, "negative"),
        ({"columns": (*RULES.columns, RULES.columns[0])}, "declared twice"),
    ],
)
def test_contradictory_rules_are_rejected(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PrepareRules(**{**RULES.__dict__, **changes})


def test_column_rules_are_checked_and_naive_datetimes_are_utc() -> None:
    with pytest.raises(ValueError, match="allowed values"):
        ColumnRule("n", "integer", values=("1",))
    with pytest.raises(ValueError, match="max_length"):
        ColumnRule("s", "string", max_length=0)
    with pytest.raises(ValueError, match="unknown type"):
        ColumnRule("s", "text")  # type: ignore[arg-type]  # the error under test
    naive = PrepareRules(
        **{**RULES.__dict__, "partition_start": datetime(2026, 1, 3), "partition_end": datetime(2026, 1, 4)}
    )
    assert naive.partition_end == RULES.partition_end
    assert ColumnRule("c", "string", values=["a", "b"]).values == ("a", "b")  # type: ignore[arg-type]  # a list, coerced at runtime


def test_glued_phone_numbers_are_all_scrubbed() -> None:
    """Issue 11, case 3: six phone numbers glued together used to keep two after the scrubber's passes."""
    glued = "+33612345678" * 6
    result = prepare_batch(batch(row(ticket_id="P1", body=f"{BODIES[0]} {glued}")), RULES, empty_prior())
    assert result.quarantine.is_empty()
    assert result.prepared["body"].item().endswith(" " + "<PHONE>" * 6)
    assert result.pii_counts["PHONE"] == 6


def test_a_row_the_scrubber_cannot_clean_is_quarantined_and_the_rest_goes_on() -> None:
    """A row still holding PII after the last scrub pass goes to quarantine as pii_residue; no residue is left."""
    hostile = "+33612345678" * 300
    raw = batch(row(ticket_id="H1", body=hostile), *(row(ticket_id=f"G{i}", body=BODIES[i]) for i in range(1, 5)))
    result = prepare_batch(raw, RULES, empty_prior())
    assert_reconciles(raw, result)
    assert reasons(result) == {0: "pii_residue"}
    assert result.quarantine["detail"].item() == "column 'body' still holds PII after every scrub pass"
    assert json.loads(result.quarantine["payload"].item())["body"] == hostile, "the raw payload is kept"
    assert result.prepared["ticket_id"].to_list() == ["G1", "G2", "G3", "G4"]
    assert result.stats["quarantine.pii_residue"] == 1
    for name in ("subject", "body"):
        assert residue(result.prepared[name], RULES.custom_pii).sum() == 0


def test_a_cut_to_max_length_cannot_create_pii() -> None:
    """Issue 11, case 3: ``ACCT-123456789`` is no account number; cut to 40 characters it became one."""
    subject = "x" * 26 + " ACCT-123456789"
    assert len(subject) == 41 and residue(pl.Series([subject]), RULES.custom_pii).item() == 0
    result = prepare_batch(batch(row(subject=subject)), RULES, empty_prior())
    prepared = result.prepared.row(0, named=True)
    assert prepared["subject"] == "x" * 26 + " <ACCOUNT_NUMBER>"
    assert prepared["subject_truncated"] is True
    assert result.pii_counts["ACCOUNT_NUMBER"] == 1


def test_pii_cut_in_half_by_max_length_leaves_no_fragment() -> None:
    """The whole value is scrubbed before the cut, so half an email address never survives."""
    subject = "Write to " + "j" * 20 + "@example.com please"
    result = prepare_batch(batch(row(subject=subject)), RULES, empty_prior())
    assert result.prepared["subject"].item() == "Write to <EMAIL> please"
