"""Labeling layer: annotations from every source, the annotators' report, labels behind an agreement gate, and a
budgeted review queue exported as Label Studio tasks.

Per day (the day of the prepared items being labeled):

- ``annotations`` gathers what each annotation source declared in the spec gives (the demo crowd, annotation
  inboxes of Label Studio exports and CSVs, a third party's kind) and production corrections (provenance
  ``feedback``), quarantining what cannot be used in ``annotation_rejects`` with a reason;
- ``annotator_report`` measures the annotators (accuracy on gold and against the consensus, Cohen's kappa per
  pair, spammers, drift) and writes a disagreement report for the guideline author;
- ``labels`` aggregates (Dawid-Skene by default) and gates on agreement among the non-spammers: a blocking
  check, and ``dataset_candidate`` refuses to stage while any day fails it;
- ``review_queue`` picks items for a person to look at again and writes them as Label Studio tasks.

The labeling job and sensor that re-label a day are declared in `factory.defs.automation`.
"""

import dagster as dg

from factory.defs.labeling.annotations import annotations_asset
from factory.defs.labeling.annotators import annotator_report_asset
from factory.defs.labeling.labels import labels_asset
from factory.defs.labeling.review import review_queue_asset
from factory.defs.usecase import UseCase

__all__ = ["LABELING_ASSETS", "build_labeling"]

LABELING_ASSETS = ("annotations", "annotator_report", "labels", "review_queue")
"""The assets the labeling job re-runs for a day."""


def build_labeling(uc: UseCase) -> list[dg.AssetsDefinition]:
    return [annotations_asset(uc), annotator_report_asset(uc), labels_asset(uc), review_queue_asset(uc)]
