"""Per-day labeling bookkeeping: the ``label_quality`` row, the texts a review task shows, the champion's
predictions of labeled items, the PII scan of exported tasks, and the days whose production corrections have
not been read yet."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from factory.core import gates
from factory.core.labeling._annotation_table import FEEDBACK, REJECTS_SCHEMA
from factory.core.labeling._gates import CrowdAgreement
from factory.core.preparation import residue

__all__ = [
    "LABELS_SCHEMA",
    "export_pii_gate",
    "figure",
    "outside_taxonomy",
    "pending_feedback",
    "quality_row",
    "review_texts",
]

LABELS_SCHEMA: dict[str, pl.DataType] = {
    "item_id": pl.String(),
    "label": pl.String(),
    "confidence": pl.Float64(),
    "n_annotations": pl.Int64(),
    "agreement": pl.Float64(),
    "source": pl.String(),
    "method": pl.String(),
}
"""The ``labels`` table."""


def figure(value: float) -> float | str:
    """A figure for metadata: rounded to 4 places, ``n/a`` when not finite."""
    return round(value, 4) if np.isfinite(value) else "n/a"


def quality_row(
    method: str, labels: int, annotations: int, measured: tuple[CrowdAgreement, gates.GateResult] | None
) -> pl.DataFrame:
    """The day's row of ``label_quality``: what the dataset gate reads (None: no annotations)."""
    if measured is None:
        alpha = alpha_all = fleiss = float("nan")
        spammers, passed, summary = "", True, "no annotations"
    else:
        agreement, gate = measured
        alpha, alpha_all = agreement.trusted.krippendorff_alpha, agreement.everyone.krippendorff_alpha
        fleiss = agreement.everyone.fleiss_kappa
        spammers, passed, summary = ", ".join(agreement.spammers), gate.passed, gate.summary
    return pl.DataFrame(
        {
            "method": [method],
            "labels": [labels],
            "annotations": [annotations],
            "krippendorff_alpha_trusted": [alpha],
            "krippendorff_alpha": [alpha_all],
            "fleiss_kappa": [fleiss],
            "spammers": [spammers],
            "agreement_passed": [passed],
            "summary": [summary],
        }
    )


def review_texts(
    prepared: pl.DataFrame, id_column: str, text_columns: Sequence[str], feature_columns: Sequence[str] = ()
) -> pl.DataFrame:
    """``item_id, text``: the prepared (scrubbed) text columns joined by blank lines; without text columns, one
    ``<column>: <value>`` line per feature (a missing value as ``-``), so a reviewer sees what the model saw."""
    if prepared.is_empty():
        return pl.DataFrame(schema={"item_id": pl.String, "text": pl.String})
    if text_columns:
        text = pl.concat_str([pl.col(c).fill_null("") for c in text_columns], separator="\n\n")
    else:
        lines = [pl.format("{}: {}", pl.lit(c), pl.col(c).cast(pl.String).fill_null("-")) for c in feature_columns]
        text = pl.concat_str(lines, separator="\n")
    return prepared.select(pl.col(id_column).cast(pl.String).alias("item_id"), text.str.strip_chars().alias("text"))


def export_pii_gate(tasks: Sequence[Mapping[str, Any]], custom_pii: Mapping[str, str]) -> gates.GateResult:
    """``export_has_no_pii``: every string value of the tasks' data scanned for PII residue."""
    values = [str(v) for task in tasks for v in task.get("data", {}).values() if isinstance(v, str)]
    found = residue(pl.Series(values, dtype=pl.String), dict(custom_pii)) if values else pl.Series([0])
    hits = int((found > 0).sum())
    return gates.GateResult(
        "export_has_no_pii",
        hits == 0,
        f"{len(values)} exported text value(s), {hits} with PII residue",
        {"values": len(values), "with_pii": hits},
    )


def outside_taxonomy(corrections: pl.DataFrame, inside: pl.Series, classes: Sequence[str]) -> pl.DataFrame:
    """Rejects (`REJECTS_SCHEMA`) for the production corrections whose label is not a class."""
    outside = corrections.filter(~inside)
    return pl.DataFrame(
        {
            "file": FEEDBACK,
            "format": "feedback",
            "position": None,
            "task_id": None,
            "annotation_id": None,
            "reason": "label_outside_taxonomy",
            "detail": f"corrected label is not one of the {len(classes)} classes",
            "payload": [json.dumps(r, default=str, sort_keys=True) for r in outside.to_dicts()],
        },
        schema=REJECTS_SCHEMA,
    )


def pending_feedback(counts: pl.DataFrame, labeled: pl.DataFrame, ledger: pl.DataFrame) -> pl.DataFrame:
    """``partition_key, corrections, read``: labeled days with more production corrections than their
    annotations have read. ``counts`` is ``partition_key, n`` of the feedback table, ``labeled`` the labeled
    days (``partition_key``), ``ledger`` the ``annotation_sources`` table (may be empty)."""
    read = (
        ledger.filter(pl.col("kind") == FEEDBACK).select("partition_key", pl.col("records").alias("read"))
        if ledger.height
        else pl.DataFrame(schema={"partition_key": pl.String, "read": pl.Int64})
    )
    return (
        counts.rename({"n": "corrections"})
        .join(labeled.select("partition_key"), on="partition_key", how="semi")
        .join(read, on="partition_key", how="left")
        .with_columns(pl.col("read").fill_null(0))
        .filter(pl.col("corrections") > pl.col("read"))
        .select(pl.col("partition_key"), pl.col("corrections").cast(pl.Int64), pl.col("read").cast(pl.Int64))
        .sort("partition_key")
    )
