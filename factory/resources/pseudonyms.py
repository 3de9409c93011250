"""The secret behind key pseudonyms: from ``FACTORY_PSEUDONYM_KEY``, else a key generated once per ``FACTORY_HOME``.

Id and group values that look like personal data become keyed pseudonyms in preparation (see
`factory.core.preparation.pseudonym`). The key must stay the same for a warehouse's whole life: the same
value must always give the same pseudonym, or joins, duplicate ids and group splits would break between
days. Set ``FACTORY_PSEUDONYM_KEY`` (at least 16 bytes; Dagster reads it through `dagster.EnvVar`, so its
value never appears in run configuration, the UI or logs) to share one key between installations or keep it
in a secret store. When it is not set, a random 256-bit key is generated on first use and stored in
``<FACTORY_HOME>/pseudonym.key`` (hex, mode 0600, created exclusively so two processes agree on one key);
`make reset` deletes it together with the warehouse it belongs to.
"""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

import dagster as dg

from factory.core.preparation import MIN_KEY_BYTES

__all__ = ["KEY_ENV", "KEY_FILE", "PseudonymKey", "load_or_create_key"]

KEY_ENV = "FACTORY_PSEUDONYM_KEY"
KEY_FILE = "pseudonym.key"


def load_or_create_key(path: Path) -> bytes:
    """The key stored at `path`, generating it (32 random bytes, hex, mode 0600) if the file does not exist.

    Raises ValueError if the file is readable or writable by others, or does not hold a valid key.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise ValueError(f"{path} is open to other users (mode {mode:04o}): run `chmod 600 {path}`")
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (UnicodeDecodeError, ValueError):
        raise ValueError(f"{path} does not hold a hex key; delete it only together with the warehouse") from None
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"{path} holds a key shorter than {MIN_KEY_BYTES} bytes")
    return key


class PseudonymKey(dg.ConfigurableResource["PseudonymKey"]):
    """The pseudonym key: `secret` (give it as ``dg.EnvVar(KEY_ENV)``) or else the key file under ``FACTORY_HOME``."""

    key_file: str
    secret: str | None = None

    def key(self) -> bytes:
        """The key as bytes. Raises ValueError if the secret is shorter than 16 bytes or the key file is unsafe."""
        # Inside a run Dagster has resolved the EnvVar; called directly, the field still holds the EnvVar
        # (a str naming the variable), which must be read, never used as the key itself.
        secret = self.secret.get_value() if isinstance(self.secret, dg.EnvVar) else self.secret
        if secret:
            key = secret.encode("utf-8")
            if len(key) < MIN_KEY_BYTES:
                raise ValueError(f"{KEY_ENV} must be at least {MIN_KEY_BYTES} bytes long")
            return key
        return load_or_create_key(Path(self.key_file))
