"""The definitions load, and every layer of the use case is there with its group, kinds and description."""

from __future__ import annotations

import dagster as dg

from factory.defs import build_definitions
from factory.defs.metadata import mlflow_links
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


def test_every_check_says_what_passes_and_who_evaluates_it() -> None:
    """A check's description names the tool that evaluates it (Great Expectations or the factory's own code), and
    the dataset gates state their figures."""
    graph = build_definitions([small_spec()]).resolve_asset_graph()
    described = {
        (k.asset_key.path[-1], k.name): graph.get_check_spec(k).description or "" for k in graph.asset_check_keys
    }
    unnamed = {key for key, text in described.items() if not any(t in text for t in _TOOLS)}
    assert unnamed == set()
    assert "At least 300 rows (`gates.min_rows`)" in described[("dataset_candidate", "min_rows")]
    assert "Great Expectations" in described[("dataset_candidate", "min_rows")]
    assert "PSI 0.2" in described[("dataset_candidate", "features_match_reference")]
    assert "factory.core.validation" in described[("dataset_candidate", "no_group_across_splits")]


_TOOLS = ("Great Expectations", "factory's own", "factory.core")


def test_model_metadata_links_to_mlflow_only_where_a_browser_can_open_it() -> None:
    served = mlflow_links("http://mlflow.internal:5000/", "ticket triage", "3", "abc123")
    assert {k: v.value for k, v in served.items()} == {
        "mlflow_run": "http://mlflow.internal:5000/#/runs/abc123",
        "mlflow_model_version": "http://mlflow.internal:5000/#/models/ticket%20triage/versions/3",
    }
    local = mlflow_links("sqlite:////home/me/.factory/mlflow.db", "ticket_triage", "3", "abc123")
    assert set(local) == {"mlflow"} and isinstance(local["mlflow"], dg.TextMetadataValue)
    assert "mlflow ui --backend-store-uri sqlite:////home/me/.factory/mlflow.db" in str(local["mlflow"].value)
