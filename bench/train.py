"""The candidate ladder against a fixed reference, on the same splits in the same run.

Three sets:

- ``tickets``: the demo's support tickets (``factory.demo.generate_day``) for ``--days`` days from 2026-01-01
  (before the demo's drift), labeled with the hidden true category (``TicketBatch.truth``); inputs as the
  shipped ``ticket_triage`` spec has them: text ``subject, body`` and the categorical ``channel``. Rows are
  split by customer (a hash of ``customer_id``), as the factory splits by group.
- ``claims``: the demo's insurance claims (``factory.demo.claims.generate_claims``, 1,000 a day, seed 11 as the
  shipped ``claims_review`` spec) for ``--days`` days, labeled with the hidden decision; inputs as the spec has
  them (the note as text, three categorical and five numeric features), split by policy.
- ``generated``: `factory.demo.samples.text_csv`, ``--rows`` rows over ``--classes`` classes (3% wrong labels,
  1% repeated rows), split at random.

Splits are 70% train, 15% validation, 15% test. Ours: `train_and_select` with the spec's defaults (the ladder
of the modality, grid search by 3-fold CV on train within 300 s, the one-standard-error rule over 200
bootstrap resamples capped at ``max_loss``, calibration, refit on train + validation), scored once on test;
``fit_seconds`` is that whole call. ``redteam_seconds`` generates the red-team suite (1,000+ cases; the shipped
use case's golden and directional file for the demo sets) and runs it on the refit model.
The reference, fitted on train + validation and scored on the same test rows: for text, TF-IDF
word 1-2-grams + char_wb 2-5-grams (sublinear tf) + ``LinearSVC(C=0.5)`` over the joined text; for the tabular
claims (whose spec ladder reads the features, not the short optional note), untuned gradient boosting (our
``hist_gb`` at its defaults) over the features.

Run: .venv/bin/python bench/train.py [--days 6] [--rows 10000] [--classes 80] [--seed 7]
Prints a table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC
from threadpoolctl import threadpool_limits

from factory.core.redteam import SuiteConfig, build_suite, pipeline_scorer, run_suite
from factory.core.training import TEXT_COLUMN, ModelColumns, build_candidate, model_frame, train_and_select
from factory.demo import DemoConfig, generate_day
from factory.demo.claims import generate_claims
from factory.demo.samples import text_csv
from factory.paths import usecases_dir
from factory.resources.redteam import load_redteam_file
from factory.spec import TABULAR_CANDIDATES, TEXT_CANDIDATES, SelectionSpec, load_spec

CLAIMS = ModelColumns(
    text=("note",),
    categorical=("claim_type", "region", "channel"),
    numeric=("claim_amount", "policy_age_days", "prior_claims", "days_to_report", "claimant_age"),
)
SHARES = (("train", 0.70), ("validation", 0.15), ("test", 0.15))


def tickets(days: int, seed: int) -> tuple[pl.DataFrame, ModelColumns, str]:
    """Demo tickets with their true category as ``label``; the group column is ``customer_id``."""
    config = DemoConfig(seed=seed)
    batches = [generate_day(date(2026, 1, 1) + timedelta(days=d), config) for d in range(days)]
    frame = pl.concat([b.raw.join(b.truth, on="ticket_id", how="inner") for b in batches])
    frame = frame.rename({"category": "label"}).filter(pl.col("label").is_not_null())
    return frame, ModelColumns(text=("subject", "body"), categorical=("channel",)), "customer_id"


def claims(days: int) -> tuple[pl.DataFrame, ModelColumns, str]:
    """Demo claims with their hidden decision as ``label``; the group column is ``policy_id``."""
    config = DemoConfig(seed=11, rows_per_day=1000)
    batches = [generate_claims(date(2026, 1, 1) + timedelta(days=d), config) for d in range(days)]
    frame = pl.concat([b.raw.join(b.truth, on="claim_id", how="inner") for b in batches])
    return frame.filter(pl.col("label").is_not_null() & pl.col("policy_id").is_not_null()), CLAIMS, "policy_id"


def generated(rows: int, classes: int, seed: int) -> tuple[pl.DataFrame, ModelColumns, str]:
    """`text_csv` rows with a row number as their group (a random split)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "texts.csv"
        text_csv(path, rows=rows, classes=classes, seed=seed)
        frame = pl.read_csv(path).with_row_index("row")
    return frame.with_columns(pl.col("row").cast(pl.String)), ModelColumns(text=("text",)), "row"


def split(frame: pl.DataFrame, group: str, seed: int) -> dict[str, pl.DataFrame]:
    """Train, validation and test rows by a seeded hash of the group column."""
    position = frame[group].hash(seed).cast(pl.Float64) / float(2**64)
    out: dict[str, pl.DataFrame] = {}
    low = 0.0
    for name, share in SHARES:
        out[name] = frame.filter((position >= low) & (position < low + share))
        low += share
    return out


def reference(seed: int) -> Pipeline:
    words = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2))
    chars = TfidfVectorizer(sublinear_tf=True, analyzer="char_wb", ngram_range=(2, 5))
    return Pipeline([("tfidf", FeatureUnion([("words", words), ("chars", chars)])), ("clf", LinearSVC(C=0.5))])


def redteam_seconds(name: str, model: Any, test: pl.DataFrame, columns: ModelColumns) -> tuple[float, str]:
    """Generate and run the red-team suite (the shipped use case's file for the demo sets, invariance tests only
    for the generated one) on the registered model: seconds and the summary line."""
    shipped = {"tickets": "ticket_triage", "claims": "claims_review"}.get(name)
    spec = load_spec(usecases_dir() / f"{shipped}.yaml") if shipped else None
    started = time.perf_counter()
    file = load_redteam_file(spec) if spec else None
    with threadpool_limits(limits=1):
        suite = build_suite(shipped or name, test, columns, file, SuiteConfig())
        result = run_suite(suite, pipeline_scorer(model, columns))
    return time.perf_counter() - started, result.summary()


def run_set(name: str, frame: pl.DataFrame, columns: ModelColumns, group: str, seed: int) -> dict[str, Any]:
    parts = split(frame, group, seed)
    classes = sorted(frame["label"].unique().to_list())
    splits = {name: (model_frame(rows, columns), rows["label"].to_list()) for name, rows in parts.items()}
    ladder = TABULAR_CANDIDATES if columns.features and columns.numeric else TEXT_CANDIDATES
    started = time.perf_counter()
    rules = SelectionSpec()
    selection = train_and_select(
        splits,
        columns,
        classes=classes,
        candidates=ladder,
        metric="macro_f1",
        seed=13,
        max_features=50_000,
        tolerance=rules.tolerance,
        max_loss=rules.max_loss,
        time_budget_seconds=rules.time_budget_seconds,
        cv_folds=rules.cv_folds,
        bootstrap=rules.bootstrap,
    )
    fit_seconds = time.perf_counter() - started
    redteam, redteam_summary = redteam_seconds(name, selection.model, parts["test"], columns)

    fitting = [*splits["train"][1], *splits["validation"][1]]
    started = time.perf_counter()
    with threadpool_limits(limits=1):
        if ladder == TEXT_CANDIDATES:
            docs = {name: inputs[TEXT_COLUMN].to_numpy() for name, (inputs, _) in splits.items()}
            model: Any = reference(seed).fit(np.concatenate([docs["train"], docs["validation"]]), fitting)
            predicted = model.predict(docs["test"])
        else:
            model = build_candidate("hist_gb", columns, seed=13, max_features=50_000)
            model.fit(pd.concat([splits["train"][0], splits["validation"][0]], ignore_index=True), fitting)
            predicted = model.predict(splits["test"][0])
    reference_seconds = time.perf_counter() - started
    truth = splits["test"][1]
    test = selection.test_intervals["macro_f1"]
    return {
        "rows": frame.height,
        "classes": len(classes),
        "sizes": selection.sizes,
        "selection": {
            r["candidate"]: {k: r[k] for k in ("validation_macro_f1", "se", "params", "fit_s", "ms_per_1k", "size_kb")}
            for r in selection.summary_rows()
        },
        "summary": selection.summary_line(),
        "chosen": selection.chosen.name,
        "best": selection.best.name,
        "macro_f1": round(selection.test["macro_f1"], 4),
        "macro_f1_interval": [round(test.low, 4), round(test.high, 4)],
        "accuracy": round(selection.test["accuracy"], 4),
        "reference_macro_f1": round(float(f1_score(truth, predicted, labels=classes, average="macro")), 4),
        "reference_accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "ece_before": None if selection.calibration is None else selection.calibration.ece_before,
        "ece_after": None if selection.calibration is None else selection.calibration.ece_after,
        "fit_seconds": round(fit_seconds, 2),
        "reference_seconds": round(reference_seconds, 2),
        "redteam_seconds": round(redteam, 2),
        "redteam": redteam_summary,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=6)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--classes", type=int, default=80)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    sets = {
        "tickets": tickets(args.days, args.seed),
        "claims": claims(args.days),
        "generated": generated(args.rows, args.classes, args.seed),
    }
    results = {name: run_set(name, *data, seed=args.seed) for name, data in sets.items()}
    header = f"{'set':<10} {'rows':>6} {'cls':>4} {'chosen':<14} {'macro_f1':>8} {'acc':>6} {'ref_f1':>6} "
    print(header + f"{'ref_acc':>7} {'margin':>7} {'fit_s':>6} {'ref_s':>6}")
    for name, r in results.items():
        margin = r["macro_f1"] - r["reference_macro_f1"]
        print(
            f"{name:<10} {r['rows']:>6} {r['classes']:>4} {r['chosen']:<14} {r['macro_f1']:>8.4f} "
            f"{r['accuracy']:>6.4f} {r['reference_macro_f1']:>6.4f} {r['reference_accuracy']:>7.4f} "
            f"{margin:>+7.4f} {r['fit_seconds']:>6.1f} {r['reference_seconds']:>6.1f}"
        )
        print(f"{'':<10} {r['summary']}")
        for candidate, row in r["selection"].items():
            print(f"{'':<10}   {candidate:<14} {row}")
    worst = min(r["macro_f1"] - r["reference_macro_f1"] for r in results.values())
    print(json.dumps({**results, "worst_margin": round(worst, 4)}))


if __name__ == "__main__":
    main()
