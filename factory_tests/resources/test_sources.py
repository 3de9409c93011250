"""Sources: the file drop refuses what escapes it and notices what changes; SQL sources bind parameters."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from factory.resources.sources import (
    DropFile,
    FileDrop,
    SourceError,
    SourceFileChanged,
    SourceFileGone,
    SourceFileRefused,
    date_from_name,
    impossible_date_in_name,
    modified_day,
    query_duckdb,
    query_postgres,
    query_sqlite,
)

pytest_plugins = ["factory_tests.resources.postgres"]

INJECTION = "x'); DROP TABLE events; --"


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    root = tmp_path / "drop"
    write(root / "2026-01-02_tickets.csv", b"id\n1\n")
    write(root / "east" / "tickets_20260103.csv", b"id\n2\n")
    write(root / "east" / "deep" / "notes.csv", b"id\n3\n")
    write(root / "east" / "readme.txt", b"not data")
    write(root / ".uploading.csv", b"half")
    write(root / ".staging" / "a.csv", b"half")
    return root


# --- file drop -------------------------------------------------------------------------------------------


def test_scan_lists_matching_regular_files_sorted_with_size_hash_and_date(drop: Path) -> None:
    source = FileDrop(drop, "**/*.csv")
    files = source.scan()
    assert [file.relative for file in files] == [
        "2026-01-02_tickets.csv",
        "east/deep/notes.csv",
        "east/tickets_20260103.csv",
    ]
    first = files[0]
    assert first == DropFile(
        path=(drop / "2026-01-02_tickets.csv").resolve(),
        relative="2026-01-02_tickets.csv",
        size=5,
        sha256=hashlib.sha256(b"id\n1\n").hexdigest(),
        file_date=date(2026, 1, 2),
    )
    assert [file.file_date for file in files] == [date(2026, 1, 2), None, date(2026, 1, 3)]
    assert source.refused == [] and source.vanished == []
    assert source.read(first) == b"id\n1\n"


def test_glob_segments_do_not_cross_directories(drop: Path) -> None:
    assert [file.relative for file in FileDrop(drop, "*.csv").scan()] == ["2026-01-02_tickets.csv"]
    assert [file.relative for file in FileDrop(drop, "east/*.csv").scan()] == ["east/tickets_20260103.csv"]
    assert [file.relative for file in FileDrop(drop, "east/**/n?tes.[a-c]sv").scan()] == ["east/deep/notes.csv"]


@pytest.mark.parametrize("pattern", ["", "/abs/*.csv", "../*.csv", "a/../../b"])
def test_patterns_must_stay_inside_the_root(drop: Path, pattern: str) -> None:
    with pytest.raises(ValueError, match="relative to the drop folder"):
        FileDrop(drop, pattern)


def test_a_missing_root_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        FileDrop(tmp_path / "nowhere", "*.csv").scan()


def test_symlinks_escaping_the_root_are_refused_and_links_inside_are_read(drop: Path, tmp_path: Path) -> None:
    secret = write(tmp_path / "outside" / "secret.csv", b"id\nsecret\n")
    (drop / "escape.csv").symlink_to(secret)
    (drop / "east" / "relative_escape.csv").symlink_to(Path("..") / ".." / "outside" / "secret.csv")
    (drop / "dangling.csv").symlink_to(drop / "gone.csv")
    (drop / "outside_dir").symlink_to(secret.parent, target_is_directory=True)
    (drop / "inside_dir").symlink_to(drop / "east", target_is_directory=True)
    (drop / "alias_20260105.csv").symlink_to(drop / "east" / "deep" / "notes.csv")
    os.mkfifo(drop / "pipe.csv")
    (drop / "loop.csv").symlink_to(drop / "loop.csv")

    source = FileDrop(drop, "**/*.csv")
    files = {file.relative: file for file in source.scan()}
    assert sorted(source.refused) == [
        "dangling.csv",
        "east/relative_escape.csv",
        "escape.csv",
        "loop.csv",
        "outside_dir/",
        "pipe.csv",
    ]
    assert sorted(files) == [
        "2026-01-02_tickets.csv",
        "alias_20260105.csv",
        "east/deep/notes.csv",
        "east/tickets_20260103.csv",
    ]  # nothing through inside_dir: its files are listed where they really are
    alias = files["alias_20260105.csv"]
    assert alias.path == (drop / "east" / "deep" / "notes.csv").resolve()
    assert alias.file_date == date(2026, 1, 5)
    assert source.read(alias) == b"id\n3\n"


def test_read_refuses_a_file_that_became_a_link_outside(drop: Path, tmp_path: Path) -> None:
    secret = write(tmp_path / "outside.csv", b"id\n1\n")  # same bytes as the scanned file
    source = FileDrop(drop, "*.csv")
    (file,) = source.scan()
    (drop / file.relative).unlink()
    (drop / file.relative).symlink_to(secret)
    with pytest.raises(SourceFileRefused, match="outside the drop folder"):
        source.read(file)


def test_a_file_deleted_after_the_scan_raises_source_file_gone(drop: Path) -> None:
    source = FileDrop(drop, "*.csv")
    (file,) = source.scan()
    (drop / file.relative).unlink()
    with pytest.raises(SourceFileGone, match=r"2026-01-02_tickets\.csv was deleted"):
        source.read(file)


def test_a_file_deleted_during_the_scan_lands_in_vanished(drop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_walk = os.walk
    doomed = drop / "east" / "tickets_20260103.csv"

    def walk_then_delete(top: Any, *args: Any, **kwargs: Any) -> Iterator[tuple[str, list[str], list[str]]]:
        for entry in real_walk(top, *args, **kwargs):
            if Path(entry[0]) == doomed.parent:
                doomed.unlink()  # listed, then deleted before it is hashed
            yield entry

    monkeypatch.setattr(os, "walk", walk_then_delete)
    source = FileDrop(drop, "**/*.csv")
    files = source.scan()
    assert "east/tickets_20260103.csv" in source.vanished
    assert [file.relative for file in files] == ["2026-01-02_tickets.csv", "east/deep/notes.csv"]
    assert source.refused == []


def test_changed_content_is_detected_even_at_the_same_size(drop: Path) -> None:
    source = FileDrop(drop, "*.csv")
    (file,) = source.scan()
    (drop / file.relative).write_bytes(b"id\n9\n")
    with pytest.raises(SourceFileChanged, match="changed after the scan"):
        source.read(file)
    (again,) = source.scan()
    assert source.read(again) == b"id\n9\n"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("tickets_2026-01-02.csv", date(2026, 1, 2)),
        ("20260102.jsonl", date(2026, 1, 2)),
        ("batch-7_20251231_v2.csv", date(2025, 12, 31)),
        ("2026-13-01_then_2026-02-03.csv", date(2026, 2, 3)),
        ("export_20260102123000.csv", None),
        ("id_123456789.csv", None),
        ("tickets.csv", None),
    ],
)
def test_file_date_from_the_name(name: str, expected: date | None) -> None:
    assert date_from_name(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("tickets_2026-02-30.csv", "2026-02-30"),
        ("tickets_20260230.csv", "20260230"),
        ("2026-13-01_then_2026-02-03.csv", None),  # a valid date further on wins
        ("tickets_2026-01-02.csv", None),
        ("batch_12345678.csv", None),  # eight digits that do not start like a year are no date
        ("tickets.csv", None),
    ],
)
def test_an_impossible_date_in_the_name_is_reported(name: str, expected: str | None) -> None:
    assert impossible_date_in_name(name) == expected


def test_modification_day_of_a_file(drop: Path) -> None:
    file = FileDrop(drop, "*.csv").scan()[0]
    moment = datetime(2026, 1, 4, 23, 30, tzinfo=UTC).timestamp()
    os.utime(file.path, (moment, moment))
    assert modified_day(file) == date(2026, 1, 4)
    file.path.unlink()
    with pytest.raises(SourceFileGone):
        modified_day(file)


# --- PostgreSQL ------------------------------------------------------------------------------------------

WINDOW = {"start": datetime(2026, 1, 2, tzinfo=UTC), "end": datetime(2026, 1, 3, tzinfo=UTC)}


@pytest.fixture(scope="module")
def events_dsn(postgres_dsn: str) -> str:
    with psycopg.connect(postgres_dsn, autocommit=True) as connection:
        connection.execute("DROP TABLE IF EXISTS events")
        connection.execute(
            "CREATE TABLE events (id int, body text, at timestamptz, score numeric(5, 2), ok boolean, meta jsonb)"
        )
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO events VALUES (%s, %s, %s, %s, %s, %s)",
                [
                    (1, "before", "2026-01-01T23:59:59Z", 1.5, True, None),
                    (2, "first", "2026-01-02T00:00:00Z", 2.25, False, '{"k": [1, "x"]}'),
                    (3, None, "2026-01-02T12:30:00.123456+02:00", None, None, None),
                    (4, INJECTION, "2026-01-02T23:00:00Z", 0, True, None),
                    (5, "after", "2026-01-03T00:00:00Z", 9, True, None),
                ],
            )
    return postgres_dsn


def test_postgres_window_query_returns_text_columns(events_dsn: str) -> None:
    frame = query_postgres(
        events_dsn, "SELECT id, body, at, score, ok, meta FROM events WHERE at >= %(start)s AND at < %(end)s "
        "ORDER BY id", WINDOW,
    )  # fmt: skip
    assert frame.rows() == [
        ("2", "first", "2026-01-02T00:00:00+00:00", "2.25", "false", '{"k":[1,"x"]}', 0),
        ("3", None, "2026-01-02T10:30:00.123456+00:00", None, None, None, 1),
        ("4", INJECTION, "2026-01-02T23:00:00+00:00", "0.00", "true", None, 2),
    ]
    assert frame.schema["_line"].is_integer() and all(
        str(dtype) == "String" for name, dtype in frame.schema.items() if name != "_line"
    )


def test_postgres_injection_in_a_parameter_is_data(events_dsn: str) -> None:
    query = "SELECT id, body FROM events WHERE body = %(body)s"
    assert query_postgres(events_dsn, query, {"body": INJECTION}).rows() == [("4", INJECTION, 0)]
    assert query_postgres(events_dsn, query, {"body": "' OR '1'='1"}).height == 0
    assert query_postgres(events_dsn, "SELECT count(*) AS n FROM events", {}).rows() == [("5", 0)]


def test_postgres_source_is_read_only(events_dsn: str) -> None:
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        query_postgres(events_dsn, "DELETE FROM events RETURNING id", {})
    assert query_postgres(events_dsn, "SELECT count(*) AS n FROM events", {})["n"].to_list() == ["5"]


def test_postgres_statement_without_rows_and_duplicate_names_raise(events_dsn: str) -> None:
    with pytest.raises(SourceError, match="no rows set"):
        query_postgres(events_dsn, "SET LOCAL work_mem = '8MB'", {})
    with pytest.raises(SourceError, match="more than once"):
        query_postgres(events_dsn, "SELECT id, id FROM events", {})


@pytest.mark.parametrize(
    "dsn",
    [
        "host=127.0.0.1 port=1 user=reader password=hunter2-secret connect_timeout=2",
        "postgresql://reader:hunter2-secret@127.0.0.1:1/db?connect_timeout=2",
        "password=hunter2-secret host",
        "postgresql://reader:hunter2-secret@127.0.0.1:notaport/db",
    ],
    ids=["refused", "refused-uri", "unparseable", "bad-port"],
)
def test_postgres_errors_never_show_the_password(dsn: str) -> None:
    with pytest.raises(SourceError) as raised:
        query_postgres(dsn, "SELECT 1", {})
    shown = str(raised.value)
    assert "hunter2" not in shown
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    if "127.0.0.1" in dsn and "notaport" not in dsn:
        assert "host=127.0.0.1 port=1" in shown


# --- DuckDB and SQLite -----------------------------------------------------------------------------------

ROWS = [
    (1, "before", datetime(2026, 1, 1, 23, 59, 59, tzinfo=UTC)),
    (2, "first", datetime(2026, 1, 2, tzinfo=UTC)),
    (3, None, datetime(2026, 1, 2, 10, 30, 0, 123456, tzinfo=UTC)),
    (4, INJECTION, datetime(2026, 1, 2, 23, tzinfo=UTC)),
    (5, "after", datetime(2026, 1, 3, tzinfo=UTC)),
]
EXPECTED = [
    ("2", "first", "2026-01-02T00:00:00+00:00", 0),
    ("3", None, "2026-01-02T10:30:00.123456+00:00", 1),
    ("4", INJECTION, "2026-01-02T23:00:00+00:00", 2),
]


@pytest.fixture
def duckdb_file(tmp_path: Path) -> Path:
    path = tmp_path / "source.duckdb"
    connection = duckdb.connect(str(path))
    try:
        connection.execute("SET TimeZone = 'Europe/Berlin'")  # the reader must not depend on the zone
        connection.execute("CREATE TABLE events (id INTEGER, body VARCHAR, created TIMESTAMPTZ)")
        connection.executemany("INSERT INTO events VALUES (?, ?, ?)", ROWS)
    finally:
        connection.close()
    return path


def test_duckdb_window_query_returns_text_columns(duckdb_file: Path) -> None:
    query = "SELECT id, body, created FROM events WHERE created >= ? AND created < ? ORDER BY id"
    frame = query_duckdb(duckdb_file, query, [WINDOW["start"], WINDOW["end"]])
    assert frame.rows() == EXPECTED


def test_duckdb_injection_is_data_and_the_file_is_read_only(duckdb_file: Path) -> None:
    query = "SELECT id, body FROM events WHERE body = ?"
    assert query_duckdb(duckdb_file, query, [INJECTION]).rows() == [("4", INJECTION, 0)]
    assert query_duckdb(duckdb_file, query, ["' OR '1'='1"]).height == 0
    with pytest.raises(duckdb.Error, match="read-only"):
        query_duckdb(duckdb_file, "DELETE FROM events", [])
    assert query_duckdb(duckdb_file, "SELECT count(*) AS n FROM events", []).rows() == [("5", 0)]


def test_duckdb_missing_file_and_reserved_names_raise(tmp_path: Path, duckdb_file: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        query_duckdb(tmp_path / "nope.duckdb", "SELECT 1", [])
    assert not (tmp_path / "nope.duckdb").exists()
    with pytest.raises(SourceError, match="reserved"):
        query_duckdb(duckdb_file, "SELECT 1 AS _line", [])


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "source.sqlite"
    connection = sqlite3.connect(path)
    try:
        connection.execute("CREATE TABLE events (id INTEGER, body TEXT, created TEXT, raw BLOB, score REAL)")
        connection.executemany(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
            [(i, body, at.isoformat(), b"\x00\xff", 0.5) for i, body, at in ROWS],
        )
        connection.commit()
    finally:
        connection.close()
    return path


def test_sqlite_window_query_returns_text_columns(sqlite_file: Path) -> None:
    query = "SELECT id, body, created, raw, score FROM events WHERE created >= ? AND created < ? ORDER BY id"
    frame = query_sqlite(sqlite_file, query, ["2026-01-02", "2026-01-03"])
    assert frame.select("id", "body", "raw", "score", "_line").rows() == [
        ("2", "first", "\\x00ff", "0.5", 0),
        ("3", None, "\\x00ff", "0.5", 1),
        ("4", INJECTION, "\\x00ff", "0.5", 2),
    ]


def test_sqlite_injection_is_data_and_the_file_is_read_only(sqlite_file: Path) -> None:
    query = "SELECT id, body FROM events WHERE body = ?"
    assert query_sqlite(sqlite_file, query, [INJECTION]).rows() == [("4", INJECTION, 0)]
    assert query_sqlite(sqlite_file, query, ["' OR '1'='1"]).height == 0
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        query_sqlite(sqlite_file, "DELETE FROM events RETURNING id", [])
    assert query_sqlite(sqlite_file, "SELECT count(*) AS n FROM events", []).rows() == [("5", 0)]


def test_sqlite_text_that_is_not_utf8_names_the_column_not_the_value(tmp_path: Path) -> None:
    path = tmp_path / "bad.sqlite"
    connection = sqlite3.connect(path)
    try:
        connection.execute("CREATE TABLE t (body TEXT)")
        connection.execute("INSERT INTO t VALUES (CAST(X'6a6f686e40ff' AS TEXT))")
        connection.commit()
    finally:
        connection.close()
    with pytest.raises(SourceError, match="column 'body' holds TEXT that is not valid UTF-8") as raised:
        query_sqlite(path, "SELECT body FROM t", [])
    assert "john" not in str(raised.value)
    assert query_sqlite(path, "SELECT CAST(body AS BLOB) AS body FROM t", []).rows() == [("\\x6a6f686e40ff", 0)]
