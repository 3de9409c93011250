"""The code version recorded on every dataset commit and model version.

A digest of the factory's own source (Python, SQL and use-case files), read from the package with
``importlib.resources``, so it is the same on every clone of the same commit, with or without git metadata,
and in an installed copy of it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable

__all__ = ["code_version"]

_SUFFIXES = (".py", ".yaml", ".sql")


def _source_files(folder: Traversable, prefix: str) -> Iterator[tuple[str, Traversable]]:
    """Every source file under ``folder`` as (relative posix name, file), caches excluded."""
    for entry in folder.iterdir():
        name = f"{prefix}/{entry.name}"
        if entry.is_dir():
            if entry.name != "__pycache__":
                yield from _source_files(entry, name)
        elif entry.name.endswith(_SUFFIXES):
            yield name, entry


@cache
def code_version() -> str:
    digest = hashlib.sha256()
    for name, entry in sorted(_source_files(files("factory"), "factory"), key=lambda item: item[0]):
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update(entry.read_bytes())
    return digest.hexdigest()[:16]
