"""Reading an annotation CSV (``item_id, annotator, label, created_at``) into annotations and rejects.

Rows and rejects follow `factory.core.labeling._reader_checks`; the CSV dialect and its line-level rejects are
those of `factory.core.ingestion.parse_csv`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

import polars as pl

from factory.core.ingestion import LINE, parse_csv
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

__all__ = ["CSV_COLUMNS", "read_annotations_csv"]

CSV_COLUMNS: tuple[str, ...] = ("item_id", "annotator", "label", "created_at")
"""The columns of an annotation CSV (other columns are ignored)."""

_CSV_REJECT_SCHEMA: dict[str, pl.DataType] = {
    LINE: pl.Int64(),
    "reason": pl.String(),
    "detail": pl.String(),
    "payload": pl.String(),
}


def read_annotations_csv(
    data: Source,
    classes: Sequence[str],
    known_items: Collection[object] | None = None,
    known_annotators: Collection[object] | None = None,
    *,
    provenance: str = "human",
    origin: str | None = None,
    delimiter: str = ",",
) -> LabelImport:
    """Read a CSV of ``item_id, annotator, label, created_at`` into annotations and rejects.

    The CSV dialect and its line-level rejects (``malformed_line``, ``invalid_utf8``, ``field_too_large``)
    are those of `factory.core.ingestion.parse_csv`. Values are stripped of surrounding spaces; an empty one
    rejects the row ``missing_field``. Then, as for Label Studio, ``unknown_item``, ``unknown_annotator``,
    ``bad_timestamp`` and ``label_outside_taxonomy``. Rejects carry the 1-based ``_line`` of the record. A
    header lacking one of the four columns raises ValueError; an empty file reads as no annotations.
    `provenance` and `origin` are written on every row.
    """
    checks = Checks.build(classes, known_items, known_annotators)
    raw = as_bytes(data)
    parsed = parse_csv(raw, CSV_COLUMNS, delimiter=delimiter)
    if parsed.missing_columns and raw.strip():
        raise ValueError(f"the annotation CSV header lacks columns {list(parsed.missing_columns)}")
    rows: list[tuple[str, str, str, datetime]] = []
    rejects: list[tuple[int, str, str, str]] = [
        (line, reason, detail, payload) for line, reason, detail, payload in parsed.rejects.iter_rows()
    ]
    for record in parsed.rows.iter_rows(named=True):
        values = {name: (record[name] or "").strip() for name in CSV_COLUMNS}
        problems = Problems()
        empty = [name for name in CSV_COLUMNS if not values[name]]
        if empty:
            problems.add("missing_field", f"empty field(s): {', '.join(empty)}")
        if values["item_id"] and values["annotator"]:
            check_known(problems, checks, values["item_id"], values["annotator"])
        created_at = parse_utc(values["created_at"]) if values["created_at"] else None
        if values["created_at"] and created_at is None:
            problems.add("bad_timestamp", "created_at is not an ISO-8601 timestamp")
        if values["label"]:
            check_label(problems, checks, values["label"])
        verdict = problems.verdict()
        if verdict is not None or created_at is None:
            reason, detail = verdict or ("bad_timestamp", "created_at is not an ISO-8601 timestamp")
            rejects.append((record[LINE], reason, detail, json_text({name: record[name] for name in CSV_COLUMNS})))
        else:
            rows.append((values["item_id"], values["annotator"], values["label"], created_at))
    return LabelImport(
        annotation_frame(rows, provenance, origin),
        pl.DataFrame(rejects, schema=_CSV_REJECT_SCHEMA, orient="row").sort(LINE),
        skipped_blank=parsed.skipped_blank,
    )
