"""Production corrections in: CSV, JSON Lines and Label Studio exports of ``item_id, corrected_label,
corrected_at, reviewer``.

`read_feedback` turns one file into corrections (`CORRECTIONS_SCHEMA`) and rejects (`REJECTS_SCHEMA` of
`factory.core.labeling`, ``position`` the 1-based line, or the 0-based task index for Label Studio). Nothing is
dropped silently: every record ends as one correction or one reject. Reason codes (`FEEDBACK_REJECT_REASONS`):
``malformed_line`` (a line that does not parse: a broken CSV quote, a JSON line that is not an object, invalid
UTF-8, an oversized field), ``missing_field`` (an empty value), ``unknown_item``, ``bad_timestamp``,
``label_outside_taxonomy``; Label Studio exports also give ``malformed_task``, ``no_choice`` and
``multiple_choices``. A file that cannot be read at all (a Label Studio export that is not UTF-8 JSON, a
CSV header without the four columns, a UTF-16 file) raises ValueError; the caller files it as one
``unreadable_file`` reject.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import polars as pl

from factory.core.ingestion import LINE, Parsed, parse_csv, parse_jsonl
from factory.core.labeling._annotation_table import REJECTS_SCHEMA, file_rejects
from factory.core.labeling._label_studio_import import read_label_studio

__all__ = [
    "CORRECTIONS_SCHEMA",
    "FEEDBACK_COLUMNS",
    "FEEDBACK_REJECT_REASONS",
    "FeedbackFormat",
    "FeedbackImport",
    "corrections_table",
    "feedback_format",
    "read_feedback",
]

FeedbackFormat = Literal["csv", "jsonl", "label_studio"]

FEEDBACK_COLUMNS: tuple[str, ...] = ("item_id", "corrected_label", "corrected_at", "reviewer")
"""The fields of a production correction in CSV and JSON Lines files (other fields are ignored)."""

CORRECTIONS_SCHEMA: dict[str, pl.DataType] = {
    "item_id": pl.String(),
    "corrected_label": pl.String(),
    "corrected_at": pl.Datetime("us", "UTC"),
    "reviewer": pl.String(),
}
"""Corrections as read from files."""

FEEDBACK_REJECT_REASONS: tuple[str, ...] = (
    "unreadable_file",
    "malformed_line",
    "missing_field",
    "unknown_item",
    "bad_timestamp",
    "label_outside_taxonomy",
)
"""Reason codes of rejected corrections from CSV and JSON Lines files, in priority order."""

_SUFFIX_FORMAT: dict[str, FeedbackFormat] = {".csv": "csv", ".jsonl": "jsonl", ".json": "label_studio"}


@dataclass(frozen=True)
class FeedbackImport:
    """The outcome of reading one feedback file: ``corrections`` (`CORRECTIONS_SCHEMA`) and ``rejects``
    (`REJECTS_SCHEMA`, with ``file`` and ``format`` filled in)."""

    corrections: pl.DataFrame
    rejects: pl.DataFrame

    @property
    def records(self) -> int:
        return self.corrections.height + self.rejects.height


def feedback_format(name: str) -> FeedbackFormat | None:
    """The format a feedback file name announces by its suffix (``.csv``, ``.jsonl``, ``.json``); None else."""
    lowered = name.lower()
    return next((fmt for suffix, fmt in _SUFFIX_FORMAT.items() if lowered.endswith(suffix)), None)


def _parse_utc(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _json_text(record: Mapping[str, object]) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


def _reject(file: str, fmt: str, position: int, reason: str, detail: str, payload: str) -> tuple[object, ...]:
    return (file, fmt, position, None, None, reason, detail, payload)


def _check(
    values: Mapping[str, str], classes: frozenset[str], items: frozenset[str] | None
) -> tuple[tuple[str, str] | None, datetime | None]:
    """The first problem of one record (reason, detail), in `FEEDBACK_REJECT_REASONS` order, and its time."""
    problems: list[tuple[str, str]] = []
    empty = [name for name in FEEDBACK_COLUMNS if not values[name]]
    if empty:
        problems.append(("missing_field", f"empty field(s): {', '.join(empty)}"))
    if values["item_id"] and items is not None and values["item_id"] not in items:
        problems.append(("unknown_item", "item_id is not one of the known items"))
    moment = _parse_utc(values["corrected_at"]) if values["corrected_at"] else None
    if values["corrected_at"] and moment is None:
        problems.append(("bad_timestamp", "corrected_at is not an ISO-8601 timestamp"))
    if values["corrected_label"] and values["corrected_label"] not in classes:
        problems.append(("label_outside_taxonomy", f"corrected_label is not one of the {len(classes)} classes"))
    if not problems:
        return None, moment
    problems.sort(key=lambda problem: FEEDBACK_REJECT_REASONS.index(problem[0]))
    return (problems[0][0], "; ".join(detail for _, detail in problems)), moment


def _from_rows(
    parsed: Parsed, file: str, fmt: str, classes: frozenset[str], items: frozenset[str] | None
) -> FeedbackImport:
    corrections: list[tuple[str, str, datetime, str]] = []
    rejects = [
        _reject(file, fmt, line, "malformed_line", f"{reason}: {detail}", payload)
        for line, reason, detail, payload in parsed.rejects.iter_rows()
    ]
    for record in parsed.rows.iter_rows(named=True):
        values = {name: (record[name] or "").strip() for name in FEEDBACK_COLUMNS}
        verdict, moment = _check(values, classes, items)
        if verdict is not None or moment is None:
            reason, detail = verdict or ("bad_timestamp", "corrected_at is not an ISO-8601 timestamp")
            payload = _json_text({name: record[name] for name in FEEDBACK_COLUMNS})
            rejects.append(_reject(file, fmt, record[LINE], reason, detail, payload))
        else:
            corrections.append((values["item_id"], values["corrected_label"], moment, values["reviewer"]))
    return FeedbackImport(
        pl.DataFrame(corrections, schema=CORRECTIONS_SCHEMA, orient="row"),
        pl.DataFrame(rejects, schema=REJECTS_SCHEMA, orient="row").sort("position"),
    )


def read_feedback(
    data: bytes,
    fmt: FeedbackFormat,
    classes: Sequence[str],
    known_items: Collection[object] | None = None,
    *,
    file: str = "",
    delimiter: str = ",",
    item_key: str = "item_id",
    choice_field: str | None = None,
    annotator_names: Mapping[int | str, str] | None = None,
) -> FeedbackImport:
    """Read one feedback file (module docstring); ValueError when the file cannot be read at all.

    ``known_items`` (None: any) rejects corrections of other items ``unknown_item``; ``file`` names the file
    in the rejects.
    """
    items = None if known_items is None else frozenset(str(item) for item in known_items)
    taxonomy = frozenset(classes)
    if fmt == "label_studio":
        read = read_label_studio(
            data, classes, items, None, choice_field, item_key=item_key, annotator_names=annotator_names
        )
        corrections = read.annotations.select(
            pl.col("item_id"),
            pl.col("label").alias("corrected_label"),
            pl.col("created_at").alias("corrected_at"),
            pl.col("annotator").alias("reviewer"),
        ).cast(CORRECTIONS_SCHEMA)  # type: ignore[arg-type]  # polars accepts a name -> dtype mapping
        return FeedbackImport(corrections, file_rejects(read.rejects, file=file, fmt=fmt))
    if fmt == "csv":
        parsed = parse_csv(data, FEEDBACK_COLUMNS, delimiter=delimiter)
        if parsed.missing_columns and data.strip():
            raise ValueError(f"the feedback CSV header lacks columns {list(parsed.missing_columns)}")
    else:
        parsed = parse_jsonl(data, FEEDBACK_COLUMNS)
    return _from_rows(parsed, file, fmt, taxonomy, items)


def corrections_table(
    corrections_by_source: Sequence[tuple[str, pl.DataFrame]], predictions: pl.DataFrame, id_column: str
) -> pl.DataFrame:
    """The ``feedback`` table: every source's corrections (`CORRECTIONS_SCHEMA`, keyed ``item_id``) stamped with
    the source's name, with the prediction they correct (``id_column, predicted_label``; null when none)."""
    stacked = pl.concat(
        [rows.with_columns(pl.lit(name, dtype=pl.String).alias("source")) for name, rows in corrections_by_source],
        how="vertical",
    ).rename({"item_id": id_column})
    predicted = predictions.select(pl.col(id_column).cast(pl.String), pl.col("predicted_label").cast(pl.String))
    joined = stacked.join(predicted.unique(id_column, keep="first"), on=id_column, how="left", maintain_order="left")
    return joined.select(id_column, "predicted_label", "corrected_label", "corrected_at", "reviewer", "source")
