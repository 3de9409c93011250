"""Every branch of the retrain decision, with the reason a person reads in the sensor log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from factory.core.monitoring import Decision, DriftObservation, Economics, decide

NOW = datetime(2026, 1, 8, 6, 0, tzinfo=UTC)
DAY = timedelta(hours=24)


def observation(score: float, partition: str = "2026-01-07") -> DriftObservation:
    """A drift report computed an hour ago."""
    return DriftObservation(partition=partition, score=score, created_at=NOW - timedelta(hours=1))


def test_no_report_yet_skips() -> None:
    decision = decide(None, threshold=0.2, cooldown=DAY, now=NOW, last_fired_at=None, last_fired_partition=None)
    assert decision == Decision(fire=False, reason=decision.reason, run_key=None, rule="no_report")
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
        reason=(
            "cooldown: last retrain requested 3.0 h ago, next allowed in 21.0 h; "
            "drift 0.31 on 2026-01-07 is over the threshold 0.20"
        ),
        run_key=None,
        rule="cooldown",
        basis="drift signal",
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
        basis="drift signal",
        episode_started_at=NOW,
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


# The cost-benefit rule ------------------------------------------------------------------------------------------

PRICES = Economics(
    cost_per_error=1.0,
    retrain_cost=40.0,
    retrain_cost_basis="40 CPU-s x 1 per CPU-s",
    horizon_days=7.0,
    min_new_labeled_rows=200,
    min_feedback_rows=200,
    noise_margin=0.02,
)


def measured(
    score: float = 0.3,
    *,
    estimated: float | None = None,
    realized: float | None = None,
    feedback_rows: int = 0,
    rows: int = 1000,
    error: float | None = None,
    realized_error: float | None = None,
) -> DriftObservation:
    """A report of 2026-01-07 with the champion's reference macro F1 0.80 and the given current figures."""
    return DriftObservation(
        partition="2026-01-07",
        score=score,
        created_at=NOW - timedelta(hours=1),
        rows=rows,
        reference=0.80,
        estimated=estimated,
        realized=realized,
        feedback_rows=feedback_rows,
        estimated_error=error,
        realized_error=realized_error,
    )


def priced(
    latest: DriftObservation,
    *,
    new_rows: int | None = 1000,
    last_at: datetime | None = None,
    episode: datetime | None = None,
) -> Decision:
    return decide(
        latest,
        threshold=0.2,
        cooldown=DAY,
        now=NOW,
        last_fired_at=last_at,
        last_fired_partition=None,
        economics=PRICES,
        new_labeled_rows=new_rows,
        episode_started_at=episode,
    )


def test_a_retrain_whose_cost_exceeds_its_benefit_is_skipped_with_that_reason() -> None:
    # drop 0.025, 0.005 beyond the margin: 0.005 x 1000 rows x 7 days x 1 = 35 < 40
    decision = priced(measured(0.1, estimated=0.775))
    assert not decision.fire and decision.rule == "evidence" and decision.run_key is None
    assert decision.reason.startswith("benefit 35.0 <= cost 40.0: macro_f1 drop 0.025 (estimated 0.775 vs reference")
    assert "retrain cost 40 CPU-s x 1 per CPU-s" in decision.reason
    assert decision.expected_benefit == pytest.approx(35.0) and decision.retrain_cost == 40.0
    assert decision.basis == "estimated"


def test_a_retrain_whose_benefit_exceeds_its_cost_fires_with_the_figures() -> None:
    decision = priced(measured(0.1, estimated=0.70))  # (0.10 - 0.02) x 1000 x 7 = 560
    assert decision.fire and decision.rule == "fire" and decision.run_key == "drift-2026-01-07"
    assert decision.reason.startswith("benefit 560.0 > cost 40.0")
    assert decision.drop == pytest.approx(0.10)


def test_the_margin_grows_with_the_standard_error_of_a_small_day() -> None:
    """A drop of 0.06 pays on a day whose estimate is precise, and is noise on a small day whose estimate and
    test split each carry a few points of sampling error (two standard errors of the drop: 0.08)."""
    assert priced(measured(0.1, estimated=0.74, error=0.005)).fire
    noisy = priced(measured(0.1, estimated=0.74, error=0.04))
    assert not noisy.fire and noisy.rule == "evidence"
    assert "0.000 beyond the noise margin 0.080" in noisy.reason
    assert priced(measured(0.1, estimated=0.60, error=0.04)).fire, "a drop well beyond the noise still pays"


def test_a_drop_without_drift_fires() -> None:
    assert priced(measured(0.05, estimated=0.70)).fire, "performance fell though the inputs look alike"


def test_a_material_shift_the_figures_do_not_see_fires_on_the_drift_signal() -> None:
    """Over the threshold, an estimate that shows no harm is not trusted: the drift signal fires, with the
    figures it overrode in the reason."""
    fired = priced(measured(0.3, estimated=0.81))
    assert fired.fire and fired.basis == "drift signal"
    assert fired.reason.startswith("drift 0.30 on 2026-01-07 is over the threshold 0.20, a shift the performance")
    assert "(benefit 0.0 <= cost 40.0: " in fired.reason
    assert fired.episode_started_at == NOW, "the first request starts an episode"


def requests(scores: list[float], release: float | None = None) -> tuple[list[int], dict[int, str], datetime | None]:
    """The days of January a sensor asks on when the reports of 2026-01-14 onwards score ``scores``, one per
    night (the sensor carries the last request and its episode from one decision to the next, as here); every
    day's reason; the last episode's start."""
    start = datetime(2026, 1, 15, 3, 0, tzinfo=UTC)
    last_at: datetime | None = None
    episode: datetime | None = None
    fired, reasons = [], {}
    for offset, score in enumerate(scores):
        now = start + offset * DAY
        day = (now - DAY).date().isoformat()
        report = DriftObservation(day, score, now - timedelta(hours=1), rows=500, reference=0.8, estimated=0.8)
        decision = decide(
            report,
            threshold=0.2,
            cooldown=DAY,
            now=now,
            last_fired_at=last_at,
            last_fired_partition=None,
            economics=PRICES,
            new_labeled_rows=1000,
            episode_started_at=episode,
            release=release,
        )
        reasons[now.day] = decision.reason
        if decision.episode_ended:
            episode = None
        if decision.fire:
            fired.append(now.day)
            last_at, episode = now, decision.episode_started_at
    return fired, reasons, episode


def test_a_lasting_shift_asks_again_each_time_its_labeled_days_double() -> None:
    """A shift that stays over the threshold for 16 days: requests on its days 1, 2, 4 and 8 (2026-01-15, 16,
    18, 22), then once per horizon (29): five, where a daily cooldown alone would ask sixteen times."""
    fired, reasons, episode = requests([0.4] * 16)
    assert fired == [15, 16, 18, 22, 29]
    assert episode == datetime(2026, 1, 15, 3, 0, tzinfo=UTC)
    assert reasons[17].startswith("cooldown: last retrain requested 24.0 h ago, next allowed in 24.0 h")


FADING = [0.3, 0.18, 0.17, 0.16, 0.15, 0.14, 0.13, 0.12, 0.12, 0.11, 0.11, 0.1, 0.1, 0.1, 0.08]
"""A shift the first retrain half learned: over the threshold on its first day only, then over half of it for
a fortnight, then calm (the report of 2026-01-28)."""


def test_an_open_episode_asks_until_the_score_falls_under_the_release() -> None:
    """Hysteresis: the episode opened at the threshold keeps its doubling days while the score is at or over the
    release, and ends when the score falls under it: after the horizon a score over the release but under the
    threshold starts nothing."""
    fired, reasons, _ = requests(FADING, release=0.1)
    assert fired == [15, 16, 18, 22], "days 1, 2, 4 and 8 of the shift"
    assert reasons[16].startswith(
        "drift 0.18 on 2026-01-15 is over the release 0.10 of the episode begun 2026-01-15 03:00, a shift the"
    )
    assert reasons[29].startswith("benefit 0.0 <= cost 40.0"), "under the release only the figures could ask"
    without, _, _ = requests(FADING)
    assert without == [15], "without a release the episode ends at the threshold"
    latched, latched_reasons, episode = requests(
        [0.3, 0.18, 0.05, 0.05, 0.15, 0.15, 0.15, 0.15, 0.15, 0.15], release=0.1
    )
    assert latched == [15, 16], "a score under the release ends the episode: 0.15 two days later asks nothing"
    assert latched_reasons[17].endswith(
        "the episode begun 2026-01-15 03:00 ended: drift 0.05 is under its release 0.10"
    ), latched_reasons[17]
    assert latched_reasons[19].startswith("benefit 0.0 <= cost 40.0") and episode is None
    again, _, _ = requests([0.3, 0.18, 0.05, 0.25], release=0.1)
    assert again == [15, 16, 18], "over the threshold after the episode ended: a new episode, one cooldown later"
    lapsed, lapsed_reasons, _ = requests([0.3] + [0.0] * 8 + [0.15])
    assert lapsed == [15], "a score under the threshold after the horizon starts no episode"
    assert lapsed_reasons[24].startswith("benefit 0.0 <= cost 40.0")


def test_a_request_long_after_the_last_starts_a_new_episode() -> None:
    """More than the horizon after the last request, the spacing is the cooldown again."""

    def after(days: int) -> Decision:
        return priced(measured(0.3, estimated=0.81), last_at=NOW - timedelta(days=days), episode=NOW - 30 * DAY)

    again = after(8)
    assert again.fire and again.episode_started_at == NOW
    held = after(6)
    assert not held.fire and held.rule == "cooldown", "within an old episode the spacing is the horizon"
    assert held.reason.startswith("cooldown: last retrain requested 144.0 h ago, next allowed in 24.0 h")


def test_enough_feedback_makes_the_realized_figure_decide() -> None:
    # the estimate says all is well, 400 corrections say the champion lost 0.15
    decision = priced(measured(0.3, estimated=0.80, realized=0.65, feedback_rows=400))
    assert decision.fire and decision.basis == "realized"
    assert "realized on 400 feedback rows 0.650" in decision.reason
    spread = 2 * (0.65 * 0.35 / 400) ** 0.5  # two standard errors, more than the margin 0.02
    assert decision.expected_benefit == pytest.approx((0.15 - spread) * 1000 * 7)


def test_the_realized_margin_is_its_reports_standard_error_when_it_has_one() -> None:
    """A realized macro F1 over a rare class moves more than a binomial error says: the report's error of the
    realized drop sets the margin, and the same drop is noise under a wide one."""
    precise = priced(measured(0.1, estimated=0.80, realized=0.68, feedback_rows=300, realized_error=0.01))
    assert precise.fire and precise.basis == "realized"
    assert precise.expected_benefit == pytest.approx((0.12 - 0.02) * 1000 * 7)
    noisy = priced(measured(0.1, estimated=0.80, realized=0.68, feedback_rows=300, realized_error=0.07))
    assert not noisy.fire and "beyond the noise margin 0.140" in noisy.reason


def test_a_lagging_realized_figure_does_not_hide_todays_estimated_drop() -> None:
    # the feedback window is still mostly calm days; the estimate of today's rows shows the harm
    decision = priced(measured(0.3, estimated=0.60, realized=0.79, feedback_rows=400))
    assert decision.fire and decision.basis == "estimated"
    assert decision.expected_benefit == pytest.approx((0.20 - 0.02) * 1000 * 7)


def test_too_little_feedback_falls_back_to_the_estimate() -> None:
    decision = priced(measured(0.1, estimated=0.80, realized=0.10, feedback_rows=199))
    assert not decision.fire and decision.basis == "estimated"


def test_without_any_performance_figure_the_drift_signal_decides() -> None:
    fired = priced(measured(0.3))
    assert fired.fire and fired.basis == "drift signal" and fired.expected_benefit is None
    assert "no performance estimate: the drift signal decides" in fired.reason
    calm = priced(measured(0.1))
    assert not calm.fire and "is under the threshold 0.20" in calm.reason


def test_too_few_new_labels_skip_even_when_it_would_pay() -> None:
    decision = priced(measured(0.9, estimated=0.5), new_rows=150)
    assert not decision.fire and decision.rule == "new_labels"
    assert decision.reason.startswith("only 150 new labeled rows since the published dataset (minimum 200)")
    assert "benefit" in decision.reason, "the figures it would have fired on are kept in the reason"


def test_the_cooldown_holds_a_retrain_that_would_pay() -> None:
    decision = priced(measured(0.9, estimated=0.5), last_at=NOW - timedelta(hours=5))
    assert not decision.fire and decision.rule == "cooldown"
    assert decision.reason.startswith("cooldown: last retrain requested 5.0 h ago, next allowed in 19.0 h; benefit")


def test_economics_refuse_negative_prices() -> None:
    with pytest.raises(ValueError, match="retrain_cost"):
        Economics(1.0, -1.0, "x", 7.0, 0, 1, 0.0)
