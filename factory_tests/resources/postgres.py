"""A throwaway PostgreSQL server for tests, as the session fixture ``postgres_dsn``.

Register it with ``pytest_plugins = ["factory_tests.resources.postgres"]`` in the test module that needs it.

The server is made from scratch in a fresh temporary directory: ``initdb`` with trust authentication, then
``pg_ctl start`` on a free port bound to 127.0.0.1 only, with its Unix socket in that directory (never in
``/var/run/postgresql``), durability off for speed. It is stopped and its directory removed at teardown.

Where the binaries come from, first found wins (``initdb``, ``pg_ctl`` and ``postgres`` must sit together):

1. ``$FACTORY_PG_BIN``, when set (an explicit directory that lacks them is an error, never a skip);
2. ``initdb`` on ``PATH``;
3. the newest ``/usr/lib/postgresql/<version>/bin`` (Debian and Ubuntu ``apt-get install postgresql`` put
   them there, off ``PATH``), then ``/usr/pgsql-<version>/bin`` (RHEL), Homebrew, ``/usr/local/pgsql/bin``.

Without binaries the tests that use the fixture skip with a message saying how to get them, unless ``CI``
is set: on CI they fail. PostgreSQL refuses to run as root, so under root the server runs as the
``postgres`` system user (or ``nobody``), which is handed the temporary directory.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["find_postgres_bin", "postgres_dsn"]

_SEARCH = (
    "/usr/lib/postgresql/*/bin",
    "/usr/pgsql-*/bin",
    "/opt/homebrew/opt/postgresql@*/bin",
    "/usr/local/opt/postgresql@*/bin",
    "/usr/local/pgsql/bin",
)
_NEEDED = ("initdb", "pg_ctl", "postgres")
_START_ATTEMPTS = 3
_INITDB_OPTIONS = ("-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")


def _complete(directory: Path) -> bool:
    return all((directory / name).is_file() and os.access(directory / name, os.X_OK) for name in _NEEDED)


def _version(directory: Path) -> tuple[int, ...]:
    return tuple(int(number) for number in re.findall(r"\d+", str(directory)))


def find_postgres_bin() -> Path | None:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres`` (see the module docstring), or None."""
    explicit = os.environ.get("FACTORY_PG_BIN")
    if explicit:
        if not _complete(Path(explicit)):
            pytest.fail(f"FACTORY_PG_BIN={explicit} does not hold {', '.join(_NEEDED)}", pytrace=False)
        return Path(explicit)
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for pattern in _SEARCH:
        candidates += sorted(Path("/").glob(pattern.lstrip("/")), key=_version, reverse=True)
    return next((directory for directory in candidates if _complete(directory)), None)


def _on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _server_user() -> str | None:
    """The user the server runs as when we are root (PostgreSQL refuses root), else None (ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    pytest.fail("running as root, and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL as")


def _environment() -> dict[str, str]:
    """Our environment without the PG* variables that would point the tools at another server."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")} | {"LC_ALL": "C"}


def _run(command: list[str], *, user: str | None, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, user=user, cwd=cwd, env=_environment(), capture_output=True, text=True, timeout=120, check=False
    )


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A libpq DSN to a fresh PostgreSQL server (superuser ``postgres``, database ``postgres``, no password)."""
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        message = (
            "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: install them "
            "(apt-get install -y postgresql) or point FACTORY_PG_BIN at their directory"
        )
        if _on_ci():
            pytest.fail(f"{message}; CI is set, so this is a failure, not a skip", pytrace=False)
        pytest.skip(message)
    user = _server_user()
    base = Path(tempfile.mkdtemp(prefix="factory-pg-"))
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(base, entry.pw_uid, entry.pw_gid)
    data, log = base / "data", base / "server.log"
    try:
        initdb = _run(
            [str(bin_dir / "initdb"), "-D", str(data), *_INITDB_OPTIONS],
            user=user,
            cwd=base,
        )
        if initdb.returncode != 0:
            pytest.fail(f"initdb failed ({bin_dir}):\n{initdb.stdout}\n{initdb.stderr}", pytrace=False)
        port = _start(bin_dir, data, base, log, user)
        try:
            yield f"host=127.0.0.1 port={port} user=postgres dbname=postgres"
        finally:
            stop = _run(
                [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], user=user, cwd=base
            )
            if stop.returncode != 0:
                pytest.fail(f"pg_ctl stop failed:\n{stop.stderr}\n{_tail(log)}", pytrace=False)
    finally:
        shutil.rmtree(base)


def _start(bin_dir: Path, data: Path, base: Path, log: Path, user: str | None) -> int:
    """Start the server on a free port (retrying if another process takes the port first); return the port."""
    failure = ""
    for _ in range(_START_ATTEMPTS):
        port = _free_port()
        options = (
            f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{base}' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        started = _run(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", options, "start"],
            user=user,
            cwd=base,
        )
        if started.returncode == 0:
            return port
        failure = f"{started.stdout}\n{started.stderr}\n{_tail(log)}"
    pytest.fail(f"PostgreSQL did not start after {_START_ATTEMPTS} attempts:\n{failure}", pytrace=False)
