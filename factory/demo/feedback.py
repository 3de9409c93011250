"""Production feedback for the demo: support agents review a share of the model's predictions.

A reviewed ticket gets its true category as ``corrected_label``, also when the prediction was right, so
feedback accuracy can be measured. Which tickets are reviewed depends only on ``(seed, day, ticket_id)``.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

from factory.demo.tickets import DemoConfig, stable_uniform

__all__ = ["corrections"]

_MICROSECONDS_PER_DAY = 86_400 * 1_000_000


def corrections(predictions: pl.DataFrame, truth: pl.DataFrame, day: date, config: DemoConfig) -> pl.DataFrame:
    """Agent reviews of ``predictions`` (``ticket_id``, ``predicted_label``) made on the day after ``day``.

    About ``config.correction_share`` of the predictions are reviewed. Returns ``ticket_id``,
    ``predicted_label``, ``corrected_label`` (the truth) and ``corrected_at`` (UTC, microseconds), one row
    per reviewed prediction, in the order of ``predictions``. Raises ``ValueError`` when a reviewed ticket
    has no row in ``truth``.
    """
    draws = stable_uniform(predictions["ticket_id"], config.seed, f"review|{day.toordinal()}", 2)
    reviewed = (
        predictions.select("ticket_id", "predicted_label")
        .with_columns(pl.Series("draw", draws[:, 0]), pl.Series("offset", draws[:, 1]))
        .filter(pl.col("draw") < config.correction_share)
    )
    answers = truth.select("ticket_id", pl.col("category").alias("corrected_label")).unique(
        "ticket_id", keep="first", maintain_order=True
    )
    joined = reviewed.join(answers, on="ticket_id", how="left", maintain_order="left")
    missing = joined.filter(pl.col("corrected_label").is_null())["ticket_id"]
    if len(missing):
        raise ValueError(f"{len(missing)} reviewed tickets have no true category, e.g. {missing.head(3).to_list()}")
    next_day = np.datetime64(day + timedelta(days=1), "us")
    offsets = (joined["offset"].to_numpy() * _MICROSECONDS_PER_DAY).astype(np.int64)
    corrected_at = pl.Series("corrected_at", next_day + offsets.astype("timedelta64[us]"))
    return joined.select(
        "ticket_id",
        "predicted_label",
        "corrected_label",
        corrected_at.dt.replace_time_zone("UTC"),
    )
