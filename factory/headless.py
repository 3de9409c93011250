"""Run the factory headless, as the schedule and sensor would, and summarize what each layer did.

``make demo`` calls this through ``factory demo``: the nightly schedule's tick for each training day and the daily
run it requests, the retrain job, the nightly ticks and daily runs of the days after (when the demo drift begins),
then one tick of the labeling sensor and one of the drift sensor, which may request a retrain. ``factory run NAME``
calls `run_use_case`: the daily job for every day with data (`plan_days`), then optionally the retrain job, stopping
at the first failed run with the blocking gates that failed (`Stopped`); ``factory run NAME --job ...`` calls
`run_job`. Runs go to the Dagster instance at ``DAGSTER_HOME`` when it is set, recorded by `Launcher` as runs of
their jobs in the code location the UI loads, with the ticks of the schedule and sensors that asked for them, so the
UI shows them afterwards like the daemon's: the job's runs, the Overview timeline, each schedule's and sensor's
ticks and the runs each launched. ``factory run`` launches by hand, as a person would from the UI.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any

import dagster as dg
from dagster._core.execution.execution_result import ExecutionResult
from dagster._core.storage.tags import PARTITION_NAME_TAG

from factory.core.safe_text import terminal_text
from factory.defs import UseCase, build_definitions
from factory.defs.resources import build_resources
from factory.paths import usecases_dir
from factory.resources.landing import days_with_data
from factory.resources.launcher import Launcher
from factory.resources.runs import free_dead_runs
from factory.resources.sources import SourceError
from factory.spec import UseCaseSpec, load_specs

__all__ = ["LayerLog", "Stopped", "UseCaseRun", "plan_days", "run_demo", "run_job", "run_use_case", "why_stopped"]


@dataclass
class LayerLog:
    """Materialization metadata and check outcomes collected from the runs, by asset name."""

    materializations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    checks: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)

    def add(self, result: ExecutionResult) -> None:
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


def _instance() -> dg.DagsterInstance:
    return dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else dg.DagsterInstance.ephemeral()


def _night(day: str) -> datetime:
    """When the nightly schedule runs a day's daily layers: 02:00 UTC the day after."""
    return datetime.combine(date.fromisoformat(day) + timedelta(days=1), clock_time(2, 0), tzinfo=UTC)


def _nightly(launcher: Launcher, uc: UseCase, day: str, raise_on_error: bool = True) -> list[ExecutionResult]:
    """The nightly schedule's tick for ``day`` (at its scheduled time, as the daemon catches up on a missed
    tick) and the run it requests, executed here."""
    runs = launcher.schedule_tick(uc.nightly_schedule, _night(day))
    return [launcher.execute(run, raise_on_error) for run in runs]


def run_job(
    use_case: str,
    kind: str,
    partition_key: str | None = None,
    echo: Callable[[str], None] = print,
    specs: list[UseCaseSpec] | None = None,
    instance: dg.DagsterInstance | None = None,
) -> ExecutionResult:
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
    launcher = Launcher(build_definitions(chosen), instance)
    echo(f"[{uc.name}] {kind}" + (f" for {partition_key}" if partition_key else ""))
    return launcher.run(names[kind], partition_key)


@dataclass(frozen=True)
class Stopped:
    """Why `run_use_case` stopped: the job and day, the blocking gates that failed (empty when a step failed
    otherwise) and the reason (each gate's asset, description and figures, or the step's error)."""

    job: str
    partition: str | None
    gates: tuple[str, ...]
    reason: str

    def __str__(self) -> str:
        where = self.job + (f" for {self.partition}" if self.partition else "")
        if not self.gates:
            return f"{where} failed: {self.reason}"
        return f"{where} stopped by the blocking gate(s) {', '.join(self.gates)}: {self.reason}"


@dataclass
class UseCaseRun:
    """What `run_use_case` did: the days run, the notes on the days planned (`plan_days`), the collected log,
    and why it stopped (None when every run succeeded)."""

    days: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    log: LayerLog = field(default_factory=LayerLog)
    stopped: Stopped | None = None


_FIGURES_SHOWN = 8
"""Metadata figures printed with a failed gate's description."""


def _figures(metadata: Mapping[str, Any]) -> str:
    """A gate's one-line metadata values (numbers, short words) as ``key=value``; tables and the summary and
    severity (already said) are left out."""
    shown = []
    for key, meta in metadata.items():
        value = getattr(meta, "value", None)
        if key in ("summary", "severity") or isinstance(value, bool) or not isinstance(value, int | float | str):
            continue
        if isinstance(value, str) and ("\n" in value or len(value) > 80):
            continue
        shown.append(f"{key}={value}")
    return f" ({', '.join(shown[:_FIGURES_SHOWN])})" if shown else ""


def why_stopped(result: ExecutionResult, job: str, partition: str | None) -> Stopped:
    """The failed blocking gates of a failed run (description and figures of each), else its step error."""
    failed = [
        e
        for e in result.get_asset_check_evaluations()
        if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR and e.blocking is not False
    ]
    if failed:
        reasons = [
            f"{e.check_name} on {'/'.join(e.asset_check_key.asset_key.path)}: {e.description or 'failed'}"
            + _figures(e.metadata)
            for e in failed
        ]
        return Stopped(job, partition, tuple(e.check_name for e in failed), "; ".join(reasons))
    failures = result.get_step_failure_events()
    if failures and failures[0].step_failure_data.error is not None:
        error = failures[0].step_failure_data.error
        while error.cause is not None:  # Dagster wraps the step's own exception: say what it raised
            error = error.cause
        return Stopped(job, partition, (), f"step {failures[0].step_key}: {error.message.strip()}")
    return Stopped(job, partition, (), "the run failed; see its events in the Dagster UI")


def plan_days(spec: UseCaseSpec, first: date | None, last: date | None) -> tuple[list[str], list[str]]:
    """The days `run_use_case` runs, and notes on the days it leaves out (or runs without knowing of data).

    A day is run when a source has data for it and it is a partition of the use case (from ``start_date`` to
    yesterday, UTC), within ``first``..``last`` when given. The days of ``files`` sources are those their
    files map to; a source whose days cannot be known before it is queried (the demo, SQL, a plug-in) may have
    data any day, so then every partition of the range runs (``first``..``last``, by default ``start_date`` to
    yesterday).
    """
    newest = UseCase(spec).daily.get_last_partition_key()
    end = date.fromisoformat(newest) if newest else None
    end = min(last, end) if last and end else end
    begin = max(first, spec.start_date) if first else spec.start_date
    every = [(begin + timedelta(days=i)).isoformat() for i in range((end - begin).days + 1)] if end else []
    known = {source.name: days_with_data(spec, source) for source in spec.sources}
    unknown = sorted(name for name, days in known.items() if days is None)
    if unknown:
        span = f"from {every[0]} to {every[-1]}" if every else "(no partition in the range)"
        return every, [f"every day {span}: source(s) {', '.join(unknown)} cannot tell their days in advance"]
    found = {day for days in known.values() for day in days or ()}
    wanted = {d for d in found if (first is None or d >= first.isoformat()) and (last is None or d <= last.isoformat())}
    runnable = sorted(wanted & set(every))
    outside = [
        f"{day}: not a partition of {spec.name} (from {spec.start_date} to {newest or 'none yet'}), not run"
        for day in sorted(wanted - set(runnable))
    ]
    return runnable, outside


def run_use_case(
    use_case: str,
    *,
    first: date | None = None,
    last: date | None = None,
    retrain: bool = False,
    echo: Callable[[str], None] = print,
    specs: list[UseCaseSpec] | None = None,
    instance: dg.DagsterInstance | None = None,
) -> UseCaseRun:
    """Run a use case's daily job for every day with data (`plan_days`) and, with ``retrain``, its retrain job
    (stage, gate, publish, train, promote), printing a progress line per layer after each run and the
    per-layer summary at the end. Stops at the first failed run, saying why (`Stopped`): a day without data is
    never run, so a blocking gate that stops a run found something to fix. ``ValueError`` for an unknown use
    case or an empty range."""
    if first and last and first > last:
        raise ValueError(f"--from {first} is after --to {last}")
    chosen = specs if specs is not None else load_specs(usecases_dir())
    spec = next((s for s in chosen if s.name == use_case), None)
    if spec is None:
        raise ValueError(f"unknown use case {use_case!r}; known: {', '.join(s.name for s in chosen) or 'none'}")
    uc = UseCase(spec)
    outcome = UseCaseRun()
    try:
        outcome.days, outcome.notes = plan_days(spec, first, last)
    except SourceError as error:
        raise ValueError(f"cannot list the days with data of {use_case}: {error}") from None
    for line in outcome.notes:
        echo(f"[{uc.name}] {line}")
    if not outcome.days and not retrain:
        raise ValueError(f"no day with data to run for {use_case}" + (f" from {first} to {last}" if first else ""))
    if instance is not None:
        _run_planned(build_definitions(chosen), uc, instance, outcome, retrain, echo)
    else:
        with _instance() as owned:  # disposed here: an ephemeral instance holds a temporary folder
            _run_planned(build_definitions(chosen), uc, owned, outcome, retrain, echo)
    echo(_summary(uc, outcome.log, "not evaluated (factory run runs the jobs only)"))
    return outcome


def _run_planned(
    defs: dg.Definitions,
    uc: UseCase,
    instance: dg.DagsterInstance,
    outcome: UseCaseRun,
    retrain: bool,
    echo: Callable[[str], None],
) -> None:
    """The runs of `run_use_case`: the daily job for each planned day, then the retrain job; the first failed
    run stops them and says why in ``outcome.stopped``."""
    free_dead_runs(instance, echo)
    launcher = Launcher(defs, instance)
    for day in outcome.days:
        echo(f"[{uc.name}] daily layers for {day}")
        result = launcher.run(uc.daily_job, day, raise_on_error=False)
        outcome.log.add(result)
        done = LayerLog()
        done.add(result)
        for line in (_sources_line(done), _preparation_line(done), _labeling_lines(done)[0]):
            echo(f"  {line}")
        if not result.success:
            outcome.stopped = why_stopped(result, "daily", day)
            return
    if retrain:
        echo(f"[{uc.name}] retrain: stage, gate, publish, train, promote")
        result = launcher.run(uc.retrain_job, raise_on_error=False)
        outcome.log.add(result)
        done = LayerLog()
        done.add(result)
        for line in (_dataset_line(done), _model_line(done), _redteam_line(done), _champion_line(done)):
            echo(f"  {line}")
        if not result.success:
            outcome.stopped = why_stopped(result, "retrain", None)


def run_demo(
    days: int,
    train_days: int,
    echo: Callable[[str], None] = print,
    specs: list[UseCaseSpec] | None = None,
    instance: dg.DagsterInstance | None = None,
) -> dict[str, LayerLog]:
    """Run the demo loop for every use case fed by a demo source and print a per-layer summary; returns what
    was collected. Use cases of real data (files, SQL) are listed and left to ``factory run``: their days are
    the days their data has, not the demo's."""
    if not 1 <= train_days < days:
        raise ValueError(f"need 1 <= train_days < days, got train_days={train_days}, days={days}")
    chosen = specs if specs is not None else load_specs(usecases_dir())
    instance = instance or _instance()
    free_dead_runs(instance, echo)
    launcher = Launcher(build_definitions(chosen), instance)
    logs = {}
    for spec in chosen:
        if spec.demo_source is None:
            echo(f"[{spec.name}] not a demo use case: run it with `factory run {spec.name} --retrain`")
            continue
        uc = UseCase(spec)
        log = LayerLog()
        keys = [(spec.start_date + timedelta(days=i)).isoformat() for i in range(days)]
        for key in keys[:train_days]:
            echo(f"[{uc.name}] daily layers for {key}")
            for result in _nightly(launcher, uc, key):
                log.add(result)
        echo(f"[{uc.name}] retrain: stage, gate, publish, train, promote")
        log.add(launcher.run(uc.retrain_job))
        for key in keys[train_days:]:
            echo(f"[{uc.name}] daily layers for {key}")
            for result in _nightly(launcher, uc, key):
                log.add(result)
        for line in _relabel(launcher, uc, log):
            echo(line)
        tick = launcher.sensor_tick(uc.drift_sensor, datetime.now(UTC), build_resources())
        if tick.runs:
            reason = tick.runs[0].tags.get("factory/reason", "")
            echo(f"[{uc.name}] drift sensor fired: {reason}")
            for run in tick.runs:
                log.add(launcher.execute(run))
            sensor_line = f"requested a retrain: {reason}"
        else:
            skipped = tick.result.skip_reason
            sensor_line = f"skipped: {skipped.skip_message if skipped else '-'}"
        echo(_summary(uc, log, sensor_line))
        logs[uc.name] = log
    return logs


def _relabel(launcher: Launcher, uc: UseCase, log: LayerLog) -> list[str]:
    """One tick of the labeling sensor, and the labeling job for every day it asks for (production corrections
    of the days after the first training arrived after those days were labeled)."""
    tick = launcher.sensor_tick(uc.labeling_sensor, datetime.now(UTC), build_resources())
    lines = []
    for run in tick.runs:
        reason = run.tags.get("factory/reason", "")
        lines.append(f"[{uc.name}] labeling sensor: re-label {run.tags.get(PARTITION_NAME_TAG)} ({reason})")
        log.add(launcher.execute(run))
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
    method = str(labels[-1].get("method", "-")) if labels else "-"
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


def _sources_line(log: LayerLog) -> str:
    return f"sources       raw rows in: {log.total('raw', 'dagster/row_count')}  [{_checks(log, 'raw_')}]"


def _preparation_line(log: LayerLog) -> str:
    return (
        f"preparation   prepared: {log.total('prepared', 'dagster/row_count')}, "
        f"quarantined: {log.total('quarantine', 'dagster/row_count')}, "
        f"duplicates: {log.total('duplicates', 'dagster/row_count')}  [{_checks(log, 'prepared')}]"
    )


def _dataset_line(log: LayerLog) -> str:
    dataset = log.last("dataset")
    return (
        f"dataset       {dataset.get('version', '-')} commit {str(dataset.get('commit', '-'))[:12]} "
        f"digest {str(dataset.get('digest', '-'))[:12]} rows {dataset.get('dagster/row_count', '-')} "
        f"published now: {dataset.get('published_now', '-')}  [{_checks(log, 'dataset_candidate')}]"
    )


def _model_line(log: LayerLog) -> str:
    model = log.last("model")
    summary = model.get("selection_summary") or (
        f"({model.get('candidate', '-')}) test macro F1 {model.get('test_macro_f1', '-')}"
    )
    return (
        f"model         v{model.get('model_version', '-')} {summary}; "
        f"reused: {model.get('reused', '-')}  [{_checks(log, 'model')}]"
    )


def _redteam_line(log: LayerLog) -> str:
    return f"red team      {log.last('model').get('redteam_summary', '-')}"


def _champion_line(log: LayerLog) -> str:
    """The champion after the newest decision; with a comparison, the decision and its evidence (and why, when the
    challenger was not promoted) instead of the bare reason."""
    champion = log.last("champion")
    version = terminal_text(str(champion.get("champion_version", "-")))
    reason = terminal_text(str(champion.get("reason", "-")))  # slice values and check details come from the data
    evidence = terminal_text(str(champion.get("evidence", "")))
    if not evidence or evidence == reason:
        return f"champion      v{version}: {reason}"
    if champion.get("promoted") == "true":
        return f"champion      {evidence}"
    return f"champion      v{version} stays: {evidence}\n              {reason}"


def _health_line(uc: UseCase, log: LayerLog) -> str:
    health = log.last("factory_health")
    if not health:
        return "health        not measured"
    counts = f"{health.get('red_kpis', 0)} red, {health.get('yellow_kpis', 0)} yellow KPI(s)"
    return (
        f"health        {health.get('overall', '-')} on {health.get('partition', '-')} ({health.get('layers', '')}); "
        f"{counts}; `factory health {uc.name}` for the table"
    )


def _summary(uc: UseCase, log: LayerLog, sensor_line: str) -> str:
    drift = ", ".join(
        f"{m['partition']}: {float(m['score']):.3f}" for m in log.materializations.get("drift_report", [])
    )
    return "\n".join(
        [
            "",
            f"=== {uc.name} ===",
            _sources_line(log),
            _preparation_line(log),
            *_labeling_lines(log),
            _dataset_line(log),
            _model_line(log),
            _redteam_line(log),
            _champion_line(log),
            f"monitoring    predictions: {log.total('predictions', 'dagster/row_count')}, "
            f"feedback reviewed: {log.total('feedback', 'dagster/row_count')}, drift by day: {drift or '-'}",
            f"automation    drift sensor {sensor_line}",
            _health_line(uc, log),
        ]
    )
