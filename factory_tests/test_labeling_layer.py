"""The labeling layer through the real assets and a real DuckDB file: demo annotators plus an inbox of Label
Studio and CSV files, the annotator report, Dawid-Skene labels behind the agreement gate, the review queue and
its Label Studio export, production corrections and the labeling sensor.

Days 1 and 2 run the daily job; day 10 too, when the demo's tiring annotator has fallen far enough behind her
first days for the drift alert. No model is trained: the review queue uses the out-of-fold model.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest

from factory.core.preparation import residue
from factory.defs import build_definitions
from factory.defs.labeling.review import review_queue_asset
from factory.defs.resources import build_resources
from factory.defs.usecase import UseCase
from factory.demo import generate_day, truth_for
from factory.demo.plugin import demo_config
from factory.headless import (
    LayerLog,
    _labeling_lines,  # the summary's labeling lines, without running the whole demo
)
from factory.resources.label_store import review_file, unread_feedback
from factory.resources.warehouse import Warehouse
from factory.spec import DemoAnnotationSourceSpec, FilesAnnotationSourceSpec, ReviewSpec, UseCaseSpec
from factory_tests.helpers import asset_name, number, small_spec

DAYS = ("2026-01-01", "2026-01-02", "2026-01-10")
BUDGET = 40
FEEDBACK_WEIGHT = 3.0
DEMO_ANNOTATORS = ("amara", "bruno", "chen", "dmitri", "elif", "farah")


def labeling_spec() -> UseCaseSpec:
    spec = small_spec(rows_per_day=300)
    labeling = spec.labeling.model_copy(
        update={
            "annotators": (*DEMO_ANNOTATORS, "grace", "hana"),
            "feedback_weight": FEEDBACK_WEIGHT,
            "sources": (
                DemoAnnotationSourceSpec(kind="demo"),
                FilesAnnotationSourceSpec(kind="files", path="inbox", annotator_names={7: "grace"}),
            ),
            "review": ReviewSpec(budget=BUDGET, folds=3),
        }
    )
    return spec.model_copy(update={"labeling": labeling})


def _config(spec: UseCaseSpec) -> Any:
    assert spec.demo_source is not None
    return demo_config(spec, spec.demo_source)


def clean_ids(spec: UseCaseSpec, day: str, count: int) -> list[str]:
    """Ticket ids of the day that the demo did not damage or duplicate, so preparation keeps them."""
    batch = generate_day(date.fromisoformat(day), _config(spec))
    rows = batch.raw.with_row_index("row").join(batch.injected.select("row"), on="row", how="anti")
    return rows.get_column("ticket_id").drop_nulls().head(count).to_list()


def a_task(item_id: str, *annotations: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": zlib.crc32(item_id.encode()) % 10_000,
        "data": {"item_id": item_id, "text": "t"},
        "annotations": list(annotations),
    }


def an_annotation(label: str, user: object = 7, *, cancelled: bool = False) -> dict[str, Any]:
    region = {"type": "choices", "from_name": "label", "to_name": "text", "value": {"choices": [label]}}
    return {
        "id": 1,
        "completed_by": user,
        "result": [region],
        "was_cancelled": cancelled,
        "created_at": "2026-01-02T12:00:00Z",
    }


def write_inbox(home: Path, spec: UseCaseSpec) -> dict[str, list[str]]:
    """Label Studio and CSV files in the inbox, with rejects of every kind; returns the items they label."""
    inbox = home / "inbox"
    (inbox / "exports").mkdir(parents=True)
    day1, day2 = clean_ids(spec, DAYS[0], 6), clean_ids(spec, DAYS[1], 3)
    export = [
        *(a_task(item, an_annotation("billing")) for item in day1[:3]),
        *(a_task(item, an_annotation("refund")) for item in day2[:2]),
        a_task(day1[3], an_annotation("not_a_class")),  # label_outside_taxonomy
        a_task(day1[4], an_annotation("billing", {"id": 99, "email": "mallory@example.com"})),  # unknown_annotator
        a_task("TCK-NOT-AN-ITEM", an_annotation("billing")),  # unknown_item
        a_task(day1[5], an_annotation("billing", cancelled=True)),  # skipped, not rejected
    ]
    (inbox / "exports" / "project-1-at-2026-01-02-10-00-abc.json").write_text(json.dumps(export), encoding="utf-8")
    csv_lines = [
        "item_id,annotator,label,created_at",
        *(f"{item},hana,shipping_delay,2026-01-01T09:00:00Z" for item in day1[:2]),
        "TCK-NOPE,hana,billing,2026-01-01T09:00:00Z",  # unknown_item
        f"{day1[2]},hana,billing,yesterday",  # bad_timestamp
        f"{day1[2]},hana,,2026-01-01T09:00:00Z",  # missing_field
    ]
    (inbox / "batch-2026-01-01.csv").write_text("\n".join(csv_lines) + "\n", encoding="utf-8")
    (inbox / "broken-2026-01-01.json").write_text("{not json", encoding="utf-8")  # unreadable_file
    (inbox / "README.txt").write_text("not an annotation file", encoding="utf-8")
    return {"day1": day1, "day2": day2}


@dataclass
class Layer:
    home: Path
    spec: UseCaseSpec
    defs: dg.Definitions
    instance: dg.DagsterInstance
    warehouse: Warehouse
    inbox_items: dict[str, list[str]]
    results: dict[str, dg.ExecuteInProcessResult]

    def materialization(self, day: str, asset: str) -> dict[str, Any]:
        events = [e for e in self.results[day].get_asset_materialization_events() if asset_name(e) == asset]
        assert events, f"{asset} not materialized for {day}"
        return {k: v.value for k, v in events[-1].step_materialization_data.materialization.metadata.items()}

    def checks(self, day: str, asset: str) -> dict[str, dg.AssetCheckEvaluation]:
        return {
            e.check_name: e
            for e in self.results[day].get_asset_check_evaluations()
            if e.asset_check_key.asset_key.path[-1] == asset
        }


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Layer]:
    home = tmp_path_factory.mktemp("factory_home")
    spec = labeling_spec()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACTORY_HOME", str(home))
        patch.delenv("DAGSTER_HOME", raising=False)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        items = write_inbox(home, spec)
        defs = build_definitions([spec])
        daily = defs.resolve_job_def("ticket_triage_daily")
        with dg.DagsterInstance.ephemeral() as instance:  # in memory: a third of the time of a SQLite one
            results = {day: daily.execute_in_process(partition_key=day, instance=instance) for day in DAYS}
            yield Layer(home, spec, defs, instance, build_resources()["warehouse"], items, results)


def test_dawid_skene_is_the_default_and_labels_carry_confidence(layer: Layer) -> None:
    assert layer.spec.labeling.method == "ds"
    labels = layer.warehouse.read_partition("ticket_triage", "labels", DAYS[0])
    prepared = layer.warehouse.read_partition("ticket_triage", "prepared", DAYS[0])
    assert labels.height == prepared.height
    assert set(labels["method"]) == {"ds"} and set(labels["source"]) == {"ds", "gold"}
    assert labels["confidence"].is_between(0, 1, closed="right").all()
    assert labels.filter(pl.col("source") == "gold")["confidence"].eq(1.0).all()
    assert number(labels.filter(pl.col("source") == "ds")["confidence"].min()) < 0.99, "posteriors, not vote shares"
    truth = truth_for(date.fromisoformat(DAYS[0]), _config(layer.spec))
    right = labels.join(truth, left_on="item_id", right_on="ticket_id").select(pl.col("label") == pl.col("category"))
    assert number(right.to_series().mean()) > 0.9
    metadata = layer.materialization(DAYS[0], "labels")
    assert metadata["method"] == "Dawid-Skene" and metadata["em_iterations"] > 0
    assert "elif" in metadata["estimated_annotator_accuracy"]


def test_agreement_gate_is_blocking_and_passes_without_the_spammer(layer: Layer) -> None:
    graph = layer.defs.resolve_asset_graph()
    key = dg.AssetCheckKey(dg.AssetKey(["ticket_triage", "labels"]), "agreement_above_floor")
    assert graph.get_check_spec(key).blocking
    for day in DAYS:
        check = layer.checks(day, "labels")["agreement_above_floor"]
        assert check.passed and check.severity == dg.AssetCheckSeverity.ERROR
        metadata = layer.materialization(day, "labels")
        assert metadata["spammers_left_out"] == "elif"
        assert metadata["krippendorff_alpha_without_spammers"] > layer.spec.labeling.agreement_floor
        assert metadata["krippendorff_alpha"] < metadata["krippendorff_alpha_without_spammers"]


def test_report_flags_the_spammer_and_the_tiring_annotator(layer: Layer) -> None:
    for day in DAYS:
        metadata = layer.materialization(day, "annotator_report")
        assert metadata["spammers"] == "elif"
        checks = layer.checks(day, "annotator_report")
        assert not checks["no_spammer_flagged"].passed
        assert {c.severity for c in checks.values()} == {dg.AssetCheckSeverity.WARN}
    assert layer.materialization(DAYS[1], "annotator_report")["drifting"] == "none"
    late = layer.materialization(DAYS[2], "annotator_report")
    assert late["drifting"] == "farah"
    assert not layer.checks(DAYS[2], "annotator_report")["no_labeler_drift"].passed
    report = late["disagreement_report"]
    assert "| consensus label | annotator label |" in report and "**farah**" in report and "**elif**" in report
    assert Path(late["report_path"]).read_text(encoding="utf-8") == report
    scores = layer.warehouse.read_partition("ticket_triage", "annotator_report", DAYS[2])
    assert scores.filter(pl.col("spammer"))["annotator"].to_list() == ["elif"]
    assert scores.filter(pl.col("annotator") == "amara")["consensus_accuracy"].item() > 0.85
    assert "annotator_a" in late["cohen_kappa_pairs"]


def test_inbox_files_are_ingested_and_rejects_quarantined_with_reasons(layer: Layer) -> None:
    day1 = layer.warehouse.read_partition("ticket_triage", "annotations", DAYS[0])
    day2 = layer.warehouse.read_partition("ticket_triage", "annotations", DAYS[1])
    grace1, grace2 = day1.filter(pl.col("annotator") == "grace"), day2.filter(pl.col("annotator") == "grace")
    assert sorted(grace1["item_id"]) == sorted(layer.inbox_items["day1"][:3])
    assert sorted(grace2["item_id"]) == sorted(layer.inbox_items["day2"][:2])
    assert set(grace1["origin"]) == {"inbox:exports/project-1-at-2026-01-02-10-00-abc.json"}
    hana = day1.filter(pl.col("annotator") == "hana")
    assert sorted(hana["item_id"]) == sorted(layer.inbox_items["day1"][:2])
    assert set(day1["provenance"]) == {"human"} and set(day1["weight"]) == {1.0}

    rejects = layer.warehouse.read_table("ticket_triage", "annotation_rejects")
    filed = {(r["partition_key"], r["file"], r["reason"]) for r in rejects.iter_rows(named=True)}
    export = "exports/project-1-at-2026-01-02-10-00-abc.json"
    assert filed == {
        (DAYS[1], export, "label_outside_taxonomy"),
        (DAYS[1], export, "unknown_annotator"),
        (DAYS[1], export, "unknown_item"),
        (DAYS[0], "batch-2026-01-01.csv", "unknown_item"),
        (DAYS[0], "batch-2026-01-01.csv", "bad_timestamp"),
        (DAYS[0], "batch-2026-01-01.csv", "missing_field"),
        (DAYS[0], "broken-2026-01-01.json", "unreadable_file"),
    }
    assert rejects.height == len(filed), "every reject is filed once, under one day"
    assert number(rejects["detail"].str.len_chars().min()) > 10
    metadata = layer.materialization(DAYS[0], "annotations")
    assert metadata["rejected"] == 4
    assert "README.txt" in metadata["notes"] and "unreadable_file" in metadata["rejects_by_reason"]
    sources = layer.warehouse.read_partition("ticket_triage", "annotation_sources", DAYS[1])
    assert set(sources["kind"]) == {"demo", "inbox"}


def test_review_queue_is_within_budget_pii_free_and_a_valid_label_studio_import(layer: Layer) -> None:
    for day in DAYS:
        queue = layer.warehouse.read_partition("ticket_triage", "review_queue", day)
        assert 0 < queue.height <= BUDGET and queue["item_id"].n_unique() == queue.height
        checks = layer.checks(day, "review_queue")
        assert checks["within_budget"].passed and checks["export_has_no_pii"].passed
        labels = layer.warehouse.read_partition("ticket_triage", "labels", day)
        gold = labels.filter(pl.col("source") == "gold")["item_id"]
        assert not queue["item_id"].is_in(gold.implode()).any(), "gold items are settled"
        tasks = json.loads(review_file(layer.spec.name, day).read_text(encoding="utf-8"))
        assert [t["data"]["item_id"] for t in tasks] == queue.sort("priority")["item_id"].to_list()
        texts = pl.Series([t["data"]["text"] for t in tasks])
        assert number(texts.str.len_chars().min()) > 10
        assert residue(texts, dict(layer.spec.custom_pii)).sum() == 0
        for task in tasks:
            (prediction,) = task["predictions"]
            assert prediction["model_version"].startswith("out-of-fold")
            (choice,) = prediction["result"][0]["value"]["choices"]
            assert choice in layer.spec.labeling.classes
            assert task["data"]["current_label"] in layer.spec.labeling.classes
    metadata = layer.materialization(DAYS[0], "review_queue")
    assert metadata["label_issues"] > 0 and metadata["queued_for_label_error"] > 0
    assert sum(metadata[f"queued_for_{r}"] for r in ("label_error", "disagreement", "low_confidence", "rare_class"))
    config = review_file(layer.spec.name, DAYS[0]).with_name("label_config.xml").read_text(encoding="utf-8")
    assert '<Choices name="label" toName="text"' in config
    issues = layer.warehouse.read_partition("ticket_triage", "label_issues", DAYS[0])
    assert issues.height == metadata["label_issues"] and issues["is_issue"].all()


def test_production_corrections_become_weighted_annotations_through_the_sensor(layer: Layer) -> None:
    day = DAYS[1]
    truth = truth_for(date.fromisoformat(day), _config(layer.spec))
    before = layer.warehouse.read_partition("ticket_triage", "labels", day)
    crowd = before.filter(pl.col("source") == "ds").join(truth, left_on="item_id", right_on="ticket_id")
    # Agents review every item the crowd got wrong and as many it got right, as the monitoring layer records them.
    wrong, right = (
        crowd.filter(pl.col("label") != pl.col("category")),
        crowd.filter(pl.col("label") == pl.col("category")),
    )
    assert wrong.height > 0
    reviewed = pl.concat([wrong, right.head(wrong.height * 3)])
    corrections = reviewed.select(
        pl.col("item_id").alias("ticket_id"),
        pl.col("label").alias("predicted_label"),
        pl.col("category").alias("corrected_label"),
        pl.lit("2026-01-03T08:00:00Z").str.to_datetime(time_zone="UTC").alias("corrected_at"),
        pl.lit("agent").alias("reviewer"),
        pl.lit("agents").alias("source"),
    )
    layer.warehouse.replace_partition("ticket_triage", "feedback", day, corrections)
    assert unread_feedback(layer.warehouse, layer.spec.name)["partition_key"].to_list() == [day]

    sensor = layer.defs.resolve_sensor_def("ticket_triage_labeling_sensor")
    with dg.build_sensor_context(instance=layer.instance, definitions=layer.defs, resources=build_resources()) as ctx:
        tick = sensor(ctx)
    assert isinstance(tick, dg.SensorResult) and tick.run_requests
    assert [r.partition_key for r in tick.run_requests] == [day]
    assert "production correction" in tick.run_requests[0].tags["factory/reason"]

    job = layer.defs.resolve_job_def("ticket_triage_labeling")
    assert job.execute_in_process(partition_key=day, instance=layer.instance).success
    annotations = layer.warehouse.read_partition("ticket_triage", "annotations", day)
    fed = annotations.filter(pl.col("provenance") == "feedback")
    assert fed.height == corrections.height
    assert set(fed["weight"]) == {FEEDBACK_WEIGHT} and set(fed["annotator"]) == {"feedback"}
    assert set(annotations.filter(pl.col("provenance") == "human")["weight"]) == {1.0}
    after = layer.warehouse.read_partition("ticket_triage", "labels", day)
    fixed = after.join(wrong.select("item_id", "category"), on="item_id")
    assert number((fixed["label"] == fixed["category"]).mean()) > 0.9
    assert unread_feedback(layer.warehouse, layer.spec.name).is_empty()


def test_sensor_requests_the_days_a_new_inbox_file_concerns_once(layer: Layer) -> None:
    sensor = layer.defs.resolve_sensor_def("ticket_triage_labeling_sensor")
    resources = build_resources()
    with dg.build_sensor_context(instance=layer.instance, definitions=layer.defs, resources=resources) as ctx:
        quiet = sensor(ctx)
        assert isinstance(quiet, dg.SensorResult) and not quiet.run_requests, "every file was read for its days"
        late = layer.inbox_items["day2"][2]
        lines = ["item_id,annotator,label,created_at", f"{late},hana,outage,2026-01-05T10:00:00Z"]
        (layer.home / "inbox" / "late-2026-01-05.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
        tick = sensor(dg.build_sensor_context(instance=layer.instance, definitions=layer.defs, resources=resources))
    assert isinstance(tick, dg.SensorResult)
    assert [r.partition_key for r in tick.run_requests or []] == [DAYS[1]]


def test_a_switched_off_review_queue_is_empty_says_so_and_passes_its_checks(layer: Layer) -> None:
    day = DAYS[1]
    off = ReviewSpec(budget=BUDGET, folds=3, enabled=False)
    spec = layer.spec.model_copy(update={"labeling": layer.spec.labeling.model_copy(update={"review": off})})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACTORY_HOME", str(layer.home))
        try:
            result = dg.materialize(
                [review_queue_asset(UseCase(spec))],
                partition_key=day,
                resources=build_resources(),
                instance=layer.instance,
            )
            (event,) = result.get_asset_materialization_events()
            metadata = {k: v.value for k, v in event.step_materialization_data.materialization.metadata.items()}
            checks = result.get_asset_check_evaluations()

            assert metadata["enabled"] is False and "switched off" in str(metadata["note"])
            assert metadata["dagster/row_count"] == 0 and metadata["label_issues"] == 0
            assert metadata["fitted_items"] == 0 and metadata["model"] == "none"
            assert {c.check_name for c in checks} == {"within_budget", "export_has_no_pii"}
            assert all(c.passed for c in checks)
            assert layer.warehouse.read_partition("ticket_triage", "review_queue", day).is_empty()
            assert layer.warehouse.read_partition("ticket_triage", "label_issues", day).is_empty()
            assert json.loads(review_file(spec.name, day).read_text(encoding="utf-8")) == []
            log = LayerLog()
            log.add(result)
            assert "review queue: 0 tasks (none), label issues: 0 (switched off" in _labeling_lines(log)[-1]
        finally:  # the day's queue as the other tests know it
            dg.materialize(
                [review_queue_asset(UseCase(layer.spec))],
                partition_key=day,
                resources=build_resources(),
                instance=layer.instance,
            )
    assert not layer.warehouse.read_partition("ticket_triage", "review_queue", day).is_empty()
