"""Warehouse migrations on real DuckDB files: recorded once, atomic, forward only, safe for two openers."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

import factory
from factory.codeversion import code_version
from factory.resources.ddl import existing_columns
from factory.resources.migrations import MIGRATIONS, Migration, WarehouseTooNew, current_version, migrate
from factory.resources.tables import declare_use_case, tables_for
from factory.resources.warehouse import Warehouse
from factory.spec import UseCaseSpec, load_spec
from factory_tests.helpers import prelabeled_spec

UC = "ticket_triage"
LATEST = max(m.version for m in MIGRATIONS)


@pytest.fixture(scope="module")
def spec() -> UseCaseSpec:
    loaded = load_spec(Path(factory.__file__).parent / "usecases" / f"{UC}.yaml")
    declare_use_case(loaded)
    return loaded


def _ledger(path: Path) -> list[tuple[int, str, str]]:
    with duckdb.connect(str(path), read_only=True) as conn:
        rows = conn.execute("SELECT version, name, code_version FROM main.schema_migrations ORDER BY version")
        return [(int(v), str(n), str(c)) for v, n, c in rows.fetchall()]


def _legacy(path: Path) -> None:
    """Tables as the code of 580eec6 made them: created from the first frame written (CREATE TABLE AS)."""
    moment = datetime(2026, 1, 1, 12, tzinfo=UTC)
    drift = pl.DataFrame({"score": [0.1], "threshold": [0.2], "components": ["{}"], "top_new_terms": ["[]"]})
    drift = drift.with_columns(rows=1, reference_version=pl.lit("v1"), created_at=pl.lit(moment))
    drift = drift.with_columns(partition_key=pl.lit("2026-01-01"))
    scores = pl.DataFrame({"annotator": ["ann_01"], "annotations": [3], "spammer": [None], "partition_key": ["d"]})
    scores = scores.cast({"annotations": pl.Int32})  # an inferred type narrower than the declaration
    gold = pl.DataFrame({"item_id": ["a", "b"], "label": ["billing", "refund"], "partition_key": ["d", "d"]})
    with duckdb.connect(str(path)) as conn:
        conn.execute(f"CREATE SCHEMA {UC}")
        for name, frame in (("drift_reports", drift), ("annotator_scores", scores), ("gold", gold)):
            conn.register("incoming", frame.to_arrow())
            conn.execute(f"CREATE TABLE {UC}.{name} AS SELECT * FROM incoming")
            conn.unregister("incoming")


def test_a_new_warehouse_records_every_migration_with_the_code_version(tmp_path: Path, spec: UseCaseSpec) -> None:
    path = tmp_path / "w.duckdb"
    assert not Warehouse(database=str(path)).table_exists(UC, "gold")
    assert _ledger(path) == [(m.version, m.name, code_version()) for m in MIGRATIONS]


def test_a_warehouse_made_before_the_registry_is_adopted(tmp_path: Path, spec: UseCaseSpec) -> None:
    path = tmp_path / "w.duckdb"
    _legacy(path)
    warehouse = Warehouse(database=str(path))
    assert not warehouse.table_exists(UC, "drift_reports") and not warehouse.table_exists(UC, "annotator_scores")
    declared = tables_for(spec)
    with warehouse.get_connection() as conn:
        scores = existing_columns(conn, UC, "annotator_report")
        drift = existing_columns(conn, UC, "drift_report")
    assert set(scores) == set(declared["annotator_report"].columns) and scores["spammer"] == "BOOLEAN"
    assert scores["annotations"] == "BIGINT"
    assert set(drift) == set(declared["drift_report"].columns)
    assert warehouse.read_table(UC, "drift_report")["score"].to_list() == [0.1]
    assert warehouse.read_table(UC, "annotator_report")["annotator"].to_list() == ["ann_01"]
    assert warehouse.read_table(UC, "gold").height == 2
    assert [v for v, _, _ in _ledger(path)] == [m.version for m in MIGRATIONS]


def test_migrations_run_once(tmp_path: Path, spec: UseCaseSpec) -> None:
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as conn:
        assert [m.version for m, _ in migrate(conn)] == [m.version for m in MIGRATIONS]
        assert migrate(conn) == []
        assert current_version(conn) == LATEST


def test_a_failing_migration_changes_nothing(tmp_path: Path) -> None:
    def create(conn: duckdb.DuckDBPyConnection) -> list[str]:
        conn.execute("CREATE TABLE main.made_by_migration (x INTEGER)")
        return ["made"]

    def fail(conn: duckdb.DuckDBPyConnection) -> list[str]:
        raise RuntimeError("migration 2 breaks")

    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as conn:
        with pytest.raises(RuntimeError, match="migration 2 breaks"):
            migrate(conn, (Migration(1, "create", create), Migration(2, "fail", fail)))
        assert current_version(conn) == 0
        assert not existing_columns(conn, "main", "made_by_migration")


def test_a_warehouse_from_a_newer_factory_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as conn:
        migrate(conn)
        conn.execute("INSERT INTO main.schema_migrations VALUES (?, 'from the future', now(), 'x')", [LATEST + 1])
    with pytest.raises(WarehouseTooNew, match="migrations only go forward"):
        Warehouse(database=str(path)).table_exists(UC, "gold")


def test_two_processes_opening_one_file_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    _legacy(path)
    script = (
        "import sys\n"
        "from factory.resources.warehouse import Warehouse\n"
        "Warehouse(database=sys.argv[1]).table_exists('ticket_triage', 'gold')\n"
    )
    openers = [subprocess.Popen([sys.executable, "-c", script, str(path)]) for _ in range(2)]
    assert [p.wait(timeout=120) for p in openers] == [0, 0]
    assert [v for v, _, _ in _ledger(path)] == [m.version for m in MIGRATIONS]
    with duckdb.connect(str(path), read_only=True) as conn:
        assert conn.execute(f"SELECT count(*) FROM {UC}.drift_report").fetchone() == (1,)


def test_migration_2_gives_a_version_1_feedback_table_its_reviewer_and_source(
    tmp_path: Path, spec: UseCaseSpec
) -> None:
    path = tmp_path / "w.duckdb"
    corrected_at = datetime(2026, 1, 1, 12, tzinfo=UTC)
    with duckdb.connect(str(path)) as conn:
        migrate(conn, MIGRATIONS[:1])
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {UC}")
        conn.execute(
            f"CREATE TABLE {UC}.feedback (ticket_id VARCHAR, predicted_label VARCHAR, corrected_label VARCHAR, "
            "corrected_at TIMESTAMPTZ, partition_key VARCHAR)"
        )
        conn.execute(f"INSERT INTO {UC}.feedback VALUES ('t1', 'billing', 'refund', ?, '2026-01-01')", [corrected_at])
        assert current_version(conn) == 1
        assert [m.version for m, _ in migrate(conn, MIGRATIONS[:2])] == [2]
        assert {"reviewer", "source"} <= set(existing_columns(conn, UC, "feedback"))
    rows = Warehouse(database=str(path)).read_partition(UC, "feedback", "2026-01-01")
    assert rows.columns == [c for c in tables_for(spec)["feedback"].columns if c != "partition_key"]
    assert rows.select("ticket_id", "corrected_label", "reviewer").rows() == [("t1", "refund", None)]


def test_migration_3_gives_the_duplicates_of_a_pre_labeled_use_case_their_label_column(tmp_path: Path) -> None:
    labeled = prelabeled_spec(name="prelabeled_upgrade")
    declare_use_case(labeled)
    path = tmp_path / "w.duckdb"
    schema = labeled.name
    with duckdb.connect(str(path)) as conn:
        migrate(conn, MIGRATIONS[:2])
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(
            f"CREATE TABLE {schema}.duplicates (_line BIGINT, ticket_id VARCHAR, duplicate_of VARCHAR, kind VARCHAR, "
            "similarity DOUBLE, source VARCHAR, source_file VARCHAR, source_line BIGINT, partition_key VARCHAR)"
        )
        conn.execute(f"INSERT INTO {schema}.duplicates VALUES (3, 'b', 'a', 'near', 0.9, 's', 'f', 4, '2026-01-01')")
        changes = dict(migrate(conn, MIGRATIONS[:3]))
        assert [m.version for m in changes] == [3]
        assert changes[MIGRATIONS[2]] == [f"{schema}.duplicates: added category VARCHAR"]
    rows = Warehouse(database=str(path)).read_partition(schema, "duplicates", "2026-01-01")
    assert rows.select("ticket_id", "duplicate_of", "category").rows() == [("b", "a", None)], "old rows kept"


def test_migration_4_gives_an_old_drift_report_the_v2_columns(tmp_path: Path, spec: UseCaseSpec) -> None:
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as conn:
        migrate(conn, MIGRATIONS[:3])
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {UC}")
        conn.execute(
            f"CREATE TABLE {UC}.drift_report (score DOUBLE, threshold DOUBLE, components VARCHAR, "
            "top_new_terms VARCHAR, rows BIGINT, reference_version VARCHAR, created_at TIMESTAMPTZ, "
            "partition_key VARCHAR)"
        )
        conn.execute(
            f"INSERT INTO {UC}.drift_report VALUES (0.31, 0.2, '{{}}', '[]', 40, 'v1', ?, '2026-01-09')",
            [datetime(2026, 1, 9, 3, tzinfo=UTC)],
        )
        changes = dict(migrate(conn, MIGRATIONS[:4]))
        assert [m.version for m in changes] == [4]
        assert f"{UC}.drift_report: added estimated_macro_f1 DOUBLE" in changes[MIGRATIONS[3]]
    rows = Warehouse(database=str(path)).read_partition(UC, "drift_report", "2026-01-09")
    assert rows.columns == [c for c in tables_for(spec)["drift_report"].columns if c != "partition_key"]
    assert rows.select("score", "reference_version", "estimated_macro_f1").rows() == [(0.31, "v1", None)]


def _drift_report_without(conn: duckdb.DuckDBPyConnection, spec: UseCaseSpec, suffix: str | tuple[str, ...]) -> None:
    """A ``drift_report`` as an older factory wrote it (the declared columns ending in ``suffix`` missing) with
    one report, in a warehouse migrated up to the version before the one that adds them."""
    older = [c for c in tables_for(spec)["drift_report"].columns if not c.endswith(suffix)]
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {UC}")
    types = {"score": "DOUBLE", "created_at": "TIMESTAMPTZ", "rows": "BIGINT", "feedback_rows": "BIGINT"}
    columns = ", ".join(f"{c} {types.get(c, 'VARCHAR')}" for c in older)
    conn.execute(f"CREATE TABLE {UC}.drift_report ({columns})")
    conn.execute(
        f"INSERT INTO {UC}.drift_report (score, created_at, partition_key) VALUES (0.31, ?, '2026-01-09')",
        [datetime(2026, 1, 9, 3, tzinfo=UTC)],
    )


def test_migration_5_gives_a_v2_drift_report_the_estimates_standard_errors(tmp_path: Path, spec: UseCaseSpec) -> None:
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as conn:
        migrate(conn, MIGRATIONS[:4])
        _drift_report_without(conn, spec, "_se")
        changes = dict(migrate(conn, MIGRATIONS[:5]))
        assert [m.version for m in changes] == [5]
        assert {
            f"{UC}.drift_report: added estimated_accuracy_se DOUBLE",
            f"{UC}.drift_report: added estimated_macro_f1_se DOUBLE",
        } <= set(changes[MIGRATIONS[4]])
    rows = Warehouse(database=str(path)).read_partition(UC, "drift_report", "2026-01-09")
    assert rows.select("score", "estimated_macro_f1_se").rows() == [(0.31, None)]


def test_migration_6_gives_a_drift_report_the_realized_standard_errors(tmp_path: Path, spec: UseCaseSpec) -> None:
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as conn:
        migrate(conn, MIGRATIONS[:5])
        _drift_report_without(conn, spec, ("realized_macro_f1_se", "realized_accuracy_se"))
        changes = dict(migrate(conn))
        assert [m.version for m in changes] == [6]
        assert sorted(changes[MIGRATIONS[5]]) == [
            f"{UC}.drift_report: added realized_accuracy_se DOUBLE",
            f"{UC}.drift_report: added realized_macro_f1_se DOUBLE",
        ]
    rows = Warehouse(database=str(path)).read_partition(UC, "drift_report", "2026-01-09")
    assert rows.select("score", "estimated_macro_f1_se", "realized_macro_f1_se").rows() == [(0.31, None, None)]
