"""Checks, decisions and blessing records: the rules before any evidence, red-team rates, slices, the record's
round trip through JSON and the one-line evidence the demo prints."""

from __future__ import annotations

import polars as pl

from factory.core.promotion import (
    FAIL,
    KEPT,
    MISSING_VALUE,
    NOT_EVALUATED,
    NOT_GATED,
    NOT_PROMOTED,
    PASS,
    PROMOTED,
    Blessing,
    Bootstrap,
    decide,
    feedback_evidence,
    floor_check,
    redteam_checks,
    redteam_rates,
    slices,
    split_evidence,
)
from factory.core.training import encode_key

BOOTSTRAP = Bootstrap(classes=("a", "b"), metric="macro_f1", resamples=200, confidence=0.95, seed=1)


def test_the_rules_before_any_evidence_in_order() -> None:
    low, high = floor_check("macro_f1", 0.4, 0.5), floor_check("macro_f1", 0.7, 0.5)
    assert low.verdict == FAIL and high.verdict == PASS
    assert floor_check("macro_f1", float("nan"), 0.5).verdict == FAIL, "no registered metric is no pass"
    assert decide(challenger="2", champion=None, floor=low, demoted=None)[0] == NOT_PROMOTED
    assert decide(challenger="1", champion=None, floor=high, demoted=None) == (
        PROMOTED,
        "first champion: v1 (test macro F1 0.7000 >= floor 0.5)",
    )
    assert decide(challenger="2", champion="2", floor=high, demoted="x") == (KEPT, "v2 is already the champion")
    decision, reason = decide(challenger="3", champion="2", floor=high, demoted="2026-01-01 by me: bad")
    assert decision == NOT_PROMOTED and reason == "v3 was rolled back (2026-01-01 by me: bad): not promoted again"
    failing = redteam_checks({"t": 0.5}, {"t": 0.1}, 0.02)
    decision, reason = decide(challenger="3", champion="2", floor=high, demoted=None, evidence=[high, *failing])
    assert decision == NOT_PROMOTED and reason.startswith("v3 does not replace v2: redteam t: failure rate 0.100")
    decision, reason = decide(challenger="3", champion="2", floor=high, demoted=None, evidence=[high])
    assert decision == PROMOTED and reason == "v3 replaces v2: no check shows it worse (1 checks passed)"


def test_red_team_rates_and_checks() -> None:
    metrics = {encode_key("redteam.typo/noise.failure_rate"): 0.25, "redteam.casing.failure_rate": 0.1, "x": 1.0}
    assert redteam_rates(metrics) == {"typo/noise": 0.25, "casing": 0.1}
    assert [c.verdict for c in redteam_checks(None, {"a": 0.1}, 0.02)] == [NOT_EVALUATED]
    assert [c.verdict for c in redteam_checks({"a": 0.1}, {}, 0.02)] == [NOT_EVALUATED]
    checks = redteam_checks({"a": 0.12, "b": 0.2, "c": 0.0}, {"a": 0.1, "b": 0.1, "d": 0.3}, 0.02)
    assert {c.name: c.verdict for c in checks} == {"a": PASS, "b": FAIL, "c": NOT_EVALUATED, "d": NOT_EVALUATED}


def test_slices_group_missing_values_and_gate_by_support() -> None:
    frame = pl.DataFrame({"channel": ["x", "x", "x", None, "<b>|y"], "other": [1, 2, 3, 4, 5]})
    found = slices(frame, ["channel", "absent"], min_support=2)
    assert [(s.name, s.support, s.gated) for s in found] == [
        ("channel=<b>|y", 1, False),
        (f"channel={MISSING_VALUE}", 1, False),
        ("channel=x", 3, True),
    ]
    assert found[2].rows.tolist() == [0, 1, 2]


def _blessing() -> Blessing:
    truth = ["a", "b"] * 50
    checks = [
        floor_check("macro_f1", 0.9, 0.5),
        *split_evidence(
            BOOTSTRAP,
            truth,
            truth,
            truth,
            tolerance=0.0,
            slice_tolerance=0.02,
            found=slices(pl.DataFrame({"channel": ["e", "p"] * 50}), ["channel"], 30),
            missing_columns=["region"],
            min_support=30,
        ),
        feedback_evidence(BOOTSTRAP, truth[:10], truth[:10], truth[:10], tolerance=0.0, min_feedback=50, window="w"),
        *redteam_checks({"t": 0.1}, {"t": 0.1}, 0.02),
    ]
    decision, reason = decide(challenger="2", champion="1", floor=checks[0], demoted=None, evidence=checks)
    return Blessing(
        "uc", "2026-01-05T10:00:00+00:00", "uc/v2", "abc", "2", "1", "macro_f1", decision, reason, tuple(checks)
    )


def test_a_blessing_round_trips_and_says_its_evidence_on_one_line() -> None:
    blessing = _blessing()
    assert blessing.promoted
    assert Blessing.from_json(blessing.to_json()) == blessing
    verdicts = {f"{c.kind} {c.name}": c.verdict for c in blessing.checks}
    assert verdicts["slice region"] == NOT_EVALUATED and verdicts["feedback w"] == NOT_GATED
    assert blessing.headline() == (
        "v2 promoted over v1 — macro F1 +0.000 [+0.000, +0.000]; slices ok (2 gated); feedback 10 items: not gated; "
        "red team ok"
    )
    first = Blessing("uc", "t", "uc/v1", "abc", "1", None, "macro_f1", PROMOTED, "first champion: v1", ())
    assert first.headline() == "first champion: v1"


def test_red_team_rise_fails_only_when_more_than_chance_case_by_case() -> None:
    # One golden case of 32 newly failing (3.1% > the 2% margin) is not evidence: McNemar p = 1.
    one = redteam_checks({"golden": 1 / 32}, {"golden": 0.0}, 0.02, changes={"golden": (1, 0)})
    assert [c.verdict for c in one] == [PASS] and one[0].measured["mcnemar_p"] == 1.0
    # 40 broken and 2 fixed of 1,000 invariance cases is.
    many = redteam_checks({"typos": 0.05}, {"typos": 0.012}, 0.02, changes={"typos": (40, 2)})
    assert [c.verdict for c in many] == [FAIL] and "40 broken, 2 fixed" in many[0].detail


def test_a_slice_loss_is_measured_over_the_classes_the_slice_holds() -> None:
    """A slice holding 2 of 10 classes where the challenger misses a third of one class: over the whole taxonomy
    the loss would shrink five-fold and pass the slice tolerance; over the slice's classes it is worse."""
    classes = tuple("abcdefghij")
    bootstrap = Bootstrap(classes=classes, metric="macro_f1", resamples=300, confidence=0.95, seed=2)
    truth = ["a", "b"] * 150
    worse = ["b" if label == "a" and i % 6 == 0 else label for i, label in enumerate(truth)]
    found = slices(pl.DataFrame({"channel": ["web"] * len(truth)}), ["channel"], 30)
    checks = split_evidence(
        bootstrap, truth, truth, worse, tolerance=1.0, slice_tolerance=0.02, found=found, min_support=30
    )
    web = next(c for c in checks if c.name == "channel=web")
    assert web.verdict == FAIL, web.detail
