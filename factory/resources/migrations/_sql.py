"""The migrations' SQL files, shipped in this package and loaded with ``importlib.resources``."""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from factory.resources.sql import identifier

__all__ = ["migration_sql"]


@cache
def _template(name: str) -> str:
    return files(__package__).joinpath(f"{name}.sql").read_text(encoding="utf-8")


def migration_sql(name: str, **identifiers: str) -> str:
    """Load ``<name>.sql`` from this package and substitute its identifier slots (checked, then quoted)."""
    return _template(name).format(**{key: identifier(value) for key, value in identifiers.items()})
