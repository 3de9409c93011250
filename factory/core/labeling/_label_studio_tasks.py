"""Review tasks out: Label Studio task files with pre-annotations and the matching labeling interface.

`label_studio_tasks` builds tasks in Label Studio's import format with our model's label as a
pre-annotation, `label_studio_config` the matching labeling interface, and `write_label_studio_tasks`
writes them as deterministic UTF-8 JSON. Every exported text goes through `assert_no_pii` first: review
tasks leave the factory, so only prepared (scrubbed) text may be exported, and a PII residue in any exported
value raises `PIIResidueError`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import polars as pl

from factory.core.ingestion import text_column as _rendered_as_text
from factory.core.labeling._reader_checks import check_classes
from factory.core.preparation import residue

__all__ = [
    "CHOICE_NAME",
    "TEXT_KEY",
    "PIIResidueError",
    "assert_no_pii",
    "label_studio_config",
    "label_studio_tasks",
    "write_label_studio_tasks",
]

TEXT_KEY = "text"
"""The task data key holding the text; `label_studio_config` points the labeling interface at it."""
CHOICE_NAME = "label"
"""The name of the Choices control in `label_studio_config` (``from_name`` in results)."""


class PIIResidueError(ValueError):
    """Text about to leave the factory (a review task) still holds personal data."""


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
    check_classes(classes)
    choices = "\n".join(f"    <Choice value={quoteattr(name)}/>" for name in classes)
    return (
        "<View>\n"
        f'  <Text name="{TEXT_KEY}" value="${TEXT_KEY}"/>\n'
        f'  <Choices name="{CHOICE_NAME}" toName="{TEXT_KEY}" choice="single" showInline="true">\n'
        f"{choices}\n"
        "  </Choices>\n"
        "</View>\n"
    )
