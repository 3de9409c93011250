"""Bring your own data at size: ``factory new-usecase`` then ``factory run --retrain`` on generated pre-labeled
text, as a user runs them (the ``factory`` command in a fresh state directory, runs recorded in a Dagster
instance), at 10,000 and 100,000 rows.

The data is `factory.demo.samples.text_csv`: ``text,label`` only (no id, timestamp or group column), 120
classes whose first names hold ``?``, ``/``, spaces, accents and emoji, 3% wrong labels, 1% repeated rows.

Measured on the same data in the same run:

- ``new-usecase``: inference of the spec from the file (wall seconds of the command).
- ``run --retrain``: every layer from the raw file to a promoted champion (wall seconds of the command).
- floor: reading the same CSV with Polars and fitting the factory's text model (TF-IDF word 1-2-grams +
  logistic regression, the same settings) on 80% of it once: what the task costs without the factory.
- where the time goes: the step durations Dagster recorded for every run, summed by step.

Run: .venv/bin/python bench/byo.py [--rows 10000,100000] [--classes 120] [--seed 7]
Prints a table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from factory.demo.samples import text_csv

_FACTORY = str(Path(sys.executable).with_name("factory"))


def _command(args: list[str], env: dict[str, str]) -> float:
    """Run one ``factory`` command; its wall seconds. Exits with its output when it fails."""
    started = time.perf_counter()
    done = subprocess.run([_FACTORY, *args], env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"factory {' '.join(args)} failed ({done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    return seconds


def _step_seconds(dagster_home: Path) -> dict[str, float]:
    """Seconds per step (asset) over every run of the instance."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(dagster_home)
    totals: dict[str, float] = defaultdict(float)
    with dg.DagsterInstance.get() as instance:
        for run in instance.get_runs():
            for stat in instance.get_run_step_stats(run.run_id):
                if stat.start_time is not None and stat.end_time is not None:
                    totals[stat.step_key] += stat.end_time - stat.start_time
    return dict(sorted(totals.items(), key=lambda item: -item[1]))


def _floor(data: Path) -> float:
    """Read the CSV and fit the text model once on 80% of it."""
    started = time.perf_counter()
    frame = pl.read_csv(data)
    train = frame.head(int(frame.height * 0.8))
    with threadpool_limits(limits=1, user_api="blas"):
        model = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2, max_features=50_000)
        features = model.fit_transform(np.asarray(train["text"].to_list(), dtype=object))
        LogisticRegression(max_iter=1000, C=4.0, random_state=13).fit(features, train["label"].to_list())
    return time.perf_counter() - started


def measure(rows: int, classes: int, seed: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix=f"byo-{rows}-"))
    try:
        data = root / "incoming" / "requests.csv"
        text_csv(data, rows=rows, classes=classes, seed=seed)
        dagster_home = root / "home" / "dagster"
        dagster_home.mkdir(parents=True)
        shutil.copy(Path(__file__).resolve().parent.parent / "dagster.yaml", dagster_home / "dagster.yaml")
        (root / "usecases").mkdir()
        env = {
            **os.environ,
            "FACTORY_HOME": str(root / "home"),
            "FACTORY_DATA": str(root / "data"),
            "DAGSTER_HOME": str(dagster_home),
            "FACTORY_USECASES": str(root / "usecases"),
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "GX_ANALYTICS_ENABLED": "False",
            "DAGSTER_DISABLE_TELEMETRY": "true",
        }
        name = "byo_requests"
        infer = _command(["new-usecase", name, "--data", str(data), "--label", "label"], env)
        run = _command(["run", name, "--retrain"], env)
        steps = _step_seconds(dagster_home)
        floor = _floor(data)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    seconds = infer + run
    return {
        "rows": rows,
        "classes": classes,
        "seconds": round(seconds, 1),
        "rows_per_s": round(rows / seconds),
        "new_usecase_seconds": round(infer, 1),
        "run_seconds": round(run, 1),
        "floor_seconds": round(floor, 1),
        "ratio_to_floor": round(seconds / floor, 1),
        "steps": {step: round(value, 1) for step, value in list(steps.items())[:8]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", default="10000,100000")
    parser.add_argument("--classes", type=int, default=120)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    results = [measure(int(n), args.classes, args.seed) for n in args.rows.split(",")]
    print(f"{'rows':>8} {'new-usecase s':>14} {'run --retrain s':>16} {'rows/s':>8} {'floor s':>8} {'x floor':>8}")
    for r in results:
        print(
            f"{r['rows']:>8} {r['new_usecase_seconds']:>14} {r['run_seconds']:>16} {r['rows_per_s']:>8} "
            f"{r['floor_seconds']:>8} {r['ratio_to_floor']:>8}"
        )
        print("         slowest steps: " + ", ".join(f"{k} {v}s" for k, v in r["steps"].items()))
    print(json.dumps({"results": results}))


if __name__ == "__main__":
    main()
