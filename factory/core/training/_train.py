"""Training, selection and prediction: sklearn in, metrics out, no tracking or Dagster here.

Each candidate (`build_candidate`) is a scikit-learn pipeline over the model frame of the use case's input
columns (`model_frame`). `train_and_select` climbs the ladder of candidates, cheapest first:

1. Search: each candidate's grid (`GRIDS`) is scored by out-of-fold predictions of ``cv_folds``-fold (stratified)
   cross-validation on the train split (a stratified sample of ``search_max_rows`` of it, when larger: the
   search's cost stops growing with the data, the fits that follow use every row), within one time budget for
   all candidates; the default configuration is always kept, grid points the budget does not reach are skipped
   and counted.
2. Validation: each candidate's best configuration is fit on train and scored on validation, with a bootstrap
   standard error and interval, its fit seconds, prediction latency per 1,000 rows and skops size.
3. Choice: the cheapest candidate whose validation metric is within the tolerance of the best (``one_se``: the
   best's bootstrap standard error, capped at ``max_loss``: the one-standard-error rule alone gave up 0.6 to 1.1
   points of test macro F1 on the demo's tickets, measured, for a model a third the size).
4. Calibration: the choice is wrapped in temperature scaling (`calibrated`), fit on train, and its top-label
   expected calibration error on validation compared with the uncalibrated one's; calibration is kept unless it
   makes that error worse (a model without probabilities is always calibrated).
5. Refit and test: the chosen configuration (calibrated or not) is refit on train + validation and the test
   split is scored once, by that model: metric intervals and per-class figures.

The test split is read in step 5 only, so nothing it holds reaches a choice.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
import polars as pl
import skops.io as sio
from sklearn.base import clone
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from factory.core.stats import stratified_sample
from factory.core.training._candidates import GRIDS, build_candidate, calibrated, plain_vocabularies, reads_documents
from factory.core.training._inputs import ModelColumns, model_frame
from factory.core.training._metrics import (
    Interval,
    bootstrap_interval,
    class_metrics,
    encode_labels,
    expected_calibration_error,
    metric_of,
)

__all__ = [
    "Calibration",
    "CandidateResult",
    "Selection",
    "evaluate",
    "model_inputs",
    "model_text",
    "predict",
    "train_and_select",
]


def model_text(frame: pl.DataFrame, text_columns: Sequence[str], feature_columns: Sequence[str]) -> list[str]:
    """One document per row, as models registered before models read frames were trained on: the text columns
    joined, with categorical features as ``<col>_<value>`` tokens (`reads_documents`)."""
    parts: list[pl.Expr] = [pl.col(c).fill_null("") for c in text_columns]
    parts += [pl.format("{}_{}", pl.lit(c), pl.col(c).fill_null("none")) for c in feature_columns]
    return frame.select(pl.concat_str(parts, separator=" ").alias("doc"))["doc"].to_list()


def model_inputs(model: Any, frame: pl.DataFrame, columns: ModelColumns) -> Any:
    """What a fitted pipeline reads for the rows of `frame`: the model frame, or for a model registered before
    models read frames, one document per row (text columns, then the features as tokens)."""
    if reads_documents(model):
        return np.asarray(model_text(frame, columns.text, columns.features), dtype=object)
    return model_frame(frame, columns)


def predict(model: Any, frame: pl.DataFrame, columns: ModelColumns) -> pl.DataFrame:
    """``label, confidence`` (its top class probability) of a fitted model for every row of `frame`, in order."""
    schema = {"label": pl.String, "confidence": pl.Float64}
    if frame.is_empty():
        return pl.DataFrame(schema=schema)
    proba = _predict_proba(model, frame, columns)
    labels = np.asarray(model.classes_)[proba.argmax(axis=1)].astype(str)
    return pl.DataFrame({"label": labels, "confidence": proba.max(axis=1)}, schema=schema)


def class_probabilities(model: Any, frame: pl.DataFrame, columns: ModelColumns, classes: Sequence[str]) -> np.ndarray:
    """Class probabilities (rows x classes, columns in the order of the taxonomy `classes`; a class the model
    never saw has probability 0) of a fitted model for every row of `frame`."""
    out = np.zeros((frame.height, len(classes)))
    if frame.is_empty():
        return out
    proba = _predict_proba(model, frame, columns)
    position = {str(c): i for i, c in enumerate(classes)}
    for column, name in enumerate(model.classes_):
        if str(name) in position:
            out[:, position[str(name)]] = proba[:, column]
    return out


def _predict_proba(model: Any, frame: pl.DataFrame, columns: ModelColumns) -> np.ndarray:
    with threadpool_limits(limits=1):  # OpenMP threads of the trees spin on shared cores (`train_and_select`)
        return np.asarray(model.predict_proba(model_inputs(model, frame, columns)), dtype=np.float64)


def evaluate(model: Any, inputs: Any, labels: Sequence[str], classes: Sequence[str]) -> dict[str, float]:
    """Accuracy, macro F1 over the taxonomy, and F1 per class (``f1.<class>``) of `model` on `inputs` (what
    `model_inputs` gives)."""
    predicted = model.predict(inputs)
    per_class = f1_score(labels, predicted, labels=list(classes), average=None, zero_division=0)
    metrics: dict[str, float] = {
        "accuracy": float(accuracy_score(labels, predicted)),
        "macro_f1": float(f1_score(labels, predicted, labels=list(classes), average="macro", zero_division=0)),
    }
    metrics.update({f"f1.{c}": float(v) for c, v in zip(classes, per_class, strict=True)})
    return metrics


@dataclass(frozen=True)
class CandidateResult:
    """One rung of the ladder: its best configuration fit on train and scored on validation."""

    name: str
    model: Pipeline
    validation: dict[str, float]
    interval: Interval
    """The selection metric on validation with its bootstrap standard error and 95% interval."""
    params: dict[str, Any] = field(default_factory=dict)
    cv_score: float | None = None
    """The best configuration's out-of-fold metric on train; None when no grid point was cross-validated."""
    grid_tried: int = 1
    grid_skipped: int = 0
    search_seconds: float = 0.0
    fit_seconds: float = 0.0
    ms_per_1k: float = 0.0
    size_bytes: int = 0
    cpu_seconds: float = 0.0
    """CPU time of the rung (search, fit, scoring), in whichever process ran it."""


@dataclass(frozen=True)
class Calibration:
    """Top-label expected calibration error (15 bins) on validation of the chosen configuration fit on train,
    before and after temperature scaling (None before for a model without probabilities), and whether the
    registered model is calibrated."""

    ece_before: float | None
    ece_after: float
    calibrated: bool
    folds: int

    def text(self) -> str:
        """``before -> after`` when calibrated, the uncalibrated figure alone otherwise."""
        before = "n/a" if self.ece_before is None else f"{self.ece_before:.2f}"
        return f"{before} -> {self.ece_after:.2f}" if self.calibrated else f"{before} (not calibrated)"


@dataclass(frozen=True)
class Selection:
    """The ladder's outcome: every candidate, the chosen one, and the registered model (the choice refit on
    train + validation, calibrated) with its one score on test."""

    chosen: CandidateResult
    candidates: list[CandidateResult]
    test: dict[str, float]
    metric: str
    sizes: dict[str, int] = field(default_factory=dict)
    model: Pipeline | None = None
    """The refit model; None only for a `Selection` built by hand."""
    tolerance: float = 0.0
    rule: str = "one_se"
    test_intervals: dict[str, Interval] = field(default_factory=dict)
    per_class: list[dict[str, Any]] = field(default_factory=list)
    test_predicted: list[str] = field(default_factory=list)
    calibration: Calibration | None = None
    budget_exhausted: bool = False
    refit_seconds: float = 0.0
    search_rows: int = 0
    """Train rows the grid search cross-validated on (all of them, or the ``search_max_rows`` sample)."""

    best_name: str = ""
    """The candidate the tolerance is measured from (set by `train_and_select`)."""
    worker_cpu_seconds: float = 0.0
    """CPU time the ladder's worker processes spent (0 when it ran in this process): a retrain's CPU cost is
    this process's time plus this."""

    @property
    def best(self) -> CandidateResult:
        """The eligible candidate with the best validation metric (the earliest of equals): ``best_name``, or
        without it the best of all."""
        named = [c for c in self.candidates if c.name == self.best_name]
        return named[0] if named else max(self.candidates, key=lambda r: (r.interval.value, -self.candidates.index(r)))

    def summary_rows(self) -> list[dict[str, Any]]:
        """The selection table: one row per candidate, in ladder order."""
        return [
            {
                "candidate": c.name,
                f"validation_{self.metric}": round(c.interval.value, 4),
                "low": round(c.interval.low, 4),
                "high": round(c.interval.high, 4),
                "se": round(c.interval.se, 4),
                "validation_accuracy": round(c.validation["accuracy"], 4),
                "cv_score": None if c.cv_score is None else round(c.cv_score, 4),
                "params": c.params,
                "grid_tried": c.grid_tried,
                "grid_skipped": c.grid_skipped,
                "search_s": round(c.search_seconds, 2),
                "fit_s": round(c.fit_seconds, 2),
                "ms_per_1k": round(c.ms_per_1k, 1),
                "size_kb": round(c.size_bytes / 1024, 1),
                "chosen": c.name == self.chosen.name,
            }
            for c in self.candidates
        ]

    def summary_line(self) -> str:
        """One line for a person: what was chosen and why, the test metric with its interval, calibration."""
        best = self.best
        label = "macro F1" if self.metric == "macro_f1" else self.metric
        if best.name == self.chosen.name:
            why = f"best on validation, {label} {best.interval.value:.3f}"
        else:
            gap = best.interval.value - self.chosen.interval.value
            rule = "one-SE" if self.rule == "one_se" else "tolerance"
            why = f"{rule}: within {gap:.4f} of {best.name} {best.interval.value:.3f}"
        line = f"{self.chosen.name} chosen ({why})"
        test = self.test_intervals.get(self.metric)
        if test is not None:
            line += f"; test {label} {test.text(2)}"
        if self.calibration is not None:
            line += f", ECE {self.calibration.text()}"
        return line


def _folds(labels: np.ndarray, folds: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds when every class has a row per fold, plain shuffled folds otherwise."""
    counts = np.bincount(labels)
    smallest = int(counts[counts > 0].min()) if len(labels) else 0
    splitter = (
        StratifiedKFold(folds, shuffle=True, random_state=seed)
        if smallest >= folds
        else KFold(folds, shuffle=True, random_state=seed)
    )
    return list(splitter.split(np.zeros(len(labels)), labels))


@dataclass
class _Search:
    """The grid search of one candidate: out-of-fold predictions of each configuration reached."""

    params: dict[str, Any]
    cv_score: float | None
    tried: int
    skipped: int
    seconds: float


def _search(
    pipeline: Pipeline,
    grid: Sequence[dict[str, Any]],
    inputs: pd.DataFrame,
    codes: np.ndarray,
    *,
    k: int,
    metric: str,
    folds: list[tuple[np.ndarray, np.ndarray]],
    deadline: float,
) -> _Search:
    """Score each configuration of `grid` by out-of-fold predictions on the fitting rows, in order, while
    ``time.monotonic() < deadline``; each fold is featurized once for all configurations."""
    started = time.monotonic()
    if len(grid) < 2:
        return _Search(dict(grid[0]) if grid else {}, None, len(grid), 0, 0.0)
    *steps, (_, classifier) = pipeline.steps
    featurized: dict[int, tuple[Any, Any]] = {}
    scores: list[float] = []
    for params in grid:
        if time.monotonic() >= deadline:
            break
        out_of_fold = np.zeros(len(codes), dtype=np.int64)
        for index, (fit_rows, held_rows) in enumerate(folds):
            if index not in featurized:
                features = Pipeline([(step, clone(estimator)) for step, estimator in steps]) if steps else None
                fit_part, held_part = inputs.iloc[fit_rows], inputs.iloc[held_rows]
                featurized[index] = (
                    (features.fit_transform(fit_part, codes[fit_rows]), features.transform(held_part))
                    if features is not None
                    else (fit_part, held_part)
                )
            fit_x, held_x = featurized[index]
            model = clone(classifier).set_params(**params).fit(fit_x, codes[fit_rows])
            out_of_fold[held_rows] = model.predict(held_x)
        scores.append(metric_of(codes, out_of_fold, k, metric))
    best = int(np.argmax(scores)) if scores else 0
    return _Search(
        dict(grid[best]),
        scores[best] if scores else None,
        max(len(scores), 1),
        len(grid) - max(len(scores), 1),
        time.monotonic() - started,
    )


def _configured(
    name: str, params: Mapping[str, Any], columns: ModelColumns, *, seed: int, max_features: int
) -> Pipeline:
    pipeline = build_candidate(name, columns, seed=seed, max_features=max_features)
    pipeline.steps[-1][1].set_params(**params)
    return pipeline


def _probabilities(model: Pipeline, inputs: pd.DataFrame) -> np.ndarray | None:
    return model.predict_proba(inputs) if hasattr(model, "predict_proba") else None


def train_and_select(
    splits: Mapping[str, tuple[pd.DataFrame, list[str]]],
    columns: ModelColumns,
    *,
    classes: Sequence[str],
    candidates: Sequence[str],
    metric: str,
    seed: int,
    max_features: int,
    tolerance: Literal["one_se"] | float = "one_se",
    max_loss: float = 1.0,
    time_budget_seconds: float = 300.0,
    cv_folds: int = 3,
    bootstrap: int = 200,
    search_max_rows: int | None = None,
    workers: int = 1,
) -> Selection:
    """Climb the ladder `candidates` (cheapest first) on ``train`` and ``validation``, refit the choice on both
    and score it once on ``test`` (module docstring).

    ``splits`` maps split name to (model frame, labels): `model_frame` of the split's rows. ``tolerance`` is
    ``one_se`` (the best's standard error, at most ``max_loss``) or a fixed margin of the metric. With
    ``search_max_rows`` the grid search cross-validates on a stratified sample of at most that many train rows
    (`factory.core.stats.stratified_sample`); every other fit uses all of them. With ``workers`` over 1 the
    candidates are searched, fit and scored in that many processes at once (`_ladder`): the same results.
    """
    for required in ("train", "validation", "test"):
        if required not in splits or not len(splits[required][1]):
            raise ValueError(f"the {required} split is empty: cannot train and select a model")
    k = len(classes)
    train_inputs, train_labels = splits["train"]
    valid_inputs, valid_labels = splits["validation"]
    train_codes = encode_labels(train_labels, classes)
    sampled = stratified_sample(train_codes, search_max_rows or len(train_codes), seed, at_least=cv_folds)
    search_inputs, search_codes = train_inputs.iloc[np.flatnonzero(sampled)], train_codes[sampled]
    folds = _folds(search_codes, cv_folds, seed)
    deadline = time.monotonic() + time_budget_seconds
    climb = _Climb(
        columns, classes, metric, seed, max_features, bootstrap, search_inputs, search_codes, folds, deadline
    )
    results, in_workers = _ladder(climb, candidates, splits["train"], splits["validation"], workers)
    # One BLAS and one OpenMP thread (see `_Climb`).
    with threadpool_limits(limits=1):
        # A candidate without probabilities of its own needs 2 rows of each class to be calibrated; without
        # them it stays in the table but cannot be chosen.
        rarest = min(_rarest(train_labels), _rarest([*train_labels, *valid_labels]))
        eligible = [r for r in results if rarest >= 2 or hasattr(r.model, "predict_proba")]
        if not eligible:
            raise ValueError(
                f"{', '.join(candidates)}: no probabilities of their own, and a class has fewer than 2 training "
                "rows to calibrate them on"
            )
        best = max(eligible, key=lambda r: (r.interval.value, -eligible.index(r)))
        margin = min(best.interval.se, max_loss) if tolerance == "one_se" else float(tolerance)
        chosen = next(r for r in eligible if r.interval.value >= best.interval.value - margin)
        calibration, final = _calibrate(
            chosen, splits, classes, columns, folds=cv_folds, seed=seed, max_features=max_features
        )
        started = time.perf_counter()
        plain_vocabularies(
            final.fit(pd.concat([train_inputs, valid_inputs], ignore_index=True), [*train_labels, *valid_labels])
        )
        refit_seconds = time.perf_counter() - started
        test_inputs, test_labels = splits["test"]
        test_predicted = [str(label) for label in final.predict(test_inputs)]
    test_codes, predicted_codes = encode_labels(test_labels, classes), encode_labels(test_predicted, classes)
    return Selection(
        chosen=chosen,
        candidates=results,
        test=evaluate(final, test_inputs, test_labels, classes),
        metric=metric,
        sizes={name: len(labels) for name, (_, labels) in splits.items()},
        model=final,
        tolerance=margin,
        rule="one_se" if tolerance == "one_se" else "fixed",
        test_intervals={
            m: bootstrap_interval(test_codes, predicted_codes, k, m, resamples=bootstrap, seed=seed)
            for m in dict.fromkeys((metric, "accuracy"))
        },
        per_class=class_metrics(test_codes, predicted_codes, classes),
        test_predicted=test_predicted,
        calibration=calibration,
        budget_exhausted=any(r.grid_skipped for r in results),
        search_rows=len(search_codes),
        best_name=best.name,
        refit_seconds=refit_seconds,
        worker_cpu_seconds=sum(r.cpu_seconds for r in results) if in_workers else 0.0,
    )


@dataclass(frozen=True)
class _Climb:
    """What every rung of the ladder shares: one candidate's search, fit on train and score on validation is
    `_Climb.rung`, a function of these and the candidate's name alone, so rungs can run in other processes.

    One BLAS and one OpenMP thread per rung: scipy's L-BFGS-B with a multi-threaded OpenBLAS is several times
    slower on problems of this size (measured 10x on 2 cores), HistGradientBoosting's OpenMP threads spin when the
    cores are shared (4,000 rows: 25 s with 2 threads on a loaded 2-core machine, 0.17 s with one); parallelism
    comes from running rungs side by side instead."""

    columns: ModelColumns
    classes: Sequence[str]
    metric: str
    seed: int
    max_features: int
    bootstrap: int
    search_inputs: pd.DataFrame
    search_codes: np.ndarray
    folds: list[tuple[np.ndarray, np.ndarray]]
    deadline: float
    """`time.monotonic` time the searches stop at (the clock is the machine's, the same in every process)."""

    def rung(
        self, name: str, train: tuple[pd.DataFrame, list[str]], validation: tuple[pd.DataFrame, list[str]]
    ) -> CandidateResult:
        """Candidate ``name``: its grid searched, its best configuration fit on train and scored on validation."""
        (train_inputs, train_labels), (valid_inputs, valid_labels) = train, validation
        k = len(self.classes)
        cpu_started = time.process_time()
        with threadpool_limits(limits=1):
            pipeline = build_candidate(name, self.columns, seed=self.seed, max_features=self.max_features)
            search = _search(
                pipeline,
                GRIDS[name],
                self.search_inputs,
                self.search_codes,
                k=k,
                metric=self.metric,
                folds=self.folds,
                deadline=self.deadline,
            )
            model = _configured(name, search.params, self.columns, seed=self.seed, max_features=self.max_features)
            started = time.perf_counter()
            plain_vocabularies(model.fit(train_inputs, train_labels))
            fit_seconds = time.perf_counter() - started
            started = time.perf_counter()
            proba = _probabilities(model, valid_inputs)
            predicted = model.predict(valid_inputs) if proba is None else np.asarray(model.classes_)[proba.argmax(1)]
            latency = (time.perf_counter() - started) / len(valid_labels) * 1e6
            valid_codes = encode_labels(valid_labels, self.classes)
            codes = encode_labels(predicted, self.classes)
            interval = bootstrap_interval(valid_codes, codes, k, self.metric, resamples=self.bootstrap, seed=self.seed)
            return CandidateResult(
                name,
                model,
                evaluate(model, valid_inputs, valid_labels, self.classes),
                interval,
                params=search.params,
                cv_score=search.cv_score,
                grid_tried=search.tried,
                grid_skipped=search.skipped,
                search_seconds=search.seconds,
                fit_seconds=fit_seconds,
                ms_per_1k=latency,
                size_bytes=len(sio.dumps(model)),
                cpu_seconds=time.process_time() - cpu_started,
            )


def _ladder(
    climb: _Climb,
    candidates: Sequence[str],
    train: tuple[pd.DataFrame, list[str]],
    validation: tuple[pd.DataFrame, list[str]],
    workers: int,
) -> tuple[list[CandidateResult], bool]:
    """Every rung, in ladder order, and whether worker processes ran them: one after another here, or with
    ``workers`` over 1 in that many worker processes, at most one per core this process may use (joblib's loky:
    spawned, not forked from a process holding Dagster's threads; each holds a copy of the train and validation
    splits, and the fitted models come back pickled)."""
    from joblib import Parallel, cpu_count, delayed

    jobs = min(workers, len(candidates), cpu_count())
    if jobs <= 1:
        return [climb.rung(name, train, validation) for name in candidates], False
    # One rung per task, and no more handed out than there are workers: copies of the splits in flight stay
    # bounded by the workers, not by the ladder's length. The dearest rung (the ladder's last) is handed out
    # first, so the cheap ones fill the other workers beside it instead of starting it last.
    parallel = Parallel(n_jobs=jobs, backend="loky", batch_size=1, pre_dispatch="n_jobs")
    dearest_first = list(parallel(delayed(climb.rung)(name, train, validation) for name in reversed(candidates)))
    return dearest_first[::-1], True


def _rarest(labels: Sequence[str]) -> int:
    """The number of rows of the rarest class present."""
    return int(np.unique(np.asarray(labels, dtype=object), return_counts=True)[1].min())


def _calibrate(
    chosen: CandidateResult,
    splits: Mapping[str, tuple[pd.DataFrame, list[str]]],
    classes: Sequence[str],
    columns: ModelColumns,
    *,
    folds: int,
    seed: int,
    max_features: int,
) -> tuple[Calibration, Pipeline]:
    """Whether to calibrate the choice, from its validation ECE fit on train with and without
    temperature scaling; returns that measure and the unfitted model to refit on train + validation."""
    train_inputs, train_labels = splits["train"]
    valid_inputs, valid_labels = splits["validation"]
    valid_codes = encode_labels(valid_labels, classes)

    def fresh() -> Pipeline:
        return _configured(chosen.name, chosen.params, columns, seed=seed, max_features=max_features)

    def ece(proba: np.ndarray, model: Pipeline) -> float:
        return expected_calibration_error(proba, valid_codes, encode_labels(model.classes_, classes))

    proba = _probabilities(chosen.model, valid_inputs)
    before = None if proba is None else ece(proba, chosen.model)
    usable = min(folds, _rarest(train_labels), _rarest([*train_labels, *valid_labels]))
    if chosen.name == "majority" or usable < 2:
        if before is None:
            raise ValueError(
                f"{chosen.name} gives no probabilities and a class has fewer than 2 training rows to calibrate it on"
            )
        return Calibration(before, before, calibrated=False, folds=0), fresh()
    # The choice's feature steps were fit on these train rows already (deterministically): only the classifier
    # is wrapped and fit again (a TF-IDF of character n-grams is a good part of a fit).
    *fitted, (_, classifier) = chosen.model.steps
    features = Pipeline(fitted) if fitted else None
    train_x = features.transform(train_inputs) if features is not None else train_inputs
    wrapped = calibrated(Pipeline([("clf", clone(classifier))]), usable).fit(train_x, train_labels)
    valid_x = features.transform(valid_inputs) if features is not None else valid_inputs
    after = ece(wrapped.predict_proba(valid_x), wrapped)
    if before is not None and after > before:
        return Calibration(before, after, calibrated=False, folds=0), fresh()
    return Calibration(before, after, calibrated=True, folds=usable), calibrated(fresh(), usable)
