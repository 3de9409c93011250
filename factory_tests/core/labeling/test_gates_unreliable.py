"""Unreliable annotators: an accuracy under the floor (on enough gold, else against the consensus) leaves an
annotator out of the trusted agreement, never so many that fewer than two remain."""

import polars as pl

from factory.core.labeling import SCORES_SCHEMA, agreement_gate, crowd_agreement, unreliable_annotators


def _scores(rows: list[tuple[str, int, float | None, int, float, bool]]) -> pl.DataFrame:
    frame = pl.DataFrame(
        rows,
        schema={
            "annotator": pl.String,
            "n_gold": pl.Int64,
            "gold_accuracy": pl.Float64,
            "n_consensus": pl.Int64,
            "consensus_accuracy": pl.Float64,
            "spammer": pl.Boolean,
        },
        orient="row",
    )
    return frame.with_columns(
        pl.lit(None, dtype).alias(n) for n, dtype in SCORES_SCHEMA.items() if n not in frame.columns
    )


def test_an_annotator_under_the_floor_is_unreliable_by_gold_or_else_by_consensus() -> None:
    scores = _scores(
        [
            ("amara", 30, 0.95, 200, 0.93, False),
            ("bruno", 5, None, 200, 0.88, False),
            ("elif", 30, 0.10, 200, 0.12, True),  # a spammer is a spammer, not counted twice
            ("farah", 4, 0.25, 180, 0.41, False),  # too little gold: the consensus decides
            ("gus", 25, 0.55, 200, 0.90, False),  # enough gold: gold decides, even against the consensus
            ("hana", 2, 1.0, 20, 0.30, False),  # too few items either way
        ]
    )
    assert unreliable_annotators(scores, 0.6, 20) == ["farah", "gus"]


def test_never_fewer_than_two_trusted_annotators_remain() -> None:
    scores = _scores(
        [("a", 0, None, 100, 0.5, False), ("b", 0, None, 100, 0.55, False), ("c", 0, None, 100, 0.9, False)]
    )
    assert unreliable_annotators(scores, 0.6, 20) == []


def test_leaving_out_a_decayed_annotator_lets_the_crowd_pass_and_says_so() -> None:
    classes = ["a", "b", "c"]
    rows = []
    for item in range(60):
        truth = classes[item % 3]
        rows += [(f"i{item}", name, truth) for name in ("amara", "bruno", "chen")]
        rows.append((f"i{item}", "farah", classes[(item + 1) % 3]))  # always wrong
    answers = pl.DataFrame(rows, schema=["item_id", "annotator", "label"], orient="row").with_columns(
        pl.int_range(pl.len()).alias("answered_order")
    )
    everyone = agreement_gate(crowd_agreement(answers, classes), 0.8)
    trusted = agreement_gate(crowd_agreement(answers, classes, unreliable=["farah"]), 0.8)
    assert not everyone.passed
    assert trusted.passed
    assert "unreliable annotator(s) farah" in trusted.summary
