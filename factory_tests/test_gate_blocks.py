"""A blocking gate that fails on corrupted input stops the factory: nothing downstream runs, ``main``, every
published tag and the champion stay exactly as they were."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import polars as pl

from factory.defs import build_definitions
from factory.defs.resources import build_resources
from factory.resources.versioning import LocalVersionStore
from factory_tests.helpers import asset_name, small_spec


def test_corrupted_labels_fail_the_class_share_gate_and_block_publishing(factory_home: Path) -> None:
    defs = build_definitions([small_spec(rows_per_day=300)])
    daily = defs.resolve_job_def("ticket_triage_daily")
    retrain = defs.resolve_job_def("ticket_triage_retrain")
    with dg.instance_for_test() as instance:
        for day in ("2026-01-01", "2026-01-02"):
            assert daily.execute_in_process(partition_key=day, instance=instance).success
        assert retrain.execute_in_process(instance=instance).success

        store = LocalVersionStore(factory_home / "versions", "factory")
        tracking = build_resources()["tracking"]
        main_before, tags_before = store.resolve("main"), store.list_tags()
        champion_before = tracking.champion("ticket_triage")
        assert champion_before is not None

        # Corrupt the labels: every label of day 2 collapses into one class.
        with duckdb.connect(str(factory_home / "warehouse.duckdb")) as conn:
            conn.execute("UPDATE ticket_triage.labels SET label = 'billing' WHERE partition_key = ?", ["2026-01-02"])
            conn.execute("UPDATE ticket_triage.labels SET label = 'refund' WHERE partition_key = ?", ["2026-01-01"])

        result = retrain.execute_in_process(instance=instance, raise_on_error=False)
        checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
        assert checks["min_class_share"] is False
        materialized = {asset_name(e) for e in result.get_asset_materialization_events()}
        assert materialized == {"dataset_candidate"}, "nothing after the failed gate may run"

        assert store.resolve("main") == main_before
        assert store.list_tags() == tags_before
        champion_after = tracking.champion("ticket_triage")
        assert champion_after is not None and champion_after.version == champion_before.version

        # Publishing on its own re-checks the gates and refuses the staged commit.
        publish_only = dg.materialize(
            [defs.resolve_assets_def(dg.AssetKey(["ticket_triage", "dataset"]))],
            instance=instance,
            raise_on_error=False,
        )
        assert not publish_only.success
        assert store.resolve("main") == main_before


def test_low_annotator_agreement_blocks_the_dataset(factory_home: Path) -> None:
    spec = small_spec(rows_per_day=300)
    defs = build_definitions([spec])
    daily = defs.resolve_job_def("ticket_triage_daily")
    retrain = defs.resolve_job_def("ticket_triage_retrain")
    labeling = defs.resolve_job_def("ticket_triage_labeling")
    warehouse = build_resources()["warehouse"]
    with dg.DagsterInstance.ephemeral() as instance:
        for day in ("2026-01-01", "2026-01-02"):
            assert daily.execute_in_process(partition_key=day, instance=instance).success
        assert retrain.execute_in_process(instance=instance).success
        store = LocalVersionStore(factory_home / "versions", "factory")
        tracking = build_resources()["tracking"]
        main_before, tags_before = store.resolve("main"), store.list_tags()
        champion_before = tracking.champion("ticket_triage")
        assert champion_before is not None

        # A broken batch: every annotation of day 2 is replaced by a random class (a mis-mapped import would do it).
        annotations = warehouse.read_partition("ticket_triage", "annotations", "2026-01-02")
        classes = np.asarray(spec.labeling.classes)
        noise = np.random.default_rng(3).integers(0, len(classes), annotations.height)
        warehouse.replace_partition(
            "ticket_triage", "annotations", "2026-01-02", annotations.with_columns(pl.Series("label", classes[noise]))
        )
        relabel = labeling.execute_in_process(
            partition_key="2026-01-02",
            instance=instance,
            asset_selection=[dg.AssetKey(["ticket_triage", n]) for n in ("annotator_report", "labels", "review_queue")],
            raise_on_error=False,
        )
        gate = next(e for e in relabel.get_asset_check_evaluations() if e.check_name == "agreement_above_floor")
        assert not gate.passed and gate.severity == dg.AssetCheckSeverity.ERROR
        assert "Krippendorff's alpha" in str(gate.description) or "cannot be measured" in str(gate.description)
        done = {asset_name(e) for e in relabel.get_asset_materialization_events()}
        assert "review_queue" not in done, "the blocking gate stops the rest of the labeling run"

        result = retrain.execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        assert result.get_asset_materialization_events() == [], "nothing is staged, published, trained or promoted"
        failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
        assert "fail the agreement gate" in str(failure.event_specific_data)
        assert "2026-01-02" in str(failure.event_specific_data)
        assert store.resolve("main") == main_before
        assert store.list_tags() == tags_before
        assert store.list_branches(prefix="ticket_triage/stage/") == []
        champion_after = tracking.champion("ticket_triage")
        assert champion_after is not None and champion_after.version == champion_before.version
