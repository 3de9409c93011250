"""SQL files under ``sql/``, rendered with validated identifiers only.

Values always travel as bound parameters. Identifiers (a use case's schema, a table name) cannot be bound
in SQL, so they are checked against a strict pattern before being placed into the text.
"""

from __future__ import annotations

import re
from functools import cache

from factory.paths import SQL_DIR

__all__ = ["identifier", "render_sql"]

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def identifier(name: str) -> str:
    """Return ``name`` double-quoted if it is a safe identifier, else raise ``ValueError``."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"unsafe SQL identifier: {name!r}")
    return f'"{name}"'


@cache
def _template(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def render_sql(name: str, **identifiers: str) -> str:
    """Load ``sql/<name>.sql`` and substitute ``{schema}``-style identifier slots."""
    return _template(name).format(**{key: identifier(value) for key, value in identifiers.items()})
