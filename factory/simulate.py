"""``factory simulate NAME``: the continuous-learning loop run over a month of simulated days, measured.

The use case's demo source streams ``days`` days from its ``start_date`` (moved back when they would run past
yesterday), its drift starting on ``drift_day`` (1-based). Nothing is bypassed: each simulated night the real
nightly schedule is evaluated at its scheduled time and recorded as a tick of the schedule, and the run it requests
is executed; then the labeling sensor and the drift sensor are evaluated and recorded as ticks
(`factory.resources.launcher`), with the ``clock`` resource frozen at the simulated time (the drift sensor's
cooldown and decision times read it), and the runs they request are executed. Every run is recorded in the Dagster
instance, every drift-sensor decision in ``retrain_decisions`` and, as an observation, on the drift report, as the
daemon would.

The factory has no champion, hence no prediction and no drift report, before its first retrain: the simulation runs
the retrain job once after ``bootstrap_days`` days (as an operator does at go-live), and again each night until a
champion exists (a first model under the quality floor is blocked by its gate; an operator retries on more
labels). Bootstraps are not policy decisions and are not counted in ``retrains``.

Each day is scored against the demo's hidden truth: the macro F1 of the day's predictions (made by the champion of
that day). The daily-retrain *oracle* is a counterfactual, computed rather than run (running the full retrain job
every day would take most of an hour): each day, the champion's chosen candidate with its parameters (an unfitted
clone of the registered pipeline, without its temperature scaling, which never changes the predicted class) is refit
on every label of the days before that a retrain would fit on (the dataset's train and validation splits: a
retrain holds the test split out to judge the model) and scored on the day's truth. The refits run in one worker
process beside the loop (the second core; the rows are taken when the day is scored, so later corrections never
reach an earlier day's oracle), and a day's line is printed when its refit is done; ``cpu_seconds`` counts that
worker's CPU too, and that of the retrains' ladder workers (`factory.core.training.train_and_select`).

State goes to a fresh temporary ``FACTORY_HOME`` (Dagster instance, warehouse, version store, MLflow) unless
``home`` is given, and the environment is restored afterwards: a simulation never touches the user's factory.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
from dagster._core.execution.execution_result import ExecutionResult
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from factory.core.stats import mean
from factory.core.training import ModelColumns, encode_labels, metric_of, model_frame
from factory.defs import UseCase, build_definitions
from factory.defs.resources import build_resources
from factory.defs.versioning import dataset_rows
from factory.demo.generators import generator
from factory.demo.plugin import demo_config
from factory.headless import LayerLog, why_stopped
from factory.paths import usecases_dir
from factory.resources.clock import Clock
from factory.resources.launcher import Launcher, SensorTick
from factory.spec import UseCaseSpec, load_specs
from factory.spec_sources import today

__all__ = ["DEFAULT_ROWS_PER_DAY", "DayResult", "simulate", "simulation_spec", "summary_json"]

DEFAULT_ROWS_PER_DAY = 500
"""Rows per day a simulation streams unless told otherwise (``--rows-per-day``, or the demo source's
``simulation_rows_per_day``; the spec's ``rows_per_day`` when smaller): a month of 30 daily runs and a handful
of retrains on 2 shared cores must end within 10 minutes."""

_STATE_ENV = ("FACTORY_HOME", "DAGSTER_HOME", "FACTORY_DATA", "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR")
_INSTANCE_SETTINGS = """# Written by factory simulate: the settings of the repository's dagster.yaml it needs.
telemetry:
  enabled: false
concurrency:
  pools:
    default_limit: 1
"""
_CLEARED_ENV = ("FACTORY_WAREHOUSE", "MLFLOW_TRACKING_URI", "FACTORY_VERSION_STORE")
_LAST_DAYS = 5
"""Days averaged for the pre-drift and the post-recovery quality."""


@dataclass
class DayResult:
    """One simulated day: the champion that predicted it, its macro F1 on the hidden truth, the oracle's, the
    drift score, and the drift sensor's decision after the day's nightly run."""

    day: str
    champion: str | None = None
    macro_f1: float | None = None
    oracle_macro_f1: float | None = None
    score: float | None = None
    decision: str = "-"
    reason: str = ""
    retrain: str = ""


@dataclass
class _Loop:
    """What the simulation carries from one night to the next: the days whose line waits for its oracle."""

    spec: UseCaseSpec
    uc: UseCase
    launcher: Launcher
    echo: Callable[[str], None]
    oracles: Executor
    log: LayerLog = field(default_factory=LayerLog)
    waiting: list[tuple[DayResult, Future[tuple[float, float]] | None]] = field(default_factory=list)
    oracle_cpu_seconds: float = 0.0
    live: bool = False
    """A champion exists (the bootstrap succeeded)."""


def simulation_spec(
    spec: UseCaseSpec, drift_day: int, seed: int | None, rows_per_day: int | None, days: int | None = None
) -> tuple[UseCaseSpec, list[str]]:
    """The use case with its demo source drifting on ``drift_day`` (1-based), seeded with ``seed`` (when
    given) and streaming at most ``rows_per_day`` rows (when None, the demo source's ``simulation_rows_per_day``
    or `DEFAULT_ROWS_PER_DAY`); notes on what was changed. Given the simulation's ``days``, a ``start_date`` that
    would run them past yesterday moves back so that they end yesterday (a day after that is not a partition
    yet). ``ValueError`` when the use case has no demo source."""
    demo = spec.demo_source
    if demo is None:
        raise ValueError(f"{spec.name} has no demo source: a simulation needs a demo stream and its hidden truth")
    if rows_per_day is not None:
        cap, why = rows_per_day, "--rows-per-day"
    elif demo.simulation_rows_per_day is not None:
        cap, why = demo.simulation_rows_per_day, "the source's simulation_rows_per_day"
    else:
        cap, why = DEFAULT_ROWS_PER_DAY, "the default"
    if cap < 1:
        raise ValueError(f"--rows-per-day must be at least 1, got {cap}")
    notes = []
    start = spec.start_date
    if days is not None and start + timedelta(days=days) > today():
        start = today() - timedelta(days=days)
        notes.append(f"days from {start} to {start + timedelta(days=days - 1)}: the {days} days ending yesterday")
    rows = min(cap, demo.rows_per_day)
    drift_start = start + timedelta(days=drift_day - 1)
    update: dict[str, Any] = {"rows_per_day": rows, "drift_start": drift_start}
    if seed is not None:
        update["seed"] = seed
    notes.append(
        f"demo source {demo.name}: drift from {drift_start} (day {drift_day}), seed {update.get('seed', demo.seed)}"
    )
    if rows < demo.rows_per_day:
        notes.append(f"rows per day reduced from {demo.rows_per_day} to {rows} ({why}) to fit the time budget")
    source = demo.model_copy(update=update)
    sources = tuple(source if s is demo else s for s in spec.sources)
    return spec.model_copy(update={"sources": sources, "start_date": start}), notes


@contextmanager
def _isolated(home: Path | None) -> Iterator[Path]:
    """The factory's state under ``home`` (a fresh temporary folder when None) for the duration; the
    environment as it was afterwards."""
    saved = {name: os.environ.get(name) for name in (*_STATE_ENV, *_CLEARED_ENV)}
    with tempfile.TemporaryDirectory(prefix="factory-simulate-") as scratch:
        root = home if home is not None else Path(scratch)
        for sub in ("dagster", "data"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        settings = root / "dagster" / "dagster.yaml"
        if not settings.exists():
            settings.write_text(_INSTANCE_SETTINGS)
        os.environ.update(
            FACTORY_HOME=str(root),
            DAGSTER_HOME=str(root / "dagster"),
            FACTORY_DATA=str(root / "data"),
            MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false",
        )
        for name in _CLEARED_ENV:
            os.environ.pop(name, None)
        try:
            yield root
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def simulate(
    use_case: str,
    *,
    days: int = 30,
    drift_day: int = 15,
    seed: int | None = None,
    rows_per_day: int | None = None,
    bootstrap_days: int = 5,
    home: Path | None = None,
    echo: Callable[[str], None] = print,
    specs: list[UseCaseSpec] | None = None,
) -> dict[str, Any]:
    """Run the simulation (module docstring), print a line per day, and return the summary that ``factory
    simulate`` prints as its JSON last line. ``ValueError`` for an unknown use case or impossible days."""
    if not 1 <= bootstrap_days < drift_day <= days:
        raise ValueError(f"need 1 <= bootstrap days ({bootstrap_days}) < drift day ({drift_day}) <= days ({days})")
    started, cpu_started = time.perf_counter(), time.process_time()
    chosen = specs if specs is not None else load_specs(usecases_dir())
    base = next((s for s in chosen if s.name == use_case), None)
    if base is None:
        raise ValueError(f"unknown use case {use_case!r}; known: {', '.join(s.name for s in chosen) or 'none'}")
    spec, notes = simulation_spec(base, drift_day, seed, rows_per_day, days)
    with _isolated(home) as root:
        echo(f"[{spec.name}] simulating {days} days in {root}")
        for line in notes:
            echo(f"[{spec.name}] {line}")
        spawn = multiprocessing.get_context("spawn")  # not a fork of a process holding Dagster's threads
        with (
            dg.DagsterInstance.get() as instance,
            ProcessPoolExecutor(max_workers=1, mp_context=spawn) as oracles,
        ):
            loop = _Loop(spec, UseCase(spec), Launcher(build_definitions([spec]), instance), echo, oracles)
            results = []
            for index in range(days):
                results.append(_day(loop, index, bootstrap_days))
                _print_ready(loop, wait=False)
            _print_ready(loop, wait=True)
    summary = _summary(results, drift_day)
    demo = spec.demo_source
    assert demo is not None  # simulation_spec refused a spec without one
    summary |= {
        "seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(time.process_time() - cpu_started + loop.oracle_cpu_seconds + _ladder_cpu(loop), 1),
        "load_average": round(os.getloadavg()[1], 2),
        "rows_per_day": demo.rows_per_day,
    }
    return {"use_case": spec.name, **summary}


def _ladder_cpu(loop: _Loop) -> float:
    """CPU seconds the retrains' worker processes spent (the model asset records them)."""
    return sum(float(m.get("worker_cpu_seconds") or 0) for m in loop.log.materializations.get("model", []))


def _day(loop: _Loop, index: int, bootstrap_days: int) -> DayResult:
    """One simulated day and the night after it: the nightly run, the bootstrap retrain on its day, the
    labeling and the drift sensor and their runs, then the day's scores."""
    day = loop.spec.start_date + timedelta(days=index)
    night = datetime.combine(day + timedelta(days=1), clock_time(2, 0), tzinfo=UTC)
    result = DayResult(day.isoformat())
    _nightly(loop, night)
    if index + 1 >= bootstrap_days and not loop.live:
        result.decision = "bootstrap"
        result.reason = (
            f"first retrain after {bootstrap_days} days (not a policy fire)"
            if index + 1 == bootstrap_days
            else "no champion yet: the bootstrap retrain again, on a day more of labels (not a policy fire)"
        )
        bootstrap = loop.launcher.create(loop.uc.retrain_job, tags={"factory/reason": result.reason})
        result.retrain = _retrained(_execute(loop, bootstrap))
        loop.live = build_resources()["tracking"].champion(loop.uc.model_name) is not None
    _labeling(loop, night + timedelta(minutes=30))
    tick = _drift_tick(loop, night + timedelta(hours=1))
    if tick is not None:
        skipped = tick.result.skip_reason
        result.decision = "fire" if tick.runs else "skip"
        result.reason = skipped.skip_message or "" if skipped else ""
        for run in tick.runs:
            result.reason = run.tags.get("factory/reason", "")
            result.retrain = _retrained(_execute(loop, run))
    loop.waiting.append((result, _score(loop, result)))
    return result


def _print_ready(loop: _Loop, *, wait: bool) -> None:
    """Print the waiting days, in order, whose oracle is done (all of them, waiting, when ``wait``)."""
    while loop.waiting:
        result, oracle = loop.waiting[0]
        if oracle is not None:
            if not (wait or oracle.done()):
                return
            result.oracle_macro_f1, cpu_seconds = oracle.result()
            loop.oracle_cpu_seconds += cpu_seconds
        loop.waiting.pop(0)
        loop.echo(
            f"{result.day}  champion v{result.champion or '-'}  macro F1 {_text(result.macro_f1)} "
            f"(oracle {_text(result.oracle_macro_f1)})  drift {_text(result.score)}  "
            f"{result.decision}: {result.reason}"
        )
        if result.retrain:
            loop.echo(f"            {result.retrain}")


def _text(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _execute(loop: _Loop, run: dg.DagsterRun) -> ExecutionResult:
    """Execute a requested run in this process; what it materialized goes to the simulation's log."""
    result = loop.launcher.execute(run, raise_on_error=False)
    loop.log.add(result)
    return result


def _nightly(loop: _Loop, night: datetime) -> None:
    """The nightly schedule's tick at its scheduled time, and the run it requests."""
    for run in loop.launcher.schedule_tick(loop.uc.nightly_schedule, night):
        _execute(loop, run)


def _sensor(loop: _Loop, name: str, now: datetime) -> SensorTick:
    """One tick of a sensor at the simulated time ``now`` (its cursor kept by the instance between ticks)."""
    return loop.launcher.sensor_tick(name, now, {**build_resources(), "clock": Clock(frozen_at=now.isoformat())})


def _labeling(loop: _Loop, now: datetime) -> None:
    for run in _sensor(loop, loop.uc.labeling_sensor, now).runs:
        _execute(loop, run)


def _drift_tick(loop: _Loop, now: datetime) -> SensorTick | None:
    """The drift sensor's tick; None while there is no drift report (before the bootstrap's first report)."""
    if not build_resources()["warehouse"].table_exists(loop.uc.name, "drift_report"):
        return None
    return _sensor(loop, loop.uc.drift_sensor, now)


def _retrained(result: ExecutionResult) -> str:
    """What became of a retrain run's challenger, in words."""
    if not result.success:
        return f"retrain failed: {why_stopped(result, 'retrain', None)}"
    done = LayerLog()
    done.add(result)
    champion = done.last("champion")
    model = done.last("model")
    verdict = "promoted" if champion.get("promoted") == "true" else "not promoted"
    return (
        f"retrain: v{model.get('model_version', '-')} {verdict} ({champion.get('reason', '-')}); "
        f"{model.get('cpu_seconds', '-')} CPU-s"
    )


def _score(loop: _Loop, result: DayResult) -> Future[tuple[float, float]] | None:
    """The day's champion, its macro F1 on the hidden truth and the drift score; the oracle's refit, submitted
    (None on a day without predictions)."""
    spec, uc = loop.spec, loop.uc
    warehouse = build_resources()["warehouse"]
    with warehouse.get_connection():  # one connection for both reads
        predicted = warehouse.read_partition(uc.name, "predictions", result.day)
        report = warehouse.read_partition(uc.name, "drift_report", result.day)
    if not report.is_empty():
        result.score = float(report["score"][-1])
    if predicted.is_empty():
        return None
    demo = spec.demo_source
    assert demo is not None
    day = date.fromisoformat(result.day)
    stream = generator(demo.generator)
    truth = stream.truth(day, demo_config(spec, demo))
    id_column = spec.schema.id
    truth = truth.rename({truth.columns[1]: "truth"})
    scored = predicted.join(truth, on=id_column, how="inner")
    classes = spec.labeling.classes
    result.champion = str(predicted["model_version"][0])
    result.macro_f1 = _macro_f1(scored["truth"].to_list(), scored["predicted_label"].to_list(), classes)
    return _oracle(loop, result.champion, day, scored.select(id_column, "truth"))


def _macro_f1(truth: list[str], predicted: list[str], classes: tuple[str, ...]) -> float:
    k = len(classes)
    return metric_of(encode_labels(truth, classes), encode_labels(predicted, classes), k, "macro_f1")


def _oracle(loop: _Loop, version: str, day: date, truth: pl.DataFrame) -> Future[tuple[float, float]]:
    """The daily-retrain counterfactual (module docstring), submitted to the worker: the champion's pipeline,
    unfitted, refit on the train and validation rows of the days before ``day`` and scored on the day's truth."""
    spec, uc = loop.spec, loop.uc
    resources = build_resources()
    warehouse = resources["warehouse"]
    with warehouse.get_connection():  # one connection for both reads
        rows = warehouse.query("dataset_rows", schema=uc.name, id_column=spec.schema.id)
        today = warehouse.read_partition(uc.name, "prepared", day.isoformat())
    history = dataset_rows(uc, rows.filter(pl.col("partition_key") < day.isoformat()))
    history = history.filter(pl.col("split") != "test")
    today = today.join(truth, on=spec.schema.id, how="inner")
    columns = ModelColumns.of(spec)
    model = _uncalibrated(clone(resources["tracking"].load(uc.model_name, version)))
    return loop.oracles.submit(
        _refit_and_score,
        model,
        (model_frame(history, columns), history["label"].to_list()),
        (model_frame(today, columns), today["truth"].to_list()),
        spec.labeling.classes,
    )


def _refit_and_score(
    model: Pipeline, train: tuple[Any, list[str]], day: tuple[Any, list[str]], classes: tuple[str, ...]
) -> tuple[float, float]:
    """In the worker: ``model`` fit on ``train`` and its macro F1 on ``day``, with the CPU-seconds it took."""
    started = time.process_time()
    with threadpool_limits(limits=1):
        model.fit(*train)
        predicted = [str(label) for label in model.predict(day[0])]
    return _macro_f1(day[1], predicted, classes), time.process_time() - started


def _uncalibrated(model: Pipeline) -> Pipeline:
    """`model` without its temperature scaling: the scaling never changes which class is on top, and its final
    classifier is fit on all rows (`factory.core.training.calibrated`), so the labels predicted are the same at
    a fraction of the fitting time."""
    *steps, (name, last) = model.steps
    if isinstance(last, CalibratedClassifierCV):
        return Pipeline([*steps, (name, clone(last.estimator))])
    return model


def _summary(results: list[DayResult], drift_day: int) -> dict[str, Any]:
    """The JSON figures of the module docstring from the days' results."""
    fires = [i + 1 for i, r in enumerate(results) if r.decision == "fire"]
    detected = next((d for d in fires if d >= drift_day), None)
    scored = [r for r in results if r.macro_f1 is not None]
    before = [r.macro_f1 for r in results[max(0, drift_day - 1 - _LAST_DAYS) : drift_day - 1] if r.macro_f1 is not None]
    after = [r.macro_f1 for r in results[-_LAST_DAYS:] if r.macro_f1 is not None]
    pre = mean(pl.Series(before, dtype=pl.Float64)) if before else None
    post = mean(pl.Series(after, dtype=pl.Float64)) if after else None
    oracle = [r.oracle_macro_f1 for r in scored if r.oracle_macro_f1 is not None]

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 4)

    return {
        "detection_day": detected,
        "detection_delay_days": None if detected is None else detected - drift_day,
        "false_fires": sum(1 for d in fires if d < drift_day),
        "retrains": len(fires),
        "failed_retrains": sum(1 for r in results if r.retrain.startswith("retrain failed")),
        "pre_drift_macro_f1": rounded(pre),
        "post_recovery_macro_f1": rounded(post),
        "recovery_gap": rounded(pre - post) if pre is not None and post is not None else None,
        "mean_macro_f1": rounded(mean(pl.Series([r.macro_f1 for r in scored], dtype=pl.Float64))),
        "oracle_macro_f1": rounded(mean(pl.Series(oracle, dtype=pl.Float64))) if oracle else None,
        "oracle_retrains": len(oracle),
    }


def summary_json(summary: dict[str, Any]) -> str:
    """The JSON last line. ``seconds`` is wall time; ``cpu_seconds`` the CPU time of this process and its workers
    (the machine's other load does not inflate it); ``load_average`` the 5-minute load when the simulation ended."""
    return json.dumps(summary, sort_keys=False)
