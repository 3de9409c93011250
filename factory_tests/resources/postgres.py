"""A throwaway PostgreSQL server for tests, as the session fixture ``postgres_dsn``.

Register it with ``pytest_plugins = ["factory_tests.resources.postgres"]`` in the test module that needs it.

The server is `factory.stack.postgres` (the one `make stack` runs) made from scratch in a fresh temporary
directory, durability off for speed; it is stopped and its directory removed at teardown. Where the binaries come
from is said there. Without binaries the tests that use the fixture skip with a message saying how to get them,
unless ``CI`` is set: on CI they fail.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest

from factory.stack.postgres import PostgresError, PostgresNotFound, PostgresServer, start_postgres

__all__ = ["postgres_dsn", "postgres_server", "skip_without_postgres", "throwaway_postgres"]


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def skip_without_postgres(missing: PostgresNotFound) -> NoReturn:
    """Skip the test for want of the PostgreSQL binaries, or fail it when ``CI`` is set."""
    if _on_ci():
        pytest.fail(f"{missing}; CI is set, so this is a failure, not a skip", pytrace=False)
    pytest.skip(str(missing))


def throwaway_postgres(base: Path) -> PostgresServer:
    """A fresh server in ``base``; skips the test without binaries (fails on CI), fails it when the start fails."""
    try:
        return start_postgres(base, durable=False)
    except PostgresNotFound as missing:
        skip_without_postgres(missing)
    except PostgresError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A fresh PostgreSQL server (superuser ``postgres``, database ``postgres``, no password)."""
    base = Path(tempfile.mkdtemp(prefix="factory-pg-"))
    try:
        server = throwaway_postgres(base)
        try:
            yield server
        finally:
            try:
                server.stop(immediate=True)
            except PostgresError as error:
                pytest.fail(str(error), pytrace=False)
    finally:
        shutil.rmtree(base)


@pytest.fixture(scope="session")
def postgres_dsn(postgres_server: PostgresServer) -> str:
    """A libpq DSN to the session's PostgreSQL server."""
    return postgres_server.dsn()
