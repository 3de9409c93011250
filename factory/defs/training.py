"""Training and promotion layers: candidates trained on the published dataset, the best registered in MLflow
with lineage back to the exact dataset commit, and a champion alias that moves only to a model not worse."""

import json
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import dagster as dg
import pandas as pd
import polars as pl

from factory.codeversion import code_version
from factory.core import gates, promotion
from factory.core.monitoring import PredictionReference
from factory.core.training import (
    ModelColumns,
    Selection,
    class_probabilities,
    encode_labels,
    model_frame,
    predict,
    slice_masks,
    slice_metrics,
    train_and_select,
)
from factory.defs.lineage import latest_metadata, published_versions
from factory.defs.metadata import check_result, markdown_table, mlflow_links
from factory.defs.model_report import (
    CARD_LIMIT,
    model_card,
    run_metrics,
    run_params,
    selection_document,
    selection_table,
)
from factory.defs.redteam import redteam_metadata, redteam_results
from factory.defs.usecase import UseCase
from factory.resources.blessings import write_blessing
from factory.resources.redteam import run_stored_suite, stored_result, stored_suite
from factory.resources.tracking import (
    DEMOTED_TAG,
    PREDICTION_REFERENCE_ARTIFACT,
    ModelInputs,
    ModelRecord,
    Tracking,
)
from factory.resources.versions import VersionStoreResource
from factory.resources.warehouse import Warehouse
from factory.spec import PromotionSpec

SELECTION_SUMMARY_TAG = "selection.summary"
"""Run and version tag: the one-line selection summary (`Selection.summary_line`)."""

__all__ = ["CPU_SECONDS", "build_training"]

CPU_SECONDS = "cpu_seconds"
"""The ``model`` metadata key of the CPU-seconds its materialization took (training, registration, red team):
the drift sensor prices the next retrain with the newest trained (not reused) version's figure."""


def _splits(columns: ModelColumns, frame: pl.DataFrame) -> dict[str, tuple[pd.DataFrame, list[str]]]:
    out = {}
    for name in ("train", "validation", "test"):
        part = frame.filter(pl.col("split") == name)
        out[name] = (model_frame(part, columns), part["label"].to_list())
    return out


def build_training(uc: UseCase) -> list[dg.AssetsDefinition]:
    model_key, champion_key = uc.key("model"), uc.key("champion")
    metric, floor = uc.spec.gates.quality_metric, uc.spec.gates.quality_floor
    test_metric = f"test_{metric}"
    columns = ModelColumns.of(uc.spec)
    rules = uc.spec.models.selection
    tolerance = (
        f"one standard error (at most {rules.max_loss:g})" if rules.tolerance == "one_se" else f"{rules.tolerance}"
    )

    @dg.asset(
        key=model_key,
        deps=[uc.key("dataset")],
        group_name=uc.group("training"),
        kinds={"mlflow", "scikitlearn"},
        check_specs=[
            dg.AssetCheckSpec(
                "quality_floor",
                asset=model_key,
                blocking=True,
                description=(
                    f"The chosen model's test {metric} is at least {floor} (`gates.quality_floor`; the factory's "
                    "own check, factory.core.gates, on the test split; a failure blocks promotion)."
                ),
            )
        ],
        description=(
            "A model trained on the newest published dataset by climbing the ladder of candidates, cheapest first "
            f"({', '.join(uc.spec.models.candidates)}; `models.candidates`): each candidate's small grid is searched "
            f"by {rules.cv_folds}-fold cross-validation on train within {rules.time_budget_seconds:g} s for all, its "
            "best configuration fit on train and scored on validation with a bootstrap interval. The cheapest "
            f"candidate within {tolerance} of the best is chosen, calibrated (temperature scaling, kept when it "
            "lowers the validation ECE), refit on train + validation and scored once on test, overall, per class "
            "and per slice "
            f"({', '.join(uc.spec.models.slices) or 'no slice columns'}). It is registered in MLflow with its model "
            "card, tagged with the dataset commit, dataset digest, code version and Dagster run id. The same dataset "
            "and code reuse the version already registered. Each new version is run through the use case's "
            "red-team suite (`redteam`: golden, invariance and directional cases; failure rate per test stored with "
            "the version). `cpu_seconds` records the CPU time it took, its worker processes' included "
            "(`worker_cpu_seconds`), which prices the next retrain (`retrain.cost_per_cpu_second`)."
        ),
    )
    def model(
        context: dg.AssetExecutionContext, versions: VersionStoreResource, tracking: Tracking
    ) -> dg.MaterializeResult:
        started = time.process_time()
        store = versions.open()
        published = published_versions(store, uc)
        if not published:
            raise dg.Failure("no published dataset yet: materialize the dataset layer first")
        _, tag, commit_id = published[-1]
        digest = store.get_commit(commit_id).metadata.get("digest", "")
        identity = {"dataset.digest": digest, "code.version": code_version()}
        record = tracking.find_version(uc.model_name, identity)
        worker_cpu = 0.0
        if record is None:
            frame = store.read_table(commit_id, uc.dataset_table)
            classes = uc.spec.labeling.classes
            selection = train_and_select(
                _splits(columns, frame),
                columns,
                classes=classes,
                candidates=uc.spec.models.candidates,
                metric=metric,
                seed=uc.spec.models.seed,
                max_features=uc.spec.models.max_features,
                tolerance=rules.tolerance,
                max_loss=rules.max_loss,
                time_budget_seconds=rules.time_budget_seconds,
                cv_folds=rules.cv_folds,
                bootstrap=rules.bootstrap,
                search_max_rows=rules.search_max_rows,
                workers=rules.workers,
            )
            test = frame.filter(pl.col("split") == "test")
            slices = slice_metrics(
                slice_masks(test, uc.spec.models.slices, uc.spec.models.min_slice_support),
                encode_labels(test["label"].to_list(), classes),
                encode_labels(selection.test_predicted, classes),
                len(classes),
                metric,
            )
            lineage = {
                **identity,
                "dataset.commit": commit_id,
                "dataset.version": tag,
                "dataset.uri": f"{versions.backend}://{versions.repository}/{commit_id}/{uc.dataset_table}",
                "dagster.run_id": context.run.run_id,
                "model.candidate": selection.chosen.name,
            }
            card = model_card(uc, selection, slices, lineage)
            record = tracking.log_model(
                experiment=uc.name,
                model_name=uc.model_name,
                model=selection.model,
                inputs=ModelInputs(
                    columns=columns,
                    example=frame.filter(pl.col("split") == "train").select(columns.inputs).head(3),
                ),
                params=run_params(selection, uc),
                metrics=run_metrics(selection, slices),
                tags={**lineage, SELECTION_SUMMARY_TAG: selection.summary_line()},
                documents={
                    "model_card.md": card,
                    "selection.json": json.dumps(selection_document(selection, slices), ensure_ascii=False),
                    PREDICTION_REFERENCE_ARTIFACT: _prediction_reference(selection, test, columns, classes),
                },
                description=card if len(card) <= CARD_LIMIT else _shortened(card),
            )
            reused = False
            worker_cpu = selection.worker_cpu_seconds
        else:
            reused = True
            context.log.info(f"dataset {tag} and code unchanged: reusing registered version {record.version}")
        redteam = redteam_results(uc, tracking, store, commit_id, record)
        if not reused and redteam is not None:
            card = model_card(uc, selection, slices, lineage, redteam)
            tracking.add_to_run(record.run_id, {"model_card.md": card})
            tracking.describe_version(
                uc.model_name, record.version, card if len(card) <= CARD_LIMIT else _shortened(card)
            )
        floor_gate = gates.quality_floor({metric: record.metrics.get(test_metric, float("nan"))}, metric, floor)
        return dg.MaterializeResult(
            metadata={
                "model_version": record.version,
                "run_id": record.run_id,
                "reused": str(reused).lower(),
                CPU_SECONDS: round(time.process_time() - started + worker_cpu, 2),
                "worker_cpu_seconds": round(worker_cpu, 2),
                "candidate": record.tags.get("model.candidate", ""),
                "selection_summary": record.tags.get(SELECTION_SUMMARY_TAG, ""),
                "selection": dg.MetadataValue.md(_selection_table(tracking, record, metric)),
                "dataset_version": tag,
                "dataset_commit": commit_id,
                test_metric: round(record.metrics.get(test_metric, float("nan")), 4),
                f"{test_metric}_low": round(record.metrics.get(f"{test_metric}_low", float("nan")), 4),
                f"{test_metric}_high": round(record.metrics.get(f"{test_metric}_high", float("nan")), 4),
                "test_accuracy": round(record.metrics.get("test_accuracy", float("nan")), 4),
                "ece_before": round(record.metrics.get("ece_before", float("nan")), 4),
                "ece_after": round(record.metrics.get("ece_after", float("nan")), 4),
                "model_card": dg.MetadataValue.md(tracking.run_documents(record.run_id, "model_card.md")),
                **mlflow_links(tracking.tracking_uri, uc.model_name, record.version, record.run_id),
                **redteam_metadata(redteam),
            },
            check_results=[check_result(model_key, floor_gate)],
        )

    @dg.asset(
        key=champion_key,
        deps=[model_key],
        group_name=uc.group("promotion"),
        kinds={"mlflow"},
        check_specs=[
            dg.AssetCheckSpec(name, asset=champion_key, description=text)
            for name, text in _evidence_descriptions(uc).items()
        ],
        description=_champion_description(uc),
    )
    def champion(
        context: dg.AssetExecutionContext, versions: VersionStoreResource, tracking: Tracking, warehouse: Warehouse
    ) -> dg.MaterializeResult:
        challenger = _record(tracking, uc, latest_metadata(context.instance, model_key)["model_version"])
        current = tracking.champion(uc.model_name)
        floor_check = promotion.floor_check(metric, challenger.metrics.get(test_metric, float("nan")), floor)
        champion_version = current.version if current is not None else None
        decision, reason = promotion.decide(
            challenger=challenger.version,
            champion=champion_version,
            floor=floor_check,
            demoted=challenger.tags.get(DEMOTED_TAG),
        )
        checks = [floor_check]
        if decision == promotion.PROMOTED and current is not None:
            checks += _evidence(uc, versions, tracking, warehouse, challenger, current)
            decision, reason = promotion.decide(
                challenger=challenger.version,
                champion=current.version,
                floor=floor_check,
                demoted=None,
                evidence=checks,
            )
        blessing = promotion.Blessing(
            use_case=uc.name,
            decided_at=datetime.now(UTC).isoformat(timespec="microseconds"),
            dataset_version=challenger.tags.get("dataset.version", ""),
            dataset_commit=challenger.tags.get("dataset.commit", ""),
            challenger=challenger.version,
            champion=champion_version,
            metric=metric,
            decision=decision,
            reason=reason,
            checks=tuple(checks),
        )
        record_path = write_blessing(tracking, challenger, blessing)
        if blessing.promoted:
            tracking.promote(uc.model_name, challenger.version, reason)
        context.log.info(reason)
        after = tracking.champion(uc.model_name)
        return dg.MaterializeResult(
            metadata={
                "champion_version": after.version if after else "",
                **mlflow_links(
                    tracking.tracking_uri,
                    uc.model_name,
                    after.version if after else None,
                    after.run_id if after else None,
                ),
                "promoted": str(blessing.promoted).lower(),
                "decision": decision,
                "reason": reason,
                "evidence": blessing.headline(),
                "checks": dg.MetadataValue.md(markdown_table(blessing.rows())),
                "blessing_record": record_path,
                "blessing": dg.MetadataValue.json(json.loads(blessing.to_json())),
            },
            check_results=[
                check_result(champion_key, gate, warn_only=True)
                for gate in promotion.evidence_gates(blessing, had_champion=current is not None)
            ],
        )

    return [model, champion]


def _shortened(card: str) -> str:
    """The card cut to what the registry keeps, ending with where the whole card is."""
    note = "\n\n... (cut: the whole card is the run's `model_card.md` artifact)\n"
    return card[: CARD_LIMIT - len(note)] + note


def _selection_table(tracking: Tracking, record: ModelRecord, metric: str) -> str:
    """The selection table of a version's run, or a note for a version registered before selection tables."""
    document = tracking.find_document(record.run_id, "selection.json")
    if document is None:
        return "_(registered before selection tables)_"
    return selection_table(json.loads(document)["candidates"], metric)


def _record(tracking: Tracking, uc: UseCase, version: str) -> ModelRecord:
    record = tracking.get_version(uc.model_name, version)
    if record is None:
        raise dg.Failure(f"model version {version} of {uc.model_name} is not in the registry")
    return record


def _evidence_descriptions(uc: UseCase) -> dict[str, str]:
    p, models = uc.spec.promotion, uc.spec.models
    worse = f"worse: the upper end of the {p.confidence:.0%} paired-bootstrap interval below minus"
    evaluated = " The factory's own check (factory.core.promotion); a warning: a failure keeps the champion."
    described = {
        "not_worse_overall": "The challenger is not worse than the champion on its test split "
        f"({worse} {uc.spec.gates.champion_tolerance}).",
        "not_worse_in_gated_slices": "The challenger is not worse than the champion in any slice of "
        f"{', '.join(models.slices) or '(no slice columns)'} with {models.min_slice_support}+ test rows "
        f"({worse} {p.slice_tolerance}).",
        "not_worse_on_feedback": "The challenger is not worse on the items corrected in production in the newest "
        f"{p.feedback_days} feedback days, scored in shadow (from {p.min_feedback} items; {worse} "
        f"{uc.spec.gates.champion_tolerance}).",
        "redteam_within_margin": f"No red-team test's failure rate rises by more than {p.redteam_margin}.",
    }
    return {name: text + evaluated for name, text in described.items()}


def _champion_description(uc: UseCase) -> str:
    p, models = uc.spec.promotion, uc.spec.models
    slices = ", ".join(models.slices) or "none declared"
    return (
        "The production model: the registry alias `champion`. The newest model replaces the champion only if it "
        f"clears the quality floor ({uc.spec.gates.quality_floor}) and no evidence shows it worse: both models are "
        "scored now on the challenger's test split, overall (tolerance "
        f"{uc.spec.gates.champion_tolerance}, `gates.champion_tolerance`) and per slice ({slices}; slices with at "
        f"least {models.min_slice_support} rows are gated, tolerance {p.slice_tolerance}), and on the items corrected "
        f"in production in the newest {p.feedback_days} feedback days (gated from {p.min_feedback} items; items "
        "either model trained on are left out), each by a paired bootstrap "
        f"({p.bootstrap} resamples): worse means the upper end of the {p.confidence:.0%} interval of challenger minus "
        f"champion is below minus the tolerance. No red-team test's failure rate may rise by more than "
        f"{p.redteam_margin}. Every decision writes a blessing record (each check with its threshold, measured "
        "values, interval and verdict) on the challenger's MLflow model version and here. A version "
        "`factory model rollback` took the alias from is not promoted again."
    )


def _prediction_reference(
    selection: Selection, test: pl.DataFrame, columns: ModelColumns, classes: Sequence[str]
) -> str:
    """The registered model's predictions on the test split, summarized (`PredictionReference`): what the drift
    report compares the day's predictions and confidences with, and anchors its performance estimate on."""
    reference = PredictionReference.of(
        class_probabilities(selection.model, test, columns, classes),
        classes,
        macro_f1=selection.test["macro_f1"],
        accuracy=selection.test["accuracy"],
    )
    return reference.to_json().decode()


def _predicted(model: Any, frame: pl.DataFrame, columns: ModelColumns) -> list[str]:
    return predict(model, frame, columns)["label"].to_list()


def _trained_ids(uc: UseCase, *frames: pl.DataFrame) -> set[str]:
    """Ids of the training and validation rows of dataset versions."""
    ids: set[str] = set()
    for frame in frames:
        ids.update(frame.filter(pl.col("split") != "test")[uc.spec.schema.id].cast(pl.String).to_list())
    return ids


def _corrected_items(warehouse: Warehouse, uc: UseCase) -> pl.DataFrame:
    """Prepared rows of the items corrected in the newest ``promotion.feedback_days`` days of feedback, with the
    correction (`__feedback_label`) and its day (`__feedback_day`); empty before any feedback."""
    if not (warehouse.table_exists(uc.name, "feedback") and warehouse.table_exists(uc.name, "prepared")):
        return pl.DataFrame()
    return warehouse.query(
        "feedback_items", [uc.spec.promotion.feedback_days], schema=uc.name, id_column=uc.spec.schema.id
    )


def _evidence(
    uc: UseCase,
    versions: VersionStoreResource,
    tracking: Tracking,
    warehouse: Warehouse,
    challenger: ModelRecord,
    current: ModelRecord,
) -> list[promotion.Check]:
    """Both models scored now: on the challenger's test split (overall and per slice), on the production
    corrections in shadow, and their red-team failure rates compared."""
    spec, p = uc.spec, uc.spec.promotion
    columns = ModelColumns.of(spec)
    bootstrap = promotion.Bootstrap(
        classes=tuple(spec.labeling.classes),
        metric=spec.gates.quality_metric,
        resamples=p.bootstrap,
        confidence=p.confidence,
        seed=spec.models.seed,
    )
    store = versions.open()
    dataset = store.read_table(challenger.tags["dataset.commit"], uc.dataset_table)
    test = dataset.filter(pl.col("split") == "test")
    new, old = tracking.load(uc.model_name, challenger.version), tracking.load(uc.model_name, current.version)
    checks = promotion.split_evidence(
        bootstrap,
        [str(v) for v in test["label"].to_list()],
        _predicted(old, test, columns),
        _predicted(new, test, columns),
        tolerance=spec.gates.champion_tolerance,
        slice_tolerance=p.slice_tolerance,
        found=promotion.slices(test, spec.models.slices, spec.models.min_slice_support),
        missing_columns=[c for c in spec.models.slices if c not in test.columns],
        min_support=spec.models.min_slice_support,
    )
    corrected = _corrected_items(warehouse, uc)
    if not corrected.is_empty():
        champion_commit = current.tags.get("dataset.commit", "")
        earlier = [] if champion_commit in ("", challenger.tags["dataset.commit"]) else [champion_commit]
        trained = _trained_ids(uc, dataset, *(store.read_table(c, uc.dataset_table) for c in earlier))
        corrected = corrected.filter(~pl.col(spec.schema.id).cast(pl.String).is_in(list(trained)))
    days = [str(d) for d in corrected["__feedback_day"].to_list()] if not corrected.is_empty() else []
    window = f"last {p.feedback_days} days" + (f" ({min(days)}..{max(days)})" if days else "")
    checks.append(
        promotion.feedback_evidence(
            bootstrap,
            [str(v) for v in corrected["__feedback_label"].to_list()] if not corrected.is_empty() else [],
            _predicted(old, corrected, columns),
            _predicted(new, corrected, columns),
            tolerance=spec.gates.champion_tolerance,
            min_feedback=p.min_feedback,
            window=window,
        )
    )
    checks += _redteam_evidence(tracking, challenger, current, p)
    return checks


def _redteam_evidence(
    tracking: Tracking, challenger: ModelRecord, current: ModelRecord, p: PromotionSpec
) -> list[promotion.Check]:
    """The red-team checks: the challenger's stored suite run on the champion now, so both are measured on the same
    cases (broken and fixed cases counted); a challenger without a stored suite compares the stored rates."""
    suite = stored_suite(tracking, challenger)
    mine = stored_result(tracking, challenger)
    if suite is None or mine is None:
        rates = promotion.redteam_rates(challenger.metrics), promotion.redteam_rates(current.metrics)
        return promotion.redteam_checks(*rates, p.redteam_margin)
    theirs = run_stored_suite(tracking, suite, current)
    return promotion.redteam_checks(
        mine.failure_rates(),
        theirs.failure_rates(),
        p.redteam_margin,
        changes=mine.changes(theirs),
        confidence=p.confidence,
    )
