"""The demo as plug-in kinds: a ``demo`` data source (the stream its ``generator`` names: support tickets or
insurance claims, `factory.demo.generators`), a ``demo`` annotation source (the simulated crowd and its gold
set) and a ``demo`` feedback source (agents reviewing predictions), both on that stream's hidden truth.

Registered in `factory.plugins` like any other kind; nothing in ``factory.core`` or ``factory.defs`` imports
this package.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from factory.core.ingestion import as_raw
from factory.core.labeling import REJECTS_SCHEMA, stamp
from factory.demo.annotators import annotate, gold_labels
from factory.demo.feedback import corrections
from factory.demo.generators import generator
from factory.demo.tickets import DemoConfig
from factory.plugins import AnnotationBatch, FeedbackBatch, Landed, PendingFile, Registry
from factory.spec import (
    DemoAnnotationSourceSpec,
    DemoFeedbackSourceSpec,
    DemoSourceSpec,
    UseCaseSpec,
)

__all__ = ["DemoAgents", "DemoCrowd", "DemoSource", "demo_config", "register"]

REVIEWER = "demo_agent"
"""The reviewer named on the demo agents' corrections."""


def demo_config(spec: UseCaseSpec, source: DemoSourceSpec) -> DemoConfig:
    """The demo generator's settings for one demo data source of a use case."""
    return DemoConfig(
        seed=source.seed,
        rows_per_day=source.rows_per_day,
        drift_start=source.drift_start,
        gold_share=spec.labeling.gold_share,
        annotations_per_item=spec.labeling.annotations_per_item,
    )


class DemoSource:
    """The ``demo`` data source kind: one day of the deterministic stream the source's ``generator`` names."""

    label = "polars"

    def land(self, spec: UseCaseSpec, source: DemoSourceSpec, day: str) -> Landed:
        batch = generator(source.generator).raw(date.fromisoformat(day), demo_config(spec, source))
        rows = batch.with_row_index("_line").with_columns(pl.col("_line").cast(pl.Int64))
        return Landed(as_raw(rows, spec.schema.delivered_columns(), file=None))


class DemoCrowd:
    """The ``demo`` annotation source kind: the simulated annotators on the day's prepared items, and the gold
    set among them."""

    def collect(
        self,
        spec: UseCaseSpec,
        source: DemoAnnotationSourceSpec,
        day: str,
        items: pl.DataFrame,
        known: pl.DataFrame,
        duplicates: pl.DataFrame,
    ) -> AnnotationBatch:
        data_source = spec.demo_data_source(source.source)
        config = demo_config(spec, data_source)
        stream = generator(data_source.generator)
        moment = date.fromisoformat(day)
        id_column = spec.schema.id
        truth = stream.truth(moment, config).join(items.select(id_column), on=id_column, how="semi")
        made = stamp(annotate(truth, moment, config, spec.start_date, stream.taxonomy), origin="demo")
        ledger = {"kind": "demo", "name": "demo", "sha256": None}
        return AnnotationBatch(
            annotations=[made],
            rejects=[pl.DataFrame(schema=REJECTS_SCHEMA)],
            gold=gold_labels(truth, config, stream.taxonomy),
            ledger=[{**ledger, "records": made.height, "annotations": made.height, "rejects": 0}],
        )

    def pending(
        self, spec: UseCaseSpec, source: DemoAnnotationSourceSpec, known: pl.DataFrame, skip: set[str]
    ) -> list[PendingFile]:
        return []


class DemoAgents:
    """The ``demo`` feedback source kind: agents review a share of the day's predictions the day after."""

    needs_predictions = True

    def collect(
        self,
        spec: UseCaseSpec,
        source: DemoFeedbackSourceSpec,
        day: str,
        predictions: pl.DataFrame,
        known: pl.DataFrame,
    ) -> FeedbackBatch:
        if predictions.is_empty():
            raise ValueError(f"no predictions for {day}: the demo agents review predictions")
        data_source = spec.demo_data_source(source.source)
        config = demo_config(spec, data_source)
        stream = generator(data_source.generator)
        moment = date.fromisoformat(day)
        id_column = spec.schema.id
        made = corrections(
            predictions.select(id_column, "predicted_label"),
            stream.truth(moment, config),
            moment,
            config,
            stream.taxonomy,
        )
        rows = made.select(
            pl.col(id_column).cast(pl.String).alias("item_id"),
            "corrected_label",
            "corrected_at",
            pl.lit(REVIEWER, dtype=pl.String).alias("reviewer"),
        )
        return FeedbackBatch(rows, pl.DataFrame(schema=REJECTS_SCHEMA))

    def pending(
        self, spec: UseCaseSpec, source: DemoFeedbackSourceSpec, known: pl.DataFrame, skip: set[str]
    ) -> list[PendingFile]:
        return []


def register(registry: Registry) -> None:
    """Register the ``demo`` data, annotation and feedback source kinds."""
    registry.register_data_source("demo", DemoSource())
    registry.register_annotation_source("demo", DemoCrowd())
    registry.register_feedback_source("demo", DemoAgents())
