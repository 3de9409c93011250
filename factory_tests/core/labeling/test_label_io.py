"""Annotation import (Label Studio JSON, CSV) and review-task export (Label Studio tasks and labeling config)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from factory.core.labeling import (
    ANNOTATION_SCHEMA,
    PIIResidueError,
    aggregate,
    label_studio_config,
    read_annotations_csv,
    read_label_studio,
    write_label_studio_tasks,
)
from factory.core.labeling._label_studio_tasks import assert_no_pii, label_studio_tasks
from factory.core.labeling._reader_checks import REJECT_REASONS
from factory.core.preparation import scrub

DATA = Path(__file__).resolve().parents[2] / "data" / "label_studio"
EXPORT = DATA / "export.json"
CSV = DATA / "annotations.csv"

CLASSES = ["billing", "refund", "account_access", "bug_report", "shipping_delay"]
KNOWN_ITEMS = {"TCK-20260103-000001", "TCK-20260103-000002", "TCK-20260103-000004", "TCK-20260103-000006"}
KNOWN_ANNOTATORS = {"amara", "bruno", "chen"}
USER_NAMES: dict[int | str, str] = {3: "amara", 4: "bruno", 5: "chen"}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def reasons_by(rejects: pl.DataFrame, key: str) -> dict[Any, str]:
    return dict(zip(rejects[key].to_list(), rejects["reason"].to_list(), strict=True))


def a_task(task_id: int, annotations: list[Any], data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A minimal exported task for one item (``TCK-<task_id>``)."""
    return {"id": task_id, "data": dict(data or {"item_id": f"TCK-{task_id}", "text": "t"}), "annotations": annotations}


def an_annotation(
    annotation_id: int,
    choices: Sequence[str] | None,
    *,
    user: object = 3,
    created_at: object = "2026-01-03T10:00:00Z",
    from_name: str = "label",
) -> dict[str, Any]:
    """An exported annotation with one choices result (none when `choices` is None)."""
    result = (
        []
        if choices is None
        else [{"type": "choices", "from_name": from_name, "to_name": "text", "value": {"choices": list(choices)}}]
    )
    return {
        "id": annotation_id,
        "completed_by": user,
        "result": result,
        "was_cancelled": False,
        "created_at": created_at,
    }


def read(tasks: object, **kwargs: Any) -> Any:
    return read_label_studio(json.dumps(tasks), CLASSES, **kwargs)


# --- Label Studio export -------------------------------------------------------------------------------


def test_the_fixture_export_splits_into_rows_rejects_and_cancelled() -> None:
    imported = read_label_studio(EXPORT, CLASSES, KNOWN_ITEMS, KNOWN_ANNOTATORS, annotator_names=USER_NAMES)

    assert imported.annotations.schema == pl.Schema(ANNOTATION_SCHEMA)
    assert imported.annotations.rows() == [
        ("TCK-20260103-000001", "amara", "billing", utc("2026-01-03T09:14:22.481516Z"), "human", 1.0, None),
        ("TCK-20260103-000001", "bruno", "billing", utc("2026-01-03T09:20:05.002311Z"), "human", 1.0, None),
        ("TCK-20260103-000002", "chen", "shipping_delay", utc("2026-01-03T10:02:51.377120Z"), "human", 1.0, None),
    ]
    assert reasons_by(imported.rejects, "annotation_id") == {
        "45": "label_outside_taxonomy",  # "shipping" is not a class
        "46": "unknown_item",  # TCK-20251231-000417 is not in this batch
        "47": "unknown_annotator",  # a guest account
        "48": "no_choice",  # submitted with an empty result
        "49": "multiple_choices",
        "50": "bad_timestamp",
        "51": "unknown_item",  # task 105 has no data.item_id: the task id "105" is no known item
    }
    assert imported.cancelled == 1
    exported = sum(len(task["annotations"]) for task in json.loads(EXPORT.read_text(encoding="utf-8")))
    assert imported.records == exported == 11


def test_rejects_keep_the_task_and_the_raw_annotation() -> None:
    rejects = read_label_studio(EXPORT, CLASSES, KNOWN_ITEMS, KNOWN_ANNOTATORS, annotator_names=USER_NAMES).rejects

    assert rejects.columns == ["task_index", "task_id", "annotation_id", "reason", "detail", "payload"]
    unknown = rejects.filter(pl.col("annotation_id") == "46").row(0, named=True)
    assert (unknown["task_index"], unknown["task_id"]) == (2, "103")
    payload = json.loads(unknown["payload"])
    assert payload["id"] == 46
    assert payload["result"][0]["value"]["choices"] == ["refund"]
    assert set(rejects["reason"]) <= set(REJECT_REASONS)


def test_without_lookups_annotators_are_emails_or_user_ids() -> None:
    imported = read_label_studio(EXPORT, CLASSES)

    annotators = dict(zip(imported.annotations["item_id"], imported.annotations["annotator"], strict=False))
    assert annotators["TCK-20260103-000002"] == "5"  # completed_by exported as a bare user id
    assert annotators["TCK-20251231-000417"] == "amara@annotators.example.com"
    assert "105" in annotators  # no data.item_id: the task id stands in
    assert set(imported.rejects["reason"]) == {
        "label_outside_taxonomy",
        "no_choice",
        "multiple_choices",
        "bad_timestamp",
    }


def test_bytes_text_and_path_read_the_same() -> None:
    from_path = read_label_studio(EXPORT, CLASSES)
    from_bytes = read_label_studio(EXPORT.read_bytes(), CLASSES)
    from_text = read_label_studio(EXPORT.read_text(encoding="utf-8"), CLASSES)

    assert from_path.annotations.equals(from_bytes.annotations)
    assert from_path.annotations.equals(from_text.annotations)
    assert from_path.rejects.equals(from_text.rejects)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'[{"id": 1, "annotations": [', "not valid JSON"),
        (b'{"id": 1}', "list of tasks"),
        (b"[\xff]", "not valid UTF-8"),
    ],
)
def test_a_file_that_is_not_an_export_raises(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_label_studio(data, CLASSES)


def test_malformed_tasks_and_annotations_are_rejected_not_raised() -> None:
    tasks = [
        "not a task",
        {"id": 2, "data": {"item_id": "TCK-2"}, "annotations": {"id": 1}},
        a_task(3, ["not an annotation"]),
        a_task(4, [{**an_annotation(41, ["billing"]), "result": {"choices": ["billing"]}}]),
        a_task(5, [an_annotation(51, ["billing"], user=None)]),
        a_task(6, [an_annotation(61, ["billing"], user={"first_name": "no id, no email"})]),
        {"data": {"text": "neither item id nor task id"}, "annotations": [an_annotation(71, ["billing"])]},
        {"id": 8, "data": "not an object", "annotations": [an_annotation(81, ["billing"])]},
        a_task(9, [{**an_annotation(91, None), "result": [{"type": "choices", "value": {"choices": "billing"}}]}]),
        a_task(10, []),
        {"id": 11, "data": {"item_id": "TCK-11"}},  # no annotations key: nothing to import
    ]
    imported = read(tasks)

    assert imported.annotations.is_empty()
    assert imported.rejects["reason"].unique().to_list() == ["malformed_task"]
    assert imported.rejects["task_index"].to_list() == [0, 1, 2, 3, 4, 5, 6, 7, 8]
    assert imported.rejects["annotation_id"].to_list() == [None, None, None, "41", "51", "61", "71", "81", "91"]
    assert json.loads(imported.rejects["payload"][0]) == "not a task"


def test_cancelled_annotations_are_counted_not_rejected() -> None:
    cancelled = {**an_annotation(2, None), "was_cancelled": True}
    imported = read([a_task(1, [an_annotation(1, ["refund"]), cancelled])])

    assert imported.annotations.height == 1
    assert imported.rejects.is_empty()
    assert (imported.cancelled, imported.records) == (1, 2)


def test_choice_field_selects_one_control() -> None:
    both = an_annotation(1, ["refund"])
    both["result"].append(
        {"type": "choices", "from_name": "urgency", "to_name": "text", "value": {"choices": ["high"]}}
    )
    both["result"].append({"type": "textarea", "from_name": "note", "to_name": "text", "value": {"text": ["hm"]}})

    assert read([a_task(1, [both])]).rejects["reason"].to_list() == ["multiple_choices"]
    assert read([a_task(1, [both])], choice_field="label").annotations["label"].to_list() == ["refund"]
    assert read([a_task(1, [both])], choice_field="sentiment").rejects["reason"].to_list() == ["no_choice"]


def test_the_same_choice_twice_is_one_label() -> None:
    twice = an_annotation(1, ["refund", "refund"])

    assert read([a_task(1, [twice])]).annotations["label"].to_list() == ["refund"]


def test_several_problems_give_the_first_reason_and_every_detail() -> None:
    annotation = an_annotation(1, ["shipping"], user=99, created_at="soon")
    rejects = read([a_task(1, [annotation])], known_items={"TCK-1"}, known_annotators={"99x"}).rejects

    assert rejects["reason"].to_list() == ["unknown_annotator"]
    detail = rejects["detail"][0]
    assert detail.index("annotator") < detail.index("created_at") < detail.index("label")


def test_timestamps_become_utc_and_naive_ones_are_read_as_utc() -> None:
    tasks = [
        a_task(1, [an_annotation(1, ["refund"], created_at="2026-01-03T11:00:00+01:00")]),
        a_task(2, [an_annotation(2, ["refund"], created_at="2026-01-03T10:00:00")]),
        a_task(3, [an_annotation(3, ["refund"], created_at=1767434400)]),
    ]
    imported = read(tasks)

    assert imported.annotations["created_at"].to_list() == [utc("2026-01-03T10:00:00Z")] * 2
    assert imported.rejects["reason"].to_list() == ["bad_timestamp"]


def test_integer_item_ids_are_read_as_text_and_matched_as_text() -> None:
    task = a_task(1, [an_annotation(1, ["refund"])], data={"item_id": 17, "text": "t"})
    imported = read([task], known_items={17})

    assert imported.annotations["item_id"].to_list() == ["17"]


def test_annotator_names_map_user_ids_and_emails() -> None:
    by_email = an_annotation(2, ["refund"], user={"id": 12, "email": "ops@example.com"})
    imported = read(
        [a_task(1, [an_annotation(1, ["refund"], user=3), by_email])],
        annotator_names={3: "amara", "ops@example.com": "olu"},
    )

    assert imported.annotations["annotator"].to_list() == ["amara", "olu"]


def test_bad_classes_raise() -> None:
    with pytest.raises(ValueError, match="distinct"):
        read_label_studio(EXPORT, ["billing", "billing"])
    with pytest.raises(ValueError, match="non-empty"):
        read_label_studio(EXPORT, [])


# --- CSV -----------------------------------------------------------------------------------------------


def test_the_fixture_csv_splits_into_rows_and_rejects_with_lines() -> None:
    imported = read_annotations_csv(CSV, CLASSES, KNOWN_ITEMS, KNOWN_ANNOTATORS)

    assert imported.annotations.schema == pl.Schema(ANNOTATION_SCHEMA)
    assert imported.annotations.select("item_id", "annotator", "label", "created_at").rows() == [
        ("TCK-20260103-000001", "amara", "billing", utc("2026-01-03T09:14:22Z")),
        ("TCK-20260103-000001", "bruno", "billing", utc("2026-01-03T09:20:05Z")),  # +01:00 converted
        ("TCK-20260103-000002", "chen", "shipping_delay", utc("2026-01-03T10:02:51.377120Z")),
        ("TCK-20260103-000006", "bruno", "refund", utc("2026-01-03T00:00:00Z")),  # a date is midnight UTC
    ]
    assert reasons_by(imported.rejects, "_line") == {
        6: "label_outside_taxonomy",
        7: "unknown_item",
        8: "unknown_annotator",
        9: "missing_field",
        10: "bad_timestamp",
        11: "malformed_line",  # an unterminated quote
        12: "malformed_line",  # three fields
    }
    assert json.loads(imported.rejects.filter(pl.col("_line") == 8)["payload"][0])["annotator"] == "mallory"
    assert imported.skipped_blank == 1
    assert imported.records == len(CSV.read_text(encoding="utf-8").splitlines()) - 1  # all but the header


def test_csv_values_are_stripped_and_extra_columns_ignored() -> None:
    data = "note,item_id,annotator,label,created_at\nhi, TCK-1 , amara ,refund , 2026-01-03T10:00:00Z\n"
    imported = read_annotations_csv(data, CLASSES)

    assert imported.annotations.select("item_id", "annotator", "label").row(0) == ("TCK-1", "amara", "refund")


def test_readers_write_provenance_origin_and_weight_one_on_every_row() -> None:
    data = "item_id,annotator,label,created_at\nTCK-1,amara,refund,2026-01-03T10:00:00Z\n"
    from_csv = read_annotations_csv(data, CLASSES, provenance="vendor", origin="inbox:a.csv").annotations
    export = json.dumps([a_task(1, [an_annotation(1, ["refund"])])])
    from_ls = read_label_studio(export, CLASSES, provenance="vendor", origin="inbox:a.json").annotations
    for frame, origin in ((from_csv, "inbox:a.csv"), (from_ls, "inbox:a.json")):
        assert frame.schema == pl.Schema(ANNOTATION_SCHEMA)
        assert frame.select("provenance", "weight", "origin").row(0) == ("vendor", 1.0, origin)


def test_csv_missing_fields_name_every_empty_column() -> None:
    imported = read_annotations_csv("item_id,annotator,label,created_at\nTCK-1,,,\n", CLASSES)

    assert imported.rejects.select("_line", "reason", "detail").row(0) == (
        2,
        "missing_field",
        "empty field(s): annotator, label, created_at",
    )


def test_csv_without_a_required_column_raises_but_an_empty_file_is_empty() -> None:
    with pytest.raises(ValueError, match=r"lacks columns \['created_at'\]"):
        read_annotations_csv(b"item_id,annotator,label\nTCK-1,amara,refund\n", CLASSES)
    empty = read_annotations_csv(b"", CLASSES)
    assert empty.annotations.is_empty()
    assert empty.rejects.is_empty()


# --- export --------------------------------------------------------------------------------------------


def assert_import_format(tasks: list[dict[str, Any]], item_key: str, classes: Sequence[str]) -> None:
    """The shape Label Studio's task import expects, pre-annotations included (checked by hand)."""
    assert isinstance(tasks, list)
    for task in tasks:
        assert set(task) == {"data", "predictions"}
        assert isinstance(task["data"][item_key], (str, int))
        assert isinstance(task["data"]["text"], str)
        for prediction in task["predictions"]:
            assert set(prediction) <= {"model_version", "score", "result"}
            assert isinstance(prediction["model_version"], str)
            assert 0.0 <= prediction.get("score", 0.0) <= 1.0
            (region,) = prediction["result"]
            assert region == {
                "from_name": "label",
                "to_name": "text",
                "type": "choices",
                "value": {"choices": [region["value"]["choices"][0]]},
            }
            assert region["value"]["choices"][0] in classes
    json.dumps(tasks, allow_nan=False)


ITEMS = pl.DataFrame(
    {
        "ticket_id": ["TCK-1", "TCK-2", "TCK-3"],
        "body": ["My invoice is wrong, mail me at <EMAIL>", "Parcel is late", "Refund für die Kopfhörer"],
        "channel": ["email", "chat", "web"],
    }
)
PREDICTIONS = pl.DataFrame({"ticket_id": ["TCK-3", "TCK-1"], "label": ["refund", "billing"], "score": [0.62, 0.9]})


def test_tasks_carry_the_text_and_our_prediction() -> None:
    tasks = label_studio_tasks(
        ITEMS, "body", PREDICTIONS, "tfidf_logreg@3", item_key="ticket_id", data_columns=["channel"]
    )

    assert_import_format(tasks, "ticket_id", CLASSES)
    assert tasks[0] == {
        "data": {"ticket_id": "TCK-1", "text": "My invoice is wrong, mail me at <EMAIL>", "channel": "email"},
        "predictions": [
            {
                "model_version": "tfidf_logreg@3",
                "score": 0.9,
                "result": [
                    {"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": ["billing"]}}
                ],
            }
        ],
    }
    assert tasks[1]["predictions"] == []
    assert [task["data"]["ticket_id"] for task in tasks] == ["TCK-1", "TCK-2", "TCK-3"]


def test_tasks_without_predictions_and_with_integer_ids() -> None:
    items = pl.DataFrame({"item_id": [7, 8], "text": ["a", "b"]})
    tasks = label_studio_tasks(items, "text")

    assert_import_format(tasks, "item_id", CLASSES)
    assert [task["data"] for task in tasks] == [{"item_id": 7, "text": "a"}, {"item_id": 8, "text": "b"}]


@pytest.mark.parametrize(
    ("items", "predictions", "version", "message"),
    [
        (ITEMS.vstack(ITEMS.head(1)), None, None, "twice"),
        (ITEMS.with_columns(pl.lit(None, pl.String).alias("body")), None, None, "null 'body'"),
        (ITEMS, PREDICTIONS, None, "model_version"),
        (ITEMS, PREDICTIONS.drop("label"), "v1", "'label'"),
    ],
)
def test_bad_export_inputs_raise(
    items: pl.DataFrame, predictions: pl.DataFrame | None, version: str | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        label_studio_tasks(items, "body", predictions, version, item_key="ticket_id")


RAW_TEXTS = [
    "Please call me back on +44 20 7946 0958 about the invoice",
    "My card 4111 1111 1111 1111 was charged twice",
    "Write to jane.doe@example.com, the parcel never came",
]


def test_the_pii_guard_refuses_raw_text_and_does_not_quote_it() -> None:
    items = pl.DataFrame({"item_id": ["a", "b", "c", "d"], "text": [*RAW_TEXTS, "Nothing personal here"]})

    with pytest.raises(PIIResidueError, match=r"3 of 4 text\(s\)") as caught:
        label_studio_tasks(items, "text")
    assert "jane.doe" not in str(caught.value)
    assert "['a', 'b', 'c']" in str(caught.value)


def test_the_pii_guard_passes_scrubbed_text_and_checks_extra_columns() -> None:
    scrubbed = scrub(pl.Series(RAW_TEXTS)).text
    items = pl.DataFrame({"item_id": ["a", "b", "c"], "text": scrubbed, "note": ["ok", "ok", "mail x@example.org"]})

    assert len(label_studio_tasks(items, "text")) == 3
    with pytest.raises(PIIResidueError):
        label_studio_tasks(items, "text", data_columns=["note"])


def test_the_pii_guard_applies_custom_patterns() -> None:
    texts, ids = pl.Series(["order for customer CUST-123456"]), pl.Series(["a"])

    assert_no_pii(texts, ids)
    with pytest.raises(PIIResidueError):
        assert_no_pii(texts, ids, {"CUSTOMER_ID": r"CUST-[0-9]{6}"})


def test_written_tasks_are_deterministic_utf8_json(tmp_path: Path) -> None:
    tasks = label_studio_tasks(ITEMS, "body", PREDICTIONS, "v1", item_key="ticket_id")
    first = write_label_studio_tasks(tasks, tmp_path / "out" / "tasks.json")
    content = first.read_bytes()
    write_label_studio_tasks(tasks, first)

    assert first.read_bytes() == content
    assert "Kopfhörer".encode() in content
    assert json.loads(content) == tasks
    assert list(json.loads(content)[0]["predictions"][0]) == ["model_version", "result", "score"]  # sorted keys
    assert [path.name for path in first.parent.iterdir()] == ["tasks.json"]


def test_writing_nan_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="JSON"):
        write_label_studio_tasks([{"data": {"x": float("nan")}}], tmp_path / "tasks.json")


def test_labeling_config_matches_the_tasks() -> None:
    classes = [*CLASSES, 'R&D "lab" <x>']
    view = ET.fromstring(label_studio_config(classes))

    assert view.tag == "View"
    text, choices = list(view)
    assert (text.tag, text.attrib) == ("Text", {"name": "text", "value": "$text"})
    assert (choices.tag, choices.get("name"), choices.get("toName"), choices.get("choice")) == (
        "Choices",
        "label",
        "text",
        "single",
    )
    assert [choice.get("value") for choice in choices] == classes


# --- round trip ----------------------------------------------------------------------------------------


def as_label_studio_export(tasks: list[dict[str, Any]], annotations: pl.DataFrame, emails: Mapping[str, str]) -> str:
    """What Label Studio exports after people annotated our imported tasks (ids assigned, users expanded)."""
    users = {name: {"id": 10 + number, "email": email} for number, (name, email) in enumerate(sorted(emails.items()))}
    exported = []
    for task_id, task in enumerate(tasks, start=1):
        mine = annotations.filter(pl.col("item_id") == task["data"]["item_id"])
        exported.append(
            {
                "id": task_id,
                "data": task["data"],
                "predictions": task["predictions"],
                "annotations": [
                    {
                        "id": 100 * task_id + number,
                        "completed_by": users[row["annotator"]],
                        "result": [
                            {
                                "id": f"r{task_id}{number}",
                                "from_name": "label",
                                "to_name": "text",
                                "type": "choices",
                                "origin": "manual",
                                "value": {"choices": [row["label"]]},
                            }
                        ],
                        "was_cancelled": False,
                        "ground_truth": False,
                        "created_at": row["created_at"].strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                        "task": task_id,
                    }
                    for number, row in enumerate(mine.iter_rows(named=True))
                ],
            }
        )
    return json.dumps(exported)


def test_exported_tasks_come_back_as_the_annotations_made_on_them() -> None:
    items = pl.DataFrame({"item_id": ["TCK-1", "TCK-2", "TCK-3"], "text": ["invoice wrong", "parcel late", "refund"]})
    predictions = pl.DataFrame({"item_id": ["TCK-1", "TCK-2"], "label": ["billing", "refund"], "score": [0.8, 0.4]})
    tasks = label_studio_tasks(items, "text", predictions, "v1")
    made = pl.DataFrame(
        {
            "item_id": ["TCK-1", "TCK-1", "TCK-2", "TCK-2", "TCK-3"],
            "annotator": ["amara", "bruno", "amara", "bruno", "chen"],
            "label": ["billing", "billing", "shipping_delay", "refund", "refund"],
            "created_at": [datetime(2026, 1, 3, 9, minute, 0, 123456, tzinfo=UTC) for minute in range(5)],
        },
        schema_overrides={"created_at": pl.Datetime("us", "UTC")},
    )
    emails = {name: f"{name}@example.com" for name in ("amara", "bruno", "chen")}
    export = as_label_studio_export(tasks, made, emails)

    imported = read_label_studio(
        export,
        CLASSES,
        known_items=set(items["item_id"]),
        known_annotators=set(emails),
        annotator_names={email: name for name, email in emails.items()},
    )

    assert imported.rejects.is_empty()
    assert imported.annotations.select(made.columns).equals(made)
    votes = aggregate(imported.annotations, CLASSES, method="mv").labels
    assert votes["label"].to_list() == ["billing", "refund", "refund"]  # a tie goes to the class listed first
