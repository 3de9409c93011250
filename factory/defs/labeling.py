"""Labeling layer: annotations from every source, the annotators' report, labels behind an agreement gate, and a
budgeted review queue exported as Label Studio tasks.

Per day (the day of the prepared items being labeled):

- ``annotations`` gathers the demo's simulated annotators, the files dropped in the spec's annotation inbox
  (Label Studio JSON exports, CSVs) and production corrections (provenance ``feedback``), quarantining what
  cannot be used in ``annotation_rejects`` with a reason;
- ``annotator_report`` measures the annotators (accuracy on gold and against the consensus, Cohen's kappa per
  pair, spammers, drift) and writes a disagreement report for the guideline author;
- ``labels`` aggregates (Dawid-Skene by default) and gates on agreement among the non-spammers: a blocking
  check, and ``dataset_candidate`` refuses to stage while any day fails it;
- ``review_queue`` picks items for a person to look at again and writes them as Label Studio tasks.

The ``<use_case>_labeling`` job runs these four for one day; the ``<use_case>_labeling_sensor`` requests it for
the days that new inbox files or new production corrections concern.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import polars as pl

from factory.core import gates
from factory.core.labeling import (
    ANNOTATION_SCHEMA,
    FEEDBACK,
    HUMAN,
    REJECTS_SCHEMA,
    REVIEW_REASONS,
    SCORES_SCHEMA,
    CrowdAgreement,
    PIIResidueError,
    ReviewPolicy,
    aggregate,
    agreement_gate,
    combine,
    crowd_agreement,
    drift_gate,
    empty_review,
    feedback_annotations,
    file_rejects,
    gold_accuracy_gate,
    label_studio_config,
    read_annotations_csv,
    read_gold_csv,
    read_label_studio,
    review_annotators,
    review_queue,
    review_tasks,
    spammer_gate,
    stamp,
    unreadable_file,
    write_label_studio_tasks,
)
from factory.core.preparation import residue
from factory.core.stats import mean
from factory.core.training import predict
from factory.defs.metadata import check_result, markdown_table, preview
from factory.defs.usecase import UseCase
from factory.demo import annotate, gold_labels, truth_for
from factory.paths import factory_home
from factory.resources.sources import DropFile, FileDrop, SourceError
from factory.resources.tracking import Tracking
from factory.resources.warehouse import Warehouse
from factory.spec import AnnotationInboxSpec

__all__ = [
    "build_labeling",
    "build_labeling_automation",
    "failed_label_gates",
    "labeling_job_name",
    "review_file",
]

LABELING_ASSETS = ("annotations", "annotator_report", "labels", "review_queue")
_GOLD_SCHEMA = {"item_id": pl.String, "label": pl.String}


def labeling_job_name(uc: UseCase) -> str:
    return f"{uc.name}_labeling"


def _state_dir(uc: UseCase, *parts: str) -> Path:
    return factory_home().joinpath(uc.name, *parts)


def review_file(uc: UseCase, day: str) -> Path:
    """Where the day's review tasks (Label Studio import format) are written."""
    return _state_dir(uc, "review", f"{day}.json")


def failed_label_gates(warehouse: Warehouse, uc: UseCase) -> pl.DataFrame:
    """``partition_key, summary`` of the days whose labels fail the agreement gate (empty when none)."""
    if not warehouse.table_exists(uc.name, "label_quality"):
        return pl.DataFrame(schema={"partition_key": pl.String, "summary": pl.String})
    return warehouse.query("failed_label_gates", schema=uc.name)


# --- the annotation inbox --------------------------------------------------------------------------------------


@dataclass
class InboxFile:
    """One inbox file read: its annotations and rejects, each with the ``partition_key`` it is filed under."""

    file: DropFile
    format: str
    day: str
    annotations: pl.DataFrame
    rejects: pl.DataFrame

    def partitions(self) -> set[str]:
        days = set(self.annotations.get_column("partition_key").to_list())
        return days | ({self.day} if self.rejects.height else set())


@dataclass
class Inbox:
    files: list[InboxFile] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _inbox_drop(spec: AnnotationInboxSpec) -> FileDrop:
    root = Path(spec.path)
    return FileDrop(root if root.is_absolute() else factory_home() / root, spec.pattern)


def _format_of(file: DropFile) -> str | None:
    suffix = Path(file.relative).suffix.lower()
    return {".json": "label_studio", ".csv": "csv"}.get(suffix)


def _read_inbox_file(
    uc: UseCase, inbox: AnnotationInboxSpec, drop: FileDrop, file: DropFile, known: pl.DataFrame
) -> InboxFile | str:
    """The file's annotations and rejects, or a note saying why it was not read."""
    spec = uc.spec.labeling
    fmt = _format_of(file)
    if fmt is None:
        return f"{file.relative}: not a .json (Label Studio export) or .csv file; skipped"
    try:
        modified = datetime.fromtimestamp(file.path.stat().st_mtime, UTC).date()
        data = drop.read(file)
    except (OSError, SourceError) as error:
        return f"{file.relative}: {error}; not read this time"
    day = (file.file_date or modified).isoformat()
    known_items = known.get_column("item_id").to_list()
    try:
        if fmt == "label_studio":
            names = dict(inbox.annotator_names) or None
            imported = read_label_studio(
                data,
                spec.classes,
                known_items,
                spec.annotators,
                inbox.choice_field,
                item_key=inbox.item_key,
                annotator_names=names,
            )
        else:
            imported = read_annotations_csv(data, spec.classes, known_items, spec.annotators, delimiter=inbox.delimiter)
    except ValueError as error:
        rejects = unreadable_file(file.relative, fmt, str(error))
        empty = pl.DataFrame(schema={**ANNOTATION_SCHEMA, "partition_key": pl.String})
        return InboxFile(file, fmt, day, empty, rejects.with_columns(pl.lit(day).alias("partition_key")))
    rows = stamp(imported.annotations, origin=f"inbox:{file.relative}").join(known, on="item_id", how="inner")
    rejects = file_rejects(imported.rejects, file=file.relative, fmt=fmt).with_columns(
        pl.lit(day).alias("partition_key")
    )
    return InboxFile(file, fmt, day, rows, rejects)


def _read_inbox(uc: UseCase, known: pl.DataFrame, skip: set[str] | None = None) -> Inbox:
    """Every inbox file, once per content hash (``skip``: hashes not to read again)."""
    inbox = Inbox()
    spec = uc.spec.labeling.imports
    if spec is None:
        return inbox
    drop = _inbox_drop(spec)
    if not drop.root.exists():
        return inbox
    try:
        files = drop.scan()
    except SourceError as error:
        inbox.notes.append(f"annotation inbox: {error}")
        return inbox
    seen: dict[str, str] = {}
    for file in files:
        first = seen.setdefault(file.sha256, file.relative)
        if first != file.relative:
            inbox.notes.append(f"{file.relative}: same content as {first}; read once")
            continue
        if skip is not None and file.sha256 in skip:
            continue
        read = _read_inbox_file(uc, spec, drop, file, known)
        if isinstance(read, str):
            inbox.notes.append(read)
        else:
            inbox.files.append(read)
    inbox.notes += [f"refused (outside the inbox folder): {p}" for p in drop.refused]
    return inbox


def _known_items(warehouse: Warehouse, uc: UseCase) -> pl.DataFrame:
    if not warehouse.table_exists(uc.name, "prepared"):
        return pl.DataFrame(schema={"item_id": pl.String, "partition_key": pl.String})
    known = warehouse.query("prepared_ids", schema=uc.name, id_column=uc.spec.schema.id)
    return known.unique("item_id", keep="first").sort("item_id")


def _inbox_gold(uc: UseCase) -> pl.DataFrame:
    inbox = uc.spec.labeling.imports
    if inbox is None or inbox.gold is None:
        return pl.DataFrame(schema=_GOLD_SCHEMA)
    path = Path(inbox.gold) if Path(inbox.gold).is_absolute() else factory_home() / inbox.gold
    try:
        return read_gold_csv(path.read_bytes(), uc.spec.labeling.classes, delimiter=inbox.delimiter)
    except (OSError, ValueError) as error:
        raise dg.Failure(f"the gold set {path} cannot be used: {error}") from None


# --- feedback --------------------------------------------------------------------------------------------------


def _feedback(warehouse: Warehouse, uc: UseCase, day: str) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """The day's production corrections as annotations, their rejects (labels outside the taxonomy), and count."""
    corrections = warehouse.read_partition(uc.name, "feedback", day)
    if corrections.is_empty():
        return pl.DataFrame(schema=ANNOTATION_SCHEMA), pl.DataFrame(schema=REJECTS_SCHEMA), 0
    rows = feedback_annotations(corrections, uc.spec.schema.id, uc.spec.labeling.feedback_weight)
    inside = rows.get_column("label").is_in(list(uc.spec.labeling.classes))
    outside = corrections.filter(~inside)
    rejects = pl.DataFrame(
        {
            "file": FEEDBACK,
            "format": "feedback",
            "position": None,
            "task_id": None,
            "annotation_id": None,
            "reason": "label_outside_taxonomy",
            "detail": f"corrected label is not one of the {len(uc.spec.labeling.classes)} classes",
            "payload": [json.dumps(r, default=str, sort_keys=True) for r in outside.to_dicts()],
        },
        schema=REJECTS_SCHEMA,
    )
    return rows.filter(inside), rejects, corrections.height


# --- gathering a day's annotations -----------------------------------------------------------------------------


@dataclass
class _Gathered:
    """A day's annotations, rejects and the ledger of where they came from (``annotation_sources``)."""

    frames: list[pl.DataFrame] = field(default_factory=list)
    rejects: list[pl.DataFrame] = field(default_factory=lambda: [pl.DataFrame(schema=REJECTS_SCHEMA)])
    sources: list[dict[str, Any]] = field(default_factory=list)

    def add(self, kind: str, name: str, rows: pl.DataFrame, rejects: pl.DataFrame, sha256: str | None = None) -> None:
        self.frames.append(rows)
        self.rejects.append(rejects)
        self.sources.append(
            {
                "kind": kind,
                "name": name,
                "sha256": sha256,
                "records": rows.height + rejects.height,
                "annotations": rows.height,
                "rejects": rejects.height,
            }
        )

    def ledger(self) -> pl.DataFrame:
        schema = {"kind": pl.String, "name": pl.String, "sha256": pl.String}
        return pl.DataFrame(
            self.sources, schema={**schema, "records": pl.Int64, "annotations": pl.Int64, "rejects": pl.Int64}
        )


def _gather_demo(uc: UseCase, items: pl.DataFrame, day: str, gathered: _Gathered) -> pl.DataFrame:
    """The demo's simulated annotators on the day's prepared items; returns the demo gold set."""
    id_column = uc.spec.schema.id
    truth = truth_for(date.fromisoformat(day), uc.demo_config()).join(items.select(id_column), on=id_column, how="semi")
    made = stamp(annotate(truth, date.fromisoformat(day), uc.demo_config(), uc.spec.start_date), origin="demo")
    gathered.add("demo", "demo", made, pl.DataFrame(schema=REJECTS_SCHEMA))
    return gold_labels(truth, uc.demo_config())


def _gather_inbox(inbox: Inbox, day: str, gathered: _Gathered) -> None:
    """The inbox files' annotations of the day's items, and the rejects filed under the day."""
    for read in inbox.files:
        mine = read.annotations.filter(pl.col("partition_key") == day).drop("partition_key")
        filed = read.rejects.filter(pl.col("partition_key") == day).drop("partition_key")
        if mine.height or filed.height:
            gathered.add("inbox", read.file.relative, mine, filed, read.file.sha256)


def _gather_feedback(warehouse: Warehouse, uc: UseCase, day: str, gathered: _Gathered) -> None:
    """The production corrections recorded so far for the day's items."""
    corrected, rejected, corrections = _feedback(warehouse, uc, day)
    if corrections:
        gathered.add(FEEDBACK, FEEDBACK, corrected, rejected)


# --- assets ----------------------------------------------------------------------------------------------------


def build_labeling(uc: UseCase) -> list[dg.AssetsDefinition]:
    return [_annotations(uc), _annotator_report(uc), _labels(uc), _review_queue(uc)]


def _annotations(uc: UseCase) -> dg.AssetsDefinition:
    key = uc.key("annotations")
    spec = uc.spec.labeling
    id_column = uc.spec.schema.id
    inbox_text = (
        f" and the files dropped in `{spec.imports.path}` (Label Studio JSON exports, CSVs of `item_id, annotator, "
        "label, created_at`)"
        if spec.imports
        else ""
    )

    @dg.asset(
        key=key,
        deps=[uc.key("prepared")],
        group_name=uc.group("labeling"),
        partitions_def=uc.daily,
        kinds={"duckdb", "polars"},
        pool="warehouse",
        output_required=False,
        description=(
            "Every annotation of the day's prepared items (`item_id, annotator, label, created_at, provenance, "
            f"weight, origin`): the demo's simulated annotators{inbox_text}, and production corrections recorded "
            f"so far (provenance `feedback`, weight {spec.feedback_weight:g}; read, not a declared dependency, "
            "because they come from the model these labels train; the labeling sensor re-runs a day when new "
            "ones arrive). An annotation of an unknown item, by an unknown annotator, outside the taxonomy or "
            "unreadable goes to `annotation_rejects` with its reason. The gold set goes to `gold`."
        ),
    )
    def annotations(context: dg.AssetExecutionContext, warehouse: Warehouse) -> Iterator[dg.MaterializeResult]:
        if uc.spec.demo_source is None and spec.imports is None:
            context.log.warning(f"{uc.name} declares no annotation source (labeling.imports); skipping")
            return
        day = context.partition_key
        items = warehouse.read_partition(uc.name, "prepared", day)
        item_ids = items.get_column(id_column).cast(pl.String) if items.height else pl.Series([], dtype=pl.String)
        gold = _inbox_gold(uc).filter(pl.col("item_id").is_in(item_ids.implode()))
        gathered = _Gathered()
        if uc.spec.demo_source is not None:
            demo_gold = _gather_demo(uc, items, day, gathered)
            gold = pl.concat([gold, demo_gold]).unique("item_id", keep="first")
        inbox = _read_inbox(uc, _known_items(warehouse, uc))
        _gather_inbox(inbox, day, gathered)
        _gather_feedback(warehouse, uc, day, gathered)
        for note in inbox.notes:
            context.log.warning(note)
        made_all = combine(gathered.frames)
        quarantined = pl.concat(gathered.rejects, how="vertical")
        ledger = gathered.ledger()
        warehouse.replace_partition(uc.name, "annotations", day, made_all)
        warehouse.replace_partition(uc.name, "gold", day, gold.select(pl.col("item_id").cast(pl.String), "label"))
        warehouse.replace_partition(uc.name, "annotation_rejects", day, quarantined)
        warehouse.replace_partition(uc.name, "annotation_sources", day, ledger)
        metadata: dict[str, Any] = {
            "dagster/row_count": made_all.height,
            "items": items.height,
            "items_annotated": made_all.get_column("item_id").n_unique(),
            "gold_items": gold.height,
            "feedback_annotations": int((made_all["provenance"] == FEEDBACK).sum()),
            "rejected": quarantined.height,
            "per_annotator": dg.MetadataValue.md(
                markdown_table(made_all.group_by("annotator", "provenance").len().sort("annotator").to_dicts())
            ),
            "sources": dg.MetadataValue.md(markdown_table(ledger.to_dicts())),
        }
        if quarantined.height:
            by_reason = quarantined.group_by("file", "reason").len().sort("file", "reason")
            metadata["rejects_by_reason"] = dg.MetadataValue.md(markdown_table(by_reason.to_dicts()))
        if inbox.notes:
            metadata["notes"] = dg.MetadataValue.md("\n".join(f"- {n}" for n in inbox.notes))
        yield dg.MaterializeResult(metadata=metadata)

    return annotations


def _annotator_report(uc: UseCase) -> dg.AssetsDefinition:
    key = uc.key("annotator_report")
    spec = uc.spec.labeling
    check_text = {
        "gold_accuracy_above_floor": (
            f"Every annotator with {spec.min_gold_items}+ gold items is right on at least "
            f"{spec.gold_accuracy_floor:.0%} of them (warning)."
        ),
        "no_spammer_flagged": "No annotator's labels are independent of the item (warning).",
        "no_labeler_drift": (
            f"No annotator's daily agreement with the consensus fell by more than {spec.drift_drop} from their "
            "first days (warning)."
        ),
    }

    @dg.asset(
        key=key,
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
            "report, the most confused label pairs with example item ids, for whoever writes the guidelines. "
            "Written before `labels` so the agreement gate can leave the flagged spammers out."
        ),
    )
    def annotator_report(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        day = context.partition_key
        made = warehouse.read_partition(uc.name, "annotations", day)
        gold = warehouse.read_partition(uc.name, "gold", day)
        human = made.filter(pl.col("provenance") == HUMAN)
        if human.is_empty():
            warehouse.replace_partition(uc.name, "annotator_report", day, pl.DataFrame(schema=SCORES_SCHEMA))
            summary = f"no human annotations for {day}: nothing to judge"
            return dg.MaterializeResult(
                metadata={"dagster/row_count": 0},
                check_results=[
                    check_result(key, gates.GateResult(name, True, summary), warn_only=True) for name in check_text
                ],
            )
        consensus = aggregate(made, spec.classes, method=spec.method, gold=gold).labels
        start = (date.fromisoformat(day) - timedelta(days=spec.drift_lookback_days)).isoformat()
        before = (date.fromisoformat(day) - timedelta(days=1)).isoformat()
        history = _read_range(warehouse, uc, "annotations", start, before)
        history_labels = _read_range(warehouse, uc, "labels", start, before)
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
        path = _state_dir(uc, "reports", f"annotators-{day}.md")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(review.report, encoding="utf-8")
        results = [
            gold_accuracy_gate(review.scores, spec.gold_accuracy_floor, spec.min_gold_items),
            spammer_gate(review.scores),
            drift_gate(review.drift.alerts),
        ]
        scores = review.scores.with_columns(pl.col(pl.Float64).round(3))
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": review.scores.height,
                "krippendorff_alpha": _figure(stats.everyone.krippendorff_alpha),
                "fleiss_kappa": _figure(stats.everyone.fleiss_kappa),
                "krippendorff_alpha_without_spammers": _figure(stats.trusted.krippendorff_alpha),
                "spammers": ", ".join(review.spammers) or "none",
                "drifting": ", ".join(review.drift.alerts.get_column("annotator").to_list()) or "none",
                "annotators": dg.MetadataValue.md(markdown_table(scores.to_dicts())),
                "cohen_kappa_pairs": dg.MetadataValue.md(
                    markdown_table(review.pairs.with_columns(pl.col(pl.Float64).round(3)).to_dicts())
                ),
                "disagreement_report": dg.MetadataValue.md(review.report),
                "report_path": dg.MetadataValue.path(str(path)),
            },
            check_results=[check_result(key, result, warn_only=True) for result in results],
        )

    return annotator_report


def _labels(uc: UseCase) -> dg.AssetsDefinition:
    key = uc.key("labels")
    spec = uc.spec.labeling
    method = {"ds": "Dawid-Skene", "mv": "majority vote"}[spec.method]

    @dg.asset(
        key=key,
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
                    f"Krippendorff's alpha among the annotators not flagged as spammers is at least "
                    f"{spec.agreement_floor}. Blocking: the dataset is not staged while a day fails it."
                ),
            )
        ],
        description=(
            f"One label per item for the day by {method} (`labeling.method`): the gold label where there is one, "
            "else the most probable class, with its posterior probability as `confidence` (the vote share for "
            "majority vote), the number of annotations and their pairwise agreement. Dawid-Skene learns a "
            "confusion matrix per annotator, so a spammer's answers count for next to nothing, and weighs "
            "production corrections by `labeling.feedback_weight`. Each annotator's latest answer per item counts."
        ),
    )
    def labels(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        day = context.partition_key
        made = warehouse.read_partition(uc.name, "annotations", day)
        gold = warehouse.read_partition(uc.name, "gold", day)
        if made.is_empty():
            context.log.warning(f"no annotations for {day} yet: no labels, and none of its items in the dataset")
            empty = pl.DataFrame(
                schema={
                    "item_id": pl.String,
                    "label": pl.String,
                    "confidence": pl.Float64,
                    "n_annotations": pl.Int64,
                    "agreement": pl.Float64,
                    "source": pl.String,
                    "method": pl.String,
                }
            )
            warehouse.replace_partition(uc.name, "labels", day, empty)
            warehouse.replace_partition(uc.name, "label_quality", day, _quality_row(spec.method, 0, 0, None))
            nothing = gates.GateResult("agreement_above_floor", True, f"no annotations for {day}: nothing labeled")
            return dg.MaterializeResult(metadata={"dagster/row_count": 0}, check_results=[check_result(key, nothing)])
        scores = warehouse.read_partition(uc.name, "annotator_report", day)
        spammers = scores.filter(pl.col("spammer")).get_column("annotator").to_list()
        aggregation = aggregate(made, spec.classes, method=spec.method, gold=gold)
        labeled = aggregation.labels.with_columns(pl.lit(spec.method).alias("method"))
        human = made.filter(pl.col("provenance") == HUMAN)
        agreement = crowd_agreement(human, spec.classes, spammers)
        gate = agreement_gate(agreement, spec.agreement_floor)
        feedback_rows = int((made["provenance"] == FEEDBACK).sum())
        warehouse.replace_partition(uc.name, "labels", day, labeled)
        warehouse.replace_partition(
            uc.name, "label_quality", day, _quality_row(spec.method, labeled.height, made.height, (agreement, gate))
        )
        confidence = labeled.filter(pl.col("source") != "gold").get_column("confidence")
        metadata: dict[str, Any] = {
            "dagster/row_count": labeled.height,
            "method": spec.method,
            "krippendorff_alpha_without_spammers": _figure(agreement.trusted.krippendorff_alpha),
            "krippendorff_alpha": _figure(agreement.everyone.krippendorff_alpha),
            "fleiss_kappa": _figure(agreement.everyone.fleiss_kappa),
            "mean_pairwise_agreement": _figure(agreement.everyone.mean_pairwise_agreement),
            "spammers_left_out": ", ".join(agreement.spammers) or "none",
            "from_gold": int((labeled["source"] == "gold").sum()),
            "mean_confidence": _figure(mean(confidence) if confidence.len() else float("nan")),
            "below_0.8_confidence": int((confidence < 0.8).sum()),
            "feedback_annotations": feedback_rows,
            "feedback_weight": spec.feedback_weight,
            "label_mix": dg.MetadataValue.md(
                markdown_table(
                    labeled.group_by("label").len().sort(["len", "label"], descending=[True, False]).to_dicts()
                )
            ),
        }
        if spec.method == "ds":
            metadata["em_iterations"] = aggregation.iterations
            metadata["estimated_annotator_accuracy"] = dg.MetadataValue.md(
                markdown_table(aggregation.annotator_accuracy.with_columns(pl.col("accuracy").round(3)).to_dicts())
            )
        return dg.MaterializeResult(metadata=metadata, check_results=[check_result(key, gate)])

    return labels


def _review_queue(uc: UseCase) -> dg.AssetsDefinition:
    key = uc.key("review_queue")
    spec = uc.spec.labeling
    review = spec.review
    id_column = uc.spec.schema.id

    @dg.asset(
        key=key,
        deps=[uc.key("labels"), uc.key("prepared"), uc.key("champion")],
        group_name=uc.group("labeling"),
        partitions_def=uc.daily,
        kinds={"duckdb", "json"},
        pool="warehouse",
        check_specs=[
            dg.AssetCheckSpec(
                "within_budget",
                asset=key,
                description=f"At most {review.budget} items (`labeling.review.budget`), each once.",
            ),
            dg.AssetCheckSpec(
                "export_has_no_pii",
                asset=key,
                description="No exported task value holds personal data (PII residue scan of the written file).",
            ),
        ],
        description=(
            f"Up to {review.budget} of the day's labeled items for a person to look at again, as Label Studio tasks "
            "(`$FACTORY_HOME/<use_case>/review/<day>.json`, with the labeling interface in `label_config.xml`) "
            "pre-annotated with the model's prediction: suspected label errors (cleanlab's confident learning on "
            "out-of-fold predicted probabilities), annotator disagreement, low model confidence (the champion "
            "model when there is one, else the out-of-fold model) and rare-class coverage, each with a share of "
            "the budget. Texts are the prepared, scrubbed ones, checked again for PII before export. Gold items "
            "are never queued."
        ),
    )
    def review_queue_asset(
        context: dg.AssetExecutionContext, warehouse: Warehouse, tracking: Tracking
    ) -> dg.MaterializeResult:
        day = context.partition_key
        labeled = warehouse.read_partition(uc.name, "labels", day)
        prepared = warehouse.read_partition(uc.name, "prepared", day)
        texts = _texts(uc, prepared)
        predictions, model_version = _model_predictions(uc, tracking, prepared, labeled)
        counts = warehouse.read_table(uc.name, "labels")
        class_counts = dict(counts.group_by("label").len().iter_rows()) if counts.height else None
        policy = ReviewPolicy(
            quotas=review.quotas,
            confidence_below=review.confidence_below,
            rare_share=review.rare_share,
        )
        if not labeled.columns:
            raise dg.Failure(f"no labels for {day}: materialize {uc.key('labels').to_user_string()} first")
        batch = (
            review_queue(
                labeled.select("item_id", "label", "confidence", "agreement", "source"),
                texts,
                spec.classes,
                review.budget,
                policy,
                predictions=predictions,
                class_counts=class_counts,
                folds=review.folds,
                seed=uc.spec.models.seed,
            )
            if labeled.height
            else empty_review()
        )
        try:
            tasks = review_tasks(batch.queue, texts, "text", model_version, custom_pii=uc.spec.custom_pii)
        except PIIResidueError as error:
            raise dg.Failure(f"review tasks not exported: {error}") from None
        path = write_label_studio_tasks(tasks, review_file(uc, day))
        config = path.with_name("label_config.xml")
        config.write_text(label_studio_config(spec.classes), encoding="utf-8")
        queue = batch.queue.with_columns(pl.col("reasons").list.join(", "))
        warehouse.replace_partition(uc.name, "review_queue", day, queue)
        warehouse.replace_partition(uc.name, "label_issues", day, batch.issues.filter(pl.col("is_issue")))
        written = json.loads(path.read_text(encoding="utf-8"))
        in_budget = gates.GateResult(
            "within_budget",
            queue.height <= review.budget and queue.get_column("item_id").n_unique() == queue.height,
            f"{queue.height} item(s) queued, budget {review.budget}",
            {"queued": queue.height, "budget": review.budget},
        )
        exported = _export_pii(written, uc)
        by_choice = dict(queue.group_by("selected_for").len().iter_rows())
        by_reason = (
            batch.queue.explode("reasons").drop_nulls("reasons").group_by("reasons").len().sort("reasons").to_dicts()
        )
        context.log.info(f"{queue.height} review task(s) written to {path}")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": queue.height,
                "budget": review.budget,
                "label_issues": int(batch.issues.get_column("is_issue").sum()),
                "model": model_version,
                "tasks_file": dg.MetadataValue.path(str(path)),
                **{f"queued_for_{reason}": int(by_choice.get(reason, 0)) for reason in (*REVIEW_REASONS, "score")},
                "qualifying_reasons": dg.MetadataValue.md(markdown_table(by_reason)),
                "preview": preview(
                    queue.rename({"item_id": id_column}),
                    [id_column, "priority", "selected_for", "reasons", "label", "model_label"],
                ),
            },
            check_results=[check_result(key, in_budget), check_result(key, exported)],
        )

    return review_queue_asset


# --- helpers ---------------------------------------------------------------------------------------------------


def _figure(value: float) -> float | str:
    return round(value, 4) if np.isfinite(value) else "n/a"


def _read_range(warehouse: Warehouse, uc: UseCase, table: str, start: str, end: str) -> pl.DataFrame:
    return warehouse.read_range(uc.name, table, start, end)


def _quality_row(
    method: str, labels: int, annotations: int, measured: tuple[CrowdAgreement, gates.GateResult] | None
) -> pl.DataFrame:
    """The day's row of ``label_quality``: what the dataset gate reads."""
    if measured is None:
        alpha = alpha_all = fleiss = float("nan")
        spammers, passed, summary = "", True, "no annotations"
    else:
        agreement, gate = measured
        alpha, alpha_all = agreement.trusted.krippendorff_alpha, agreement.everyone.krippendorff_alpha
        fleiss = agreement.everyone.fleiss_kappa
        spammers, passed, summary = ", ".join(agreement.spammers), gate.passed, gate.summary
    return pl.DataFrame(
        {
            "method": [method],
            "labels": [labels],
            "annotations": [annotations],
            "krippendorff_alpha_trusted": [alpha],
            "krippendorff_alpha": [alpha_all],
            "fleiss_kappa": [fleiss],
            "spammers": [spammers],
            "agreement_passed": [passed],
            "summary": [summary],
        }
    )


def _texts(uc: UseCase, prepared: pl.DataFrame) -> pl.DataFrame:
    """``item_id, text``: the prepared (scrubbed) text columns joined by blank lines."""
    if prepared.is_empty():
        return pl.DataFrame(schema={"item_id": pl.String, "text": pl.String})
    return prepared.select(
        pl.col(uc.spec.schema.id).cast(pl.String).alias("item_id"),
        pl.concat_str([pl.col(c).fill_null("") for c in uc.spec.text_columns], separator="\n\n")
        .str.strip_chars()
        .alias("text"),
    )


def _model_predictions(
    uc: UseCase, tracking: Tracking, prepared: pl.DataFrame, labeled: pl.DataFrame
) -> tuple[pl.DataFrame | None, str]:
    """The champion's label and confidence per labeled item and its version name; None and the out-of-fold
    model's name while there is no champion."""
    champion = tracking.champion(uc.model_name)
    if champion is None or labeled.is_empty():
        return None, f"out-of-fold tfidf_logreg ({uc.spec.labeling.review.folds} folds)"
    rows = prepared.with_columns(pl.col(uc.spec.schema.id).cast(pl.String).alias("item_id")).join(
        labeled.select("item_id"), on="item_id", how="semi"
    )
    model = tracking.load(uc.model_name, champion.version)
    predicted = predict(model, rows, uc.spec.text_columns, uc.spec.feature_columns)
    predictions = pl.DataFrame(
        {
            "item_id": rows.get_column("item_id"),
            "model_label": predicted["label"],
            "confidence": predicted["confidence"],
        },
        schema={"item_id": pl.String, "model_label": pl.String, "confidence": pl.Float64},
    )
    return predictions, f"{uc.model_name} v{champion.version} (champion)"


def _export_pii(tasks: list[dict[str, Any]], uc: UseCase) -> gates.GateResult:
    """Scan every string value of the written tasks' data for PII residue."""
    values = [str(v) for task in tasks for v in task.get("data", {}).values() if isinstance(v, str)]
    found = residue(pl.Series(values, dtype=pl.String), dict(uc.spec.custom_pii)) if values else pl.Series([0])
    hits = int((found > 0).sum())
    return gates.GateResult(
        "export_has_no_pii",
        hits == 0,
        f"{len(values)} exported text value(s), {hits} with PII residue",
        {"values": len(values), "with_pii": hits},
    )


# --- automation ------------------------------------------------------------------------------------------------


def build_labeling_automation(uc: UseCase) -> tuple[Any, dg.SensorDefinition]:
    """The labeling job (one day's four labeling assets) and the sensor that requests it."""
    job = dg.define_asset_job(
        labeling_job_name(uc),
        selection=dg.AssetSelection.assets(*(uc.key(a) for a in LABELING_ASSETS)),
        description=(
            f"Re-label one day of {uc.name}: gather its annotations again (new inbox files, production "
            "corrections), re-measure the annotators, aggregate, gate, and rebuild the review queue."
        ),
    )
    return job, _labeling_sensor(uc, job)


def pending_feedback(warehouse: Warehouse, uc: UseCase) -> pl.DataFrame:
    """``partition_key, corrections, read``: days with more production corrections than their annotations read."""
    schema = {"partition_key": pl.String, "corrections": pl.Int64, "read": pl.Int64}
    if not warehouse.table_exists(uc.name, "feedback") or not warehouse.table_exists(uc.name, "labels"):
        return pl.DataFrame(schema=schema)
    counts = warehouse.query("partition_counts", schema=uc.name, table="feedback").rename({"n": "corrections"})
    labeled = warehouse.query("partition_counts", schema=uc.name, table="labels").select("partition_key")
    ledger = warehouse.read_table(uc.name, "annotation_sources")
    read = ledger.filter(pl.col("kind") == FEEDBACK).select("partition_key", pl.col("records").alias("read"))
    return (
        counts.join(labeled, on="partition_key", how="semi")
        .join(read, on="partition_key", how="left")
        .with_columns(pl.col("read").fill_null(0))
        .filter(pl.col("corrections") > pl.col("read"))
        .select(pl.col("partition_key"), pl.col("corrections").cast(pl.Int64), pl.col("read").cast(pl.Int64))
        .sort("partition_key")
    )


def _labeling_sensor(uc: UseCase, job: Any) -> dg.SensorDefinition:
    @dg.sensor(
        name=f"{uc.name}_labeling_sensor",
        job=job,
        minimum_interval_seconds=300,
        description=(
            f"Requests {labeling_job_name(uc)} for every day a new annotation inbox file concerns (the days of the "
            "items it labels, and the day its rejects are filed under), once per file and day, and for every "
            "day whose production corrections outnumber those its annotations have read."
        ),
    )
    def labeling_sensor(context: dg.SensorEvaluationContext, warehouse: Warehouse) -> dg.SensorResult:
        requests: list[dg.RunRequest] = []
        for row in pending_feedback(warehouse, uc).iter_rows(named=True):
            reason = f"{row['corrections'] - row['read']} new production correction(s) for {row['partition_key']}"
            requests.append(
                dg.RunRequest(
                    run_key=f"feedback:{row['partition_key']}:{row['corrections']}",
                    partition_key=row["partition_key"],
                    tags={"factory/reason": reason},
                )
            )
        handled = set(json.loads(context.cursor)) if context.cursor else set()
        inbox = _read_inbox(uc, _known_items(warehouse, uc), skip=handled)
        ledger = warehouse.read_table(uc.name, "annotation_sources")
        done = set(
            ledger.filter(pl.col("kind") == "inbox").select(pl.concat_str("sha256", "partition_key")).to_series()
        )
        for read in inbox.files:
            for day in sorted(read.partitions()):
                if read.file.sha256 + day in done:
                    continue
                requests.append(
                    dg.RunRequest(
                        run_key=f"inbox:{read.file.sha256[:20]}:{day}",
                        partition_key=day,
                        tags={"factory/reason": f"new annotation file {read.file.relative}"[:200]},
                    )
                )
            handled.add(read.file.sha256)
        cursor = json.dumps(sorted(handled))
        if requests:
            return dg.SensorResult(run_requests=requests, cursor=cursor)
        return dg.SensorResult(
            skip_reason=dg.SkipReason("no new annotation file and no unread production correction"), cursor=cursor
        )

    return labeling_sensor
