"""Labeling: annotations in, one label per item out, with the figures that say whether to trust them.

The layer reads annotations from Label Studio JSON exports and annotation CSVs into one annotation table,
aggregates them into labels (Dawid-Skene or majority vote, gold items fixed), measures the crowd (agreement,
annotator scores, spammers, labeler drift), gates the batch on those figures, and picks a budgeted review
queue exported back to Label Studio as pre-annotated tasks. Polars in, Polars out; `factory.defs.labeling`
wires it into assets and `factory.cli` into ``factory labels aggregate``.

Entry points
------------
- Annotation table: `ANNOTATION_SCHEMA` (``item_id, annotator, label, created_at, provenance, weight,
  origin``), `stamp`, `feedback_annotations`, `combine`; rejects in `REJECTS_SCHEMA` (`file_rejects`,
  `unreadable_file`); `HUMAN`, `FEEDBACK` and `SOURCE` provenances; `column_annotations` -> `ColumnLabels`
  reads a label column of pre-labeled data (and the labels of its removed duplicates); `label_conflicts`
  (`CONFLICTS_SCHEMA`) lists the items whose copies were labeled differently.
- Reading: `read_label_studio`, `read_annotations_csv` -> `LabelImport`; `read_gold_csv`, `classes_in_csv`.
- Labels: `aggregate(annotations, classes, *, method="ds"|"mv", gold=..., weights=...)` -> `Aggregation`
  (``labels``, per-annotator accuracy, the `DawidSkeneFit` for Dawid-Skene).
- Annotators: `review_annotators` -> `AnnotatorReview` (`SCORES_SCHEMA` scores, pairwise kappas, drift,
  disagreement report); `annotator_scores` alone; `kappa_pairs` -> `KappaPairs` (pairwise Cohen's kappa within
  `MAX_PAIR_ROWS` enumerated annotation pairs, with a note when the bound leaves annotators out).
- Memory: linear in the annotations everywhere; the dense arrays that remain (Dawid-Skene's confusion
  matrices and posteriors, the review model's probabilities) are checked against a budget before allocation
  (``FACTORY_LABELING_MEMORY_MB``, default 1024) with a ValueError naming the limit and the way out.
- Gates: `crowd_agreement` -> `CrowdAgreement` and `agreement_gate`; `gold_accuracy_gate`, `spammer_gate`,
  `drift_gate`.
- Review: `review_queue` -> `ReviewBatch` under a `ReviewPolicy` (`REVIEW_REASONS`), `empty_review`;
  `review_tasks`, `write_label_studio_tasks` and `label_studio_config` for Label Studio, refusing PII with
  `PIIResidueError`.
"""

from __future__ import annotations

from factory.core.labeling._aggregate import Aggregation, aggregate
from factory.core.labeling._annotation_csv import read_annotations_csv
from factory.core.labeling._annotation_table import (
    ANNOTATION_SCHEMA,
    FEEDBACK,
    HUMAN,
    REJECTS_SCHEMA,
    classes_in_csv,
    combine,
    feedback_annotations,
    file_rejects,
    read_gold_csv,
    stamp,
    unreadable_file,
)
from factory.core.labeling._annotator_review import SCORES_SCHEMA, AnnotatorReview, review_annotators
from factory.core.labeling._annotator_scores import annotator_scores
from factory.core.labeling._column_labels import (
    CONFLICTS_SCHEMA,
    SOURCE,
    ColumnLabels,
    column_annotations,
    label_conflicts,
)
from factory.core.labeling._dawid_skene import DawidSkeneFit
from factory.core.labeling._day import (
    LABELS_SCHEMA,
    export_pii_gate,
    figure,
    outside_taxonomy,
    pending_feedback,
    quality_row,
    review_texts,
)
from factory.core.labeling._disagreement_report import conflicts_report
from factory.core.labeling._feedback_io import (
    CORRECTIONS_SCHEMA,
    FEEDBACK_COLUMNS,
    FEEDBACK_REJECT_REASONS,
    FeedbackFormat,
    FeedbackImport,
    corrections_table,
    feedback_format,
    read_feedback,
)
from factory.core.labeling._gates import (
    CrowdAgreement,
    agreement_gate,
    crowd_agreement,
    drift_gate,
    gold_accuracy_gate,
    spammer_gate,
    unreliable_annotators,
)
from factory.core.labeling._kappa_pairs import MAX_PAIR_ROWS, KappaPairs, kappa_pairs
from factory.core.labeling._label_studio_import import read_label_studio
from factory.core.labeling._label_studio_tasks import PIIResidueError, label_studio_config, write_label_studio_tasks
from factory.core.labeling._reader_checks import LabelImport
from factory.core.labeling._review_policy import REVIEW_REASONS, ReviewPolicy, review_tasks
from factory.core.labeling._review_queue import ReviewBatch, empty_review, review_queue

__all__ = [
    "ANNOTATION_SCHEMA",
    "CONFLICTS_SCHEMA",
    "CORRECTIONS_SCHEMA",
    "FEEDBACK",
    "FEEDBACK_COLUMNS",
    "FEEDBACK_REJECT_REASONS",
    "HUMAN",
    "LABELS_SCHEMA",
    "MAX_PAIR_ROWS",
    "REJECTS_SCHEMA",
    "REVIEW_REASONS",
    "SCORES_SCHEMA",
    "SOURCE",
    "Aggregation",
    "AnnotatorReview",
    "ColumnLabels",
    "CrowdAgreement",
    "DawidSkeneFit",
    "FeedbackFormat",
    "FeedbackImport",
    "KappaPairs",
    "LabelImport",
    "PIIResidueError",
    "ReviewBatch",
    "ReviewPolicy",
    "aggregate",
    "agreement_gate",
    "annotator_scores",
    "classes_in_csv",
    "column_annotations",
    "combine",
    "conflicts_report",
    "corrections_table",
    "crowd_agreement",
    "drift_gate",
    "empty_review",
    "export_pii_gate",
    "feedback_annotations",
    "feedback_format",
    "figure",
    "file_rejects",
    "gold_accuracy_gate",
    "kappa_pairs",
    "label_conflicts",
    "label_studio_config",
    "outside_taxonomy",
    "pending_feedback",
    "quality_row",
    "read_annotations_csv",
    "read_feedback",
    "read_gold_csv",
    "read_label_studio",
    "review_annotators",
    "review_queue",
    "review_tasks",
    "review_texts",
    "spammer_gate",
    "stamp",
    "unreadable_file",
    "unreliable_annotators",
    "write_label_studio_tasks",
]
