"""Gate functions: each proves one property and fails with numbers when it does not hold."""

from __future__ import annotations

import polars as pl

from factory.core import gates


def test_rows_reconcile_passes_when_every_line_lands_once() -> None:
    result = gates.rows_reconcile(
        pl.Series([0, 1, 2, 3]),
        {"prepared": pl.Series([0, 2]), "quarantine": pl.Series([1]), "duplicates": pl.Series([3])},
    )
    assert result.passed
    assert result.summary == "4 in = 2 prepared + 1 quarantine + 1 duplicates"


def test_rows_reconcile_names_lost_doubled_and_invented_lines() -> None:
    result = gates.rows_reconcile(
        pl.Series([0, 1, 2, 3]), {"prepared": pl.Series([0, 1]), "quarantine": pl.Series([1, 9])}
    )
    assert not result.passed
    assert (result.figures["lost"], result.figures["in_two_places"], result.figures["not_in_input"]) == (2, 1, 1)


def test_schema_conforms_reports_missing_column_wrong_type_and_nulls() -> None:
    frame = pl.DataFrame({"id": ["a", None], "n": ["1", "2"]})
    result = gates.schema_conforms(frame, {"id": pl.String(), "n": pl.Int64(), "ts": pl.Datetime()}, ["id"])
    assert not result.passed
    problems = {row["column"]: row["problem"] for row in result.table}
    assert problems["ts"] == "missing"
    assert problems["n"].startswith("type String")
    assert "1 nulls" in problems["id"]
    assert gates.schema_conforms(frame.drop_nulls(), {"id": pl.String()}, ["id"]).passed


def test_pii_residue_sample_names_ids_not_values() -> None:
    result = gates.no_pii_residue(pl.Series([0, 2, 0, 1]), pl.Series(["a", "b", "c", "d"]))
    assert not result.passed
    assert result.figures == {"hits": 3, "rows_with_hits": 2}
    assert result.table == [{"id": "b"}, {"id": "d"}]
    assert gates.no_pii_residue(pl.Series([0, 0]), pl.Series(["a", "b"])).passed


def test_min_class_share_lists_the_short_classes() -> None:
    labels = pl.Series("label", ["a"] * 97 + ["b"] * 3)
    result = gates.min_class_share(labels, ["a", "b", "c"], 0.02)
    assert not result.passed
    assert "c" in result.summary and "b" not in result.summary.split(":")[-1]
    assert gates.min_class_share(labels, ["a", "b"], 0.02).passed


def test_split_proportions_and_min_rows_and_quality_floor() -> None:
    splits = pl.Series(["train"] * 80 + ["validation"] * 10 + ["test"] * 10)
    assert gates.splits_present(splits, {"train": 0.8, "validation": 0.1, "test": 0.1}).passed
    assert not gates.splits_present(splits, {"train": 0.6, "validation": 0.2, "test": 0.2}).passed
    assert gates.min_rows(10, 10).passed and not gates.min_rows(9, 10).passed
    assert gates.quality_floor({"macro_f1": 0.7}, "macro_f1", 0.6).passed
    assert not gates.quality_floor({"macro_f1": 0.5}, "macro_f1", 0.6).passed
    assert not gates.quality_floor({}, "macro_f1", 0.6).passed
