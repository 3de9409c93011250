"""MLflow keys from names that are data: any class name becomes a metric or tag key MLflow accepts.

MLflow keys may only hold word characters, ``/ . - :`` and spaces, must stay the same under ``normpath`` and are
at most 250 characters. The encoding keeps ASCII letters, digits, ``_``, ``.``, ``-`` and spaces as they are
(so the usual names read as typed and the demo's keys do not change) and writes every other UTF-8 byte as
``:XX`` (upper-case hex): ``billing?`` becomes ``billing:3F``, ``a/b`` becomes ``a:2Fb``. It is reversible by
:func:`decode_key`. A key longer than MLflow allows keeps a readable prefix and ends in ``::`` plus 12 hex
digits of the name's SHA-256 (``::`` never occurs otherwise); such a key is not decodable on its own, so the
training run also logs a ``metric_keys.json`` artifact mapping every key that differs from its name back to it.
"""

from __future__ import annotations

import hashlib
import re
import string

__all__ = ["MAX_KEY_LENGTH", "decode_key", "encode_key"]

MAX_KEY_LENGTH = 250
"""MLflow's limit on metric, param and tag keys."""

_KEPT = frozenset(string.ascii_letters + string.digits + "_.- ")
_HASH = 12
_ESCAPE = re.compile(r":([0-9A-F]{2})")


def encode_key(name: str) -> str:
    """``name`` as a key MLflow accepts; identical to ``name`` when it only holds kept characters."""
    encoded = "".join(c if c in _KEPT else "".join(f":{b:02X}" for b in c.encode()) for c in name)
    if encoded in {".", ".."}:
        encoded = "".join(f":{b:02X}" for b in encoded.encode())
    if len(encoded) <= MAX_KEY_LENGTH:
        return encoded
    digest = hashlib.sha256(name.encode()).hexdigest()[:_HASH]
    prefix = encoded[: MAX_KEY_LENGTH - _HASH - 2]
    prefix = re.sub(r":[0-9A-F]?$", "", prefix)  # never cut an escape in half
    return f"{prefix}::{digest}"


def decode_key(key: str) -> str | None:
    """The name :func:`encode_key` made ``key`` from, or None for a shortened key (look it up in the mapping)."""
    if "::" in key:
        return None
    raw = _ESCAPE.sub(lambda m: f"\x00{m.group(1)}", key)
    out = bytearray()
    parts = raw.split("\x00")
    out += parts[0].encode()
    for part in parts[1:]:
        out.append(int(part[:2], 16))
        out += part[2:].encode()
    return out.decode()
