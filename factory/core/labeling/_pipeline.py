"""The labeling layer's logic: annotations gathered from every source, labels with their quality figures, and
the items worth a second look. Polars in, Polars out; `factory.defs.labeling` wires it into assets and
`factory.cli` into ``factory labels aggregate``.

Annotations
-----------
The factory's annotation table holds ``item_id, annotator, label, created_at, provenance, weight, origin``:
``provenance`` is ``human`` (an annotator, simulated or imported) or ``feedback`` (a production correction),
``weight`` what the annotation counts for in Dawid-Skene (1 for people, the spec's ``feedback_weight`` for
corrections), ``origin`` where it came from (``demo``, ``feedback`` or the inbox file). `combine` stacks the
sources and drops exact repeats (a Label Studio export holds every earlier annotation again). Before
aggregating, `latest_answers` keeps one answer per item and annotator, the latest: someone who changed their
mind gets one vote, not two.

Labels and agreement
--------------------
`aggregate_labels` runs Dawid-Skene (default) or majority vote; gold items take their gold label.
`crowd_agreement` measures agreement among the human annotators twice: everyone, and everyone but the
annotators flagged as spammers. The labeling gate reads the second (`agreement_gate`): a spammer is already
detected, reported and discounted by Dawid-Skene's confusion matrices, so what the gate asks is whether the
rest of the crowd agrees well enough for the labels to be trusted. A batch where the crowd itself disagrees
(guidelines that do not separate the classes, a broken import) fails it.

Review
------
`review_queue` gives every labeled item out-of-fold predicted probabilities, asks cleanlab which labels look
wrong (`factory.core.labeling.find_label_issues`), optionally replaces the out-of-fold prediction by a
production model's, and picks a budgeted queue. Gold items are never queued: their label is settled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import polars as pl

from factory.core.gates import GateResult
from factory.core.ingestion import parse_csv
from factory.core.labeling._agreement import AgreementStats, agreement_stats, majority_vote
from factory.core.labeling._annotators import (
    LabelerDrift,
    annotator_scores,
    cohen_kappa_pairs,
    disagreement_report,
    labeler_drift,
)
from factory.core.labeling._dawid_skene import fit_dawid_skene

if TYPE_CHECKING:
    from factory.core.labeling._review import ReviewPolicy

__all__ = [
    "ANNOTATIONS_SCHEMA",
    "FEEDBACK",
    "HUMAN",
    "REJECTS_SCHEMA",
    "SCORES_SCHEMA",
    "Aggregation",
    "AnnotatorReview",
    "CrowdAgreement",
    "ReviewBatch",
    "aggregate_labels",
    "agreement_gate",
    "classes_in_csv",
    "combine",
    "crowd_agreement",
    "drift_gate",
    "empty_review",
    "feedback_annotations",
    "file_rejects",
    "gold_accuracy_gate",
    "latest_answers",
    "read_gold_csv",
    "review_annotators",
    "review_queue",
    "spammer_gate",
    "stamp",
    "unreadable_file",
]

HUMAN = "human"
"""Provenance of an annotation by a person (simulated in the demo, or imported)."""
FEEDBACK = "feedback"
"""Provenance (and annotator name) of a production correction."""

ANNOTATIONS_SCHEMA: dict[str, pl.DataType] = {
    "item_id": pl.String(),
    "annotator": pl.String(),
    "label": pl.String(),
    "created_at": pl.Datetime("us", "UTC"),
    "provenance": pl.String(),
    "weight": pl.Float64(),
    "origin": pl.String(),
}
"""The annotation table (module docstring)."""

REJECTS_SCHEMA: dict[str, pl.DataType] = {
    "file": pl.String(),
    "format": pl.String(),
    "position": pl.Int64(),
    "task_id": pl.String(),
    "annotation_id": pl.String(),
    "reason": pl.String(),
    "detail": pl.String(),
    "payload": pl.String(),
}
"""Quarantined annotations: the file, where in it (CSV line, or Label Studio task index), why, and the record."""

SCORES_SCHEMA: dict[str, pl.DataType] = {
    "annotator": pl.String(),
    "annotations": pl.Int64(),
    "n_gold": pl.Int64(),
    "gold_accuracy": pl.Float64(),
    "n_consensus": pl.Int64(),
    "consensus_accuracy": pl.Float64(),
    "consensus_kappa": pl.Float64(),
    "spammer_score": pl.Float64(),
    "n_pairs": pl.Int64(),
    "mean_pair_kappa": pl.Float64(),
    "spammer": pl.Boolean(),
}
"""One row per annotator: `factory.core.labeling.annotator_scores`."""


# --- annotations -----------------------------------------------------------------------------------------------


def stamp(
    annotations: pl.DataFrame, *, origin: str, weight: float = 1.0, provenance: str | None = None
) -> pl.DataFrame:
    """Reader or demo annotations (``item_id, annotator, label, created_at[, provenance]``) in the table's schema.

    ``provenance`` overrides the frame's (default ``human`` when the frame has none).
    """
    missing = [c for c in ("item_id", "annotator", "label", "created_at") if c not in annotations.columns]
    if missing:
        raise ValueError(f"annotations lack columns {missing} (has {annotations.columns})")
    if provenance is not None or "provenance" not in annotations.columns:
        annotations = annotations.with_columns(pl.lit(provenance or HUMAN).alias("provenance"))
    return annotations.select(
        pl.col("item_id").cast(pl.String),
        pl.col("annotator").cast(pl.String),
        pl.col("label").cast(pl.String),
        pl.col("created_at").cast(ANNOTATIONS_SCHEMA["created_at"]),
        pl.col("provenance").cast(pl.String),
        pl.lit(weight, dtype=pl.Float64).alias("weight"),
        pl.lit(origin, dtype=pl.String).alias("origin"),
    )


def feedback_annotations(corrections: pl.DataFrame, id_column: str, weight: float) -> pl.DataFrame:
    """Production corrections (``<id_column>, corrected_label, corrected_at``) as annotations by ``feedback``."""
    missing = [c for c in (id_column, "corrected_label", "corrected_at") if c not in corrections.columns]
    if missing:
        raise ValueError(f"corrections lack columns {missing} (has {corrections.columns})")
    rows = corrections.select(
        pl.col(id_column).alias("item_id"),
        pl.lit(FEEDBACK).alias("annotator"),
        pl.col("corrected_label").alias("label"),
        pl.col("corrected_at").alias("created_at"),
    )
    return stamp(rows, origin=FEEDBACK, weight=weight, provenance=FEEDBACK)


def combine(frames: Iterable[pl.DataFrame]) -> pl.DataFrame:
    """Annotation frames stacked, exact repeats (same item, annotator, label, time, provenance) dropped, the first
    kept; sorted by item, annotator and time so the table is the same whatever order the sources came in."""
    parts = [frame.select(list(ANNOTATIONS_SCHEMA)) for frame in frames]
    if not parts:
        return pl.DataFrame(schema=ANNOTATIONS_SCHEMA)
    stacked = pl.concat([pl.DataFrame(schema=ANNOTATIONS_SCHEMA), *parts], how="vertical_relaxed")
    key = ["item_id", "annotator", "label", "created_at", "provenance"]
    return stacked.unique(key, keep="first", maintain_order=True).sort(
        ["item_id", "annotator", "created_at", "origin"], nulls_last=True
    )


def latest_answers(annotations: pl.DataFrame) -> pl.DataFrame:
    """One row per item and annotator: the latest by ``created_at`` (when present), ties to the last row."""
    if "created_at" in annotations.columns:
        annotations = annotations.sort("created_at", nulls_last=False, maintain_order=True)
    return annotations.unique(["item_id", "annotator"], keep="last", maintain_order=True)


def read_gold_csv(data: bytes, classes: Sequence[str], *, delimiter: str = ",") -> pl.DataFrame:
    """A gold set CSV (``item_id, label``) as ``item_id, label``; ValueError naming the first problems.

    Every row must parse, hold both values, name a class of ``classes`` and an item listed once.
    """
    parsed = parse_csv(data, ("item_id", "label"), delimiter=delimiter)
    if parsed.missing_columns:
        raise ValueError(f"the gold CSV header lacks columns {list(parsed.missing_columns)}")
    if parsed.rejects.height:
        first = parsed.rejects.row(0, named=True)
        raise ValueError(f"the gold CSV has {parsed.rejects.height} unreadable line(s), e.g. line {first['_line']}")
    gold = parsed.rows.select(
        pl.col("item_id").str.strip_chars(), pl.col("label").str.strip_chars(), pl.col("_line")
    ).with_columns(pl.col("item_id", "label").replace("", None))
    empty = gold.filter(pl.col("item_id").is_null() | pl.col("label").is_null())
    if empty.height:
        raise ValueError(f"the gold CSV has {empty.height} row(s) without item_id or label, e.g. line {empty[0, 2]}")
    outside = gold.filter(~pl.col("label").is_in(list(classes)))
    if outside.height:
        found = outside.get_column("label").unique().sort().head(5).to_list()
        raise ValueError(f"the gold CSV has {outside.height} label(s) outside the classes, e.g. {found}")
    repeated = gold.filter(pl.col("item_id").is_duplicated()).get_column("item_id").unique().sort()
    if repeated.len():
        raise ValueError(f"the gold CSV lists {repeated.len()} item(s) twice, e.g. {repeated.head(5).to_list()}")
    return gold.select("item_id", "label")


def classes_in_csv(data: bytes, *, delimiter: str = ",") -> tuple[str, ...]:
    """The distinct non-empty labels of an annotation (or gold) CSV, sorted: the classes when none are given."""
    parsed = parse_csv(data, ("label",), delimiter=delimiter)
    if parsed.missing_columns:
        raise ValueError("the CSV header has no 'label' column")
    labels = parsed.rows.get_column("label").str.strip_chars().replace("", None).drop_nulls()
    return tuple(labels.unique().sort().to_list())


def file_rejects(rejects: pl.DataFrame, *, file: str, fmt: str) -> pl.DataFrame:
    """A reader's rejects (Label Studio or CSV layout, `factory.core.labeling.LabelImport`) in `REJECTS_SCHEMA`."""
    position = "task_index" if "task_index" in rejects.columns else "_line"
    columns = {
        "position": pl.col(position).cast(pl.Int64),
        "task_id": pl.col("task_id") if "task_id" in rejects.columns else pl.lit(None, dtype=pl.String),
        "annotation_id": pl.col("annotation_id")
        if "annotation_id" in rejects.columns
        else pl.lit(None, dtype=pl.String),
    }
    return rejects.select(
        pl.lit(file, dtype=pl.String).alias("file"),
        pl.lit(fmt, dtype=pl.String).alias("format"),
        *(expression.alias(name) for name, expression in columns.items()),
        "reason",
        "detail",
        "payload",
    ).cast(REJECTS_SCHEMA)  # type: ignore[arg-type]  # polars accepts a name -> dtype mapping


def unreadable_file(file: str, fmt: str, detail: str) -> pl.DataFrame:
    """One reject for a whole file that could not be read (not JSON, not UTF-8, a CSV header without columns)."""
    return pl.DataFrame(
        [(file, fmt, None, None, None, "unreadable_file", detail, "")], schema=REJECTS_SCHEMA, orient="row"
    )


# --- labels ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Aggregation:
    """Labels of one batch (``item_id, label, confidence, n_annotations, agreement, source``) and how they came.

    ``annotator_accuracy`` is Dawid-Skene's estimate per annotator (``annotator, n_annotations, accuracy``;
    empty for majority vote); ``iterations`` and ``converged`` describe the EM run (0 and True for a vote).
    """

    labels: pl.DataFrame
    method: Literal["ds", "mv"]
    annotator_accuracy: pl.DataFrame
    iterations: int
    converged: bool


def aggregate_labels(
    annotations: pl.DataFrame,
    classes: Sequence[str],
    gold: pl.DataFrame | None = None,
    method: Literal["ds", "mv"] = "ds",
) -> Aggregation:
    """One label per item from the latest answer of each annotator (`latest_answers`), gold items fixed.

    Dawid-Skene reads the ``weight`` column when there is one; majority vote counts every answer once.
    """
    answers = latest_answers(annotations)
    reference = gold if gold is not None and gold.height else None
    if method == "mv":
        labels = majority_vote(answers, classes, reference)
        empty = pl.DataFrame(schema={"annotator": pl.String, "n_annotations": pl.Int64, "accuracy": pl.Float64})
        return Aggregation(labels, "mv", empty, 0, True)
    if method != "ds":
        raise ValueError(f"unknown aggregation method {method!r}; expected 'ds' or 'mv'")
    weights = "weight" if "weight" in answers.columns else None
    fit = fit_dawid_skene(answers, classes, reference, weights=weights)
    return Aggregation(fit.labels, "ds", fit.quality, fit.iterations, fit.converged)


@dataclass(frozen=True)
class CrowdAgreement:
    """Agreement among every human annotator (``everyone``) and among those not flagged as spammers
    (``trusted``), with the flagged ones (``spammers``)."""

    everyone: AgreementStats
    trusted: AgreementStats
    spammers: tuple[str, ...]


def crowd_agreement(annotations: pl.DataFrame, classes: Sequence[str], spammers: Iterable[str] = ()) -> CrowdAgreement:
    """`agreement_stats` of the latest answers, with and without the ``spammers``' annotations."""
    flagged = tuple(sorted(set(spammers)))
    answers = latest_answers(annotations)
    trusted = answers.filter(~pl.col("annotator").is_in(list(flagged))) if flagged else answers
    return CrowdAgreement(agreement_stats(answers, classes), agreement_stats(trusted, classes), flagged)


def agreement_gate(agreement: CrowdAgreement, floor: float) -> GateResult:
    """Krippendorff's alpha among the trusted annotators is at least ``floor`` (0 accepts anything)."""
    alpha = agreement.trusted.krippendorff_alpha
    figures: dict[str, float | int | str] = {
        "krippendorff_alpha_trusted": round(alpha, 4) if np.isfinite(alpha) else "n/a",
        "krippendorff_alpha_everyone": _rounded(agreement.everyone.krippendorff_alpha),
        "fleiss_kappa_trusted": _rounded(agreement.trusted.fleiss_kappa),
        "floor": floor,
        "spammers_left_out": ", ".join(agreement.spammers) or "none",
    }
    left_out = f", leaving out spammer(s) {', '.join(agreement.spammers)}" if agreement.spammers else ""
    if not np.isfinite(alpha):
        passed = floor == 0
        summary = f"agreement cannot be measured: no item has two annotations from trusted annotators{left_out}" + (
            "" if passed else "; set labeling.agreement_floor to 0 to accept single annotations"
        )
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


# --- annotators ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnnotatorReview:
    """Quality figures of the annotators of one batch (`factory.core.labeling`).

    ``scores``: one row per annotator (accuracy against gold and consensus, kappa, spammer score and flag);
    ``pairs``: Cohen's kappa per annotator pair; ``drift``: windows and alerts over the history given;
    ``report``: the markdown disagreement report for the guideline author.
    """

    scores: pl.DataFrame
    pairs: pl.DataFrame
    drift: LabelerDrift
    report: str

    @property
    def spammers(self) -> list[str]:
        return self.scores.filter(pl.col("spammer").fill_null(False)).get_column("annotator").sort().to_list()


def review_annotators(
    annotations: pl.DataFrame,
    consensus: pl.DataFrame,
    classes: Sequence[str],
    gold: pl.DataFrame | None = None,
    *,
    history: pl.DataFrame | None = None,
    history_consensus: pl.DataFrame | None = None,
    drift_window: str | int = "1d",
    drift_min_items: int = 50,
    drift_drop: float = 0.15,
    min_shared: int = 30,
) -> AnnotatorReview:
    """Scores, pairwise kappas, drift and the disagreement report of the batch's human annotations.

    ``consensus`` (``item_id, label``) is the batch's labels; drift reads ``history`` (earlier annotations)
    against ``history_consensus`` (their labels) followed by the batch, so its windows span both.
    """
    answers = latest_answers(annotations)
    reference = consensus.select("item_id", "label")
    if answers.is_empty():
        empty_drift = labeler_drift(answers.select("item_id", "annotator", "label", "created_at"), reference)
        return AnnotatorReview(pl.DataFrame(schema=SCORES_SCHEMA), _empty_pairs(), empty_drift, "")
    pairs = cohen_kappa_pairs(answers, classes, min_shared)
    scores = annotator_scores(
        answers, reference, classes, gold if gold is not None and gold.height else None, pairs=pairs
    )
    timeline = answers if history is None else pl.concat([history.select(answers.columns), answers], how="vertical")
    references = reference if history_consensus is None else pl.concat([history_consensus, reference])
    references = references.select("item_id", "label").unique("item_id", keep="last", maintain_order=True)
    drift = labeler_drift(
        timeline.select("item_id", "annotator", "label", "created_at"),
        references,
        window=drift_window,
        min_items=drift_min_items,
        drop=drift_drop,
    )
    report = disagreement_report(answers, reference, classes, scores=scores, drift_alerts=drift.alerts)
    return AnnotatorReview(scores.select(list(SCORES_SCHEMA)).cast(SCORES_SCHEMA), pairs, drift, report)  # type: ignore[arg-type]


def _empty_pairs() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "annotator_a": pl.String,
            "annotator_b": pl.String,
            "shared_items": pl.Int64,
            "agreement": pl.Float64,
            "kappa": pl.Float64,
        }
    )


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
    """No annotator's agreement with the consensus dropped (`factory.core.labeling.labeler_drift`)."""
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


# --- review ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewBatch:
    """The review queue of one batch (`factory.core.labeling.select_review_queue` output) and every item's
    label-issue verdict (`factory.core.labeling.find_label_issues` output)."""

    queue: pl.DataFrame
    issues: pl.DataFrame


def review_queue(
    labels: pl.DataFrame,
    texts: pl.DataFrame,
    classes: Sequence[str],
    budget: int,
    policy: ReviewPolicy | None = None,
    *,
    predictions: pl.DataFrame | None = None,
    class_counts: Mapping[str, int] | None = None,
    folds: int = 5,
    seed: int = 0,
) -> ReviewBatch:
    """Label issues from out-of-fold probabilities, and at most ``budget`` non-gold items to review.

    ``labels`` is the batch's `aggregate_labels` output, ``texts`` holds ``item_id, text`` for its items.
    ``predictions`` (``item_id, model_label, confidence``), a production model's, replaces the out-of-fold
    prediction as the queue's model label and confidence where given; label issues always come from the
    out-of-fold probabilities (a model never judges labels it was trained on).
    """
    # scikit-learn and cleanlab take seconds to import: only commands that build a queue pay for them.
    from threadpoolctl import threadpool_limits

    from factory.core.labeling._review import (
        find_label_issues,
        out_of_fold_probabilities,
        review_candidates,
        select_review_queue,
    )

    joined = labels.join(texts.select("item_id", "text"), on="item_id", how="left")
    missing = joined.filter(pl.col("text").is_null()).get_column("item_id")
    if missing.len():
        raise ValueError(f"{missing.len()} labeled item(s) have no text, e.g. {missing.head(5).to_list()}")
    if joined.height < 2:
        return empty_review()
    # scipy's L-BFGS-B with a multi-threaded OpenBLAS is several times slower than single-threaded on small
    # problems like these (5.7 s against 0.56 s per fit on 2 cores); one BLAS thread is also what a shared
    # Dagster worker should use.
    with threadpool_limits(limits=1, user_api="blas"):
        probabilities = out_of_fold_probabilities(joined["text"], joined["label"], classes, folds=folds, seed=seed)
    issues = find_label_issues(joined.select("item_id", "label"), probabilities, classes)
    candidates = review_candidates(issues, joined.select("item_id", "agreement"))
    if predictions is not None:
        model = predictions.select(
            "item_id", pl.col("model_label").alias("_model_label"), pl.col("confidence").alias("_confidence")
        )
        candidates = candidates.join(model, on="item_id", how="left").select(
            "item_id",
            "label",
            pl.coalesce("_confidence", "confidence").alias("confidence"),
            pl.coalesce("_model_label", "model_label").alias("model_label"),
            "agreement",
            "is_issue",
            "label_quality",
        )
    settled = joined.filter(pl.col("source") == "gold").get_column("item_id")
    open_items = candidates.filter(~pl.col("item_id").is_in(settled.implode()))
    queue = select_review_queue(open_items, budget, policy, class_counts)
    return ReviewBatch(queue, issues)


def empty_review() -> ReviewBatch:
    """The review of a batch without labeled items."""
    return ReviewBatch(_empty_queue(), _empty_issues())


def _empty_queue() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "item_id": pl.String,
            "label": pl.String,
            "confidence": pl.Float64,
            "model_label": pl.String,
            "agreement": pl.Float64,
            "is_issue": pl.Boolean,
            "label_quality": pl.Float64,
            "rarer_class": pl.String,
            "rarer_class_count": pl.Int64,
            "score": pl.Float64,
            "selected_for": pl.String,
            "reasons": pl.List(pl.String),
            "priority": pl.Int64,
        }
    )


def _empty_issues() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "item_id": pl.String,
            "label": pl.String,
            "suggested_label": pl.String,
            "confidence": pl.Float64,
            "label_quality": pl.Float64,
            "is_issue": pl.Boolean,
        }
    )
