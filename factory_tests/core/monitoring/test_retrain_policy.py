"""Every branch of the retrain decision, with the reason a person reads in the sensor log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from factory.core.monitoring import Decision, DriftObservation, decide

NOW = datetime(2026, 1, 8, 6, 0, tzinfo=UTC)
DAY = timedelta(hours=24)


def observation(score: float, partition: str = "2026-01-07") -> DriftObservation:
    """A drift report computed an hour ago."""
    return DriftObservation(partition=partition, score=score, created_at=NOW - timedelta(hours=1))


def test_no_report_yet_skips() -> None:
    decision = decide(None, threshold=0.2, cooldown=DAY, now=NOW, last_fired_at=None, last_fired_partition=None)
    assert decision == Decision(fire=False, reason=decision.reason, run_key=None)
    assert "no drift report yet" in decision.reason


def test_a_partition_already_acted_on_skips_even_after_the_cooldown() -> None:
    decision = decide(
        observation(0.9),
        threshold=0.2,
        cooldown=DAY,
        now=NOW,
        last_fired_at=NOW - timedelta(days=3),
        last_fired_partition="2026-01-07",
    )
    assert not decision.fire
    assert decision.run_key is None
    assert decision.reason == (
        "drift 0.90 on 2026-01-07 was already acted on: a retrain was requested for it at 2026-01-05T06:00+00:00"
    )


@pytest.mark.parametrize("score", [0.05, 0.1999, float("nan")])
def test_a_score_under_the_threshold_skips(score: float) -> None:
    decision = decide(
        observation(score),
        threshold=0.2,
        cooldown=DAY,
        now=NOW,
        last_fired_at=None,
        last_fired_partition=None,
    )
    assert not decision.fire
    assert decision.run_key is None
    assert "is under the threshold 0.20" in decision.reason


def test_cooldown_skips_with_the_time_left() -> None:
    decision = decide(
        observation(0.31),
        threshold=0.2,
        cooldown=DAY,
        now=NOW,
        last_fired_at=NOW - timedelta(hours=3),
        last_fired_partition="2026-01-04",
    )
    assert decision == Decision(
        fire=False,
        reason="cooldown: last retrain requested 3.0 h ago, next allowed in 21.0 h",
        run_key=None,
    )


def test_fires_over_the_threshold_after_the_cooldown() -> None:
    decision = decide(
        observation(0.31),
        threshold=0.2,
        cooldown=DAY,
        now=NOW,
        last_fired_at=NOW - DAY,
        last_fired_partition="2026-01-04",
    )
    assert decision == Decision(
        fire=True,
        reason="drift 0.31 on 2026-01-07 is over the threshold 0.20",
        run_key="drift-2026-01-07",
    )


def test_a_score_at_the_threshold_fires() -> None:
    decision = decide(
        observation(0.2), threshold=0.2, cooldown=DAY, now=NOW, last_fired_at=None, last_fired_partition=None
    )
    assert decision.fire
    assert decision.reason == "drift 0.20 on 2026-01-07 is at the threshold 0.20"


def test_fires_when_nothing_was_ever_requested() -> None:
    decision = decide(
        observation(0.5, partition="2026-01-08"),
        threshold=0.2,
        cooldown=DAY,
        now=NOW,
        last_fired_at=None,
        last_fired_partition=None,
    )
    assert decision.fire
    assert decision.run_key == "drift-2026-01-08"


def test_the_run_key_is_stable_across_ticks() -> None:
    keys = {
        decide(
            observation(0.5),
            threshold=0.2,
            cooldown=DAY,
            now=NOW + timedelta(minutes=minutes),
            last_fired_at=None,
            last_fired_partition=None,
        ).run_key
        for minutes in (0, 1, 30)
    }
    assert keys == {"drift-2026-01-07"}


def test_negative_cooldown_is_an_error() -> None:
    with pytest.raises(ValueError, match="cooldown"):
        decide(
            observation(0.5),
            threshold=0.2,
            cooldown=-DAY,
            now=NOW,
            last_fired_at=None,
            last_fired_partition=None,
        )
