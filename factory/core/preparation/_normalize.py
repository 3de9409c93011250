"""Text normalization and stable content hashing.

`normalize_text` is the one definition of "clean text" in the factory: Unicode NFC, invisible and control
characters removed, every run of whitespace (including newlines and tabs) collapsed to a single space, and
the ends stripped. It is idempotent: normalizing normalized text changes nothing.

`content_hash` is the identity of a row's content for exact deduplication, split leakage checks and dataset
digests. It must not change between processes, machines or library versions, so it is SHA-256 (a fixed,
standardised, collision-resistant function), truncated to 128 bits, of the UTF-8 bytes of the normalized,
lower-cased content, never `pl.Expr.hash`, whose values are documented as unstable. It is computed in Rust
by `polars-hash` (several times faster than a ``hashlib`` loop, and without holding the GIL); a test pins
it to ``hashlib.sha256``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
import polars_hash as plh

__all__ = [
    "CONTENT_SEPARATOR",
    "content_hash",
    "content_text",
    "digest",
    "join_content",
    "normalize_series",
    "normalize_text",
]

# What is removed: control characters (Unicode category Cc) that are not whitespace, and three invisible
# format characters: the byte-order mark U+FEFF, the zero-width space U+200B and the word joiner U+2060.
# Whitespace controls (\t, \n, \r, \v, \f, U+0085) become a space instead: deleting them would glue the
# words on either side together. Zero-width (non-)joiners U+200C/U+200D are kept: they carry meaning in
# Persian, Indic scripts and emoji sequences. Whitespace is Unicode White_Space (Rust's ``\s``).
# The patterns are split into an ASCII part, run on every row, and a non-ASCII part, run only on the rows
# holding a non-ASCII character (the only rows where it can match): a small character class scans several
# times faster than a Unicode one.
_ASCII_INVISIBLE = r"[\x00-\x08\x0E-\x1F\x7F]"
_ASCII_WHITESPACE = r"[\t\n\x0B\x0C\r]"
_OTHER_INVISIBLE = r"[\x{80}-\x{84}\x{86}-\x{9F}\x{FEFF}\x{200B}\x{2060}]"
_OTHER_WHITESPACE = r"[\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}]"
_SPACE_RUN = " {2,}"

# Joins the columns of a row before hashing. U+001F is a control character, so `normalize_text` removes
# it from every value and it cannot occur inside one: ("a b", "c") and ("a", "b c") hash differently.
CONTENT_SEPARATOR = "\x1f"

_DIGEST_HEX = 32  # 128 bits of the SHA-256 digest, as hex


def normalize_series(texts: pl.Series) -> pl.Series:
    """`normalize_text` on a Series (the input is not modified)."""
    cleaned = texts.cast(pl.String)
    if _has_ascii_invisible(cleaned):
        cleaned = cleaned.str.replace_all(_ASCII_INVISIBLE, "")
    non_ascii = (cleaned.str.len_bytes() != cleaned.str.len_chars()).fill_null(False).arg_true()
    if non_ascii.len():
        # Removal comes before NFC so that a combining mark separated from its base by a removed
        # character is composed in the same pass, which keeps the function idempotent.
        rows = cleaned.gather(non_ascii).str.replace_all(_OTHER_INVISIBLE, "").str.normalize("NFC")
        cleaned = cleaned.clone().scatter(non_ascii, rows.str.replace_all(_OTHER_WHITESPACE, " "))
    cleaned = _replace_if_found(cleaned, _ASCII_WHITESPACE, " ")
    cleaned = _replace_if_found(cleaned, _SPACE_RUN, " ")
    if (cleaned.str.starts_with(" ") | cleaned.str.ends_with(" ")).any():
        cleaned = cleaned.str.strip_chars(" ")
    return cleaned


_INVISIBLE_CONTROLS = np.zeros(32, dtype=bool)
_INVISIBLE_CONTROLS[[*range(0x00, 0x09), *range(0x0E, 0x20)]] = True


def _has_ascii_invisible(texts: pl.Series) -> bool:
    """Whether any value holds a byte `_ASCII_INVISIBLE` matches, from a scan of the raw UTF-8 bytes.

    Several times faster than the regex on clean text: bytes below 0x20 are few (newlines, tabs), so one
    vectorized comparison finds them and only those are looked up. Bytes of multi-byte UTF-8 characters
    are all 0x80 or above, so they never count.
    """
    array = texts.to_arrow()
    if str(array.type) != "large_string":
        array = array.cast("large_string")
    content = array.buffers()[2]
    if content is None:
        return False
    data = np.frombuffer(content, dtype=np.uint8)
    return bool(_INVISIBLE_CONTROLS[data[data < 0x20]].any() or (data == 0x7F).any())


def _replace_if_found(texts: pl.Series, pattern: str, replacement: str) -> pl.Series:
    """Replace only if the pattern occurs: a check only reads the column, a replacement copies it."""
    return texts.str.replace_all(pattern, replacement) if texts.str.contains(pattern).any() else texts


def normalize_text(expr: pl.Expr) -> pl.Expr:
    """Normalize a String expression: invisible/control characters removed, NFC, whitespace collapsed.

    Nulls stay null. The result never starts or ends with whitespace and never holds two consecutive
    whitespace characters; every whitespace character it holds is a plain space. Idempotent.
    """
    return expr.map_batches(normalize_series, return_dtype=pl.String, is_elementwise=True)


def join_content(frame: pl.DataFrame, columns: Sequence[str], *, normalized: bool = False) -> pl.Series:
    """The text a content hash is computed from: normalized, lower-cased columns joined by U+001F.

    A null value counts as empty content. The result is named ``content_text`` and never null. With
    ``normalized=True`` the caller vouches that the columns already went through `normalize_text`, and
    the (idempotent) normalization is skipped.
    """
    if not columns:
        raise ValueError("content needs at least one column")
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise ValueError(f"content columns not in frame: {missing}")
    values = [pl.col(name).cast(pl.String) for name in columns]
    if not normalized:
        values = [normalize_text(value) for value in values]
    parts = [value.str.to_lowercase().fill_null("") for value in values]
    return frame.select(pl.concat_str(parts, separator=CONTENT_SEPARATOR).alias("content_text")).to_series()


def content_text(frame: pl.DataFrame, columns: Sequence[str]) -> pl.Series:
    """The text a content hash is computed from (see `join_content`)."""
    return join_content(frame, columns)


def digest(texts: pl.Series) -> pl.Series:
    """Hex SHA-256 digest, first 128 bits, of the UTF-8 bytes of each string (null hashes like "")."""
    frame = texts.cast(pl.String).fill_null("").to_frame("text")
    hashed = frame.select(plh.col("text").chash.sha2_256().str.slice(0, _DIGEST_HEX).alias("content_hash"))
    return hashed.to_series()


def content_hash(frame: pl.DataFrame, columns: Sequence[str]) -> pl.Series:
    """Stable hex digest (String, 32 characters) of the normalized, lower-cased content of `columns`.

    Two rows get the same hash exactly when their columns are equal after `normalize_text` and
    lower-casing (null and empty are equal). The value depends only on the text, the column order and
    SHA-256, so it is the same in every process and with every Polars version.
    """
    return digest(content_text(frame, columns))
