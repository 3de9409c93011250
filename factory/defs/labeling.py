"""Labeling layer: annotations from (simulated) annotators and a gold set, aggregated into labels per day."""

from collections.abc import Iterator
from datetime import date

import dagster as dg
import polars as pl

from factory.core import gates
from factory.core.labels import agreement_stats, annotator_quality, majority_vote
from factory.defs.metadata import check_result, markdown_table
from factory.defs.usecase import UseCase
from factory.demo import annotate, gold_labels, truth_for
from factory.resources.warehouse import Warehouse

__all__ = ["build_labeling"]


def build_labeling(uc: UseCase) -> list[dg.AssetsDefinition]:
    annotations_key, labels_key = uc.key("annotations"), uc.key("labels")
    classes = uc.spec.labeling.classes
    floor = uc.spec.labeling.agreement_floor
    group = uc.group("labeling")
    id_column = uc.spec.schema.id

    @dg.asset(
        key=annotations_key,
        deps=[uc.key("prepared")],
        group_name=group,
        partitions_def=uc.daily,
        kinds={"duckdb", "polars"},
        pool="warehouse",
        output_required=False,
        description=(
            "Human annotations of the day's prepared tickets (`item_id, annotator, label, created_at, provenance`), "
            f"{uc.spec.labeling.annotations_per_item} per item, plus the gold items and their gold labels. In the "
            "demo, simulated annotators of different skill label the tickets; one is a spammer, one tires over time."
        ),
    )
    def annotations(context: dg.AssetExecutionContext, warehouse: Warehouse) -> Iterator[dg.MaterializeResult]:
        if uc.spec.demo_source is None:
            context.log.warning(
                f"{uc.name} has no annotation source yet (only the demo simulates annotators); skipping"
            )
            return
        day = context.partition_key
        items = warehouse.read_partition(uc.name, "prepared", day).select(id_column)
        truth = truth_for(date.fromisoformat(day), uc.demo_config()).join(items, on=id_column, how="semi")
        made = annotate(truth, date.fromisoformat(day), uc.demo_config(), uc.spec.start_date)
        made = made.with_columns(pl.lit("human").alias("provenance"))
        gold = gold_labels(truth, uc.demo_config())
        warehouse.replace_partition(uc.name, "annotations", day, made)
        warehouse.replace_partition(uc.name, "gold", day, gold)
        per_annotator = made.group_by("annotator").len().sort("annotator").to_dicts()
        yield dg.MaterializeResult(
            metadata={
                "dagster/row_count": made.height,
                "items": items.height,
                "gold_items": gold.height,
                "per_annotator": dg.MetadataValue.md(markdown_table(per_annotator)),
            }
        )

    @dg.asset(
        key=labels_key,
        deps=[annotations_key],
        group_name=group,
        partitions_def=uc.daily,
        kinds={"duckdb", "polars"},
        pool="warehouse",
        check_specs=[
            dg.AssetCheckSpec(
                "agreement_above_floor",
                asset=labels_key,
                description=f"Mean pairwise agreement between annotators is at least {floor}.",
            )
        ],
        description=(
            "One label per item for the day: the gold label where there is one, else the majority vote, with its "
            "vote share as confidence and the item's pairwise agreement. Metadata holds Fleiss' kappa, "
            "Krippendorff's alpha and each annotator's accuracy on gold."
        ),
    )
    def labels(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        day = context.partition_key
        made = warehouse.read_partition(uc.name, "annotations", day)
        gold = warehouse.read_partition(uc.name, "gold", day)
        if made.is_empty():
            raise dg.Failure(f"no annotations for {day}: materialize {uc.name}/annotations for this day first")
        outside = int((~made["label"].is_in(list(classes))).sum())
        voted = majority_vote(made, classes, gold if not gold.is_empty() else None)
        stats = agreement_stats(made, classes)
        quality = annotator_quality(made, gold) if not gold.is_empty() else pl.DataFrame()
        warehouse.replace_partition(uc.name, "labels", day, voted)
        agreement = gates.GateResult(
            "agreement_above_floor",
            stats.mean_pairwise_agreement >= floor,
            f"mean pairwise agreement {stats.mean_pairwise_agreement:.3f} (floor {floor})",
            {"mean_pairwise_agreement": round(stats.mean_pairwise_agreement, 4), "floor": floor},
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": voted.height,
                "mean_pairwise_agreement": round(stats.mean_pairwise_agreement, 4),
                "fleiss_kappa": round(stats.fleiss_kappa, 4),
                "krippendorff_alpha": round(stats.krippendorff_alpha, 4),
                "labels_outside_taxonomy": outside,
                "from_gold": int((voted["source"] == "gold").sum()),
                "annotator_accuracy_on_gold": dg.MetadataValue.md(
                    markdown_table(quality.with_columns(pl.col("accuracy").round(3)).to_dicts())
                    if not quality.is_empty()
                    else "_(no gold items)_"
                ),
                "label_mix": dg.MetadataValue.md(
                    markdown_table(voted.group_by("label").len().sort("len", descending=True).to_dicts())
                ),
            },
            check_results=[check_result(labels_key, agreement, warn_only=True)],
        )

    return [annotations, labels]
