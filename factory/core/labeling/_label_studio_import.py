"""Reading a Label Studio JSON export into annotations and rejects (`factory.core.labeling._reader_checks`).

Label Studio export format (the "JSON" export of a project, one object per task)::

    [{"id": 12, "data": {"item_id": "TCK-1", "text": "..."},
      "annotations": [{"id": 40, "completed_by": 3 | {"id": 3, "email": "..."},
                       "result": [{"type": "choices", "from_name": "label", "to_name": "text",
                                   "value": {"choices": ["billing"]}}],
                       "was_cancelled": false, "created_at": "2026-01-03T10:00:00.123456Z", ...}],
      "predictions": [...], ...}]

Our item id is ``data[item_key]``; a task whose data lacks that key falls back to the Label Studio task id.
The annotator is ``annotator_names[completed_by id]`` when a mapping is given and holds the id (or the
email), else the email when the export expands users, else the numeric id as text. Predictions are ignored
(they are our own pre-annotations, not labels). A file that is not UTF-8 JSON holding a list of tasks raises
ValueError.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import polars as pl

from factory.core.labeling._reader_checks import (
    Checks,
    LabelImport,
    Problems,
    Source,
    annotation_frame,
    as_bytes,
    check_known,
    check_label,
    json_text,
    parse_utc,
)

__all__ = ["read_label_studio"]

_LS_REJECT_SCHEMA: dict[str, pl.DataType] = {
    "task_index": pl.Int64(),
    "task_id": pl.String(),
    "annotation_id": pl.String(),
    "reason": pl.String(),
    "detail": pl.String(),
    "payload": pl.String(),
}


def _id_text(value: object) -> str | None:
    """A Label Studio or factory id as text: a non-empty string or an integer (not a bool)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    return None


def _task_item(task: Mapping[str, Any], item_key: str) -> str | None:
    """Our item id: ``data[item_key]``, or the task id when the data lacks the key; None when neither is usable."""
    data = task.get("data")
    if not isinstance(data, Mapping):
        return None
    if item_key in data:
        return _id_text(data[item_key])
    return _id_text(task.get("id"))


def _annotator(completed_by: object, names: Mapping[int | str, str] | None) -> str | None:
    """Who made an annotation (module docstring); None when ``completed_by`` is missing or malformed."""
    user_id: object = completed_by
    email: object = None
    if isinstance(completed_by, Mapping):
        user_id, email = completed_by.get("id"), completed_by.get("email")
    user = _id_text(user_id) if isinstance(user_id, int) else None
    mail = email.strip() if isinstance(email, str) and email.strip() else None
    if names is not None:
        for key in (user_id, mail):
            if isinstance(key, (int, str)) and not isinstance(key, bool) and key in names:
                return names[key]
    return mail or user


def _choices(result: object, choice_field: str | None, problems: Problems) -> list[str]:
    """Every choice made in the ``choices`` results of an annotation (of control `choice_field`, if given)."""
    if not isinstance(result, list):
        problems.add("malformed_task", "annotation result is not a list")
        return []
    chosen: list[str] = []
    for region in result:
        if not isinstance(region, Mapping) or region.get("type") != "choices":
            continue
        if choice_field is not None and region.get("from_name") != choice_field:
            continue
        value = region.get("value")
        picks = value.get("choices") if isinstance(value, Mapping) else None
        if not isinstance(picks, list) or not all(isinstance(pick, str) for pick in picks):
            problems.add("malformed_task", "a choices result has no list of choices in value.choices")
            continue
        chosen.extend(picks)
    return chosen


@dataclass
class _LabelStudioReader:
    """Reads tasks one by one into annotation rows, rejects and the count of cancelled annotations."""

    checks: Checks
    item_key: str
    choice_field: str | None
    annotator_names: Mapping[int | str, str] | None
    rows: list[tuple[str, str, str, datetime]] = field(default_factory=list)
    rejects: list[tuple[int, str | None, str | None, str, str, str]] = field(default_factory=list)
    cancelled: int = 0

    def task(self, index: int, task: object) -> None:
        if not isinstance(task, Mapping):
            self.rejects.append((index, None, None, "malformed_task", "task is not a JSON object", json_text(task)))
            return
        task_id = _id_text(task.get("id"))
        annotations = task.get("annotations", [])
        if not isinstance(annotations, list):
            detail = "task annotations is not a list"
            self.rejects.append((index, task_id, None, "malformed_task", detail, json_text(task)))
            return
        item_id = _task_item(task, self.item_key)
        for annotation in annotations:
            self.annotation(index, task_id, item_id, annotation)

    def annotation(self, index: int, task_id: str | None, item_id: str | None, annotation: object) -> None:
        if isinstance(annotation, Mapping) and annotation.get("was_cancelled") is True:
            self.cancelled += 1
            return
        problems = Problems()
        annotation_id = _id_text(annotation.get("id")) if isinstance(annotation, Mapping) else None
        row = self._row(item_id, annotation, problems)
        verdict = problems.verdict()
        if verdict is None and row is not None:
            self.rows.append(row)
        else:
            reason, detail = verdict or ("malformed_task", "annotation could not be read")
            self.rejects.append((index, task_id, annotation_id, reason, detail, json_text(annotation)))

    def _row(
        self, item_id: str | None, annotation: object, problems: Problems
    ) -> tuple[str, str, str, datetime] | None:
        if not isinstance(annotation, Mapping):
            problems.add("malformed_task", "annotation is not a JSON object")
            return None
        if item_id is None:
            problems.add("malformed_task", f"task has no usable data.{self.item_key} nor task id")
        annotator = _annotator(annotation.get("completed_by"), self.annotator_names)
        if annotator is None:
            problems.add("malformed_task", "annotation has no usable completed_by")
        if item_id is not None and annotator is not None:
            check_known(problems, self.checks, item_id, annotator)
        created_at = parse_utc(annotation.get("created_at"))
        if created_at is None:
            problems.add("bad_timestamp", "created_at is not an ISO-8601 timestamp")
        choices = _choices(annotation.get("result"), self.choice_field, problems)
        distinct = list(dict.fromkeys(choices))
        if not distinct:
            problems.add("no_choice", "annotation makes no choice")
        elif len(distinct) > 1:
            problems.add("multiple_choices", f"annotation makes {len(distinct)} different choices")
        else:
            check_label(problems, self.checks, distinct[0])
        if item_id is None or annotator is None or created_at is None or len(distinct) != 1:
            return None
        return item_id, annotator, distinct[0], created_at

    def result(self, provenance: str, origin: str | None) -> LabelImport:
        rejects = pl.DataFrame(self.rejects, schema=_LS_REJECT_SCHEMA, orient="row")
        return LabelImport(annotation_frame(self.rows, provenance, origin), rejects, cancelled=self.cancelled)


def _load_export(data: Source) -> list[Any]:
    """The list of tasks of a Label Studio JSON export; ValueError when the file is not one."""
    raw = as_bytes(data)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"the Label Studio export is not valid UTF-8 (byte offset {error.start})") from error
    try:
        tasks = json.loads(text)
    except json.JSONDecodeError as error:
        hint = (
            " (a str is read as the JSON text itself: pass a pathlib.Path to read a file)"
            if isinstance(data, str)
            else ""
        )
        raise ValueError(
            f"the Label Studio export is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}{hint}"
        ) from error
    if not isinstance(tasks, list):
        raise ValueError(f"a Label Studio JSON export is a list of tasks, got a JSON {type(tasks).__name__}")
    return tasks


def read_label_studio(
    data: Source,
    classes: Sequence[str],
    known_items: Collection[object] | None = None,
    known_annotators: Collection[object] | None = None,
    choice_field: str | None = None,
    *,
    item_key: str = "item_id",
    annotator_names: Mapping[int | str, str] | None = None,
    provenance: str = "human",
    origin: str | None = None,
) -> LabelImport:
    """Read a Label Studio JSON export into annotations and rejects (see the module docstring).

    One row per annotation that is not cancelled. `choice_field` restricts the read to the Choices control
    of that name (``from_name``); None reads every ``choices`` result. `known_items` and `known_annotators`
    (None: anything goes) reject annotations of other items (``unknown_item``) or by other people
    (``unknown_annotator``). Other rejects: ``label_outside_taxonomy``, ``no_choice`` (nothing chosen),
    ``multiple_choices`` (more than one distinct choice), ``bad_timestamp`` and ``malformed_task`` (a task or
    annotation without the expected structure). `provenance` and `origin` are written on every row.
    """
    checks = Checks.build(classes, known_items, known_annotators)
    reader = _LabelStudioReader(checks, item_key, choice_field, annotator_names)
    for index, task in enumerate(_load_export(data)):
        reader.task(index, task)
    return reader.result(provenance, origin)
