"""Label aggregation at speed: our Dawid-Skene on 1,000,000 simulated annotations against crowd-kit's.

Simulated crowd with known truth: items drawn from a skewed class prior, each labelled by distinct
annotators of mixed skill: good (85-95% right, errors spread), mediocre (50-65% right, a quarter of their
answers going to one confusable class), and spammers (uniformly random, or always one class).

- ours: factory.core.labeling.aggregate (Dawid-Skene, its defaults), timed from the polars frame (one answer
  per annotator and item, and the encoding, included); the median of ``--repeat`` runs is reported, the first
  run next to it.
- crowd-kit: crowdkit.aggregation.DawidSkene(n_iter=100) on the same annotations as a pandas frame.
- majority vote: factory.core.labeling.aggregate(method="mv"), the baseline both should beat.

Run: .venv/bin/python bench/aggregate.py [--items N] [--per-item N] [--classes N] [--annotators N] [--seed N]
Prints a table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

import numpy as np
import polars as pl

from factory.core.labeling import aggregate

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class Crowd:
    """Simulated annotations (``item_id, annotator, label``), the true label per item and the class names."""

    annotations: pl.DataFrame
    truth: pl.DataFrame
    classes: list[str]


def confusions(n_annotators: int, n_classes: int, rng: np.random.Generator) -> np.ndarray:
    """``[a, true, answer]`` answer probabilities: 30% good, 50% mediocre, 10% random and 10% constant spammers."""
    kinds = rng.choice(4, size=n_annotators, p=[0.3, 0.5, 0.1, 0.1])
    kinds[:4] = [0, 1, 2, 3]  # every kind present
    eye = np.eye(n_classes)
    partner = np.roll(eye, 1, axis=1)  # class k is confused with k + 1
    uniform = np.full((n_classes, n_classes), 1.0 / n_classes)
    matrices = np.empty((n_annotators, n_classes, n_classes))
    for a, kind in enumerate(kinds):
        if kind == 0:
            right = rng.uniform(0.85, 0.95)
            matrices[a] = right * eye + (1 - right) * (1 - eye) / (n_classes - 1)
        elif kind == 1:
            right = rng.uniform(0.5, 0.65)
            rest = 1 - right - 0.25
            matrices[a] = right * eye + 0.25 * partner + rest * (1 - eye - partner) / (n_classes - 2)
        elif kind == 2:
            matrices[a] = uniform
        else:
            matrices[a] = np.zeros((n_classes, n_classes))
            matrices[a][:, rng.integers(n_classes)] = 1.0
    return matrices


def simulate(items: int, per_item: int, n_classes: int, n_annotators: int, seed: int) -> Crowd:
    """A crowd of ``n_annotators`` giving ``per_item`` distinct answers per item, fully vectorized."""
    rng = np.random.default_rng(seed)
    prior = rng.dirichlet(np.full(n_classes, 2.0))
    truth = rng.choice(n_classes, size=items, p=prior)
    activity = rng.uniform(0.5, 2.0, size=n_annotators)  # some annotators do four times the work of others
    keys = np.log(activity) + rng.gumbel(size=(items, n_annotators))  # Gumbel top-k: weighted, no repeats
    who = np.argpartition(-keys, per_item - 1, axis=1)[:, :per_item].ravel()
    item = np.repeat(np.arange(items), per_item)
    cdf = np.cumsum(confusions(n_annotators, n_classes, rng), axis=2)[who, truth[item]]
    answer = np.minimum((rng.random(item.size)[:, None] > cdf).sum(axis=1), n_classes - 1)
    classes = [f"class_{k:02d}" for k in range(n_classes)]
    names = pl.Series([f"annotator_{a:03d}" for a in range(n_annotators)])
    labels = pl.Series(classes)
    annotations = pl.DataFrame({"item_id": item, "annotator": names.gather(who), "label": labels.gather(answer)})
    return Crowd(annotations, pl.DataFrame({"item_id": np.arange(items), "truth": labels.gather(truth)}), classes)


def accuracy(labels: pl.DataFrame, truth: pl.DataFrame) -> float:
    """Share of true items whose aggregated label is right (a missing label counts as wrong)."""
    joined = truth.join(labels.select("item_id", "label"), on="item_id", how="left")
    return float(joined.select((pl.col("label") == pl.col("truth")).fill_null(False).mean()).item())


def _timed(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> tuple[T, float]:
    """``fn(*args, **kwargs)`` and the wall-clock seconds it took."""
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def bench_crowdkit(crowd: Crowd) -> tuple[pl.DataFrame, float, int]:
    """crowd-kit's DawidSkene(n_iter=100) on the same annotations: labels, seconds, EM rounds run."""
    from crowdkit.aggregation import DawidSkene

    frame = crowd.annotations.rename({"item_id": "task", "annotator": "worker"}).to_pandas()
    model = DawidSkene(n_iter=100)
    with warnings.catch_warnings():  # crowd-kit 1.4 uses pandas APIs that pandas 3.1 deprecates
        warnings.filterwarnings("ignore", module=r"crowdkit\.")
        labels, seconds = _timed(model.fit_predict, frame)
    found = pl.DataFrame({"item_id": labels.index.to_numpy(), "label": labels.to_numpy().astype(str)})
    return found, seconds, len(model.loss_history_)


def _row(name: str, ours: object, crowdkit: object, vote: object) -> str:
    return f"{name:<24}{ours!s:>14}{crowdkit!s:>14}{vote!s:>15}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--per-item", type=int, default=5)
    parser.add_argument("--classes", type=int, default=15)
    parser.add_argument("--annotators", type=int, default=75)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="runs of ours; the median is reported")
    parser.add_argument("--skip-crowdkit", action="store_true", help="time ours and majority vote only")
    args = parser.parse_args()

    crowd = simulate(args.items, args.per_item, args.classes, args.annotators, args.seed)
    runs = [_timed(aggregate, crowd.annotations, crowd.classes) for _ in range(max(args.repeat, 1))]
    fit, ours_s = runs[0][0], statistics.median(seconds for _, seconds in runs)
    votes, mv_s = _timed(aggregate, crowd.annotations, crowd.classes, method="mv")
    result: dict[str, object] = {
        "annotations": crowd.annotations.height,
        "items": args.items,
        "classes": args.classes,
        "annotators": args.annotators,
        "seconds": round(ours_s, 3),
        "seconds_first_run": round(runs[0][1], 3),
        "iterations": fit.iterations,
        "converged": fit.converged,
        "accuracy": round(accuracy(fit.labels, crowd.truth), 4),
        "mv_seconds": round(mv_s, 3),
        "mv_accuracy": round(accuracy(votes.labels, crowd.truth), 4),
    }
    if not args.skip_crowdkit:
        theirs, theirs_s, rounds = bench_crowdkit(crowd)
        result |= {
            "crowdkit_seconds": round(theirs_s, 3),
            "crowdkit_iterations": rounds,
            "crowdkit_accuracy": round(accuracy(theirs, crowd.truth), 4),
            "speedup_vs_crowdkit": round(theirs_s / ours_s, 1),
            "agreement_with_crowdkit": round(accuracy(fit.labels, theirs.rename({"label": "truth"})), 4),
        }
    print(
        f"{result['annotations']:,} annotations, {args.items:,} items, {args.classes} classes, "
        f"{args.annotators} annotators"
    )
    print(_row("measure", "ours (DS)", "crowd-kit DS", "majority vote"))
    print(_row("seconds", result["seconds"], result.get("crowdkit_seconds", "-"), result["mv_seconds"]))
    print(_row("accuracy vs truth", result["accuracy"], result.get("crowdkit_accuracy", "-"), result["mv_accuracy"]))
    print(_row("EM iterations", result["iterations"], result.get("crowdkit_iterations", "-"), "-"))
    if "speedup_vs_crowdkit" in result:
        print(
            f"speedup vs crowd-kit: {result['speedup_vs_crowdkit']}x; "
            f"same label as crowd-kit on {result['agreement_with_crowdkit']:.2%} of items"
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
