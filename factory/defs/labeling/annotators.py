"""The ``annotator_report`` asset: how the day's annotators did, measured before the labels are gated."""

from datetime import date, timedelta
from typing import Any

import dagster as dg
import polars as pl

from factory.core import gates
from factory.core.labeling import (
    HUMAN,
    SCORES_SCHEMA,
    aggregate,
    conflicts_report,
    crowd_agreement,
    drift_gate,
    figure,
    gold_accuracy_gate,
    review_annotators,
    spammer_gate,
)
from factory.defs.metadata import check_result, markdown_table, table_metadata
from factory.defs.usecase import UseCase
from factory.resources.label_store import report_file
from factory.resources.warehouse import Warehouse

__all__ = ["annotator_report_asset"]

_SHOWN_ROWS = 100
"""Rows of the annotator and pair tables shown in the run's metadata (the full scores are in the warehouse)."""


def _bounded_table(frame: pl.DataFrame, order: str) -> dg.MetadataValue:
    """A markdown table of at most `_SHOWN_ROWS` rows (lowest ``order`` first when cut), saying how many are left."""
    rounded = frame.with_columns(pl.col(pl.Float64).round(3))
    if rounded.height <= _SHOWN_ROWS:
        return dg.MetadataValue.md(markdown_table(rounded.to_dicts()))
    shown = rounded.sort(order, nulls_last=True).head(_SHOWN_ROWS)
    note = f"\n\n_{_SHOWN_ROWS} of {rounded.height} rows shown, lowest {order} first._"
    return dg.MetadataValue.md(markdown_table(shown.to_dicts()) + note)


def annotator_report_asset(uc: UseCase) -> dg.AssetsDefinition:
    key = uc.key("annotator_report")
    spec = uc.spec.labeling
    check_text = {
        "gold_accuracy_above_floor": (
            f"Every annotator with {spec.min_gold_items}+ gold items is right on at least "
            f"{spec.gold_accuracy_floor:.0%} of them (the factory's own check, factory.core.labeling; a warning)."
        ),
        "no_spammer_flagged": (
            "No annotator's labels are independent of the item (the factory's own check, factory.core.labeling; "
            "a warning)."
        ),
        "no_labeler_drift": (
            f"No annotator's daily agreement with the consensus fell by more than {spec.drift_drop} from their "
            "first days (the factory's own check, factory.core.labeling; a warning)."
        ),
    }

    @dg.asset(
        key=key,
        metadata=table_metadata(uc.spec, "annotator_report"),
        deps=[uc.key("annotations")],
        group_name=uc.group("labeling"),
        partitions_def=uc.daily,
        kinds={"duckdb", "polars"},
        pool="warehouse",
        check_specs=[dg.AssetCheckSpec(name, asset=key, description=text) for name, text in check_text.items()],
        description=(
            "How the day's annotators did: Krippendorff's alpha and Fleiss' kappa, Cohen's kappa per annotator "
            "pair, each annotator's accuracy against gold and against the consensus (the day's labels, recomputed "
            "here), spammer detection, labeler drift over the last "
            f"{spec.drift_lookback_days} days (the earlier days' labels are the baseline), and a disagreement "
            "report, the most confused label pairs with example item ids, for whoever writes the guidelines, with "
            "the day's label conflicts (items whose copies in the data were labeled differently). "
            "Written before `labels` so the agreement gate can leave the flagged spammers out."
        ),
    )
    def annotator_report(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        day = context.partition_key
        made = warehouse.read_partition(uc.name, "annotations", day)
        gold = warehouse.read_partition(uc.name, "gold", day)
        human = made.filter(pl.col("provenance") == HUMAN)
        conflicts = warehouse.read_partition(uc.name, "label_conflicts", day)
        path = report_file(uc.name, day)
        path.parent.mkdir(parents=True, exist_ok=True)
        if human.is_empty():
            warehouse.replace_partition(uc.name, "annotator_report", day, pl.DataFrame(schema=SCORES_SCHEMA))
            summary = f"no human annotations for {day}: nothing to judge"
            metadata: dict[str, Any] = {"dagster/row_count": 0, "label_conflicts": conflicts.height}
            if conflicts.height:
                written = conflicts_report(conflicts)
                path.write_text(written, encoding="utf-8")
                metadata["disagreement_report"] = dg.MetadataValue.md(written)
                metadata["report_path"] = dg.MetadataValue.path(str(path))
            return dg.MaterializeResult(
                metadata=metadata,
                check_results=[
                    check_result(key, gates.GateResult(name, True, summary), warn_only=True) for name in check_text
                ],
            )
        consensus = aggregate(made, spec.classes, method=spec.method, gold=gold).labels
        start = (date.fromisoformat(day) - timedelta(days=spec.drift_lookback_days)).isoformat()
        before = (date.fromisoformat(day) - timedelta(days=1)).isoformat()
        history = warehouse.read_range(uc.name, "annotations", start, before)
        history_labels = warehouse.read_range(uc.name, "labels", start, before)
        review = review_annotators(
            human,
            consensus,
            spec.classes,
            gold,
            history=history.filter(pl.col("provenance") == HUMAN) if history.height else None,
            history_consensus=history_labels.select("item_id", "label") if history_labels.height else None,
            drift_window=spec.drift_window,
            drift_min_items=spec.drift_min_items,
            drift_drop=spec.drift_drop,
        )
        stats = crowd_agreement(human, spec.classes, review.spammers)
        warehouse.replace_partition(uc.name, "annotator_report", day, review.scores)
        report = review.report + (f"\n{conflicts_report(conflicts)}" if conflicts.height else "")
        path.write_text(report, encoding="utf-8")
        results = [
            gold_accuracy_gate(review.scores, spec.gold_accuracy_floor, spec.min_gold_items),
            spammer_gate(review.scores),
            drift_gate(review.drift.alerts),
        ]
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": review.scores.height,
                "krippendorff_alpha": figure(stats.everyone.krippendorff_alpha),
                "fleiss_kappa": figure(stats.everyone.fleiss_kappa),
                "krippendorff_alpha_without_spammers": figure(stats.trusted.krippendorff_alpha),
                "spammers": ", ".join(review.spammers) or "none",
                "drifting": ", ".join(review.drift.alerts.get_column("annotator").to_list()) or "none",
                "annotators": _bounded_table(review.scores, "consensus_kappa"),
                "cohen_kappa_pairs": _bounded_table(review.pairs, "kappa"),
                "cohen_kappa_pairs_note": review.pairs_note or "every annotator with enough shared items compared",
                "label_conflicts": conflicts.height,
                "disagreement_report": dg.MetadataValue.md(report),
                "report_path": dg.MetadataValue.path(str(path)),
            },
            check_results=[check_result(key, result, warn_only=True) for result in results],
        )

    return annotator_report
