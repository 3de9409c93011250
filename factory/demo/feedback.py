"""Production feedback for the demo: agents (support agents, claims handlers) review a share of the model's
predictions.

A reviewed item gets its true class as ``corrected_label``, also when the prediction was right, so
feedback accuracy can be measured. Which items are reviewed depends only on ``(seed, day, item id)``.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

from factory.demo.annotators import TICKETS, Taxonomy
from factory.demo.tickets import DemoConfig, stable_uniform

__all__ = ["corrections"]

_MICROSECONDS_PER_DAY = 86_400 * 1_000_000


def corrections(
    predictions: pl.DataFrame, truth: pl.DataFrame, day: date, config: DemoConfig, taxonomy: Taxonomy = TICKETS
) -> pl.DataFrame:
    """Agent reviews of ``predictions`` (the taxonomy's id column, for tickets ``ticket_id``, and
    ``predicted_label``) made on the day after ``day``.

    About ``config.correction_share`` of the predictions are reviewed. Returns the id column,
    ``predicted_label``, ``corrected_label`` (the truth) and ``corrected_at`` (UTC, microseconds), one row
    per reviewed prediction, in the order of ``predictions``. Raises ``ValueError`` when a reviewed item
    has no row in ``truth``.
    """
    item = taxonomy.id_column
    draws = stable_uniform(predictions[item], config.seed, f"review|{day.toordinal()}", 2)
    reviewed = (
        predictions.select(item, "predicted_label")
        .with_columns(pl.Series("draw", draws[:, 0]), pl.Series("offset", draws[:, 1]))
        .filter(pl.col("draw") < config.correction_share)
    )
    answers = truth.select(item, pl.col(taxonomy.label_column).alias("corrected_label")).unique(
        item, keep="first", maintain_order=True
    )
    joined = reviewed.join(answers, on=item, how="left", maintain_order="left")
    missing = joined.filter(pl.col("corrected_label").is_null())[item]
    if len(missing):
        raise ValueError(f"{len(missing)} reviewed items have no true category, e.g. {missing.head(3).to_list()}")
    next_day = np.datetime64(day + timedelta(days=1), "us")
    offsets = (joined["offset"].to_numpy() * _MICROSECONDS_PER_DAY).astype(np.int64)
    corrected_at = pl.Series("corrected_at", next_day + offsets.astype("timedelta64[us]"))
    return joined.select(
        item,
        "predicted_label",
        "corrected_label",
        corrected_at.dt.replace_time_zone("UTC"),
    )
