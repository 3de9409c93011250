"""Where raw data comes from: a folder files are dropped into, and SQL databases (PostgreSQL, DuckDB, SQLite).

These adapters only fetch bytes and rows; `factory.core.ingestion` turns them into raw String frames.

File drop
---------
`FileDrop.scan` walks ``root`` without following directory symlinks and lists the regular files whose path
relative to ``root`` matches a glob (``*`` and ``?`` stay inside one path segment, ``**/`` spans any number of
directories). Names starting with a dot are skipped at every level: writers conventionally upload to a hidden
temporary name and rename when done, so a half-written file is never picked up.

`FileDrop.single` is the drop of one named file, read in place: only that file is looked at, not its folder.

Symlinks: a symlink to a regular file inside ``root`` is accepted (``path`` is its resolved target,
``relative`` the name it was dropped under); one whose target escapes ``root``, is dangling or is not a
regular file is refused and listed in ``refused``, as is a symlinked directory whose target escapes ``root``.
A symlinked directory that stays inside ``root`` is not followed: its files are listed where they really are.

Files are opened with ``O_NOFOLLOW | O_NONBLOCK`` on the resolved path and checked with ``fstat``, so a file
swapped for a symlink or a FIFO after the check is refused rather than followed or blocked on. A file deleted
between listing and hashing lands in ``vanished``. `FileDrop.read` checks again: containment, then existence
(`SourceFileGone`), then the SHA-256 against the scan (`SourceFileChanged`), so what is read is exactly what
was scanned.

SQL sources
-----------
Parameters are always bound by the driver (server-side in PostgreSQL), never formatted into the query, and
connections are read-only. Every column comes back as text, rendered by `factory.core.ingestion.values_as_text`
(timestamps ISO 8601 with offset, in UTC), plus ``_line``, the 0-based row index. A PostgreSQL DSN is a
secret: it never appears in an error message (only host, port, database and user do), and connection errors
have the password scrubbed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sqlite3
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

import duckdb
import polars as pl

from factory.core.ingestion import arrow_as_text, rows_as_text

__all__ = [
    "DropFile",
    "FileDrop",
    "SourceError",
    "SourceFileChanged",
    "SourceFileGone",
    "SourceFileRefused",
    "date_from_name",
    "impossible_date_in_name",
    "modified_day",
    "query_duckdb",
    "query_postgres",
    "query_sqlite",
]

_CHUNK = 1 << 20
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
_CONNECT_TIMEOUT_SECONDS = 10


class SourceError(Exception):
    """A source could not be read as asked."""


class SourceFileGone(SourceError):
    """A scanned file was deleted before it was read."""


class SourceFileChanged(SourceError):
    """A scanned file's content changed before it was read."""


class SourceFileRefused(SourceError):
    """A path resolves outside the drop folder, or to something that is not a regular file."""


# --- file drop -------------------------------------------------------------------------------------------

_DATE = re.compile(r"(?<!\d)(?:(\d{4})-(\d{2})-(\d{2})|(\d{4})(\d{2})(\d{2}))(?!\d)")


def date_from_name(name: str) -> date | None:
    """The first valid calendar date written ``YYYY-MM-DD`` or ``YYYYMMDD`` in `name`, not touching other digits."""
    for match in _DATE.finditer(name):
        parts = [int(part) for part in match.groups() if part is not None]
        with contextlib.suppress(ValueError):  # digits that are not a calendar date, e.g. 20241399
            return date(*parts)
    return None


def impossible_date_in_name(name: str) -> str | None:
    """The first date-shaped part of `name` that is no calendar date (``2026-02-30``, ``20260230``), when
    the name holds no valid date; None otherwise. Eight bare digits count only with a year 19xx or 20xx."""
    if date_from_name(name) is not None:
        return None
    for match in _DATE.finditer(name):
        if match.group(1) is not None or match.group(4)[:2] in ("19", "20"):
            return match.group()
    return None


def modified_day(file: DropFile) -> date:
    """The UTC day `file` was last modified: the day a file without a usable date is filed under.

    Raises SourceFileGone if it no longer exists."""
    try:
        return datetime.fromtimestamp(file.path.stat().st_mtime, UTC).date()
    except FileNotFoundError:
        raise SourceFileGone(f"{file.relative} was deleted after the scan") from None


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """A regex matching the posix relative paths `pattern` matches."""
    out: list[str] = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**/", index):
            out.append("(?:[^/]+/)*")
            index += 3
            continue
        if pattern.startswith("**", index) and index + 2 == len(pattern):
            out.append(".*")
            index += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[" and (end := pattern.find("]", index + 2)) != -1:
            body = pattern[index + 1 : end]
            negate = body.startswith("!")
            body = body.removeprefix("!").replace("\\", "\\\\")
            out.append(f"[{'^' if negate else ''}{body}]")
            index = end + 1
            continue
        else:
            out.append(re.escape(char))
        index += 1
    return re.compile("".join(out))


@dataclass(frozen=True)
class DropFile:
    """A file found by `FileDrop.scan`."""

    path: Path
    relative: str
    size: int
    sha256: str
    file_date: date | None


class _NotRegular(Exception):
    pass


@contextlib.contextmanager
def _open_regular(path: Path) -> Iterator[int]:
    """A descriptor on `path`, which must be a regular file reached without a final symlink."""
    try:
        descriptor = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise _NotRegular(f"cannot be opened as a regular file ({exc.strerror})") from exc
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise _NotRegular("is not a regular file")
        yield descriptor
    finally:
        os.close(descriptor)


def _hash(descriptor: int) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    while chunk := os.read(descriptor, _CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _read_all(descriptor: int) -> bytes:
    chunks = []
    while chunk := os.read(descriptor, _CHUNK):
        chunks.append(chunk)
    return b"".join(chunks)


class FileDrop:
    """Files matching `pattern` under `root` (see the module docstring for what is accepted and refused), or
    the one file `root` names (`single`)."""

    def __init__(self, root: Path, pattern: str) -> None:
        posix = PurePosixPath(pattern)
        if not pattern or posix.is_absolute() or ".." in posix.parts:
            raise ValueError(f"pattern must be a glob relative to the drop folder, without '..': got {pattern!r}")
        self.root = Path(root).resolve()
        self.pattern = pattern
        self._match = _glob_regex(pattern)
        self._only: str | None = None
        self.refused: list[str] = []
        self.vanished: list[str] = []

    @classmethod
    def single(cls, path: Path) -> FileDrop:
        """A drop of the one file `path`, read in place: its folder is the root, and `scan` looks at that file
        only (its name may start with a dot or hold glob characters; the folder is not walked). A symlink named
        explicitly is followed to its target (the caller confined the path, `factory.paths.resolve_input`)."""
        path = Path(path).resolve()
        drop = cls(path.parent, "*")
        drop._only = path.name
        return drop

    def _inside(self, path: Path) -> bool:
        return path == self.root or path.is_relative_to(self.root)

    def _resolves_inside(self, path: Path) -> bool:
        try:
            return self._inside(path.resolve())
        except (OSError, RuntimeError):  # a symlink loop
            return False

    def scan(self) -> list[DropFile]:
        """The matching files, sorted by relative path; `refused` and `vanished` are reset and refilled."""
        if not self.root.is_dir():
            raise SourceError(f"the drop folder {self.root} does not exist or is not a directory")
        if self._only is not None:
            return self._scan_single(self._only)
        found: list[DropFile] = []
        refused: list[str] = []
        vanished: list[str] = []

        def walk_error(error: OSError) -> None:
            if isinstance(error, FileNotFoundError):  # a directory deleted while we walked
                vanished.append(Path(str(error.filename)).relative_to(self.root).as_posix() + "/")
                return
            raise error

        for directory, subdirectories, names in os.walk(self.root, onerror=walk_error):
            here = Path(directory)
            subdirectories[:] = sorted(name for name in subdirectories if not name.startswith("."))
            for name in subdirectories:
                link = here / name
                if link.is_symlink() and not self._resolves_inside(link):
                    refused.append(link.relative_to(self.root).as_posix() + "/")
            for name in sorted(names):
                path = here / name
                relative = path.relative_to(self.root).as_posix()
                if name.startswith(".") or not self._match.fullmatch(relative):
                    continue
                outcome = self._inspect(path, relative)
                if isinstance(outcome, DropFile):
                    found.append(outcome)
                else:
                    (vanished if outcome == "vanished" else refused).append(relative)
        self.refused = sorted(refused)
        self.vanished = sorted(vanished)
        return sorted(found, key=lambda file: file.relative)

    def _scan_single(self, name: str) -> list[DropFile]:
        outcome = self._inspect(self.root / name, name)
        if isinstance(outcome, DropFile):
            self.refused, self.vanished = [], []
            return [outcome]
        if outcome == "vanished":
            raise SourceError(f"the source file {self.root / name} does not exist")
        self.refused, self.vanished = [name], []
        return []

    def _inspect(self, path: Path, relative: str) -> DropFile | str:
        try:
            target = path.resolve(strict=True)
        except FileNotFoundError:
            return "refused" if os.path.lexists(path) else "vanished"  # dangling symlink, or deleted
        except (OSError, RuntimeError):  # a symlink loop
            return "refused"
        if not self._inside(target):
            return "refused"
        try:
            with _open_regular(target) as descriptor:
                sha256, size = _hash(descriptor)
        except FileNotFoundError:
            return "vanished"
        except _NotRegular:
            return "refused"
        return DropFile(path=target, relative=relative, size=size, sha256=sha256, file_date=date_from_name(path.name))

    def read(self, file: DropFile) -> bytes:
        """The bytes of `file`, exactly as scanned.

        Raises SourceFileRefused if it now resolves outside the drop folder or to something not a regular
        file, SourceFileGone if it was deleted, SourceFileChanged if its content differs from the scan.
        """
        relative = PurePosixPath(file.relative)
        if relative.is_absolute() or ".." in relative.parts:
            raise SourceFileRefused(f"{file.relative!r} is not a path inside the drop folder")
        path = self.root.joinpath(*relative.parts)
        try:
            target = path.resolve(strict=True)
        except FileNotFoundError:
            raise SourceFileGone(f"{file.relative} was deleted after the scan") from None
        except (OSError, RuntimeError) as exc:
            raise SourceFileRefused(f"{file.relative} cannot be resolved: {exc}") from None
        if not self._inside(target):
            raise SourceFileRefused(f"{file.relative} now resolves outside the drop folder")
        try:
            with _open_regular(target) as descriptor:
                data = _read_all(descriptor)
        except FileNotFoundError:
            raise SourceFileGone(f"{file.relative} was deleted after the scan") from None
        except _NotRegular as exc:
            raise SourceFileRefused(f"{file.relative} {exc}") from None
        sha256 = hashlib.sha256(data).hexdigest()
        if sha256 != file.sha256:
            raise SourceFileChanged(
                f"{file.relative} changed after the scan: sha256 {file.sha256[:12]}… then, {sha256[:12]}… now "
                f"({file.size:,} bytes then, {len(data):,} now)"
            )
        return data


# --- SQL -------------------------------------------------------------------------------------------------


def _conninfo(dsn: str) -> dict[str, Any]:
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        return dict(conninfo_to_dict(dsn))
    except psycopg.Error:  # its message may echo the DSN, a secret: say what is wrong without it
        raise SourceError(
            "the PostgreSQL connection string could not be parsed (details withheld: they could echo the secret)"
        ) from None


def _describe(info: Mapping[str, Any]) -> str:
    """Where a DSN points, without any secret."""
    parts = (f"{key}={info[key]}" for key in ("host", "port", "dbname", "user") if info.get(key) not in (None, ""))
    return " ".join(parts) or "the default PostgreSQL server"


def _scrub(message: str, info: Mapping[str, Any], dsn: str) -> str:
    secrets = [dsn]
    password = info.get("password")
    if password:
        secrets += [str(password), quote(str(password), safe="")]
    for secret in sorted(secrets, key=len, reverse=True):
        message = message.replace(secret, "***")
    return message


def query_postgres(dsn: str, query: str, params: Mapping[str, object]) -> pl.DataFrame:
    """Rows of `query` as text plus ``_line``, in a read-only transaction with the session in UTC.

    `query` names its parameters ``%(name)s`` (a literal percent sign is ``%%``); psycopg sends them to the
    server separately from the query. Raises SourceError when it cannot connect or the statement returns no
    rows set; errors of the query itself propagate as psycopg raises them.
    """
    try:
        import psycopg
    except ImportError:  # pragma: no cover - depends on the environment
        raise SourceError("PostgreSQL sources need psycopg: install 'psycopg[binary]>=3.2'") from None

    info = _conninfo(dsn)
    info.setdefault("connect_timeout", _CONNECT_TIMEOUT_SECONDS)
    try:
        connection = psycopg.connect(**info)
    except psycopg.Error as exc:
        reason = _scrub(str(exc).strip(), info, dsn)
        raise SourceError(f"could not connect to PostgreSQL at {_describe(info)}: {reason}") from None
    try:
        connection.read_only = True
        with connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
            cursor.execute(query, params)
            if cursor.description is None:
                raise SourceError("the PostgreSQL query returned no rows set (a source query must be a SELECT)")
            names = [column.name for column in cursor.description]
            rows = cursor.fetchall()
    finally:
        connection.close()  # never commits: the transaction is read-only and is discarded
    return _as_text(names, rows)


def _as_text(names: Sequence[str], rows: Sequence[Sequence[object]]) -> pl.DataFrame:
    try:
        return rows_as_text(names, rows)
    except ValueError as exc:
        raise SourceError(str(exc)) from None


def query_duckdb(path: Path, query: str, params: Sequence[object]) -> pl.DataFrame:
    """Rows of `query` (``?`` or ``$1`` parameters) against the DuckDB file `path`, opened read-only."""
    if not Path(path).is_file():
        raise SourceError(f"the DuckDB file {path} does not exist")
    connection = duckdb.connect(str(path), read_only=True)
    try:
        connection.execute("SET TimeZone = 'UTC'")
        relation = connection.sql(query, params=list(params) or None)
        if relation is None:
            raise SourceError("the DuckDB query returned no rows set (a source query must be a SELECT)")
        table = relation.to_arrow_table()
    finally:
        connection.close()
    try:
        return arrow_as_text(table)
    except ValueError as exc:
        raise SourceError(str(exc)) from None


_UNDECODABLE = re.compile(r"Could not decode to UTF-8 column '(.*?)'")


def query_sqlite(path: Path, query: str, params: Sequence[object]) -> pl.DataFrame:
    """Rows of `query` (``?`` parameters) against the SQLite file `path`, opened read-only (URI ``mode=ro``)."""
    path = Path(path).resolve()
    if not path.is_file():
        raise SourceError(f"the SQLite file {path} does not exist")
    connection = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    try:
        try:
            cursor = connection.execute(query, tuple(params))
            if cursor.description is None:
                raise SourceError("the SQLite query returned no rows set (a source query must be a SELECT)")
            names = [column[0] for column in cursor.description]
            rows = cursor.fetchall()
        except sqlite3.OperationalError as exc:
            undecodable = _UNDECODABLE.match(str(exc))
            if undecodable is None:
                raise
            # sqlite3's message quotes the value, which may be personal data: name the column only
            raise SourceError(
                f"column {undecodable.group(1)!r} holds TEXT that is not valid UTF-8; "
                "CAST it AS BLOB in the query to read its bytes"
            ) from None
    finally:
        connection.close()
    return _as_text(names, rows)
