"""Text normalization and the stable content hash."""

from __future__ import annotations

import hashlib
import random
import unicodedata

import polars as pl
import pytest

from factory.core.preparation import (
    CONTENT_SEPARATOR,
    content_hash,
    content_text,
    join_content,
    normalize_series,
    normalize_text,
)


def normalized(*values: str | None) -> list[str | None]:
    return pl.DataFrame({"t": list(values)}, schema={"t": pl.String}).select(normalize_text(pl.col("t")))["t"].to_list()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("e\u0301te\u0301", "été"),  # decomposed accents compose (NFC)
        ("\ufeffhello", "hello"),  # byte-order mark
        ("zero\u200bwidth", "zerowidth"),
        ("bell\x07 and\x00 null\x1b", "bell and null"),
        ("a\nb\tc", "a b c"),  # whitespace controls separate words instead of vanishing
        ("a\r\nb", "a b"),
        ("  many   \n\n  spaces\t\t", "many spaces"),
        ("no\u00a0break\u2003em\u3000ideographic", "no break em ideographic"),
        ("e\x00\u0301", "é"),  # a mark separated from its base by a removed character still composes
        ("", ""),
        (" \t\n ", ""),
        ("ZWJ emoji \U0001f468\u200d\U0001f469 kept", "ZWJ emoji \U0001f468\u200d\U0001f469 kept"),
    ],
)
def test_normalize_text_cases(raw: str, expected: str) -> None:
    assert normalized(raw) == [expected]


_WHITESPACE_CONTROLS = "\t\n\x0b\x0c\r\x85"


def reference_normalize(text: str) -> str:
    """The specification in plain Python, to check the vectorized implementation against."""
    kept = "".join(
        char
        for char in text
        if char not in "\ufeff\u200b\u2060"
        and not (unicodedata.category(char) == "Cc" and char not in _WHITESPACE_CONTROLS)
    )
    return " ".join(unicodedata.normalize("NFC", kept).split())


def test_normalization_matches_the_reference_on_random_text() -> None:
    rng = random.Random(11)
    alphabet = [
        *"ab e.",
        "\u0301", "\u0308", "\u00e9", "e\u0301", "\u212b", "\ufeff", "\u200b", "\u200d", "\u2060",
        "\x00", "\x07", "\x1b", "\x1f", "\x7f", "\x85", "\x9f", "\t", "\n", "\r", "\x0b", "\x0c",
        "\u00a0", "\u2003", "\u3000", "\u2028", "\u202f", "\U0001f600", "\u0915\u094d",
    ]  # fmt: skip
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12))) for _ in range(3000)]
    assert normalize_series(pl.Series(texts)).to_list() == [reference_normalize(text) for text in texts]


def test_null_stays_null() -> None:
    assert normalized(None, "x") == [None, "x"]


def test_normalization_is_idempotent() -> None:
    nasty = ["e\u0301", "\ufeff a \n\n b ", "x\x00\u0301y", "\u00a0\u00a0", "A\u030a\u0301", "tab\t\x0bvt", "ok"]
    once = normalize_series(pl.Series(nasty))
    assert normalize_series(once).to_list() == once.to_list()


def test_normalize_series_leaves_its_input_alone() -> None:
    source = pl.Series(["e\u0301  x", "plain"])
    before = source.to_list()
    normalize_series(source)
    assert source.to_list() == before


def test_content_hash_is_sha256_of_the_documented_text() -> None:
    frame = pl.DataFrame({"subject": ["  Hello\u00a0 World "], "body": ["Second\nLine"]})
    expected = hashlib.sha256(f"hello world{CONTENT_SEPARATOR}second line".encode()).hexdigest()[:32]
    hashed = content_hash(frame, ["subject", "body"])
    assert hashed.dtype == pl.String
    assert hashed.to_list() == [expected]
    # Fixed values: a change of scheme would silently orphan every stored digest, so it must fail here.
    assert expected == "4092fca3fbe7a7f7cd72c5830ca802a2"
    assert content_hash(pl.DataFrame({"s": ["A"], "b": ["b"]}), ["s", "b"]).item() == "f04cdced9736a69da6103f08a4daaf8c"
    non_ascii = content_hash(pl.DataFrame({"s": ["é"], "b": ["\U0001f600"]}), ["s", "b"]).item()
    assert non_ascii == hashlib.sha256("é\x1f\U0001f600".encode()).hexdigest()[:32]


def test_content_hash_ignores_case_and_spacing_but_not_column_boundaries() -> None:
    frame = pl.DataFrame(
        {"a": ["Hello  World", "hello world", "a b", "a", None, ""], "b": ["x", "X", "c", "b c", "y", "y"]}
    )
    hashes = content_hash(frame, ["a", "b"]).to_list()
    assert hashes[0] == hashes[1]
    assert hashes[2] != hashes[3]
    assert hashes[4] == hashes[5]  # null and empty are the same content


def test_join_content_can_skip_normalizing_normalized_text() -> None:
    frame = pl.DataFrame({"a": ["Mixed  Case\n", "e\u0301"], "b": [None, "x"]})
    clean = frame.select(normalize_text(pl.col("a")), normalize_text(pl.col("b")))
    assert join_content(clean, ["a", "b"], normalized=True).to_list() == content_text(frame, ["a", "b"]).to_list()


def test_content_columns_are_checked() -> None:
    frame = pl.DataFrame({"a": ["x"]})
    with pytest.raises(ValueError, match="at least one column"):
        content_hash(frame, [])
    with pytest.raises(ValueError, match="missing"):
        content_hash(frame, ["a", "missing"])
