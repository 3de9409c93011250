"""Tests of the simulated agent corrections of production predictions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from factory.demo import CATEGORIES, DemoConfig, corrections, truth_for

DAY = date(2026, 1, 5)
CONFIG = DemoConfig(rows_per_day=5000)


@pytest.fixture(scope="module")
def truth() -> pl.DataFrame:
    return truth_for(DAY, CONFIG)


@pytest.fixture(scope="module")
def predictions(truth: pl.DataFrame) -> pl.DataFrame:
    """A model that is right on most tickets and says ``billing`` on every seventh one."""
    wrong = pl.int_range(pl.len()) % 7 == 0
    return truth.select(
        "ticket_id",
        pl.when(wrong).then(pl.lit("billing")).otherwise(pl.col("category")).alias("predicted_label"),
    )


def test_schema_and_share(predictions: pl.DataFrame, truth: pl.DataFrame) -> None:
    reviewed = corrections(predictions, truth, DAY, CONFIG)
    expected: dict[str, pl.DataType] = {
        "ticket_id": pl.String(),
        "predicted_label": pl.String(),
        "corrected_label": pl.String(),
        "corrected_at": pl.Datetime("us", "UTC"),
    }
    assert reviewed.schema == pl.Schema(expected)
    assert reviewed.height / predictions.height == pytest.approx(CONFIG.correction_share, abs=0.015)
    assert reviewed["ticket_id"].n_unique() == reviewed.height


def test_corrections_hold_the_truth_and_keep_the_prediction(predictions: pl.DataFrame, truth: pl.DataFrame) -> None:
    reviewed = corrections(predictions, truth, DAY, CONFIG)
    checked = reviewed.join(truth, on="ticket_id").join(predictions, on="ticket_id", suffix="_input")
    assert checked.height == reviewed.height
    assert (checked["corrected_label"] == checked["category"]).all()
    assert (checked["predicted_label"] == checked["predicted_label_input"]).all()
    agrees = reviewed["predicted_label"] == reviewed["corrected_label"]
    assert agrees.any()
    assert (~agrees).any()
    assert reviewed["corrected_label"].is_in(CATEGORIES).all()


def test_corrections_happen_the_next_day(predictions: pl.DataFrame, truth: pl.DataFrame) -> None:
    reviewed = corrections(predictions, truth, DAY, CONFIG)
    start = datetime(2026, 1, 6, tzinfo=UTC)
    assert (reviewed["corrected_at"] >= start).all()
    assert (reviewed["corrected_at"] < start + timedelta(days=1)).all()


def test_corrections_are_deterministic(predictions: pl.DataFrame, truth: pl.DataFrame) -> None:
    reviewed = corrections(predictions, truth, DAY, CONFIG)
    assert corrections(predictions, truth, DAY, CONFIG).equals(reviewed)
    other_day = corrections(predictions, truth, DAY + timedelta(days=1), CONFIG)
    assert set(other_day["ticket_id"]) != set(reviewed["ticket_id"])
    subset = predictions.slice(0, 500)
    expected = reviewed.filter(pl.col("ticket_id").is_in(subset["ticket_id"].implode()))
    assert corrections(subset, truth, DAY, CONFIG).equals(expected)


def test_a_reviewed_ticket_without_truth_is_an_error(truth: pl.DataFrame) -> None:
    unknown = pl.DataFrame(
        {"ticket_id": [f"TCK-UNKNOWN-{index}" for index in range(200)], "predicted_label": "billing"}
    )
    with pytest.raises(ValueError, match="no true category"):
        corrections(unknown, truth, DAY, CONFIG)
