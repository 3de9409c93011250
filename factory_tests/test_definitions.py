"""The definitions load, and every layer of the use case is there with its group, kinds and description."""

from __future__ import annotations

import dagster as dg

from factory.defs import build_definitions
from factory_tests.helpers import small_spec

LAYERS = {
    "sources": ["raw_tickets"],
    "preparation": ["prepared", "quarantine", "duplicates"],
    "labeling": ["annotations", "annotator_report", "labels", "review_queue"],
    "validation": ["dataset_candidate"],
    "versioning": ["dataset"],
    "training": ["model"],
    "promotion": ["champion"],
    "monitoring": ["predictions", "feedback", "drift_report", "factory_health", "data_inventory"],
}


def test_module_definitions_load() -> None:
    from factory.definitions import defs

    assert isinstance(defs, dg.Definitions)
    defs.resolve_all_job_defs()


def test_every_layer_is_an_asset_group_with_docs_and_kinds() -> None:
    defs = build_definitions([small_spec()])
    graph = defs.resolve_asset_graph()
    for layer, names in LAYERS.items():
        for name in names:
            key = dg.AssetKey(["ticket_triage", name])
            node = graph.get(key)
            assert node.group_name == f"ticket_triage_{layer}", key
            assert node.kinds, key
            assert node.description and len(node.description) > 60, key


def test_gates_are_blocking_where_they_guard_later_layers() -> None:
    defs = build_definitions([small_spec()])
    graph = defs.resolve_asset_graph()
    blocking = {
        (key.asset_key.path[-1], key.name) for key in graph.asset_check_keys if graph.get_check_spec(key).blocking
    }
    assert {
        ("raw_tickets", "batch_not_empty"),
        ("prepared", "rows_reconcile"),
        ("prepared", "schema_conforms"),
        ("prepared", "no_pii_residue"),
        ("labels", "agreement_above_floor"),
        ("dataset_candidate", "min_rows"),
        ("dataset_candidate", "min_class_share"),
        ("model", "quality_floor"),
    } <= blocking


def test_automation_is_defined() -> None:
    defs = build_definitions([small_spec()])
    assert defs.resolve_job_def("ticket_triage_daily").partitions_def is not None
    assert defs.resolve_job_def("ticket_triage_retrain")
    assert defs.resolve_schedule_def("ticket_triage_nightly").cron_schedule == "0 2 * * *"
    assert defs.resolve_sensor_def("ticket_triage_drift_sensor")
    assert defs.resolve_job_def("ticket_triage_labeling").partitions_def is not None
    assert defs.resolve_sensor_def("ticket_triage_labeling_sensor")
