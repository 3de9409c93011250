"""PII scrubbing: every type in several formats, hard negatives untouched, counts, residue."""

from __future__ import annotations

import random

import polars as pl
import pytest

from factory.core.preparation import PII_TYPES, residue, scrub

POSITIVES: list[tuple[str, str]] = [
    ("EMAIL", "john.doe@example.com"),
    ("EMAIL", "JANE_ROE+tickets@mail.corp.co.uk"),
    ("EMAIL", "a.b-c@sub-domain.example.org"),
    ("PHONE", "+44 20 7946 0958"),
    ("PHONE", "(415) 555-0132"),
    ("PHONE", "+49 30 901820"),
    ("PHONE", "0612345678"),
    ("PHONE", "415-555-0132"),
    ("PHONE", "+1 (415) 555-0132"),
    ("PHONE", "415.555.0132"),
    ("PHONE", "06 12 34 56 78"),
    ("PHONE", "020 7946 0958"),
    ("PHONE", "+33 6 12 34 56 78"),
    ("PHONE", "+33 (0)6 66 75 29 55"),
    ("PHONE", "06 99462867"),
    ("PHONE", "07700 900123"),
    ("PHONE", "090-1234-5678"),
    ("PHONE", "(03) 1703-7314"),
    ("PHONE", "(41) 99522-1329"),
    ("PHONE", "+55 11 98765-4321"),
    ("PHONE", "98765 43210"),
    ("PHONE", "1-800-555-0132"),
    ("PHONE", "09.21.45.94.75"),
    ("CARD", "4111 1111 1111 1111"),
    ("CARD", "4111-1111-1111-1111"),
    ("CARD", "4111111111111111"),
    ("CARD", "3782 822463 10005"),
    ("CARD", "5500 0000 0000 0004"),
    ("IBAN", "DE89 3704 0044 0532 0130 00"),
    ("IBAN", "GB82WEST12345698765432"),
    ("IBAN", "FR14 2004 1010 0505 0001 3M02 606"),
    ("SSN", "123-45-6789"),
    ("SSN", "078 05 1120"),
    ("IPV4", "192.168.1.10"),
    ("IPV4", "10.0.0.1"),
    ("IPV4", "8.8.8.8"),
    ("IPV6", "2001:db8::8a2e:370:7334"),
    ("IPV6", "fe80::1"),
    ("IPV6", "fdbf:e639:b733::7afb"),
    ("IPV6", "2001:0db8:85a3:0000:0000:8a2e:0370:7334"),
    ("URL_SECRET", "https://admin:hunter2@db.example.com/orders"),
    ("URL_SECRET", "https://api.example.io/v1/items?page=2&token=abc123"),
    ("URL_SECRET", "http://files.example.com/x.pdf?sig=Zm9v&expires=10"),
    ("URL_SECRET", "postgres://svc:s3cr3t@10.0.0.5:5432/app"),
    ("URL_SECRET", "redis://:letmein935@cache.example.org:6379/0"),
]

HARD_NEGATIVES: list[str] = [
    "Order ORD-58213907 shipped",
    "ref ORD-0612345678 again",
    "tracking 1234 5678 9012 3456 is not a card",
    "tracking 1234567890123456 either",
    "all zeros 0000 0000 0000 0000",
    "version 10.2.3.4 installed",
    "running v10.2.3.4 now",
    "Build 3.1.15.47 is installed",
    "firmware: 1.5.11.69",
    "app 4.2.10 crashed",
    "dotted 1.2.3.4.5 release",
    "pip install pkg==1.2.3.4",
    "On 2024-01-15 at 10:30:45 we met",
    "dated 15.01.2024 12:30 and 01/15/2024",
    "paid $1,234.56 or 1 234,56 € or EUR 12,345,678.90",
    "amount 1.234.567 and total 12345678.90",
    "invalid IBAN DE89 3704 0044 0532 0130 01",
    "an error E1042 and code 4042",
    "times 12:30:45 and MAC 00:1a:2b:3c:4d:5e",
    "C++ std::vector and a::b",
    "score +5 points, up 15%",
    "plain url https://example.com/search?page=2&q=cats",
    "SSN-like 000-12-3456 and 666-12-3456",
    "The book with ISBN 9793920414217 and ISBN 0736579494",
    "case 016 847 418 and 099-058-191 and EIN 12-3456789",
    "tracking 9422 3817 1365 8385 6439 39 and 940012345678901234567890",
    "bad IBAN GB27WEST28398239788652 bounced",
    "zip 94103-1234 and 01234-567",
    "<EMAIL> <PHONE> <CARD> <IBAN> <SSN> <IPV4> <IPV6> <URL_SECRET>",
]


@pytest.mark.parametrize(("kind", "value"), POSITIVES)
def test_each_type_is_found_and_replaced(kind: str, value: str) -> None:
    texts = pl.Series([f"Contact: {value} thanks", f"{value}"])
    result = scrub(texts)
    for scrubbed in result.text.to_list():
        assert value not in scrubbed
        assert f"<{kind}>" in scrubbed
    assert result.counts[kind] == 2
    assert sum(result.counts.values()) == 2
    assert residue(texts).to_list() == [1, 1]
    assert residue(result.text).to_list() == [0, 0]


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_hard_negatives_are_untouched(text: str) -> None:
    result = scrub(pl.Series([text]))
    assert result.text.to_list() == [text]
    assert set(result.counts.values()) == {0}
    assert residue(pl.Series([text])).to_list() == [0]


def test_counts_cover_every_type_and_add_up() -> None:
    texts = pl.Series(
        [
            "mail a@b.com and c@d.org, call 415-555-0132",
            None,
            "card 4111 1111 1111 1111 from 10.0.0.1",
            "nothing here",
        ]
    )
    result = scrub(texts)
    assert set(result.counts) == set(PII_TYPES)
    assert result.counts == {
        "EMAIL": 2,
        "PHONE": 1,
        "CARD": 1,
        "IBAN": 0,
        "SSN": 0,
        "IPV4": 1,
        "IPV6": 0,
        "URL_SECRET": 0,
    }
    assert result.text.to_list() == [
        "mail <EMAIL> and <EMAIL>, call <PHONE>",
        None,
        "card <CARD> from <IPV4>",
        "nothing here",
    ]
    assert residue(texts).to_list() == [3, 0, 2, 0]


def test_a_secret_url_counts_once_even_with_an_address_inside() -> None:
    result = scrub(pl.Series(["see https://u:p@10.1.2.3/x?token=1 now"]))
    assert result.text.item() == "see <URL_SECRET> now"
    assert result.counts["URL_SECRET"] == 1
    assert result.counts["IPV4"] == 0


def test_cards_inside_longer_digit_runs() -> None:
    texts = pl.Series(
        [
            "2026-01-03 4111 1111 1111 1111",
            "4111 1111 1111 1111 5500 0000 0000 0004",
            "415-555-0132 415-555-0133",
            "1234 4111 1111 1111 1111",  # 20 digits in groups of four: one long number, not a card
        ]
    )
    assert scrub(texts).text.to_list() == [
        "2026-01-03 <CARD>",
        "<CARD> <CARD>",
        "<PHONE> <PHONE>",
        "1234 4111 1111 1111 1111",
    ]


def test_custom_patterns_are_scrubbed_and_counted() -> None:
    custom = {"ACCOUNT_NUMBER": r"\bACCT-\d{8}\b"}
    texts = pl.Series(["acct ACCT-12345678 and ACCT-1234 and a@b.com"])
    result = scrub(texts, custom)
    assert result.text.item() == "acct <ACCOUNT_NUMBER> and ACCT-1234 and <EMAIL>"
    assert result.counts["ACCOUNT_NUMBER"] == 1
    assert residue(texts, custom).item() == 2
    assert residue(result.text, custom).item() == 0


@pytest.mark.parametrize(
    ("custom", "message"),
    [
        ({"lower": "x"}, "UPPER_SNAKE_CASE"),
        ({"EMAIL": "x"}, "built-in"),
        ({"BAD": "("}, "not a valid regex"),
        ({"EMPTY": "a*"}, "empty string"),
        ({"GREEDY": "[A-Z]+"}, "placeholder"),
    ],
)
def test_bad_custom_patterns_are_rejected(custom: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        scrub(pl.Series(["x"]), custom)


def test_scrub_keeps_its_input_and_types() -> None:
    texts = pl.Series("body", ["a@b.com", None])
    result = scrub(texts)
    assert texts.to_list() == ["a@b.com", None]
    assert result.text.name == "body"
    assert result.text.dtype == pl.String
    assert residue(texts).dtype == pl.Int64
    assert scrub(pl.Series([], dtype=pl.String)).text.len() == 0
    assert residue(pl.Series([None, None])).to_list() == [0, 0]
    with pytest.raises(TypeError, match="String"):
        scrub(pl.Series([1, 2]))


def test_the_internal_marker_character_is_removed() -> None:
    assert scrub(pl.Series(["a\x00b 10.0.0.1"])).text.item() == "ab <IPV4>"


def test_scrubbing_is_idempotent_and_leaves_no_residue_on_random_mixtures() -> None:
    rng = random.Random(20260103)
    pieces = [value for _, value in POSITIVES] + HARD_NEGATIVES + ["and", "-", ",", "(", ")", "x", "12", "."]
    texts = pl.Series([" ".join(rng.choice(pieces) for _ in range(rng.randrange(1, 8))) for _ in range(400)])
    once = scrub(texts).text
    assert residue(once).sum() == 0
    assert scrub(once).text.to_list() == once.to_list()
    assert residue(texts).sum() > 0


def test_an_iban_shaped_run_never_spans_neighbouring_words() -> None:
    from factory.core.preparation import scrub as _scrub

    out = _scrub(pl.Series(["code DE44 call me on 0612345678"])).text[0]
    assert "0612345678" not in out and "<PHONE>" in out
