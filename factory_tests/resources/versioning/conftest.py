"""Fixtures for the version-store tests: one ``store`` per backend, each in a fresh repository.

Backends, in ``_BACKENDS``: ``local`` (a temp directory), ``lakefs-double`` (the loopback double of the
lakeFS API, one server per session, one repository per test) and ``lakefs-real``, a real lakeFS server
when ``LAKEFS_ENDPOINT``, ``LAKEFS_ACCESS_KEY_ID`` and ``LAKEFS_SECRET_ACCESS_KEY`` are set (each test makes
a repository ``contract-<random>`` at ``local://contract-<random>`` and deletes it afterwards), else skipped.
Both lakeFS backends are held to lakeFS's OpenAPI document (``lakefs_contract``): the double checks every
exchange itself, and with a real server the client's connection pool is watched, so a request the backend
sends or an answer the server gives that the document does not allow fails the test.
Adding a backend is one entry in ``_BACKENDS``: a context manager from the test's request and temp directory
to a store (``ensure_repository`` is called for it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from factory.resources.versioning import LakeFSVersionStore, LocalVersionStore, VersionStore
from factory_tests.resources.versioning.lakefs_contract import (
    contract_repository_name,
    missing_lakefs_environment,
    real_lakefs_store,
)
from factory_tests.resources.versioning.lakefs_double import LakeFSDouble


@contextmanager
def _local(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VersionStore]:
    yield LocalVersionStore(tmp_path / "versions", "contract")


@contextmanager
def _lakefs_double(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VersionStore]:
    double: LakeFSDouble = request.getfixturevalue("lakefs_double")
    store = LakeFSVersionStore(
        double.endpoint, double.access_key_id, double.secret_access_key, contract_repository_name()
    )
    try:
        yield store
    finally:
        store.close()


@contextmanager
def _lakefs_real(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VersionStore]:
    missing = missing_lakefs_environment()
    if missing:
        pytest.skip(f"no real lakeFS: set {', '.join(missing)} (docker compose up lakefs; see README)")
    with real_lakefs_store() as store:
        yield store


_BACKENDS: dict[str, Callable[[pytest.FixtureRequest, Path], AbstractContextManager[VersionStore]]] = {
    "local": _local,
    "lakefs-double": _lakefs_double,
    "lakefs-real": _lakefs_real,
}


@pytest.fixture(scope="session")
def lakefs_double_server() -> Iterator[LakeFSDouble]:
    """One loopback lakeFS double for the session; tests keep apart by repository."""
    with LakeFSDouble() as double:
        yield double


@pytest.fixture
def lakefs_double(lakefs_double_server: LakeFSDouble) -> Iterator[LakeFSDouble]:
    """The session's double, checked after the test: any exchange that broke lakeFS's API fails the test."""
    lakefs_double_server.take_violations()
    yield lakefs_double_server
    lakefs_double_server.check()


@pytest.fixture(params=list(_BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VersionStore]:
    """A version store with a fresh repository (branch ``main`` at its empty initial commit)."""
    with _BACKENDS[request.param](request, tmp_path) as backend:
        backend.ensure_repository()
        yield backend
