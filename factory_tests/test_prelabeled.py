"""Pre-labeled data end to end: a use case without the demo whose only annotation source is a label column of
its data file (kind ``column``). Over a real DuckDB warehouse in a temporary FACTORY_HOME, the daily job labels
every good row from the column (provenance ``source``, the source's weight), a label outside the taxonomy is an
annotation reject with its reason, an empty label is no annotation, the agreement gate passes saying agreement
cannot be measured, and ``dataset_candidate`` stages a dataset without the label column among its inputs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from factory.resources.versioning import LocalVersionStore
from factory_tests.helpers import CSV_HEADER, TICKET_TEXTS, PrelabeledRun, asset_name, prelabeled_run

DAY = "2026-01-01"
WEIGHT = 2.0
CLASSES = ("billing", "shipping_delay", "account_access", "bug_report")
OUTSIDE = "T01-010"  # labeled "not_a_class"
UNLABELED = "T01-011"  # empty label


def _label(i: int) -> str:
    return {10: "not_a_class", 11: ""}.get(i, CLASSES[i % len(CLASSES)])


def _ticket(i: int) -> str:
    return f"T01-{i:03d},{DAY}T10:{i:02d}:00Z,C{i:05d},email,Question {i},{TICKET_TEXTS[i]},{_label(i)}\n"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrelabeledRun]:
    rows = "".join(_ticket(i) for i in range(len(TICKET_TEXTS)))
    with prelabeled_run(tmp_path_factory.mktemp("factory_home"), DAY, f"{CSV_HEADER},category\n{rows}", WEIGHT) as ran:
        yield ran


def test_every_good_row_is_labeled_from_the_column(run: PrelabeledRun) -> None:
    done = {asset_name(e) for e in run.daily.get_asset_materialization_events()}
    assert {"annotations", "annotator_report", "labels", "review_queue"} <= done
    made = run.warehouse.read_partition(run.uc.name, "annotations", DAY)
    assert set(made["provenance"]) == {"source"} and set(made["annotator"]) == {"given"}
    assert set(made["weight"]) == {WEIGHT} and set(made["origin"]) == {"column:category"}
    labels = run.warehouse.read_partition(run.uc.name, "labels", DAY)
    good = {f"T01-{i:03d}": _label(i) for i in range(10)}
    assert dict(labels.select("item_id", "label").rows()) == good
    ledger = run.warehouse.read_partition(run.uc.name, "annotation_sources", DAY)
    assert ledger.select("kind", "name", "records", "annotations", "rejects").rows() == [("column", "given", 12, 10, 1)]


def test_a_label_outside_the_taxonomy_is_a_reject_and_an_empty_one_no_annotation(run: PrelabeledRun) -> None:
    rejects = run.warehouse.read_partition(run.uc.name, "annotation_rejects", DAY)
    assert rejects.select("file", "task_id", "reason").rows() == [
        ("column:category", OUTSIDE, "label_outside_taxonomy")
    ]
    assert "not_a_class" in rejects["payload"].item()
    made = run.warehouse.read_partition(run.uc.name, "annotations", DAY)
    assert UNLABELED not in set(made["item_id"]) and OUTSIDE not in set(made["item_id"])
    prepared = run.warehouse.read_partition(run.uc.name, "prepared", DAY)
    assert prepared.height == len(TICKET_TEXTS), "rows with unusable labels stay prepared (not dropped)"


def test_the_agreement_gate_passes_saying_why_and_the_dataset_stages(run: PrelabeledRun) -> None:
    gate = next(e for e in run.daily.get_asset_check_evaluations() if e.check_name == "agreement_above_floor")
    assert gate.passed
    assert "cannot be measured" in str(gate.description) and "10 label(s) given" in str(gate.description)

    stage = run.defs.resolve_job_def(run.uc.retrain_job).execute_in_process(
        instance=run.instance, asset_selection=[run.uc.key("dataset_candidate")], raise_on_error=False
    )
    # Twelve rows are too few for the dataset's own gates (min_rows...), which then stop the run; staging
    # itself is not refused by the labels.
    failed = {e.check_name for e in stage.get_asset_check_evaluations() if not e.passed}
    assert "min_rows" in failed and not any("agreement" in name for name in failed)
    events = stage.get_asset_materialization_events()
    assert [asset_name(e) for e in events] == ["dataset_candidate"], "staged although nothing could be agreed on"
    materialization = events[0].materialization
    assert materialization is not None
    commit = materialization.metadata["commit"].value
    assert isinstance(commit, str)
    staged = LocalVersionStore(run.home / "versions", "factory").read_table(commit, run.uc.dataset_table)
    assert staged.height == 10 and set(staged["label_source"]) == {"vote"}, "one label per item: a weighted vote"
    assert "category" not in staged.columns, "the label column stays out of the model's inputs"
    assert dict(staged.select("ticket_id", "label").rows()) == {f"T01-{i:03d}": _label(i) for i in range(10)}
