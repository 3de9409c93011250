"""The labeling gates: crowd agreement, annotators' gold accuracy, spammers and labeler drift.

`crowd_agreement` measures agreement among the human annotators twice: everyone, and everyone but the
annotators flagged as spammers or found unreliable (`unreliable_annotators`: accuracy under the gold-accuracy
floor, measured on enough gold items or, short of gold, against the consensus; a decaying annotator ends up
there). The labeling gate reads the second (`agreement_gate`): such an annotator is already detected, reported
(the gold-accuracy and drift checks warn) and discounted by Dawid-Skene's confusion matrices, so what the gate
asks is whether the rest of the crowd agrees well enough for the labels to be trusted: one bad annotator is
left out with the reason, and the day goes on. A batch where the crowd itself disagrees
(guidelines that do not separate the classes, a broken import) fails it. `gold_accuracy_gate`,
`spammer_gate` and `drift_gate` read the annotator figures of `factory.core.labeling.review_annotators`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from factory.core.gates import GateResult
from factory.core.labeling._agreement import AgreementStats, agreement_stats
from factory.core.labeling._annotation_table import latest_answers

__all__ = [
    "CrowdAgreement",
    "agreement_gate",
    "crowd_agreement",
    "drift_gate",
    "gold_accuracy_gate",
    "spammer_gate",
    "unreliable_annotators",
]

MIN_CONSENSUS_ITEMS = 50
"""Items an annotator must share with the consensus before their accuracy against it can leave them out."""


@dataclass(frozen=True)
class CrowdAgreement:
    """Agreement among every human annotator (``everyone``) and among those neither flagged as spammers
    (``spammers``) nor unreliable (``unreliable``): ``trusted``."""

    everyone: AgreementStats
    trusted: AgreementStats
    spammers: tuple[str, ...]
    unreliable: tuple[str, ...] = ()

    @property
    def left_out(self) -> str:
        """The annotators the trusted figures leave out, in words (empty when none)."""
        parts = [f"spammer(s) {', '.join(self.spammers)}"] if self.spammers else []
        if self.unreliable:
            parts.append(f"unreliable annotator(s) {', '.join(self.unreliable)} (accuracy under the floor)")
        return " and ".join(parts)


def unreliable_annotators(
    scores: pl.DataFrame, accuracy_floor: float, min_gold_items: int, min_consensus_items: int = MIN_CONSENSUS_ITEMS
) -> list[str]:
    """Annotators (not spammers) whose accuracy is under ``accuracy_floor``: against gold when they answered at
    least ``min_gold_items`` gold items, otherwise against the consensus over at least ``min_consensus_items``.

    At least two trusted annotators always remain: when leaving out every one under the floor would leave fewer,
    nobody is left out for accuracy (the floor then says more about the task than about one annotator).
    """
    if scores.is_empty():
        return []
    gold = (pl.col("n_gold") >= min_gold_items) & (pl.col("gold_accuracy") < accuracy_floor)
    consensus = (
        (pl.col("n_gold").fill_null(0) < min_gold_items)
        & (pl.col("n_consensus") >= min_consensus_items)
        & (pl.col("consensus_accuracy") < accuracy_floor)
    )
    candidates = scores.filter(~pl.col("spammer").fill_null(False))
    flagged = candidates.filter((gold | consensus).fill_null(False)).get_column("annotator").sort().to_list()
    return flagged if candidates.height - len(flagged) >= 2 else []


def crowd_agreement(
    annotations: pl.DataFrame, classes: Sequence[str], spammers: Iterable[str] = (), unreliable: Iterable[str] = ()
) -> CrowdAgreement:
    """`agreement_stats` of the latest answers, with and without the ``spammers``' and ``unreliable``
    annotators' annotations."""
    flagged = tuple(sorted(set(spammers)))
    weak = tuple(sorted(set(unreliable) - set(flagged)))
    answers = latest_answers(annotations)
    left_out = [*flagged, *weak]
    trusted = answers.filter(~pl.col("annotator").is_in(left_out)) if left_out else answers
    return CrowdAgreement(agreement_stats(answers, classes), agreement_stats(trusted, classes), flagged, weak)


def agreement_gate(agreement: CrowdAgreement, floor: float, *, given: int = 0) -> GateResult:
    """Krippendorff's alpha among the trusted annotators is at least ``floor`` (0 accepts anything).

    When agreement cannot be measured (no item has two trusted human annotations), the gate fails unless the
    floor is 0, or ``given`` (the day's annotations from a label column of the data, provenance ``source``) is
    positive: pre-labeled data has one label per item, so there is nothing to agree on, and the gate passes
    saying so rather than blocking every day of it.
    """
    alpha = agreement.trusted.krippendorff_alpha
    figures: dict[str, float | int | str] = {
        "krippendorff_alpha_trusted": round(alpha, 4) if np.isfinite(alpha) else "n/a",
        "krippendorff_alpha_everyone": _rounded(agreement.everyone.krippendorff_alpha),
        "fleiss_kappa_trusted": _rounded(agreement.trusted.fleiss_kappa),
        "floor": floor,
        "spammers_left_out": ", ".join(agreement.spammers) or "none",
        "unreliable_left_out": ", ".join(agreement.unreliable) or "none",
        "given_labels": given,
    }
    left_out = f", leaving out {agreement.left_out}" if agreement.left_out else ""
    if not np.isfinite(alpha):
        passed = floor == 0 or given > 0
        summary = f"agreement cannot be measured: no item has two annotations from trusted annotators{left_out}"
        if given:
            summary += f"; {given} label(s) given by the data's label column (one per item): nothing to agree on"
        elif not passed:
            summary += "; set labeling.agreement_floor to 0 to accept single annotations"
        return GateResult("agreement_above_floor", passed, summary, figures)
    passed = alpha >= floor
    summary = f"Krippendorff's alpha {alpha:.3f} {'>=' if passed else '<'} floor {floor}{left_out}"
    if not passed:
        summary += (
            f" (everyone: {agreement.everyone.krippendorff_alpha:.3f}); read the annotator report's confused "
            "label pairs, fix the guidelines or the import, then re-materialize the day"
        )
    return GateResult("agreement_above_floor", passed, summary, figures)


def _rounded(value: float) -> float | str:
    return round(value, 4) if np.isfinite(value) else "n/a"


def gold_accuracy_gate(scores: pl.DataFrame, floor: float, min_items: int) -> GateResult:
    """Every annotator with at least ``min_items`` gold annotations is right on at least ``floor`` of them."""
    judged = scores.filter(pl.col("n_gold") >= min_items)
    below = judged.filter(pl.col("gold_accuracy") < floor).sort("gold_accuracy")
    table = [
        {"annotator": r["annotator"], "gold_items": r["n_gold"], "gold_accuracy": round(r["gold_accuracy"], 3)}
        for r in below.iter_rows(named=True)
    ]
    if judged.is_empty():
        summary = f"no annotator has {min_items} gold items yet: nothing to judge"
    elif below.is_empty():
        summary = f"all {judged.height} annotator(s) with {min_items}+ gold items are at least {floor:.0%} right"
    else:
        names = ", ".join(f"{r['annotator']} {r['gold_accuracy']:.2f}" for r in table)
        summary = f"{below.height} of {judged.height} annotator(s) below {floor:.0%} on gold: {names}"
    figures: dict[str, float | int | str] = {"judged": judged.height, "below_floor": below.height, "floor": floor}
    return GateResult("gold_accuracy_above_floor", below.is_empty(), summary, figures, table)


def spammer_gate(scores: pl.DataFrame) -> GateResult:
    """No annotator is flagged as a spammer (`factory.core.labeling.annotator_scores`)."""
    flagged = scores.filter(pl.col("spammer").fill_null(False)).sort("annotator")
    table = [
        {
            "annotator": r["annotator"],
            "consensus_kappa": round(r["consensus_kappa"], 3),
            "spammer_score": None if r["spammer_score"] is None else round(r["spammer_score"], 3),
            "annotations": r["annotations"],
        }
        for r in flagged.iter_rows(named=True)
    ]
    names = ", ".join(flagged.get_column("annotator").to_list())
    summary = (
        f"spammer(s) flagged: {names}; their annotations barely depend on the item (left out of the agreement "
        "gate; Dawid-Skene discounts them). Check their work."
        if flagged.height
        else f"no spammer among {scores.height} annotator(s)"
    )
    return GateResult("no_spammer_flagged", flagged.is_empty(), summary, {"spammers": flagged.height}, table)


def drift_gate(alerts: pl.DataFrame) -> GateResult:
    """No annotator's agreement with the consensus dropped (`factory.core.labeling._labeler_drift`)."""
    table = [
        {
            "annotator": r["annotator"],
            "baseline": round(r["baseline"], 3),
            "latest": round(r["latest"], 3),
            "drop": round(r["drop"], 3),
        }
        for r in alerts.iter_rows(named=True)
    ]
    summary = (
        "; ".join(alerts.get_column("message").to_list())
        if alerts.height
        else "no annotator's agreement with the consensus dropped"
    )
    return GateResult("no_labeler_drift", alerts.is_empty(), summary, {"drifting": alerts.height}, table)
