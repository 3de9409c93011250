"""Assembling a dataset version: canonical shape and order, deterministic group splits, a truthful data card."""

from __future__ import annotations

import polars as pl

from factory.core.dataset import DatasetLayout, assemble, datacard, frame_digest
from factory.core.gates import min_rows

LAYOUT = DatasetLayout("id", "ts", "group", ("text",), ("channel",))
FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}


def _rows(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "id": [f"t{i:04d}" for i in range(n)],
            "ts": list(range(n)),
            "group": [f"g{i % 37}" for i in range(n)],
            "channel": ["chat"] * n,
            "text": [f"text {i}" for i in range(n)],
            "extra": [0] * n,
            "label": ["a" if i % 3 else "b" for i in range(n)],
            "label_confidence": [1.0 if i % 2 else 0.5 for i in range(n)],
            "label_source": ["vote"] * n,
            "partition_key": ["2026-01-01" if i < n // 2 else "2026-01-02" for i in range(n)],
        }
    )


def test_assemble_is_order_independent_and_keeps_groups_together() -> None:
    rows = _rows(500)
    one = assemble(rows, LAYOUT, FRACTIONS, "salt")
    two = assemble(rows.sample(fraction=1.0, shuffle=True, seed=3), LAYOUT, FRACTIONS, "salt")
    assert one.equals(two)
    assert frame_digest(one, ["id"]) == frame_digest(two, ["id"])
    assert "extra" not in one.columns and one.columns[:5] == ["id", "ts", "group", "channel", "text"]
    assert one.group_by("group").agg(pl.col("split").n_unique())["split"].max() == 1


def test_a_row_keeps_its_split_as_data_grows() -> None:
    small = assemble(_rows(200), LAYOUT, FRACTIONS, "salt").select("id", "split")
    large = assemble(_rows(500), LAYOUT, FRACTIONS, "salt").select("id", "split")
    assert small.join(large, on="id", suffix="_later").filter(pl.col("split") != pl.col("split_later")).is_empty()


def test_datacard_reports_counts_mix_splits_gates_and_lineage() -> None:
    frame = assemble(_rows(300), LAYOUT, FRACTIONS, "salt")
    card = datacard(
        title="demo",
        frame=frame,
        classes=["a", "b", "c"],
        digest="abc123",
        lineage={"run": "r1"},
        gates=[min_rows(frame.height, 1000)],
    )
    assert "- rows: 300" in card and "`abc123`" in card
    assert "| c | 0 | 0.00% |" in card
    assert "| min_rows | NO | 300 rows (floor 1000) |" in card
    assert "2026-01-01 .. 2026-01-02 (2 days)" in card and "- run: `r1`" in card
