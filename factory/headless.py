"""Run the factory headless, as the schedule and sensor would, and summarize what each layer did.

``make demo`` calls this through ``factory demo``: the daily job for the training days, the retrain job,
the daily job for the days after (when the demo drift begins), then one evaluation of the drift sensor,
which may request a retrain. Runs go to the Dagster instance at ``DAGSTER_HOME`` when it is set, so the UI
shows them afterwards.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import dagster as dg

from factory.defs import UseCase, build_definitions
from factory.defs.resources import build_resources
from factory.paths import usecases_dir
from factory.resources.runs import free_dead_runs, owner_tags
from factory.spec import UseCaseSpec, load_specs

__all__ = ["LayerLog", "run_demo", "run_job"]


@dataclass
class LayerLog:
    """Materialization metadata and check outcomes collected from the runs, by asset name."""

    materializations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    checks: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)

    def add(self, result: dg.ExecuteInProcessResult) -> None:
        for event in result.get_asset_materialization_events():
            materialization = event.step_materialization_data.materialization
            values = {k: v.value for k, v in materialization.metadata.items()}
            values["partition"] = materialization.partition
            self.materializations.setdefault(materialization.asset_key.path[-1], []).append(values)
        for evaluation in result.get_asset_check_evaluations():
            name = evaluation.asset_check_key.asset_key.path[-1]
            self.checks.setdefault(name, []).append((evaluation.check_name, evaluation.passed))

    def total(self, asset: str, key: str) -> int:
        """Sum of a metadata figure over an asset's materializations; ``raw_*`` sums every source."""
        names = [n for n in self.materializations if n.startswith("raw_")] if asset == "raw" else [asset]
        return sum(int(m.get(key, 0) or 0) for n in names for m in self.materializations.get(n, []))

    def last(self, asset: str) -> dict[str, Any]:
        return self.materializations.get(asset, [{}])[-1]


# Keep the console to warnings and errors; every event still lands in the instance for the UI.
_QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def _instance() -> dg.DagsterInstance:
    return dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()


def _execute(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    partition_key: str | None = None,
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    """Run a job in this process, its run tagged with this process (so a later run can tell it died)."""
    return job.execute_in_process(
        partition_key=partition_key, instance=instance, run_config=_QUIET, tags={**(tags or {}), **owner_tags()}
    )


def run_job(
    use_case: str,
    kind: str,
    partition_key: str | None = None,
    echo: Callable[[str], None] = print,
    specs: list[UseCaseSpec] | None = None,
    instance: dg.DagsterInstance | None = None,
) -> dg.ExecuteInProcessResult:
    """Run one job of a use case (``daily``, ``labeling`` or ``retrain``) the way the schedule would, after
    failing the dead runs that still hold pool slots. Raises ``ValueError`` for an unknown use case or kind."""
    chosen = specs if specs is not None else load_specs(usecases_dir())
    spec = next((s for s in chosen if s.name == use_case), None)
    if spec is None:
        raise ValueError(f"unknown use case {use_case!r}; known: {', '.join(s.name for s in chosen) or 'none'}")
    uc = UseCase(spec)
    names = {"daily": uc.daily_job, "labeling": uc.labeling_job, "retrain": uc.retrain_job}
    if kind not in names:
        raise ValueError(f"unknown job {kind!r}; one of {', '.join(names)}")
    if (partition_key is None) != (kind == "retrain"):
        raise ValueError(f"the {kind} job {'takes no' if kind == 'retrain' else 'needs a'} day")
    instance = instance or _instance()
    free_dead_runs(instance, echo)
    job = build_definitions(chosen).resolve_job_def(names[kind])
    echo(f"[{uc.name}] {kind}" + (f" for {partition_key}" if partition_key else ""))
    return _execute(job, instance, partition_key)


def run_demo(
    days: int,
    train_days: int,
    echo: Callable[[str], None] = print,
    specs: list[UseCaseSpec] | None = None,
    instance: dg.DagsterInstance | None = None,
) -> dict[str, LayerLog]:
    """Run the demo loop for every use case and print a per-layer summary; returns what was collected."""
    if not 1 <= train_days < days:
        raise ValueError(f"need 1 <= train_days < days, got train_days={train_days}, days={days}")
    chosen = specs if specs is not None else load_specs(usecases_dir())
    defs = build_definitions(chosen)
    instance = instance or _instance()
    free_dead_runs(instance, echo)
    logs = {}
    for spec in chosen:
        uc = UseCase(spec)
        log = LayerLog()
        daily = defs.resolve_job_def(uc.daily_job)
        retrain = defs.resolve_job_def(uc.retrain_job)
        keys = [(spec.start_date + timedelta(days=i)).isoformat() for i in range(days)]
        for key in keys[:train_days]:
            echo(f"[{uc.name}] daily layers for {key}")
            log.add(_execute(daily, instance, key))
        echo(f"[{uc.name}] retrain: stage, gate, publish, train, promote")
        log.add(_execute(retrain, instance))
        for key in keys[train_days:]:
            echo(f"[{uc.name}] daily layers for {key}")
            log.add(_execute(daily, instance, key))
        for line in _relabel(defs, uc, instance, log):
            echo(line)
        sensor = defs.resolve_sensor_def(uc.drift_sensor)
        with dg.build_sensor_context(instance=instance, definitions=defs, resources=build_resources()) as context:
            tick = sensor(context)
        if isinstance(tick, dg.RunRequest):
            reason = tick.tags.get("factory/reason", "")
            echo(f"[{uc.name}] drift sensor fired: {reason}")
            log.add(_execute(retrain, instance, tags={"factory/reason": reason}))
            sensor_line = f"requested a retrain: {reason}"
        else:
            sensor_line = f"skipped: {tick.skip_message if isinstance(tick, dg.SkipReason) else tick}"
        echo(_summary(uc, log, sensor_line))
        logs[uc.name] = log
    return logs


def _relabel(defs: dg.Definitions, uc: UseCase, instance: dg.DagsterInstance, log: LayerLog) -> list[str]:
    """Evaluate the labeling sensor once and run the labeling job for every day it asks for (production
    corrections of the days after the first training arrived after those days were labeled)."""
    sensor = defs.resolve_sensor_def(uc.labeling_sensor)
    with dg.build_sensor_context(instance=instance, definitions=defs, resources=build_resources()) as context:
        result = sensor(context)
    requests = (result.run_requests or []) if isinstance(result, dg.SensorResult) else []
    job = defs.resolve_job_def(uc.labeling_job)
    lines = []
    for request in requests:
        reason = request.tags.get("factory/reason", "")
        lines.append(f"[{uc.name}] labeling sensor: re-label {request.partition_key} ({reason})")
        log.add(_execute(job, instance, request.partition_key))
    return lines


def _latest(log: LayerLog, asset: str) -> list[dict[str, Any]]:
    """The newest materialization of each partition of an asset, in partition order."""
    by_partition = {m["partition"]: m for m in log.materializations.get(asset, [])}
    return [by_partition[key] for key in sorted(by_partition)]


def _mean(rows: list[dict[str, Any]], key: str) -> str:
    values = [float(m[key]) for m in rows if isinstance(m.get(key), int | float)]
    return f"{sum(values) / len(values):.3f}" if values else "-"


def _labeling_lines(log: LayerLog) -> list[str]:
    labels = _latest(log, "labels")
    reports = _latest(log, "annotator_report")
    queues = _latest(log, "review_queue")
    annotations = _latest(log, "annotations")
    method = {"ds": "Dawid-Skene", "mv": "majority vote"}.get(str(labels[-1].get("method")) if labels else "", "-")
    spammers = sorted({n for m in reports for n in str(m.get("spammers", "none")).split(", ") if n != "none"})
    drifting: dict[str, str] = {}
    for m in reports:
        for name in str(m.get("drifting", "none")).split(", "):
            if name != "none":
                drifting.setdefault(name, str(m["partition"]))
    chosen: dict[str, int] = {}
    for m in queues:
        for key, value in m.items():
            if key.startswith("queued_for_") and isinstance(value, int):
                reason = key.removeprefix("queued_for_")
                chosen[reason] = chosen.get(reason, 0) + value
    total = sum(int(m.get("dagster/row_count", 0) or 0) for m in annotations)
    feedback = sum(int(m.get("feedback_annotations", 0) or 0) for m in annotations)
    rejected = sum(int(m.get("rejected", 0) or 0) for m in annotations)
    conflicts = sum(int(m.get("label_conflicts", 0) or 0) for m in annotations)
    conflict_text = f", label conflicts: {conflicts} (copies in the data labeled differently)" if conflicts else ""
    drift_text = ", ".join(f"{n} (from {d})" for n, d in sorted(drifting.items())) or "none"
    return [
        f"labeling      annotations: {total} (production corrections: {feedback}, rejected: {rejected}"
        f"{conflict_text}), "
        f"labels: {sum(int(m.get('dagster/row_count', 0) or 0) for m in labels)} by {method}, "
        f"mean confidence {_mean(labels, 'mean_confidence')}  [agreement gate: {_checks(log, 'labels')}]",
        f"              Krippendorff's alpha {_mean(labels, 'krippendorff_alpha')} "
        f"({_mean(labels, 'krippendorff_alpha_without_spammers')} without spammers), "
        f"Fleiss' kappa {_mean(labels, 'fleiss_kappa')}; spammers flagged: {', '.join(spammers) or 'none'}; "
        f"labeler drift: {drift_text}",
        f"              review queue: {sum(int(m.get('dagster/row_count', 0) or 0) for m in queues)} tasks "
        f"({', '.join(f'{k} {v}' for k, v in chosen.items() if v) or 'none'}), "
        f"label issues: {sum(int(m.get('label_issues', 0) or 0) for m in queues)}"
        + ("" if all(m.get("enabled", True) for m in queues) else " (switched off: labeling.review.enabled)"),
    ]


def _checks(log: LayerLog, asset: str) -> str:
    """Check outcomes of one asset; a name ending in ``_`` matches every asset with that prefix."""
    names = [n for n in log.checks if n.startswith(asset)] if asset.endswith("_") else [asset]
    results = [r for n in names for r in log.checks.get(n, [])]
    failed = sorted({name for name, passed in results if not passed})
    return f"{len(results) - len(failed)}/{len(results)} checks passed" + (
        f" (failed: {', '.join(failed)})" if failed else ""
    )


def _summary(uc: UseCase, log: LayerLog, sensor_line: str) -> str:
    dataset = log.last("dataset")
    model = log.last("model")
    champion = log.last("champion")
    drift = ", ".join(
        f"{m['partition']}: {float(m['score']):.3f}" for m in log.materializations.get("drift_report", [])
    )
    return "\n".join(
        [
            "",
            f"=== {uc.name} ===",
            f"sources       raw rows in: {log.total('raw', 'dagster/row_count')}  [{_checks(log, 'raw_')}]",
            f"preparation   prepared: {log.total('prepared', 'dagster/row_count')}, "
            f"quarantined: {log.total('quarantine', 'dagster/row_count')}, "
            f"duplicates: {log.total('duplicates', 'dagster/row_count')}  [{_checks(log, 'prepared')}]",
            *_labeling_lines(log),
            f"dataset       {dataset.get('version', '-')} commit {str(dataset.get('commit', '-'))[:12]} "
            f"digest {str(dataset.get('digest', '-'))[:12]} rows {dataset.get('dagster/row_count', '-')} "
            f"published now: {dataset.get('published_now', '-')}  [{_checks(log, 'dataset_candidate')}]",
            f"model         v{model.get('model_version', '-')} ({model.get('candidate', '-')}) "
            f"test macro F1 {model.get('test_macro_f1', '-')} accuracy {model.get('test_accuracy', '-')} "
            f"reused: {model.get('reused', '-')}  [{_checks(log, 'model')}]",
            f"champion      v{champion.get('champion_version', '-')}: {champion.get('reason', '-')}",
            f"monitoring    predictions: {log.total('predictions', 'dagster/row_count')}, "
            f"feedback reviewed: {log.total('feedback', 'dagster/row_count')}, drift by day: {drift or '-'}",
            f"automation    drift sensor {sensor_line}",
        ]
    )
