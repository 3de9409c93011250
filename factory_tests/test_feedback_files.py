"""A use case without the demo, end to end with files: tickets from a file drop, annotations from an annotation
inbox, production corrections from a feedback inbox. Over a real DuckDB warehouse in a temporary FACTORY_HOME,
the daily job labels the day; a feedback file dropped later is picked up by the feedback sensor, read into
``feedback`` (its unusable records into ``feedback_rejects`` with their reasons, each file once per content
hash), and the labeling sensor re-labels the day: the correction, weighted by ``labeling.feedback_weight``,
changes a label."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from factory.defs import UseCase, build_definitions
from factory.defs.resources import build_resources
from factory.resources.warehouse import Warehouse
from factory.spec import (
    FeedbackSpec,
    FilesAnnotationSourceSpec,
    FilesFeedbackSourceSpec,
    FileSourceSpec,
    UseCaseSpec,
)
from factory_tests.helpers import CSV_HEADER, TICKET_TEXTS, small_spec

DAY = "2026-01-01"
WEIGHT = 3.0
CLASSES = ("billing", "shipping_delay", "account_access", "bug_report")
DISPUTED = "T01-000"  # annotated billing by one annotator and refund by the other


def _ticket(i: int) -> str:
    return f"T01-{i:03d},{DAY}T10:{i:02d}:00Z,C{i:05d},email,Question {i},{TICKET_TEXTS[i]}\n"


def _spec(home: Path) -> UseCaseSpec:
    base = small_spec()
    drop = FileSourceSpec(name="tickets", kind="files", path="drop", pattern="*.csv", format="csv")
    inbox = FilesAnnotationSourceSpec(kind="files", name="inbox", path="inbox")
    corrections = FilesFeedbackSourceSpec(kind="files", name="corrections", path="feedback")
    labeling = base.labeling.model_copy(
        update={"sources": (inbox,), "feedback_weight": WEIGHT, "imports": None, "annotators": None}
    )
    return base.model_copy(
        update={"sources": (drop,), "labeling": labeling, "feedback": FeedbackSpec(sources=(corrections,))}
    )


def _write_inputs(home: Path) -> None:
    (home / "drop").mkdir()
    (home / "drop" / f"tickets_{DAY}.csv").write_text(
        CSV_HEADER + "\n" + "".join(_ticket(i) for i in range(len(TICKET_TEXTS))), encoding="utf-8"
    )
    (home / "inbox").mkdir()
    lines = ["item_id,annotator,label,created_at"]
    for i in range(1, len(TICKET_TEXTS)):
        label = CLASSES[i % len(CLASSES)]
        lines += [f"T01-{i:03d},{who},{label},{DAY}T12:00:00Z" for who in ("ann_a", "ann_b")]
    lines += [f"{DISPUTED},ann_a,billing,{DAY}T12:00:00Z", f"{DISPUTED},ann_b,refund,{DAY}T12:00:00Z"]
    (home / "inbox" / f"labels-{DAY}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (home / "feedback").mkdir()


@dataclass
class Loop:
    home: Path
    defs: dg.Definitions
    instance: dg.DagsterInstance
    warehouse: Warehouse
    uc: UseCase

    def tick(self, sensor_name: str) -> dg.SensorResult:
        sensor = self.defs.resolve_sensor_def(sensor_name)
        with dg.build_sensor_context(
            instance=self.instance, definitions=self.defs, resources=build_resources()
        ) as context:
            result = sensor(context)
        assert isinstance(result, dg.SensorResult)
        return result

    def run(self, job: str, day: str = DAY, assets: tuple[str, ...] | None = None) -> dg.ExecuteInProcessResult:
        selection = None
        if assets is not None:
            selection = [self.uc.key(a) for a in assets]
        result = self.defs.resolve_job_def(job).execute_in_process(
            partition_key=day, instance=self.instance, asset_selection=selection
        )
        assert result.success
        return result

    def label_of(self, item: str) -> str:
        labels = self.warehouse.read_partition(self.uc.name, "labels", DAY)
        return str(labels.filter(pl.col("item_id") == item)["label"].item())


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loop]:
    home = tmp_path_factory.mktemp("factory_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACTORY_HOME", str(home))
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.delenv("FACTORY_WAREHOUSE", raising=False)
        _write_inputs(home)
        spec = _spec(home)
        uc = UseCase(spec)
        defs = build_definitions([spec])
        with dg.instance_for_test() as instance:
            loop = Loop(home, defs, instance, build_resources()["warehouse"], uc)
            # The daily layers up to the labels; drift needs a published dataset, predictions a champion.
            daily = [f"raw_{s.name}" for s in spec.sources] + [
                "prepared",
                "quarantine",
                "duplicates",
                "feedback",
                "annotations",
                "annotator_report",
                "labels",
            ]
            loop.run(uc.daily_job, assets=tuple(daily))
            yield loop


def _feedback_files(home: Path, disputed_fix: str) -> None:
    folder = home / "feedback"
    good = [
        "item_id,corrected_label,corrected_at,reviewer",
        f"{DISPUTED},{disputed_fix},2026-01-02T08:00:00Z,agent_kim",
        # Confirmations: the reviewers agree with the crowd elsewhere, so their word is worth something.
        *(f"T01-{i:03d},{CLASSES[i % len(CLASSES)]},2026-01-02T08:0{i}:00Z,agent_kim" for i in range(1, 6)),
        "T99-999,billing,2026-01-02T09:00:00Z,agent_kim",  # unknown_item
        "T01-006,not_a_class,2026-01-02T09:00:00Z,agent_kim",  # label_outside_taxonomy
        "T01-007,billing,last tuesday,agent_kim",  # bad_timestamp
        "T01-008,billing,2026-01-02T09:00:00Z,",  # missing_field
    ]
    text = "\n".join(good) + "\n"
    (folder / f"corrections-{DAY}.csv").write_text(text, encoding="utf-8")
    (folder / f"corrections-{DAY}-resent.csv").write_text(text, encoding="utf-8")  # same content: read once
    jsonl = [
        json.dumps(
            {
                "item_id": "T01-009",
                "corrected_label": CLASSES[9 % len(CLASSES)],
                "corrected_at": "2026-01-02T10:00:00Z",
                "reviewer": "agent_lee",
            }
        ),
        '{"item_id": "T01-010", "corrected_label": ',  # malformed_line
    ]
    (folder / f"more-{DAY}.jsonl").write_text("\n".join(jsonl) + "\n", encoding="utf-8")
    (folder / f"export-{DAY}.csv").write_text("id,label\n1,billing\n", encoding="utf-8")  # unreadable_file
    (folder / "README.txt").write_text("not a feedback file", encoding="utf-8")


def test_daily_job_labels_from_files_and_reads_an_empty_feedback_inbox(loop: Loop) -> None:
    labels = loop.warehouse.read_partition(loop.uc.name, "labels", DAY)
    assert labels.height == len(TICKET_TEXTS)
    assert loop.warehouse.read_partition(loop.uc.name, "feedback", DAY).is_empty()
    annotations = loop.warehouse.read_partition(loop.uc.name, "annotations", DAY)
    assert set(annotations["provenance"]) == {"human"}
    quiet = loop.tick(loop.uc.labeling_sensor)
    assert not quiet.run_requests, "the inbox file was read for its day and there is no feedback yet"


def test_a_feedback_file_reaches_the_labels_through_the_sensors(loop: Loop) -> None:
    before = loop.label_of(DISPUTED)
    fix = "refund" if before == "billing" else "billing"
    _feedback_files(loop.home, fix)

    requested = loop.tick(loop.uc.feedback_sensor).run_requests or []
    assert [r.partition_key for r in requested] == [DAY], "one request for the day, whatever the number of files"
    assert len({r.run_key for r in requested}) == len(requested)
    loop.run(loop.uc.feedback_job)

    feedback = loop.warehouse.read_partition(loop.uc.name, "feedback", DAY)
    assert feedback.columns == ["ticket_id", "predicted_label", "corrected_label", "corrected_at", "reviewer", "source"]
    assert feedback.height == 7, "six corrections from the CSV (read once), one from the JSON lines"
    assert set(feedback["reviewer"]) == {"agent_kim", "agent_lee"} and set(feedback["source"]) == {"corrections"}
    assert feedback["predicted_label"].is_null().all(), "no champion yet: nothing was predicted"

    rejects = loop.warehouse.read_partition(loop.uc.name, "feedback_rejects", DAY)
    reasons = dict(zip(rejects["reason"], rejects["file"], strict=False))
    assert set(reasons) == {
        "unknown_item",
        "label_outside_taxonomy",
        "bad_timestamp",
        "missing_field",
        "malformed_line",
        "unreadable_file",
    }
    assert reasons["malformed_line"] == f"more-{DAY}.jsonl" and reasons["unreadable_file"] == f"export-{DAY}.csv"
    assert rejects.filter(pl.col("reason") != "unreadable_file")["payload"].str.len_chars().min() > 0  # type: ignore[operator]

    files = loop.warehouse.read_partition(loop.uc.name, "feedback_files", DAY)
    copies = files.filter(pl.col("duplicate_of").is_not_null())
    assert copies.height == 1 and copies["records"].to_list() == [0]
    assert {*copies["file"], *copies["duplicate_of"]} == {f"corrections-{DAY}.csv", f"corrections-{DAY}-resent.csv"}

    relabel = loop.tick(loop.uc.labeling_sensor).run_requests or []
    assert [r.partition_key for r in relabel] == [DAY]
    assert "production correction" in relabel[0].tags["factory/reason"]
    loop.run(loop.uc.labeling_job)

    annotations = loop.warehouse.read_partition(loop.uc.name, "annotations", DAY)
    fed = annotations.filter(pl.col("provenance") == "feedback")
    assert fed.height == 7 and set(fed["weight"]) == {WEIGHT}
    assert loop.label_of(DISPUTED) == fix != before

    again = loop.tick(loop.uc.feedback_sensor)
    assert not again.run_requests, "each file is read once per content hash"
    assert not loop.tick(loop.uc.labeling_sensor).run_requests


def test_a_copy_dropped_later_is_not_requested_again(loop: Loop) -> None:
    folder = loop.home / "feedback"
    (folder / "copy-of-corrections.csv").write_bytes((folder / f"corrections-{DAY}.csv").read_bytes())
    assert not loop.tick(loop.uc.feedback_sensor).run_requests
