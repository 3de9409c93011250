"""Training and promotion layers: candidates trained on the published dataset, the best registered in MLflow
with lineage back to the exact dataset commit, and a champion alias that moves only to a model not worse."""

import json

import dagster as dg
import numpy as np
import pandas as pd
import polars as pl

from factory.codeversion import code_version
from factory.core import gates
from factory.core.training import (
    ModelColumns,
    encode_labels,
    evaluate,
    model_frame,
    model_inputs,
    slice_masks,
    slice_metrics,
    train_and_select,
)
from factory.defs.lineage import latest_metadata, published_versions
from factory.defs.metadata import check_result, markdown_table
from factory.defs.model_report import (
    CARD_LIMIT,
    model_card,
    run_metrics,
    run_params,
    selection_document,
    selection_table,
)
from factory.defs.usecase import UseCase
from factory.resources.tracking import DEMOTED_TAG, ModelInputs, ModelRecord, Tracking
from factory.resources.versions import VersionStoreResource

SUMMARY_TAG = "selection.summary"
"""Run and version tag: the one-line selection summary (`Selection.summary_line`)."""

__all__ = ["build_training"]


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
    tolerance = "one standard error" if rules.tolerance == "one_se" else f"{rules.tolerance}"

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
                description=f"The chosen model's test {metric} is at least {floor}.",
            )
        ],
        description=(
            "A model trained on the newest published dataset by climbing the ladder of candidates, cheapest first "
            f"({', '.join(uc.spec.models.candidates)}; `models.candidates`): each candidate's small grid is searched "
            f"by {rules.cv_folds}-fold cross-validation on train within {rules.time_budget_seconds:g} s for all, its "
            "best configuration fit on train and scored on validation with a bootstrap interval. The cheapest "
            f"candidate within {tolerance} of the best is chosen, calibrated (sigmoid, kept when it lowers the "
            "validation ECE), refit on train + validation and scored once on test, overall, per class and per slice "
            f"({', '.join(uc.spec.models.slices) or 'no slice columns'}). It is registered in MLflow with its model "
            "card, tagged with the dataset commit, dataset digest, code version and Dagster run id. The same dataset "
            "and code reuse the version already registered."
        ),
    )
    def model(
        context: dg.AssetExecutionContext, versions: VersionStoreResource, tracking: Tracking
    ) -> dg.MaterializeResult:
        store = versions.open()
        published = published_versions(store, uc)
        if not published:
            raise dg.Failure("no published dataset yet: materialize the dataset layer first")
        _, tag, commit_id = published[-1]
        digest = store.get_commit(commit_id).metadata.get("digest", "")
        identity = {"dataset.digest": digest, "code.version": code_version()}
        record = tracking.find_version(uc.model_name, identity)
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
                time_budget_seconds=rules.time_budget_seconds,
                cv_folds=rules.cv_folds,
                bootstrap=rules.bootstrap,
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
                tags={**lineage, SUMMARY_TAG: selection.summary_line()},
                documents={
                    "model_card.md": card,
                    "selection.json": json.dumps(selection_document(selection, slices), ensure_ascii=False),
                },
                description=card if len(card) <= CARD_LIMIT else _shortened(card),
            )
            reused = False
        else:
            reused = True
            context.log.info(f"dataset {tag} and code unchanged: reusing registered version {record.version}")
        floor_gate = gates.quality_floor({metric: record.metrics.get(test_metric, float("nan"))}, metric, floor)
        return dg.MaterializeResult(
            metadata={
                "model_version": record.version,
                "run_id": record.run_id,
                "reused": str(reused).lower(),
                "candidate": record.tags.get("model.candidate", ""),
                "selection_summary": record.tags.get(SUMMARY_TAG, ""),
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
            },
            check_results=[check_result(model_key, floor_gate)],
        )

    @dg.asset(
        key=champion_key,
        deps=[model_key],
        group_name=uc.group("promotion"),
        kinds={"mlflow"},
        description=(
            "The production model: the registry alias `champion`. It moves to the newest model only if that model "
            "clears the quality floor and is not worse than the current champion on the current test split; the "
            "decision and its reason are recorded either way. A version `factory model rollback` took the alias "
            "from is not promoted again."
        ),
    )
    def champion(
        context: dg.AssetExecutionContext, versions: VersionStoreResource, tracking: Tracking
    ) -> dg.MaterializeResult:
        challenger_version = latest_metadata(context.instance, model_key)["model_version"]
        challenger = _record(tracking, uc, challenger_version)
        current = tracking.champion(uc.model_name)
        score = challenger.metrics.get(test_metric, float("nan"))
        floor_gate = gates.quality_floor({metric: score}, metric, floor)
        scores = {f"challenger_v{challenger.version}": score}
        if not floor_gate.passed:
            promote, reason = False, f"challenger v{challenger.version} fails the floor: {floor_gate.summary}"
        elif current is None:
            promote, reason = True, f"first champion: v{challenger.version} with test {metric} {score:.4f}"
        elif current.version == challenger.version:
            promote, reason = False, f"v{challenger.version} is already the champion"
        elif DEMOTED_TAG in challenger.tags:
            promote = False
            reason = f"v{challenger.version} was rolled back ({challenger.tags[DEMOTED_TAG]}): not promoted again"
        else:
            store = versions.open()
            commit_id = challenger.tags["dataset.commit"]
            test = store.read_table(commit_id, uc.dataset_table).filter(pl.col("split") == "test")
            labels = test["label"].to_list()
            classes = uc.spec.labeling.classes
            scored = {}
            for version in (challenger.version, current.version):
                fitted = tracking.load(uc.model_name, version)
                scored[version] = evaluate(fitted, model_inputs(fitted, test, columns), labels, classes)[metric]
            new, old = scored[challenger.version], scored[current.version]
            scores = {f"challenger_v{challenger.version}": new, f"champion_v{current.version}": old}
            promote = bool(np.greater_equal(new, old - uc.spec.gates.champion_tolerance))
            verb = "replaces" if promote else "does not replace"
            reason = (
                f"v{challenger.version} ({metric} {new:.4f}) {verb} v{current.version} ({old:.4f}) "
                f"on the test split of {challenger.tags.get('dataset.version', commit_id[:12])}"
            )
        if promote:
            tracking.promote(uc.model_name, challenger.version, reason)
        context.log.info(reason)
        after = tracking.champion(uc.model_name)
        return dg.MaterializeResult(
            metadata={
                "champion_version": after.version if after else "",
                "promoted": str(promote).lower(),
                "reason": reason,
                "scores": dg.MetadataValue.md(
                    markdown_table([{"model": k, metric: round(v, 4)} for k, v in scores.items()])
                ),
            }
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
