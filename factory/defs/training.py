"""Training and promotion layers: candidates trained on the published dataset, the best registered in MLflow
with lineage back to the exact dataset commit, and a champion alias that moves only to a model not worse."""

import json

import dagster as dg
import numpy as np
import pandas as pd
import polars as pl

from factory.codeversion import code_version
from factory.core import gates
from factory.core.safe_text import markdown_code, markdown_text
from factory.core.training import ModelColumns, Selection, evaluate, model_frame, model_inputs, train_and_select
from factory.defs.lineage import latest_metadata, published_versions
from factory.defs.metadata import check_result, markdown_table
from factory.defs.redteam import redteam_metadata, redteam_results
from factory.defs.usecase import UseCase
from factory.resources.tracking import DEMOTED_TAG, ModelInputs, ModelRecord, Tracking
from factory.resources.versions import VersionStoreResource

__all__ = ["build_training"]


def _splits(columns: ModelColumns, frame: pl.DataFrame) -> dict[str, tuple[pd.DataFrame, list[str]]]:
    out = {}
    for name in ("train", "validation", "test"):
        part = frame.filter(pl.col("split") == name)
        out[name] = (model_frame(part, columns), part["label"].to_list())
    return out


def _model_card(uc: UseCase, selection: Selection, lineage: dict[str, str]) -> str:
    rows = selection.summary_rows()
    per_class = [{"class": c, "test_f1": round(selection.test[f"f1.{c}"], 3)} for c in uc.spec.labeling.classes]
    return "\n".join(
        [
            f"# Model card: {markdown_text(uc.model_name)} ({markdown_text(selection.chosen.name)})",
            "",
            "## Candidates (validation split)",
            markdown_table(rows),
            "",
            f"## Test split: accuracy {selection.test['accuracy']:.4f}, macro F1 {selection.test['macro_f1']:.4f}",
            markdown_table(per_class),
            "",
            "## Lineage",
            *(f"- {markdown_text(k)}: {markdown_code(v)}" for k, v in sorted(lineage.items())),
            "",
        ]
    )


def build_training(uc: UseCase) -> list[dg.AssetsDefinition]:
    model_key, champion_key = uc.key("model"), uc.key("champion")
    metric, floor = uc.spec.gates.quality_metric, uc.spec.gates.quality_floor
    test_metric = f"test_{metric}"
    columns = ModelColumns.of(uc.spec)

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
            "A model trained on the newest published dataset: every candidate in the spec "
            f"({', '.join(uc.spec.models.candidates)}; `models.candidates`) is fit on train and compared on "
            "validation; the best is scored once on test and "
            "registered in MLflow, tagged with the dataset commit, dataset digest, code version and Dagster run id. "
            "The same dataset and code reuse the version already registered. Each new version is run through the "
            "use case's red-team suite (`redteam`: golden, invariance and directional cases; failure rate per test "
            "stored with the version)."
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
            selection = train_and_select(
                _splits(columns, frame),
                columns,
                classes=uc.spec.labeling.classes,
                candidates=uc.spec.models.candidates,
                metric=metric,
                seed=uc.spec.models.seed,
                max_features=uc.spec.models.max_features,
            )
            lineage = {
                **identity,
                "dataset.commit": commit_id,
                "dataset.version": tag,
                "dataset.uri": f"{versions.backend}://{versions.repository}/{commit_id}/{uc.dataset_table}",
                "dagster.run_id": context.run.run_id,
                "model.candidate": selection.chosen.name,
            }
            metrics = {f"test_{k}": v for k, v in selection.test.items()} | {
                f"validation_{k}": v for k, v in selection.chosen.validation.items()
            }
            record = tracking.log_model(
                experiment=uc.name,
                model_name=uc.model_name,
                model=selection.chosen.model,
                inputs=ModelInputs(
                    columns=columns,
                    example=frame.filter(pl.col("split") == "train").select(columns.inputs).head(3),
                ),
                params={"candidate": selection.chosen.name, "seed": uc.spec.models.seed, **selection.sizes},
                metrics=metrics,
                tags=lineage,
                documents={
                    "model_card.md": _model_card(uc, selection, lineage),
                    "candidates.json": json.dumps(selection.summary_rows()),
                },
            )
            reused = False
        else:
            reused = True
            context.log.info(f"dataset {tag} and code unchanged: reusing registered version {record.version}")
        redteam = redteam_results(uc, tracking, store, commit_id, record)
        floor_gate = gates.quality_floor({metric: record.metrics.get(test_metric, float("nan"))}, metric, floor)
        return dg.MaterializeResult(
            metadata={
                "model_version": record.version,
                "run_id": record.run_id,
                "reused": str(reused).lower(),
                "candidate": record.tags.get("model.candidate", ""),
                "dataset_version": tag,
                "dataset_commit": commit_id,
                test_metric: round(record.metrics.get(test_metric, float("nan")), 4),
                "test_accuracy": round(record.metrics.get("test_accuracy", float("nan")), 4),
                "model_card": dg.MetadataValue.md(tracking.run_documents(record.run_id, "model_card.md")),
                **redteam_metadata(redteam),
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


def _record(tracking: Tracking, uc: UseCase, version: str) -> ModelRecord:
    record = tracking.get_version(uc.model_name, version)
    if record is None:
        raise dg.Failure(f"model version {version} of {uc.model_name} is not in the registry")
    return record
