"""A PostgreSQL server of our own, from the distribution's packages: made with ``initdb`` in a state directory and
started with ``pg_ctl``, bound to 127.0.0.1 only. `make stack` keeps Dagster's instance and MLflow's backend store
in it; the tests start a throwaway one (``factory_tests/resources/postgres.py``).

The cluster has trust authentication for its superuser ``postgres`` and listens on 127.0.0.1 only, with its Unix
socket in the state directory (never in ``/var/run/postgresql``). Where the binaries come from, first found wins
(``initdb``, ``pg_ctl`` and ``postgres`` must sit together):

1. ``$FACTORY_PG_BIN``, when set (an explicit directory that lacks them is an error);
2. ``initdb`` on ``PATH``;
3. the newest ``/usr/lib/postgresql/<version>/bin`` (Debian and Ubuntu ``apt-get install postgresql`` put
   them there, off ``PATH``), then ``/usr/pgsql-<version>/bin`` (RHEL), Homebrew, ``/usr/local/pgsql/bin``.

PostgreSQL refuses to run as root, so under root the server runs as the ``postgres`` system user (or ``nobody``),
which is handed the state directory.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

__all__ = [
    "NOT_FOUND",
    "PG_BIN_ENV",
    "PostgresError",
    "PostgresNotFound",
    "PostgresServer",
    "find_postgres_bin",
    "free_port",
    "start_postgres",
]

PG_BIN_ENV = "FACTORY_PG_BIN"
_SEARCH = (
    "/usr/lib/postgresql/*/bin",
    "/usr/pgsql-*/bin",
    "/opt/homebrew/opt/postgresql@*/bin",
    "/usr/local/opt/postgresql@*/bin",
    "/usr/local/pgsql/bin",
)
_NEEDED = ("initdb", "pg_ctl", "postgres")
_START_ATTEMPTS = 3
_INITDB_OPTIONS = ("-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C")
_FAST = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
"""Durability off: for throwaway servers (tests), whose data nobody keeps."""
NOT_FOUND = (
    "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: install them "
    f"(apt-get install -y postgresql) or point {PG_BIN_ENV} at their directory"
)


class PostgresError(RuntimeError):
    """The server could not be made, started or stopped (the message carries the tool's output)."""


class PostgresNotFound(PostgresError):
    """No PostgreSQL server binaries on this machine."""


def _complete(directory: Path) -> bool:
    return all((directory / name).is_file() and os.access(directory / name, os.X_OK) for name in _NEEDED)


def _version(directory: Path) -> tuple[int, ...]:
    return tuple(int(number) for number in re.findall(r"\d+", str(directory)))


def find_postgres_bin() -> Path | None:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres`` (see the module docstring), or None.
    Raises PostgresError when ``$FACTORY_PG_BIN`` names a directory without them."""
    explicit = os.environ.get(PG_BIN_ENV)
    if explicit:
        if not _complete(Path(explicit)):
            raise PostgresError(f"{PG_BIN_ENV}={explicit} does not hold {', '.join(_NEEDED)}")
        return Path(explicit)
    candidates: list[Path] = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for pattern in _SEARCH:
        candidates += sorted(Path("/").glob(pattern.lstrip("/")), key=_version, reverse=True)
    return next((directory for directory in candidates if _complete(directory)), None)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
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
    raise PostgresError("running as root, and neither a 'postgres' nor a 'nobody' user exists to run PostgreSQL as")


def _environment() -> dict[str, str]:
    """Our environment without the PG* variables that would point the tools at another server."""
    return {key: value for key, value in os.environ.items() if not key.startswith("PG")} | {"LC_ALL": "C"}


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


@dataclass(frozen=True)
class PostgresServer:
    """A running server: superuser ``postgres`` without a password, on 127.0.0.1:``port``."""

    bin_dir: Path
    base: Path
    """The state directory: the cluster in ``data/``, the log in ``server.log``, the Unix socket."""
    port: int
    user: str | None
    """The system user the server runs as (None: the current one)."""

    @property
    def data(self) -> Path:
        return self.base / "data"

    @property
    def log(self) -> Path:
        return self.base / "server.log"

    def dsn(self, database: str = "postgres") -> str:
        """A libpq DSN to ``database``."""
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL to ``database``, with the psycopg2 driver that dagster-postgres needs (SQLAlchemy 2.1
        defaults to psycopg 3)."""
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        """Create database ``name`` unless it exists."""
        with psycopg.connect(self.dsn(), autocommit=True) as connection:
            exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if exists is None:
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def stop(self, *, immediate: bool = False) -> None:
        """Stop the server (``immediate``: without a checkpoint, for throwaway data)."""
        mode = "immediate" if immediate else "fast"
        stopped = _pg_ctl(self.bin_dir, self.base, self.user, "-D", str(self.data), "-m", mode, "-w", "stop")
        if stopped.returncode != 0:
            raise PostgresError(f"pg_ctl stop failed:\n{stopped.stderr}\n{_tail(self.log)}")


def _pg_ctl(bin_dir: Path, base: Path, user: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    return _run([str(bin_dir / "pg_ctl"), *args], user=user, cwd=base)


def _run(command: list[str], *, user: str | None, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603  # our own argv, no shell
        command, user=user, cwd=cwd, env=_environment(), capture_output=True, text=True, timeout=120, check=False
    )


def start_postgres(base: Path, *, port: int | None = None, durable: bool = True) -> PostgresServer:
    """Start a server whose state lives in ``base`` (made with ``initdb`` on first use, reused after), on ``port``
    (default: a free one, retried if another process takes it first). ``durable=False`` turns fsync and
    synchronous commits off, for throwaway servers. Raises PostgresNotFound without binaries, PostgresError when
    initdb or the start fails."""
    bin_dir = find_postgres_bin()
    if bin_dir is None:
        raise PostgresNotFound(NOT_FOUND)
    user = _server_user()
    base.mkdir(parents=True, exist_ok=True)
    if user is not None:
        closed = [p for p in base.resolve().parents if not p.stat().st_mode & stat.S_IXOTH]
        if closed:
            raise PostgresError(
                f"PostgreSQL runs as {user}, who cannot enter {closed[0]}: choose a state directory "
                "every user may traverse (chmod o+x)"
            )
        entry = pwd.getpwnam(user)
        os.chown(base, entry.pw_uid, entry.pw_gid)
    server = PostgresServer(bin_dir=bin_dir, base=base, port=0, user=user)
    if not (server.data / "PG_VERSION").exists():
        flags = _INITDB_OPTIONS if durable else (*_INITDB_OPTIONS, "--no-sync")
        initdb = _run([str(bin_dir / "initdb"), "-D", str(server.data), *flags], user=user, cwd=base)
        if initdb.returncode != 0:
            raise PostgresError(f"initdb failed ({bin_dir}):\n{initdb.stdout}\n{initdb.stderr}")
    failure = ""
    for _ in range(1 if port else _START_ATTEMPTS):
        chosen = port or free_port()
        options = f"-p {chosen} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{base}'"
        if not durable:
            options += f" {_FAST}"
        started = _pg_ctl(
            bin_dir, base, user, "-D", str(server.data), "-l", str(server.log), "-w", "-t", "60", "-o", options, "start"
        )
        if started.returncode == 0:
            return PostgresServer(bin_dir=bin_dir, base=base, port=chosen, user=user)
        failure = f"{started.stdout}\n{started.stderr}\n{_tail(server.log)}"
    raise PostgresError(f"PostgreSQL did not start:\n{failure}")
