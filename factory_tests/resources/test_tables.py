"""The table registry holds together: the names the type checker knows, the declarations, and the assets."""

from __future__ import annotations

from typing import get_args

import dagster as dg

from factory.defs import build_definitions
from factory.resources.tables import TableName, tables_for
from factory_tests.helpers import small_spec


def test_the_type_checked_names_are_exactly_the_declared_tables() -> None:
    assert sorted(get_args(TableName)) == sorted(tables_for(small_spec()))


def test_every_table_is_owned_by_an_asset_of_its_use_case_and_main_tables_carry_its_name() -> None:
    spec = small_spec()
    assets = {key.path[-1] for key in build_definitions([spec]).resolve_asset_graph().get_all_asset_keys()}
    raw_assets = {f"raw_{source.name}" for source in spec.sources}
    for table in tables_for(spec).values():
        owners = raw_assets if table.owner == "raw_<source>" else {table.owner}
        assert owners <= assets, (table.name, table.owner)
        if not table.side and table.name != "raw":
            assert table.name == table.owner, table.name


def test_the_catalog_shows_each_assets_table_columns_and_side_tables() -> None:
    spec = small_spec()
    graph = build_definitions([spec]).resolve_asset_graph()
    for table in tables_for(spec).values():
        if table.side or table.name == "raw":
            continue
        metadata = graph.get(dg.AssetKey([spec.name, table.name])).metadata
        assert metadata["dagster/table_name"] == f"warehouse.{spec.name}.{table.name}"
        schema = metadata["dagster/column_schema"]
        assert [c.name for c in schema.columns] == list(table.columns), table.name
    annotations = graph.get(dg.AssetKey([spec.name, "annotations"])).metadata
    assert "ticket_triage.gold" in annotations["side_tables"].md_str
