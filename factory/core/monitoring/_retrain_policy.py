"""When drift asks for a retrain: the sensor's decision, with a reason a person can read.

The rules, in the order they are checked (the first that applies wins):

1. no drift report yet: skip;
2. the latest report's partition already triggered a retrain: skip (one request per partition);
3. the evidence does not pay for a retrain: skip. With `Economics` (the ``retrain:`` section of the spec) the
   evidence is a cost-benefit comparison (below); without them, or when the report carries no performance
   figure, it is the drift signal: the headline ``score >= threshold`` (a NaN score never fires). Not the
   report's ``drifted`` verdict: a component's statistically significant change is not a material one (on 30
   calm demo days of 500 tickets some component was significant on 25), while the threshold is set on the
   size of the effect. Within an open episode (rule 5) the signal's bar is the *release* (the spec's default:
   half the threshold): a hysteresis, as alarms have. A retrain on the first days of a shift mixes a little of the new
   regime into a reference of the old, so the score against the new champion falls under the threshold while
   the days still differ from what it learned (on the demo claims: 0.29 on the day of the shift, then 0.20 and
   0.15-0.16 on the days the next doublings fell on, against 0.03-0.07 on calm days); the episode keeps asking
   on its doubling days until the score falls under the release, which ends it (a latch: from then on the
   threshold applies, and a request starts a new episode);
4. fewer new labeled rows than ``min_new_labeled_rows`` since the published dataset version: skip (a retrain
   would learn nothing new);
5. the last retrain request is younger than the spacing: skip, saying when the next one is allowed. Without
   economics the spacing is the cooldown. With them, requests less than ``horizon_days`` apart form an
   *episode*, and within one the spacing is the episode's age at the last request plus one cooldown (at
   least the cooldown, at most the horizon): a model retrained at a request learned the new data of the
   episode so far, and the next request waits until that has doubled. After a shift begins that asks on the
   report days 1, 2, 4 and 8 of it (a 24 h cooldown, a 7-day horizon: days 15, 16, 18, 22, then weekly): a
   model learns a new regime from its labeled days, the gain of more data falls with how much there is, and
   the requests of a month stay few. A request more than the horizon after the last starts a new episode;
6. otherwise fire, with the run key ``drift-<partition>``, so that Dagster de-duplicates repeated ticks.

The cost-benefit comparison. A *drop* is the champion's reference quality (its test-split score in the use
case's quality metric) minus a current quality: the *estimated* quality of the day's rows from calibrated
confidences (CBPE), and the *realized* quality on production feedback once at least ``min_feedback_rows``
corrections arrived. Only the part of a drop beyond its noise counts: at least ``noise_margin`` (the estimate's
error on calm data that no sampling formula shows: calibration, the class mix), and two standard errors of the
drop when they are larger: for the estimate, the bootstrap errors of the day's estimate and of the test split's
in quadrature (``estimated_error``: a day of 300 rows against a test split of 150 moves by several points with
nothing drifting), for a realized figure the bootstrap error of its score on the feedback rows and the test
figure's, in quadrature (``realized_error``; the binomial error of the feedback rows for a report without it,
which fits accuracy but not macro F1 over a rare class: over 283 corrected demo claims, a 3% fraud class among
them, the realized macro F1's bootstrap error is 0.047 and its spread over random draws of as many rows 0.045,
where the binomial error says 0.027; and no lower than the conservative `thin_class_error`, as a bootstrap cannot
see what the sample lacks: with the bootstrap's margin alone, 0.057, a drop of 0.117 over 269 corrected demo
claims fired before any drift). When both figures exist, the
larger counted drop is used: each is then a lower bound on the harm, and each misses what the other sees (the
realized figure spans the feedback window, so it lags a drift that began today; the estimate assumes the
confidences still mean what they meant, which a change in what the labels mean breaks). The counted drop is
read as the share of the day's rows a retrain would get right again (exact for accuracy; for macro F1, errors
weighed by class, which is what the use case declared it cares about), assuming the retrained model returns
to the reference quality. So::

    expected benefit = counted drop x rows per day x horizon_days x cost_per_error

and the retrain fires when the benefit exceeds the retrain cost (a fixed figure, or the CPU-seconds the last
retrain measured times a price per CPU-second: `Economics.retrain_cost_basis` says which). It also fires when
the headline drift score is at or over the threshold although the figures show no benefit: under a material
shift of the inputs the estimate is outside the conditions it holds in (CBPE assumes the confidences still mean
what they meant; on the demo claims' fraud ring it kept estimating the reference quality while the true macro
F1 fell by 0.06) and the realized figure lags; such requests are spaced like any other (rule 5). Under the
threshold, a retrain whose cost exceeds its benefit is skipped with both figures in the reason.

Times must all be timezone-aware or all naive; mixing them raises ``TypeError`` (from Python's comparison).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["RULES", "Decision", "DriftObservation", "Economics", "decide"]

RULES = ("no_report", "acted_on", "evidence", "new_labels", "cooldown", "fire")
"""The rule that decided, by the order of the module docstring (``fire``: every rule allowed it)."""


@dataclass(frozen=True)
class DriftObservation:
    """The drift report of one daily partition: its headline score, when it was computed, the day's rows,
    and the champion's quality in the use case's metric (reference, estimated, realized; None when unknown),
    with the standard errors of the estimate's and the realized figure's drops from the reference."""

    partition: str
    score: float
    created_at: datetime
    rows: int | None = None
    metric: str = "macro_f1"
    reference: float | None = None
    estimated: float | None = None
    realized: float | None = None
    feedback_rows: int = 0
    estimated_error: float | None = None
    realized_error: float | None = None


@dataclass(frozen=True)
class Economics:
    """What an error and a retrain cost, and the bounds of the cost-benefit rule (module docstring)."""

    cost_per_error: float
    retrain_cost: float
    retrain_cost_basis: str
    horizon_days: float
    min_new_labeled_rows: int
    min_feedback_rows: int
    noise_margin: float

    def __post_init__(self) -> None:
        for name in ("cost_per_error", "retrain_cost", "horizon_days", "noise_margin"):
            value = getattr(self, name)
            if not value >= 0:
                raise ValueError(f"{name} must be a number at least 0, got {value}")


@dataclass(frozen=True)
class Decision:
    """Whether to request a retrain, why, the run key of the request, the rule that decided (`RULES`), the
    figures weighed (None when that rule did not need them) and, for a request, when its episode began (rule 5:
    the sensor passes it back with the next decision)."""

    fire: bool
    reason: str
    run_key: str | None
    rule: str = "fire"
    expected_benefit: float | None = None
    retrain_cost: float | None = None
    drop: float | None = None
    basis: str | None = None
    episode_started_at: datetime | None = None
    episode_ended: bool = False
    """The open episode ended at this decision (its score fell under the release): the sensor forgets its start."""


@dataclass(frozen=True)
class _Evidence:
    """The outcome of rule 3: whether the evidence asks for a retrain, in words, with its figures."""

    pays: bool
    words: str
    benefit: float | None = None
    cost: float | None = None
    drop: float | None = None
    basis: str = "drift signal"


def decide(
    latest: DriftObservation | None,
    *,
    threshold: float,
    cooldown: timedelta,
    now: datetime,
    last_fired_at: datetime | None,
    last_fired_partition: str | None,
    economics: Economics | None = None,
    new_labeled_rows: int | None = None,
    episode_started_at: datetime | None = None,
    release: float | None = None,
) -> Decision:
    """Apply the rules of the module docstring to the latest drift observation. ``new_labeled_rows`` is the
    number of labeled rows not yet in the published dataset (None: unknown, rule 4 not applied);
    ``episode_started_at`` is what the last request's decision said (None: the last request starts one);
    ``release`` the drift score under which an open episode ends (rule 3; None: no hysteresis)."""
    if cooldown < timedelta(0):
        raise ValueError(f"cooldown must not be negative, got {cooldown}")
    if latest is None:
        return Decision(False, "no drift report yet: nothing to compare with the threshold", None, "no_report")
    if latest.partition == last_fired_partition:
        return Decision(
            False,
            f"drift {latest.score:.2f} on {latest.partition} was already acted on: {_fired(last_fired_at)}",
            None,
            "acted_on",
        )
    horizon = timedelta(days=economics.horizon_days) if economics is not None else None
    lapsed = horizon is not None and last_fired_at is not None and now - last_fired_at > horizon
    fresh = last_fired_at is None or episode_started_at is None or lapsed
    bar, ended = _Bar(threshold), ""
    if release is not None and horizon is not None and not fresh and episode_started_at is not None:
        floor = min(release, threshold)
        begun = f"the episode begun {episode_started_at:%Y-%m-%d %H:%M}"
        if math.isnan(latest.score) or latest.score < floor:  # the latch opens: the threshold applies again
            ended = f"; {begun} ended: drift {latest.score:.2f} is under its release {floor:.2f}"
            fresh, episode_started_at = True, None
        else:
            bar = _Bar(floor, f"the release {floor:.2f} of {begun}")
    evidence = _evidence(latest, bar, economics)

    def outcome(rule: str, reason: str) -> Decision:
        fire = rule == "fire"
        return Decision(
            fire,
            reason + ended,
            f"drift-{latest.partition}" if fire else None,
            rule,
            evidence.benefit,
            evidence.cost,
            evidence.drop,
            evidence.basis,
            (now if fresh else episode_started_at) if fire else None,
            bool(ended),
        )

    if not evidence.pays:
        return outcome("evidence", evidence.words)
    minimum = economics.min_new_labeled_rows if economics is not None else 0
    if new_labeled_rows is not None and new_labeled_rows < minimum:
        return outcome(
            "new_labels",
            f"only {new_labeled_rows} new labeled rows since the published dataset (minimum {minimum}): "
            f"a retrain would learn too little; {evidence.words}",
        )
    spacing = cooldown
    if horizon is not None and last_fired_at is not None and episode_started_at is not None:
        spacing = max(cooldown, min(horizon, last_fired_at - episode_started_at + cooldown))
    if last_fired_at is not None and now - last_fired_at < spacing:
        return outcome("cooldown", f"{_cooldown_reason(now - last_fired_at, spacing)}; {evidence.words}")
    return outcome("fire", evidence.words)


@dataclass(frozen=True)
class _Bar:
    """The drift score the signal must reach (rule 3), and what it is called in a reason."""

    value: float
    name: str = ""

    def words(self) -> str:
        return self.name or f"the threshold {self.value:.2f}"


def _evidence(latest: DriftObservation, bar: _Bar, economics: Economics | None) -> _Evidence:
    """Rule 3: the cost-benefit comparison when there are economics and a performance figure, else the drift
    signal against `bar`."""
    drops = _drops(latest, economics) if economics is not None else []
    if economics is None or not drops or latest.rows is None:
        return _drift_signal(latest, bar, economics is not None)
    counted, drop, margin, value, source = max(drops)
    reference = latest.reference
    benefit = counted * latest.rows * economics.horizon_days * economics.cost_per_error
    cost = economics.retrain_cost
    figures = (
        f"{latest.metric} drop {drop:.3f} ({source} {value:.3f} vs reference {reference:.3f}), "
        f"{counted:.3f} beyond the noise margin {margin:.3f}, x {latest.rows} rows/day x "
        f"{economics.horizon_days:g} days x {economics.cost_per_error:g} per error; "
        f"retrain cost {economics.retrain_cost_basis}"
    )
    basis = source.split(" ")[0]
    if benefit > cost:
        return _Evidence(True, f"benefit {benefit:.1f} > cost {cost:.1f}: {figures}", benefit, cost, drop, basis)
    priced = f"benefit {benefit:.1f} <= cost {cost:.1f}: {figures}"
    if not math.isnan(latest.score) and latest.score >= bar.value:
        shift = _drift_signal(latest, bar, explain=False).words
        words = f"{shift}, a shift the performance figures cannot vouch for ({priced})"
        return _Evidence(True, words, benefit, cost, drop, "drift signal")
    return _Evidence(False, priced, benefit, cost, drop, basis)


def _drops(latest: DriftObservation, economics: Economics) -> list[tuple[float, float, float, float, str]]:
    """``(counted drop, drop, margin, current quality, source)`` for each current-quality figure the report
    has: the estimate, and the realized figure when enough feedback arrived (module docstring)."""
    reference = latest.reference
    if reference is None or not math.isfinite(reference):
        return []
    found = []
    estimated, realized, rows = latest.estimated, latest.realized, latest.feedback_rows
    if estimated is not None and math.isfinite(estimated):
        error = latest.estimated_error
        margin = max(economics.noise_margin, 2.0 * error if error is not None and math.isfinite(error) else 0.0)
        found.append((max(0.0, reference - estimated - margin), reference - estimated, margin, estimated, "estimated"))
    if realized is not None and math.isfinite(realized) and rows >= economics.min_feedback_rows:
        error = latest.realized_error
        if error is None or not math.isfinite(error):  # a report written before it stored the error
            error = math.sqrt(max(realized * (1.0 - realized), 0.0) / rows)
        margin = max(economics.noise_margin, 2.0 * error)
        drop = reference - realized
        found.append((max(0.0, drop - margin), drop, margin, realized, f"realized on {rows} feedback rows"))
    return found


def _drift_signal(latest: DriftObservation, bar: _Bar, explain: bool) -> _Evidence:
    """Rule 3 without a performance figure: the headline score against the bar (module docstring)."""
    if math.isnan(latest.score) or latest.score < bar.value:
        return _Evidence(False, f"drift {latest.score:.2f} on {latest.partition} is under {bar.words()}")
    unknown = " (no performance estimate: the drift signal decides)" if explain else ""
    relation = "at" if latest.score == bar.value else "over"
    return _Evidence(True, f"drift {latest.score:.2f} on {latest.partition} is {relation} {bar.words()}{unknown}")


def _fired(last_fired_at: datetime | None) -> str:
    """When the previous retrain was requested, as a phrase."""
    if last_fired_at is None:
        return "a retrain was requested for it"
    return f"a retrain was requested for it at {last_fired_at.isoformat(timespec='minutes')}"


def _cooldown_reason(elapsed: timedelta, cooldown: timedelta) -> str:
    """The cooldown message, in hours with one decimal."""
    return (
        f"cooldown: last retrain requested {_hours(elapsed):.1f} h ago, "
        f"next allowed in {_hours(cooldown - elapsed):.1f} h"
    )


def _hours(span: timedelta) -> float:
    """A time span in hours."""
    return span.total_seconds() / 3600.0
