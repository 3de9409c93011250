"""The ``labels`` asset: one label per item, aggregated and gated on agreement among the non-spammers."""

from typing import Any

import dagster as dg
import polars as pl

from factory.core import gates
from factory.core.labeling import (
    FEEDBACK,
    HUMAN,
    LABELS_SCHEMA,
    SOURCE,
    aggregate,
    agreement_gate,
    crowd_agreement,
    figure,
    quality_row,
    unreliable_annotators,
)
from factory.core.stats import mean
from factory.defs.metadata import check_result, markdown_table, table_metadata
from factory.defs.usecase import UseCase
from factory.resources.warehouse import Warehouse

__all__ = ["METHOD_NAMES", "labels_asset"]


METHOD_NAMES = {"ds": "Dawid-Skene", "mv": "majority vote"}
"""The aggregation methods of `labeling.method`, by the name a reader knows them by."""


def labels_asset(uc: UseCase) -> dg.AssetsDefinition:
    key = uc.key("labels")
    spec = uc.spec.labeling
    method = METHOD_NAMES[spec.method]

    @dg.asset(
        key=key,
        metadata=table_metadata(uc.spec, "labels"),
        deps=[uc.key("annotations"), uc.key("annotator_report")],
        group_name=uc.group("labeling"),
        partitions_def=uc.daily,
        kinds={"duckdb", "polars"},
        pool="warehouse",
        check_specs=[
            dg.AssetCheckSpec(
                "agreement_above_floor",
                asset=key,
                blocking=True,
                description=(
                    f"Krippendorff's alpha among the trusted annotators (not flagged as spammers, accuracy not under "
                    f"the gold-accuracy floor {spec.gold_accuracy_floor}) is at least {spec.agreement_floor} "
                    "(factory.core.labeling, on the day's latest answers). Blocking: the dataset is not staged "
                    "while a day fails it. When it cannot be measured it passes only with a floor of 0 or labels "
                    "given by a label column of the data."
                ),
            )
        ],
        description=(
            f"One label per item for the day by {method} (`labeling.method`): the gold label where there is one, "
            "else the most probable class, with its posterior probability as `confidence` (the vote share for "
            "majority vote), the number of annotations and their pairwise agreement. Dawid-Skene learns a "
            "confusion matrix per annotator, so a spammer's answers count for next to nothing, and weighs "
            "production corrections by `labeling.feedback_weight`. Each annotator's latest answer per item counts. "
            "A day on which fewer than half the items have answers from two different annotators (labels given with "
            "the data) is labeled by a weighted vote instead: Dawid-Skene has too little to learn an annotator's "
            "errors from (`method_fallback` says so)."
        ),
    )
    def labels(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        day = context.partition_key
        made = warehouse.read_partition(uc.name, "annotations", day)
        gold = warehouse.read_partition(uc.name, "gold", day)
        if made.is_empty():
            context.log.warning(f"no annotations for {day} yet: no labels, and none of its items in the dataset")
            empty = pl.DataFrame(schema=LABELS_SCHEMA)
            warehouse.replace_partition(uc.name, "labels", day, empty)
            warehouse.replace_partition(uc.name, "label_quality", day, quality_row(spec.method, 0, 0, None))
            nothing = gates.GateResult("agreement_above_floor", True, f"no annotations for {day}: nothing labeled")
            return dg.MaterializeResult(metadata={"dagster/row_count": 0}, check_results=[check_result(key, nothing)])
        scores = warehouse.read_partition(uc.name, "annotator_report", day)
        spammers = scores.filter(pl.col("spammer")).get_column("annotator").to_list()
        unreliable = unreliable_annotators(scores, spec.gold_accuracy_floor, spec.min_gold_items)
        aggregation = aggregate(made, spec.classes, method=spec.method, gold=gold)
        labeled = aggregation.labels.with_columns(pl.lit(aggregation.method).alias("method"))
        human = made.filter(pl.col("provenance") == HUMAN)
        agreement = crowd_agreement(human, spec.classes, spammers, unreliable)
        given = int((made["provenance"] == SOURCE).sum())
        gate = agreement_gate(agreement, spec.agreement_floor, given=given)
        feedback_rows = int((made["provenance"] == FEEDBACK).sum())
        conflicts = warehouse.read_partition(uc.name, "label_conflicts", day)
        warehouse.replace_partition(uc.name, "labels", day, labeled)
        warehouse.replace_partition(
            uc.name,
            "label_quality",
            day,
            quality_row(aggregation.method, labeled.height, made.height, (agreement, gate)),
        )
        confidence = labeled.filter(pl.col("source") != "gold").get_column("confidence")
        metadata: dict[str, Any] = {
            "dagster/row_count": labeled.height,
            "method": METHOD_NAMES[aggregation.method],
            "krippendorff_alpha_without_spammers": figure(agreement.trusted.krippendorff_alpha),
            "krippendorff_alpha": figure(agreement.everyone.krippendorff_alpha),
            "fleiss_kappa": figure(agreement.everyone.fleiss_kappa),
            "mean_pairwise_agreement": figure(agreement.everyone.mean_pairwise_agreement),
            "spammers_left_out": ", ".join(agreement.spammers) or "none",
            "unreliable_left_out": ", ".join(agreement.unreliable) or "none",
            "from_gold": int((labeled["source"] == "gold").sum()),
            "mean_confidence": figure(mean(confidence) if confidence.len() else float("nan")),
            "below_0.8_confidence": int((confidence < 0.8).sum()),
            "feedback_annotations": feedback_rows,
            "feedback_weight": spec.feedback_weight,
            "given_labels": given,
            "label_conflicts": conflicts.height,
            "label_mix": dg.MetadataValue.md(
                markdown_table(
                    labeled.group_by("label").len("rows").sort(["rows", "label"], descending=[True, False]).to_dicts()
                )
            ),
        }
        if aggregation.fallback:
            metadata["method_fallback"] = aggregation.fallback
        if aggregation.method == "ds":
            metadata["em_iterations"] = aggregation.iterations
            metadata["estimated_annotator_accuracy"] = dg.MetadataValue.md(
                markdown_table(aggregation.annotator_accuracy.with_columns(pl.col("accuracy").round(3)).to_dicts())
            )
        return dg.MaterializeResult(metadata=metadata, check_results=[check_result(key, gate)])

    return labels
