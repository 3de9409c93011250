"""The annotators of one batch under review: scores, pairwise kappas, drift and the disagreement report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from factory.core.labeling._annotation_table import latest_answers
from factory.core.labeling._annotator_scores import annotator_scores
from factory.core.labeling._disagreement_report import disagreement_report
from factory.core.labeling._kappa_pairs import MAX_PAIR_ROWS, PAIR_COLUMNS, kappa_pairs
from factory.core.labeling._labeler_drift import LabelerDrift, labeler_drift

__all__ = ["SCORES_SCHEMA", "AnnotatorReview", "review_annotators"]

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


@dataclass(frozen=True)
class AnnotatorReview:
    """Quality figures of the annotators of one batch (`factory.core.labeling`).

    ``scores``: one row per annotator (accuracy against gold and consensus, kappa, spammer score and flag);
    ``pairs``: Cohen's kappa per annotator pair; ``drift``: windows and alerts over the history given;
    ``report``: the markdown disagreement report for the guideline author; ``pairs_note``: what the bound on
    pairwise kappa left out (`factory.core.labeling._kappa_pairs`), empty when nothing.
    """

    scores: pl.DataFrame
    pairs: pl.DataFrame
    drift: LabelerDrift
    report: str
    pairs_note: str = ""

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
    max_pair_rows: int = MAX_PAIR_ROWS,
) -> AnnotatorReview:
    """Scores, pairwise kappas, drift and the disagreement report of the batch's human annotations.

    ``consensus`` (``item_id, label``) is the batch's labels; drift reads ``history`` (earlier annotations)
    against ``history_consensus`` (their labels) followed by the batch, so its windows span both. Memory is
    linear in the annotations: pairwise kappa enumerates at most ``max_pair_rows`` annotation pairs.
    """
    answers = latest_answers(annotations)
    reference = consensus.select("item_id", "label")
    if answers.is_empty():
        empty_drift = labeler_drift(answers.select("item_id", "annotator", "label", "created_at"), reference)
        return AnnotatorReview(pl.DataFrame(schema=SCORES_SCHEMA), pl.DataFrame(schema=PAIR_COLUMNS), empty_drift, "")
    compared = kappa_pairs(answers, classes, min_shared, max_pair_rows)
    scores = annotator_scores(
        answers, reference, classes, gold if gold is not None and gold.height else None, pairs=compared.pairs
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
    if compared.note:
        report += f"\n{compared.note}\n"
    scores = scores.select(list(SCORES_SCHEMA)).cast(pl.Schema(SCORES_SCHEMA))
    return AnnotatorReview(scores, compared.pairs, drift, report, compared.note)
