"""Labels of duplicates are not lost: a pre-labeled file whose rows repeat (exact and near duplicates, labeled
the same or differently) run through the daily job over a real DuckDB warehouse in a temporary FACTORY_HOME.

Preparation removes the copies into ``duplicates`` with the label they carried; the ``column`` source turns
those labels into annotations of the kept items (same source, weight and provenance), so none becomes an
``unknown_item`` reject; items whose copies disagree are label conflicts, counted in the metadata, listed in
``label_conflicts`` and the annotator report, and queued first for review with reason ``label_conflict``; items
whose copies agree raise none.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import dagster as dg
import polars as pl
import pytest

from factory.defs.resources import build_resources
from factory.headless import LayerLog, _labeling_lines
from factory.resources.label_store import report_file
from factory_tests.helpers import CSV_HEADER, TICKET_TEXTS, PrelabeledRun, prelabeled_run

DAY = "2026-01-01"
WEIGHT = 2.0
CLASSES = ("billing", "shipping_delay", "account_access", "bug_report")


def _label(i: int) -> str:
    return CLASSES[i % len(CLASSES)]


def _row(ticket: str, minute: int, subject: str, body: str, label: str, day: str = DAY) -> str:
    return f"{ticket},{day}T10:{minute:02d}:00Z,C{minute:05d},email,{subject},{body},{label}\n"


# (id, copy of row, how: exact copies are upper-cased, near ones get a word more, label)
COPIES = [
    ("T01-020", 0, "exact", _label(0)),  # agrees
    ("T01-021", 1, "near", _label(1)),  # agrees
    ("T01-022", 2, "exact", "billing"),  # T01-002 is account_access: a conflict
    ("T01-023", 3, "near", "shipping_delay"),  # T01-003 is bug_report: a conflict
    ("T01-024", 3, "exact", "bug_report"),  # agrees with the kept row, disagrees with T01-023
    ("T01-025", 4, "exact", "not_a_class"),  # outside the taxonomy: a reject of its own reason
]
CONFLICTED = {"T01-002", "T01-003"}


def _csv() -> str:
    rows = [_row(f"T01-{i:03d}", i, f"Question {i}", TICKET_TEXTS[i], _label(i)) for i in range(10)]
    for n, (ticket, of, how, label) in enumerate(COPIES):
        subject, body = f"Question {of}", TICKET_TEXTS[of]
        copy = (subject.upper(), body.upper()) if how == "exact" else (subject, f"{body} today")
        rows.append(_row(ticket, 20 + n, *copy, label))
    return f"{CSV_HEADER},category\n" + "".join(rows)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrelabeledRun]:
    with prelabeled_run(tmp_path_factory.mktemp("factory_home"), DAY, _csv(), WEIGHT) as ran:
        yield ran


def test_preparation_keeps_the_label_of_every_duplicate(run: PrelabeledRun) -> None:
    duplicates = run.table("duplicates").sort("ticket_id")
    assert duplicates.select("ticket_id", "duplicate_of", "kind", "category").rows() == [
        (ticket, f"T01-{of:03d}", how, label) for ticket, of, how, label in COPIES
    ]
    assert run.table("prepared").height == 10


def test_no_label_is_lost_and_none_is_an_unknown_item(run: PrelabeledRun) -> None:
    made = run.table("annotations")
    assert (
        set(made["annotator"]) == {"given"}
        and set(made["weight"]) == {WEIGHT}
        and set(made["provenance"]) == {"source"}
    )
    copies = made.filter(pl.col("origin") != "column:category")
    assert copies.height == 5 and set(copies["item_id"]) == {"T01-000", "T01-001", "T01-002", "T01-003"}
    assert all(" duplicate T01-02" in origin for origin in copies["origin"]), "each names the row it came from"
    rejects = run.table("annotation_rejects")
    assert rejects.select("task_id", "reason").rows() == [("T01-004", "label_outside_taxonomy")]
    assert json.loads(rejects["payload"].item())["duplicate"] == "T01-025"
    ledger = run.table("annotation_sources")
    assert ledger.select("records", "annotations", "rejects").rows() == [(16, 15, 1)]
    labels = dict(run.table("labels").select("item_id", "n_annotations").rows())
    assert labels["T01-000"] == 2 and labels["T01-003"] == 3 and labels["T01-005"] == 1


def test_conflicts_are_recorded_counted_and_reported(run: PrelabeledRun) -> None:
    conflicts = run.table("label_conflicts")
    assert set(conflicts["item_id"]) == CONFLICTED, "items whose copies agree raise no conflict"
    by_item = {r["item_id"]: r for r in conflicts.iter_rows(named=True)}
    assert json.loads(by_item["T01-002"]["labels"]) == {"account_access": 1, "billing": 1}
    assert json.loads(by_item["T01-003"]["labels"]) == {"bug_report": 2, "shipping_delay": 1}
    rows = json.loads(by_item["T01-003"]["rows"])
    assert {r["label"] for r in rows} == {"bug_report", "shipping_delay"} and len(rows) == 3
    assert "today" not in by_item["T01-003"]["rows"], "no text in a conflict's record"
    assert run.metadata("annotations")["label_conflicts"] == 2
    assert run.metadata("labels")["label_conflicts"] == 2
    report = report_file(run.uc.name, DAY).read_text(encoding="utf-8")
    assert "2 item(s) carry different labels" in report and "| T01-003 | given | 3 |" in report
    log = LayerLog()
    log.add(run.daily)
    assert "label conflicts: 2" in _labeling_lines(log)[0]


def test_the_review_queue_puts_conflicts_first(run: PrelabeledRun) -> None:
    queue = run.table("review_queue")
    conflicted = queue.filter(pl.col("item_id").is_in(list(CONFLICTED)))
    assert set(conflicted["selected_for"]) == {"label_conflict"}
    assert all(reasons.startswith("label_conflict") for reasons in conflicted["reasons"])
    assert not queue.filter(~pl.col("item_id").is_in(list(CONFLICTED)))["reasons"].str.contains("label_conflict").any()
    assert run.metadata("review_queue")["queued_for_label_conflict"] == 2


def _labeling_requests(run: PrelabeledRun) -> list[dg.RunRequest]:
    sensor = run.defs.resolve_sensor_def(run.uc.labeling_sensor)
    with dg.build_sensor_context(instance=run.instance, definitions=run.defs, resources=build_resources()) as context:
        result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return list(result.run_requests or [])


def test_a_later_days_duplicate_relabels_the_kept_items_day(run: PrelabeledRun) -> None:
    """Runs last: it adds a day whose copy of a first-day item is labeled differently."""
    later = "2026-01-02"
    assert not _labeling_requests(run), "the first day read every copy there was"
    rows = _row("T02-000", 0, "Question 10", TICKET_TEXTS[10], "billing", later)
    rows += _row("T02-001", 1, "QUESTION 5", TICKET_TEXTS[5].upper(), "billing", later)  # T01-005: shipping_delay
    (run.home / "drop" / f"tickets_{later}.csv").write_text(f"{CSV_HEADER},category\n{rows}", encoding="utf-8")
    daily = run.defs.resolve_job_def(run.uc.daily_job)
    assert daily.execute_in_process(partition_key=later, instance=run.instance).success
    assert run.warehouse.read_partition(run.uc.name, "duplicates", later)["duplicate_of"].to_list() == ["T01-005"]

    (request,) = _labeling_requests(run)
    assert request.partition_key == DAY and "1 later duplicate(s)" in request.tags["factory/reason"]
    relabel = run.defs.resolve_job_def(run.uc.labeling_job)
    assert relabel.execute_in_process(partition_key=DAY, instance=run.instance).success
    conflicts = run.table("label_conflicts")
    assert set(conflicts["item_id"]) == {*CONFLICTED, "T01-005"}
    assert not run.warehouse.read_partition(run.uc.name, "annotations", later)["item_id"].is_in(["T01-005"]).any()
    assert not _labeling_requests(run), "read once"
