"""Fixtures for the version-store tests: one ``store`` per backend, each in a fresh repository.

Adding a backend is one entry in ``_BACKENDS``: a function from a temp directory to a ready store.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from factory.resources.versioning import LocalVersionStore, VersionStore


def _local(tmp_path: Path) -> VersionStore:
    return LocalVersionStore(tmp_path / "versions", "contract")


_BACKENDS: dict[str, Callable[[Path], VersionStore]] = {
    "local": _local,
}


@pytest.fixture(params=sorted(_BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> VersionStore:
    """A version store with a fresh repository (branch ``main`` at its empty initial commit)."""
    backend = _BACKENDS[request.param](tmp_path)
    backend.ensure_repository()
    return backend
