"""Evidently's side of bench/drift.py: ``DataDriftPreset`` on one reference and one current Parquet file.

Runs in its own environment (``make bench-drift-env``: Evidently 0.7 with ``pandas<3``, which the factory's
pandas 3 cannot host), as a subprocess of bench/drift.py, so its time and peak memory are its own. Only the
standard library, pandas and Evidently are imported here.

Run: bench/.venv-evidently/bin/python bench/_drift_evidently.py DATA_DIR CURRENT_NAME
``DATA_DIR`` holds ``reference.parquet``, ``CURRENT_NAME.parquet`` and ``columns.json`` (the numeric,
categorical and text column names). Prints one JSON object: the seconds to read both files, the seconds of
``report.run`` (which computes the reference side and the comparison, as Evidently has no stored reference),
and per column the drift score, the method Evidently chose, its threshold and whether its test flagged drift
(``include_tests=True``: the preset's per-column tests are Evidently's own verdicts).
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently import __version__ as evidently_version
from evidently.presets import DataDriftPreset


def main() -> None:
    data, current_name = Path(sys.argv[1]), sys.argv[2]
    columns = json.loads((data / "columns.json").read_text())
    definition = DataDefinition(
        numerical_columns=columns["numeric"],
        categorical_columns=columns["categorical"],
        text_columns=[columns["text"]],
    )
    start = time.perf_counter()
    reference = pd.read_parquet(data / "reference.parquet")
    current = pd.read_parquet(data / f"{current_name}.parquet")
    read_seconds = time.perf_counter() - start

    start = time.perf_counter()
    with warnings.catch_warnings():  # Evidently 0.7 warns about its own pandas and scikit-learn calls
        warnings.simplefilter("ignore")
        snapshot = Report([DataDriftPreset()], include_tests=True).run(
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition),
        )
    run_seconds = time.perf_counter() - start

    results = snapshot.dict()
    scores = {metric["id"]: metric for metric in results["metrics"] if metric["config"]["type"].endswith(":ValueDrift")}
    verdicts: dict[str, dict[str, object]] = {}
    for test in results["tests"]:  # the preset's per-column tests: Evidently's own verdicts
        metric = scores.get(test["metric_config"]["metric_id"])
        if metric is None:
            continue
        config = metric["config"]
        verdicts[config["column"]] = {
            "score": float(metric["value"]),
            "method": config["method"],
            "threshold": config["threshold"],
            "drifted": test["status"] == "FAIL",
        }
    print(
        json.dumps(
            {
                "evidently_version": evidently_version,
                "pandas_version": pd.__version__,
                "read_seconds": read_seconds,
                "run_seconds": run_seconds,
                "rows": len(current),
                "verdicts": verdicts,
            }
        )
    )


if __name__ == "__main__":
    main()
