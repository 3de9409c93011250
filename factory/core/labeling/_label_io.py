"""Annotations in and review tasks out: Label Studio JSON exports, annotation CSVs, Label Studio task files.

Reading
-------
`read_label_studio` and `read_annotations_csv` turn an annotation file into rows of the factory's long-form
annotation table (`ANNOTATION_SCHEMA`: ``item_id, annotator, label, created_at, provenance``) and a frame of
rejects. Nothing is dropped silently: every annotation in the file ends as one row, one reject or (Label
Studio only) one skipped cancelled annotation, and `LabelImport.records` adds them up.

A reject carries a reason code from `REJECT_REASONS`, a detail a person can act on (it names fields, never
their values, like the preparation quarantine) and the raw record as JSON in ``payload``. When an annotation
has several problems the reason is the first one in `REJECT_REASONS` order and the detail lists them all.
Item ids and annotators are compared and returned as text (an integer id ``17`` is ``"17"``): cast
``item_id`` to the id column's type before joining it to typed tables.

Whole-file problems raise ValueError: a file that is not JSON (or not a JSON list of tasks), not UTF-8, or a
CSV header without the four columns.

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
(they are our own pre-annotations, not labels).

Writing
-------
`label_studio_tasks` builds tasks in Label Studio's import format with our model's label as a
pre-annotation, `label_studio_config` the matching labeling interface, and `write_label_studio_tasks`
writes them as deterministic UTF-8 JSON. Every exported text goes through `assert_no_pii` first: review
tasks leave the factory, so only prepared (scrubbed) text may be exported, and a PII residue in any exported
value raises `PIIResidueError`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import polars as pl

from factory.core.ingestion import LINE, parse_csv
from factory.core.ingestion import text_column as _rendered_as_text
from factory.core.preparation import residue

__all__ = [
    "ANNOTATION_SCHEMA",
    "CSV_COLUMNS",
    "REJECT_REASONS",
    "LabelImport",
    "PIIResidueError",
    "assert_no_pii",
    "label_studio_config",
    "label_studio_tasks",
    "read_annotations_csv",
    "read_label_studio",
    "write_label_studio_tasks",
]

ANNOTATION_SCHEMA: dict[str, pl.DataType] = {
    "item_id": pl.String(),
    "annotator": pl.String(),
    "label": pl.String(),
    "created_at": pl.Datetime("us", "UTC"),
    "provenance": pl.String(),
}
"""The factory's long-form annotation table, as the readers return it."""

REJECT_REASONS: tuple[str, ...] = (
    "malformed_task",
    "missing_field",
    "unknown_item",
    "unknown_annotator",
    "bad_timestamp",
    "no_choice",
    "multiple_choices",
    "label_outside_taxonomy",
)
"""Reason codes of annotation rejects, in priority order (an annotation with several problems gets the first).

CSV rejects can also carry the parser's codes (`factory.core.ingestion.REJECT_REASONS`: ``malformed_line``,
``invalid_utf8``, ``field_too_large``)."""

CSV_COLUMNS: tuple[str, ...] = ("item_id", "annotator", "label", "created_at")
"""The columns of an annotation CSV (other columns are ignored)."""

TEXT_KEY = "text"
"""The task data key holding the text; `label_studio_config` points the labeling interface at it."""
CHOICE_NAME = "label"
"""The name of the Choices control in `label_studio_config` (``from_name`` in results)."""

_LS_REJECT_SCHEMA: dict[str, pl.DataType] = {
    "task_index": pl.Int64(),
    "task_id": pl.String(),
    "annotation_id": pl.String(),
    "reason": pl.String(),
    "detail": pl.String(),
    "payload": pl.String(),
}
_CSV_REJECT_SCHEMA: dict[str, pl.DataType] = {
    LINE: pl.Int64(),
    "reason": pl.String(),
    "detail": pl.String(),
    "payload": pl.String(),
}

Source = bytes | str | os.PathLike[str]
"""Annotation file contents: bytes or text as read, or a path to the file."""


@dataclass(frozen=True)
class LabelImport:
    """The outcome of reading one annotation file (see the module docstring).

    ``annotations`` follows `ANNOTATION_SCHEMA`. ``rejects`` holds, for Label Studio, ``task_index`` (0-based
    position in the export), ``task_id``, ``annotation_id`` (null when the whole task is malformed),
    ``reason``, ``detail``, ``payload`` (the annotation, or the task, as JSON); for CSV, ``_line`` (1-based
    line where the record starts), ``reason``, ``detail``, ``payload``. ``cancelled`` counts Label Studio
    annotations marked ``was_cancelled`` (skipped, not rejected); ``skipped_blank`` counts blank CSV lines.
    """

    annotations: pl.DataFrame
    rejects: pl.DataFrame
    cancelled: int = 0
    skipped_blank: int = 0

    @property
    def records(self) -> int:
        """Every annotation record read: rows, rejects, cancelled annotations and blank CSV lines."""
        return self.annotations.height + self.rejects.height + self.cancelled + self.skipped_blank


class PIIResidueError(ValueError):
    """Text about to leave the factory (a review task) still holds personal data."""


# --- shared checks -------------------------------------------------------------------------------------


def _check_classes(classes: Sequence[str]) -> None:
    if isinstance(classes, str) or not classes:
        raise ValueError("classes must be a non-empty sequence of class names")
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes must be distinct, got {list(classes)}")
    if not all(isinstance(name, str) and name for name in classes):
        raise ValueError(f"class names must be non-empty strings, got {list(classes)}")


@dataclass(frozen=True)
class _Checks:
    """What a valid annotation looks like: the taxonomy, and the known items and annotators (None: any)."""

    classes: frozenset[str]
    items: frozenset[str] | None
    annotators: frozenset[str] | None

    @classmethod
    def build(
        cls, classes: Sequence[str], items: Collection[object] | None, annotators: Collection[object] | None
    ) -> _Checks:
        _check_classes(classes)
        return cls(
            classes=frozenset(classes),
            items=None if items is None else frozenset(str(item) for item in items),
            annotators=None if annotators is None else frozenset(str(name) for name in annotators),
        )


@dataclass
class _Problems:
    """The problems of one record, as (reason, detail) pairs."""

    found: list[tuple[str, str]] = field(default_factory=list)

    def add(self, reason: str, detail: str) -> None:
        self.found.append((reason, detail))

    def verdict(self) -> tuple[str, str] | None:
        """The first reason in `REJECT_REASONS` order and every detail in that order; None when clean."""
        if not self.found:
            return None
        ordered = sorted(self.found, key=lambda problem: REJECT_REASONS.index(problem[0]))
        return ordered[0][0], "; ".join(detail for _, detail in ordered)


def _parse_utc(value: object) -> datetime | None:
    """An ISO-8601 timestamp as a UTC datetime (no offset: read as UTC, like the preparation layer)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _check_known(problems: _Problems, checks: _Checks, item_id: str, annotator: str) -> None:
    if checks.items is not None and item_id not in checks.items:
        problems.add("unknown_item", "item_id is not one of the known items")
    if checks.annotators is not None and annotator not in checks.annotators:
        problems.add("unknown_annotator", "annotator is not one of the known annotators")


def _check_label(problems: _Problems, checks: _Checks, label: str) -> None:
    if label not in checks.classes:
        problems.add("label_outside_taxonomy", f"label is not one of the {len(checks.classes)} classes")


def _as_bytes(data: Source) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, str):
        return data.encode("utf-8")
    return Path(data).read_bytes()


def _json_text(value: object) -> str:
    """Compact JSON with sorted keys, for payloads."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def _annotation_frame(rows: Sequence[tuple[str, str, str, datetime]], provenance: str) -> pl.DataFrame:
    schema = {name: ANNOTATION_SCHEMA[name] for name in ("item_id", "annotator", "label", "created_at")}
    frame = pl.DataFrame(list(rows), schema=schema, orient="row")
    return frame.with_columns(pl.lit(provenance, dtype=pl.String).alias("provenance"))


# --- Label Studio export -------------------------------------------------------------------------------


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


def _choices(result: object, choice_field: str | None, problems: _Problems) -> list[str]:
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

    checks: _Checks
    item_key: str
    choice_field: str | None
    annotator_names: Mapping[int | str, str] | None
    rows: list[tuple[str, str, str, datetime]] = field(default_factory=list)
    rejects: list[tuple[int, str | None, str | None, str, str, str]] = field(default_factory=list)
    cancelled: int = 0

    def task(self, index: int, task: object) -> None:
        if not isinstance(task, Mapping):
            self.rejects.append((index, None, None, "malformed_task", "task is not a JSON object", _json_text(task)))
            return
        task_id = _id_text(task.get("id"))
        annotations = task.get("annotations", [])
        if not isinstance(annotations, list):
            detail = "task annotations is not a list"
            self.rejects.append((index, task_id, None, "malformed_task", detail, _json_text(task)))
            return
        item_id = _task_item(task, self.item_key)
        for annotation in annotations:
            self.annotation(index, task_id, item_id, annotation)

    def annotation(self, index: int, task_id: str | None, item_id: str | None, annotation: object) -> None:
        if isinstance(annotation, Mapping) and annotation.get("was_cancelled") is True:
            self.cancelled += 1
            return
        problems = _Problems()
        annotation_id = _id_text(annotation.get("id")) if isinstance(annotation, Mapping) else None
        row = self._row(item_id, annotation, problems)
        verdict = problems.verdict()
        if verdict is None and row is not None:
            self.rows.append(row)
        else:
            reason, detail = verdict or ("malformed_task", "annotation could not be read")
            self.rejects.append((index, task_id, annotation_id, reason, detail, _json_text(annotation)))

    def _row(
        self, item_id: str | None, annotation: object, problems: _Problems
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
            _check_known(problems, self.checks, item_id, annotator)
        created_at = _parse_utc(annotation.get("created_at"))
        if created_at is None:
            problems.add("bad_timestamp", "created_at is not an ISO-8601 timestamp")
        choices = _choices(annotation.get("result"), self.choice_field, problems)
        distinct = list(dict.fromkeys(choices))
        if not distinct:
            problems.add("no_choice", "annotation makes no choice")
        elif len(distinct) > 1:
            problems.add("multiple_choices", f"annotation makes {len(distinct)} different choices")
        else:
            _check_label(problems, self.checks, distinct[0])
        if item_id is None or annotator is None or created_at is None or len(distinct) != 1:
            return None
        return item_id, annotator, distinct[0], created_at

    def result(self, provenance: str) -> LabelImport:
        rejects = pl.DataFrame(self.rejects, schema=_LS_REJECT_SCHEMA, orient="row")
        return LabelImport(_annotation_frame(self.rows, provenance), rejects, cancelled=self.cancelled)


def _load_export(data: Source) -> list[Any]:
    """The list of tasks of a Label Studio JSON export; ValueError when the file is not one."""
    raw = _as_bytes(data)
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
) -> LabelImport:
    """Read a Label Studio JSON export into annotations and rejects (see the module docstring).

    One row per annotation that is not cancelled. `choice_field` restricts the read to the Choices control
    of that name (``from_name``); None reads every ``choices`` result. `known_items` and `known_annotators`
    (None: anything goes) reject annotations of other items (``unknown_item``) or by other people
    (``unknown_annotator``). Other rejects: ``label_outside_taxonomy``, ``no_choice`` (nothing chosen),
    ``multiple_choices`` (more than one distinct choice), ``bad_timestamp`` and ``malformed_task`` (a task or
    annotation without the expected structure). `provenance` is written on every row.
    """
    checks = _Checks.build(classes, known_items, known_annotators)
    reader = _LabelStudioReader(checks, item_key, choice_field, annotator_names)
    for index, task in enumerate(_load_export(data)):
        reader.task(index, task)
    return reader.result(provenance)


# --- annotation CSV ------------------------------------------------------------------------------------


def read_annotations_csv(
    data: Source,
    classes: Sequence[str],
    known_items: Collection[object] | None = None,
    known_annotators: Collection[object] | None = None,
    *,
    provenance: str = "human",
    delimiter: str = ",",
) -> LabelImport:
    """Read a CSV of ``item_id, annotator, label, created_at`` into annotations and rejects.

    The CSV dialect and its line-level rejects (``malformed_line``, ``invalid_utf8``, ``field_too_large``)
    are those of `factory.core.ingestion.parse_csv`. Values are stripped of surrounding spaces; an empty one
    rejects the row ``missing_field``. Then, as for Label Studio, ``unknown_item``, ``unknown_annotator``,
    ``bad_timestamp`` and ``label_outside_taxonomy``. Rejects carry the 1-based ``_line`` of the record. A
    header lacking one of the four columns raises ValueError; an empty file reads as no annotations.
    """
    checks = _Checks.build(classes, known_items, known_annotators)
    raw = _as_bytes(data)
    parsed = parse_csv(raw, CSV_COLUMNS, delimiter=delimiter)
    if parsed.missing_columns and raw.strip():
        raise ValueError(f"the annotation CSV header lacks columns {list(parsed.missing_columns)}")
    rows: list[tuple[str, str, str, datetime]] = []
    rejects: list[tuple[int, str, str, str]] = [
        (line, reason, detail, payload) for line, reason, detail, payload in parsed.rejects.iter_rows()
    ]
    for record in parsed.rows.iter_rows(named=True):
        values = {name: (record[name] or "").strip() for name in CSV_COLUMNS}
        problems = _Problems()
        empty = [name for name in CSV_COLUMNS if not values[name]]
        if empty:
            problems.add("missing_field", f"empty field(s): {', '.join(empty)}")
        if values["item_id"] and values["annotator"]:
            _check_known(problems, checks, values["item_id"], values["annotator"])
        created_at = _parse_utc(values["created_at"]) if values["created_at"] else None
        if values["created_at"] and created_at is None:
            problems.add("bad_timestamp", "created_at is not an ISO-8601 timestamp")
        if values["label"]:
            _check_label(problems, checks, values["label"])
        verdict = problems.verdict()
        if verdict is not None or created_at is None:
            reason, detail = verdict or ("bad_timestamp", "created_at is not an ISO-8601 timestamp")
            rejects.append((record[LINE], reason, detail, _json_text({name: record[name] for name in CSV_COLUMNS})))
        else:
            rows.append((values["item_id"], values["annotator"], values["label"], created_at))
    return LabelImport(
        _annotation_frame(rows, provenance),
        pl.DataFrame(rejects, schema=_CSV_REJECT_SCHEMA, orient="row").sort(LINE),
        skipped_blank=parsed.skipped_blank,
    )


# --- export: Label Studio tasks ------------------------------------------------------------------------


def assert_no_pii(texts: pl.Series, ids: pl.Series, custom_patterns: Mapping[str, str] | None = None) -> None:
    """Raise `PIIResidueError` when any of `texts` still holds PII by `factory.core.preparation.residue`.

    `ids` (same length) name the offending rows in the message; the texts themselves are never quoted.
    `custom_patterns` are the use case's custom PII patterns, as given to the preparation layer.
    """
    if texts.len() != ids.len():
        raise ValueError(f"{texts.len()} texts but {ids.len()} ids")
    found = residue(texts.cast(pl.String), custom_patterns)
    dirty = ids.filter(found > 0)
    if dirty.len():
        raise PIIResidueError(
            f"{dirty.len()} of {texts.len()} text(s) to export still hold PII ({int(found.sum())} match(es)), "
            f"e.g. items {dirty.head(5).to_list()}: export the prepared (scrubbed) text, never the raw text"
        )


def _json_values(series: pl.Series) -> list[Any]:
    """Column values JSON can hold: strings, numbers and booleans as they are, anything else as text."""
    if series.dtype == pl.String or series.dtype.is_numeric() or series.dtype == pl.Boolean:
        if series.dtype.is_float():
            series = series.set(~series.is_finite(), None) if series.is_finite().not_().any() else series
        return series.to_list()
    return _rendered_as_text(series).to_list()


def _check_ids(frame: pl.DataFrame, key: str, name: str) -> None:
    if key not in frame.columns:
        raise ValueError(f"{name} lacks the id column {key!r} (has {frame.columns})")
    ids = frame.get_column(key)
    if ids.null_count():
        raise ValueError(f"{name} has {ids.null_count()} null {key!r}")
    if ids.is_duplicated().any():
        repeated = ids.filter(ids.is_duplicated()).unique().sort().head(5).to_list()
        raise ValueError(f"{name} lists some {key!r} twice, e.g. {repeated}")


def _predictions_by_item(
    predictions: pl.DataFrame | None, model_version: str | None, item_key: str, item_dtype: pl.DataType
) -> dict[Any, dict[str, Any]]:
    """Item id -> one Label Studio prediction (our model's label as a choices pre-annotation)."""
    if predictions is None:
        return {}
    if not model_version:
        raise ValueError("predictions need a model_version (Label Studio shows it next to each pre-annotation)")
    _check_ids(predictions, item_key, "predictions")
    if "label" not in predictions.columns:
        raise ValueError(f"predictions lack the column 'label' (has {predictions.columns})")
    scores = (
        predictions.get_column("score") if "score" in predictions.columns else pl.Series([None] * predictions.height)
    )
    by_item: dict[Any, dict[str, Any]] = {}
    ids = predictions.get_column(item_key).cast(item_dtype)
    for item_id, label, score in zip(ids.to_list(), predictions["label"].to_list(), _json_values(scores), strict=True):
        if label is None:
            continue
        region = {"from_name": CHOICE_NAME, "to_name": TEXT_KEY, "type": "choices", "value": {"choices": [label]}}
        prediction: dict[str, Any] = {"model_version": model_version, "result": [region]}
        if score is not None:
            prediction["score"] = float(score)
        by_item[item_id] = prediction
    return by_item


def label_studio_tasks(
    items: pl.DataFrame,
    text_column: str,
    predictions: pl.DataFrame | None = None,
    model_version: str | None = None,
    item_key: str = "item_id",
    *,
    data_columns: Sequence[str] = (),
    custom_pii: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Label Studio tasks, one per row of `items`, in its import format, with optional pre-annotations.

    Each task is ``{"data": {item_key: id, "text": text, <data_columns>...}, "predictions": [...]}``, in
    the order of `items`. `predictions` (``item_key, label`` and optionally ``score``) adds one prediction
    per item it lists: ``{"model_version", "score", "result": [{"from_name": "label", "to_name": "text",
    "type": "choices", "value": {"choices": [label]}}]}``, the shape `label_studio_config` expects; items
    without one get ``"predictions": []``.

    `text_column` must hold prepared (scrubbed) text: every exported string value is checked with
    `assert_no_pii` (with the use case's `custom_pii` patterns) and a residue raises `PIIResidueError`.
    Null or duplicated ids and null texts raise ValueError.
    """
    _check_ids(items, item_key, "items")
    for name in (text_column, *data_columns):
        if name not in items.columns:
            raise ValueError(f"items lack the column {name!r} (has {items.columns})")
    if items.get_column(text_column).null_count():
        raise ValueError(f"items have {items.get_column(text_column).null_count()} null {text_column!r}")
    ids = items.get_column(item_key)
    for name in dict.fromkeys((text_column, *data_columns)):
        if items.schema[name] == pl.String:
            assert_no_pii(items.get_column(name), ids, custom_pii)
    by_item = _predictions_by_item(predictions, model_version, item_key, ids.dtype)
    columns = {name: _json_values(items.get_column(name)) for name in data_columns}
    tasks: list[dict[str, Any]] = []
    for position, (item_id, text) in enumerate(zip(ids.to_list(), items[text_column].to_list(), strict=True)):
        data: dict[str, Any] = {item_key: item_id, TEXT_KEY: text}
        data.update({name: values[position] for name, values in columns.items()})
        prediction = by_item.get(item_id)
        tasks.append({"data": data, "predictions": [] if prediction is None else [prediction]})
    return tasks


def write_label_studio_tasks(tasks: Iterable[Mapping[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Write `tasks` as a UTF-8 JSON list (sorted keys, two-space indent, task order kept); returns the path.

    The file is written next to its destination and renamed into place, so a reader never sees half a file.
    NaN and infinities are refused (they are not JSON).
    """
    target = Path(path)
    text = json.dumps(list(tasks), ensure_ascii=False, indent=2, sort_keys=True, allow_nan=False) + "\n"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(target)
    return target


def label_studio_config(classes: Sequence[str]) -> str:
    """The labeling interface for `label_studio_tasks`: the text and one single-choice control over `classes`.

    ``<View><Text name="text" value="$text"/><Choices name="label" toName="text" choice="single">`` with one
    ``<Choice value=...>`` per class, in the order given (values XML-escaped).
    """
    _check_classes(classes)
    choices = "\n".join(f"    <Choice value={quoteattr(name)}/>" for name in classes)
    return (
        "<View>\n"
        f'  <Text name="{TEXT_KEY}" value="${TEXT_KEY}"/>\n'
        f'  <Choices name="{CHOICE_NAME}" toName="{TEXT_KEY}" choice="single" showInline="true">\n'
        f"{choices}\n"
        "  </Choices>\n"
        "</View>\n"
    )
