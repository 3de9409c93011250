"""Keys without personal data: id and group values that look like PII become keyed pseudonyms.

An id or group key is a join key, not text: scrubbing it to ``<EMAIL>`` would merge every customer written
as an email address into one group (and one split), and leaving it would carry the address into labels, the
published dataset and the run metadata. A key value in which the PII detector (`residue`) finds anything is
replaced as a whole by ``pii_`` and the first 24 hex digits (96 bits) of HMAC-SHA256 over the value, under a
secret key. The same value under the same key always gives the same pseudonym, so joins, group splits,
duplicate ids and leakage checks behave as on the raw values; without the key a pseudonym cannot be traced
back to the value by hashing guesses. Other values are kept exactly.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

import polars as pl

from factory.core.preparation._pii import residue

__all__ = ["MIN_KEY_BYTES", "PSEUDONYM_PREFIX", "looks_personal", "pseudonym", "pseudonymize"]

PSEUDONYM_PREFIX = "pii_"
MIN_KEY_BYTES = 16
_HEX_DIGITS = 24


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
        raise ValueError(f"a pseudonym key must be at least {MIN_KEY_BYTES} bytes")


def pseudonym(value: str, key: bytes) -> str:
    """``pii_`` + 24 hex digits of HMAC-SHA256(`key`, `value` as UTF-8). ValueError if `key` is too short."""
    _check_key(key)
    return PSEUDONYM_PREFIX + hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:_HEX_DIGITS]


def looks_personal(values: pl.Series, custom_patterns: Mapping[str, str] | None = None) -> pl.Series:
    """Boolean per value: the PII detector finds something in it (null values: False)."""
    return (residue(values.cast(pl.String), custom_patterns) > 0).alias(values.name)


def pseudonymize(values: pl.Series, key: bytes, custom_patterns: Mapping[str, str] | None = None) -> pl.Series:
    """`values` with each value that `looks_personal` replaced by its `pseudonym`; the others unchanged."""
    _check_key(key)
    rows = looks_personal(values, custom_patterns).arg_true()
    if rows.len() == 0:
        return values
    replaced = [pseudonym(value, key) for value in values.gather(rows).to_list()]
    return values.clone().scatter(rows, pl.Series(replaced, dtype=pl.String))
