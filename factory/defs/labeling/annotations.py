"""The ``annotations`` asset: every annotation of a day's items, from each declared annotation source (resolved
through `factory.plugins`) and from production corrections."""

from collections.abc import Iterator
from typing import Any

import dagster as dg
import polars as pl

from factory.core.labeling import (
    ANNOTATION_SCHEMA,
    FEEDBACK,
    REJECTS_SCHEMA,
    combine,
    conflicts_report,
    feedback_annotations,
    label_conflicts,
    outside_taxonomy,
)
from factory.defs.metadata import markdown_list, markdown_table, table_metadata
from factory.defs.usecase import UseCase
from factory.plugins import AnnotationBatch, annotation_source
from factory.resources.label_store import duplicates_of, known_items
from factory.resources.warehouse import Warehouse

__all__ = ["annotations_asset"]

_LEDGER_SCHEMA = {
    "kind": pl.String,
    "name": pl.String,
    "sha256": pl.String,
    "records": pl.Int64,
    "annotations": pl.Int64,
    "rejects": pl.Int64,
}


def _corrections(warehouse: Warehouse, uc: UseCase, day: str) -> AnnotationBatch | None:
    """The production corrections recorded so far for the day's items, as annotations by ``feedback``; None
    when there are none."""
    corrections = warehouse.read_partition(uc.name, "feedback", day)
    if corrections.is_empty():
        return None
    labeling = uc.spec.labeling
    rows = feedback_annotations(corrections, uc.spec.schema.id, labeling.feedback_weight)
    inside = rows.get_column("label").is_in(list(labeling.classes))
    rejects = outside_taxonomy(corrections, inside, labeling.classes)
    kept = rows.filter(inside)
    entry = {"kind": FEEDBACK, "name": FEEDBACK, "sha256": None, "records": corrections.height}
    return AnnotationBatch(
        annotations=[kept],
        rejects=[rejects],
        ledger=[{**entry, "annotations": kept.height, "rejects": rejects.height}],
    )


def _description(uc: UseCase) -> str:
    spec = uc.spec.labeling
    sources = ", ".join(f"`{s.name}` ({s.kind})" for s in uc.spec.annotation_sources) or "none declared"
    return (
        "Every annotation of the day's prepared items (`item_id, annotator, label, created_at, provenance, "
        f"weight, origin`) from the annotation sources ({sources}; `labeling.sources`), and the production "
        f"corrections recorded so far (provenance `feedback`, weight {spec.feedback_weight:g}; the labeling sensor "
        "re-runs a day when new ones arrive). An annotation of an unknown item, by an unknown annotator, outside "
        "the taxonomy or unreadable goes to `annotation_rejects` with its reason; `annotation_sources` records "
        "what each source gave. The gold set goes to `gold`. Labels given with the data also come from the rows "
        "preparation removed as duplicates of the day's items; an item whose copies were labeled differently is a "
        "label conflict (`label_conflicts`: the labels and the rows behind them), which the review queue puts first."
    )


def annotations_asset(uc: UseCase) -> dg.AssetsDefinition:
    key = uc.key("annotations")
    sources = uc.spec.annotation_sources
    kinds = [(source, annotation_source(source.kind)) for source in sources]
    # Corrections that come from reading predictions are read, not depended on: they come from the model these
    # labels train. Corrections from files are an upstream like any other. Without a feedback source, the
    # feedback asset materializes nothing, and depending on it would skip the annotations.
    from_files = bool(uc.spec.feedback_sources) and not uc.feedback_needs_predictions
    deps = [uc.key("prepared")] + ([uc.key("feedback")] if from_files else [])

    @dg.asset(
        key=key,
        metadata=table_metadata(uc.spec, "annotations"),
        deps=deps,
        group_name=uc.group("labeling"),
        partitions_def=uc.daily,
        kinds={"duckdb", "polars"},
        pool="warehouse",
        output_required=False,
        description=_description(uc),
    )
    def annotations(context: dg.AssetExecutionContext, warehouse: Warehouse) -> Iterator[dg.MaterializeResult]:
        if not sources:
            context.log.warning(f"{uc.name} declares no annotation source (labeling.sources); skipping")
            return
        day = context.partition_key
        items = warehouse.read_partition(uc.name, "prepared", day)
        known = known_items(warehouse, uc.name, uc.spec.schema.id)
        duplicates = duplicates_of(warehouse, uc.name, uc.spec.schema.id, day)
        batches: list[AnnotationBatch] = []
        for source, kind in kinds:
            try:
                batches.append(kind.collect(uc.spec, source, day, items, known, duplicates))
            except ValueError as error:
                raise dg.Failure(f"annotation source {source.name} ({source.kind}): {error}") from None
        corrections = _corrections(warehouse, uc, day)
        if corrections is not None:
            batches.append(corrections)
        made_all = combine(frame for batch in batches for frame in batch.annotations)
        quarantined = pl.concat(
            [pl.DataFrame(schema=REJECTS_SCHEMA), *(frame for batch in batches for frame in batch.rejects)],
            how="vertical",
        )
        gold_frames = [batch.gold.select(pl.col("item_id").cast(pl.String), "label") for batch in batches]
        gold = pl.concat(gold_frames).unique("item_id", keep="first", maintain_order=True)
        ledger = pl.DataFrame([entry for batch in batches for entry in batch.ledger], schema=_LEDGER_SCHEMA)
        notes = [note for batch in batches for note in batch.notes]
        for note in notes:
            context.log.warning(note)
        warehouse.replace_partition(uc.name, "annotations", day, made_all.select(list(ANNOTATION_SCHEMA)))
        warehouse.replace_partition(uc.name, "gold", day, gold)
        warehouse.replace_partition(uc.name, "annotation_rejects", day, quarantined)
        warehouse.replace_partition(uc.name, "annotation_sources", day, ledger)
        conflicts = label_conflicts(made_all)
        warehouse.replace_partition(uc.name, "label_conflicts", day, conflicts)
        metadata: dict[str, Any] = {
            "dagster/row_count": made_all.height,
            "items": items.height,
            "items_annotated": made_all.get_column("item_id").n_unique(),
            "gold_items": gold.height,
            "feedback_annotations": int((made_all["provenance"] == FEEDBACK).sum()),
            "rejected": quarantined.height,
            "label_conflicts": conflicts.height,
            "per_annotator": dg.MetadataValue.md(
                markdown_table(made_all.group_by("annotator", "provenance").len().sort("annotator").to_dicts())
            ),
            "sources": dg.MetadataValue.md(markdown_table(ledger.to_dicts())),
        }
        if quarantined.height:
            by_reason = quarantined.group_by("file", "reason").len().sort("file", "reason")
            metadata["rejects_by_reason"] = dg.MetadataValue.md(markdown_table(by_reason.to_dicts()))
        if conflicts.height:
            metadata["label_conflict_items"] = dg.MetadataValue.md(conflicts_report(conflicts))
        if notes:
            metadata["notes"] = markdown_list(notes)
        yield dg.MaterializeResult(metadata=metadata)

    return annotations
