"""An upgrade loses nothing: a FACTORY_HOME made by commit 580eec6, opened by this code.

The fixture (``data/upgrade/``, how it was made is in its README) holds a warehouse whose tables were created
from frames, a local version store with a published ``ticket_triage/v1`` and an MLflow store with a registered
champion. Opening it applies the warehouse migrations; then the daily job runs for a new day and the retrain
job runs. Every table keeps at least its rows, every published tag still resolves to the same commit and
bytes, and every registered model version and the champion alias are still there.
"""

from __future__ import annotations

import hashlib
import sqlite3
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from mlflow import MlflowClient

from factory.defs import build_definitions
from factory.defs.resources import build_resources
from factory.resources.migrations import MIGRATIONS
from factory.resources.tables import tables_for
from factory.resources.versioning import LocalVersionStore
from factory.spec import UseCaseSpec, load_spec

FIXTURE = Path(__file__).parent / "data" / "upgrade"
MADE_AT = "/tmp/fx"  # the FACTORY_HOME the fixture was made in (see its README)
USE_CASE = "ticket_triage"
NEW_DAY = "2026-01-04"


@dataclass(frozen=True)
class Snapshot:
    """What a FACTORY_HOME holds: rows per table, published tags and their content, models and aliases."""

    rows: dict[str, int]
    tags: dict[str, tuple[str, str]]
    versions: set[str]
    aliases: dict[str, str]


def _relocate_mlflow(home: Path) -> None:
    """Point MLflow's recorded artifact paths at the unpacked home (it stores them absolute)."""
    with sqlite3.connect(home / "mlflow.db") as db:
        for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
            columns = [c[1] for c in db.execute(f"PRAGMA table_info('{table}')").fetchall()]
            for column in columns:
                db.execute(
                    f'UPDATE "{table}" SET "{column}" = replace("{column}", ?, ?) WHERE typeof("{column}") = \'text\'',
                    [f"{MADE_AT}/", f"{home}/"],
                )


def _snapshot(home: Path) -> Snapshot:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as conn:
        names = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [USE_CASE]
        ).fetchall()
        rows = {}
        for (name,) in names:
            count = conn.execute(f'SELECT count(*) FROM "{USE_CASE}"."{name}"').fetchone()
            rows[str(name)] = int(count[0]) if count else 0
    store = LocalVersionStore(home / "versions", "factory")
    tags = {}
    for tag, commit_id in store.list_tags(f"{USE_CASE}/").items():
        content = hashlib.sha256()
        for path in store.list_objects(commit_id):
            content.update(path.encode() + b"\0" + store.read_object(commit_id, path))
        tags[tag] = (commit_id, content.hexdigest())
    uri = f"sqlite:///{home / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)  # else the registry is whatever another test set
    versions = {str(v.version) for v in client.search_model_versions(f"name = '{USE_CASE}'")}
    aliases = dict(client.get_registered_model(USE_CASE).aliases)
    return Snapshot(rows, tags, versions, {k: str(v) for k, v in aliases.items()})


@dataclass
class Upgraded:
    home: Path
    spec: UseCaseSpec
    before: Snapshot
    after: Snapshot
    migrated: list[tuple[int, str]]


@pytest.fixture(scope="module")
def upgraded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upgraded]:
    home = tmp_path_factory.mktemp("upgrade_home")
    with tarfile.open(FIXTURE / "factory_home_580eec6.tar.gz") as archive:
        archive.extractall(home, filter="data")
    _relocate_mlflow(home)
    spec = load_spec(FIXTURE / "ticket_triage.yaml")
    before = _snapshot(home)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACTORY_HOME", str(home))
        patch.delenv("DAGSTER_HOME", raising=False)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.delenv("FACTORY_WAREHOUSE", raising=False)
        defs = build_definitions([spec])
        with dg.instance_for_test() as instance:
            daily = defs.resolve_job_def(f"{USE_CASE}_daily")
            assert daily.execute_in_process(partition_key=NEW_DAY, instance=instance).success
            retrain = defs.resolve_job_def(f"{USE_CASE}_retrain")
            assert retrain.execute_in_process(instance=instance).success
        with build_resources()["warehouse"].get_connection() as conn:
            rows = conn.execute("SELECT version, name FROM main.schema_migrations ORDER BY version").fetchall()
        migrated = [(int(v), str(n)) for v, n in rows]
    yield Upgraded(home, spec, before, _snapshot(home), migrated)


def test_the_fixture_predates_the_registry(upgraded: Upgraded) -> None:
    assert "drift_reports" in upgraded.before.rows and "annotator_scores" in upgraded.before.rows
    assert upgraded.before.tags and upgraded.before.versions and "champion" in upgraded.before.aliases


def test_every_migration_is_recorded_once(upgraded: Upgraded) -> None:
    assert [v for v, _ in upgraded.migrated] == [m.version for m in MIGRATIONS]


def test_no_row_is_lost(upgraded: Upgraded) -> None:
    renamed = {"drift_reports": "drift_report", "annotator_scores": "annotator_report"}
    for table, rows in upgraded.before.rows.items():
        assert upgraded.after.rows[renamed.get(table, table)] >= rows, table
    assert not set(renamed) & set(upgraded.after.rows)
    assert upgraded.after.rows["prepared"] > upgraded.before.rows["prepared"]  # the new day landed


def test_every_table_matches_the_registry_after_the_upgrade(upgraded: Upgraded) -> None:
    declared = tables_for(upgraded.spec)
    assert set(upgraded.after.rows) <= set(declared)
    with duckdb.connect(str(upgraded.home / "warehouse.duckdb"), read_only=True) as conn:
        for name, table in declared.items():
            if name not in upgraded.after.rows:
                continue
            columns = conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ?",
                [USE_CASE, name],
            ).fetchall()
            assert {str(c[0]) for c in columns} == set(table.columns), name


def test_no_published_version_is_lost_or_changed(upgraded: Upgraded) -> None:
    for tag, content in upgraded.before.tags.items():
        assert upgraded.after.tags[tag] == content, tag


def test_no_model_version_or_alias_is_lost(upgraded: Upgraded) -> None:
    assert upgraded.before.versions <= upgraded.after.versions
    assert set(upgraded.before.aliases) <= set(upgraded.after.aliases)
    champion_before = int(upgraded.before.aliases["champion"])
    assert int(upgraded.after.aliases["champion"]) >= champion_before
    assert str(champion_before) in upgraded.after.versions
