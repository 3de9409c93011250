"""SQL files shipped in the package (``factory/sql/``), rendered with validated identifiers only.

Values always travel as bound parameters. Identifiers (a use case's schema, a table name) cannot be bound
in SQL, so they are checked against a strict pattern before being placed into the text. The files are read
with ``importlib.resources``, so an installed package finds its own copies.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files

__all__ = ["identifier", "is_identifier", "render_sql"]

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


def is_identifier(name: str) -> bool:
    """Whether `identifier` accepts ``name``: lower-case letters, digits and underscores, not starting with a
    digit, at most 63 characters (the spec checker holds a use case's key columns to it)."""
    return _IDENTIFIER.fullmatch(name) is not None


def identifier(name: str) -> str:
    """Return ``name`` double-quoted if it is a safe identifier, else raise ``ValueError``."""
    if not is_identifier(name):
        raise ValueError(f"unsafe SQL identifier: {name!r}")
    return f'"{name}"'


@cache
def _template(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"invalid SQL file name: {name!r}")
    return files("factory").joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")


def render_sql(name: str, **identifiers: str) -> str:
    """Load ``factory/sql/<name>.sql`` and substitute ``{schema}``-style identifier slots."""
    return _template(name).format(**{key: identifier(value) for key, value in identifiers.items()})
