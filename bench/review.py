"""The review queue's cost: out-of-fold models on 10,000 items x 80 classes against the rest of labeling.

Generated labeled text with known truth: every class has its own vocabulary (12 words) and every text mixes
4-9 of its class's words with 6-14 words shared by all classes (some texts lean on a neighbour class's words,
so the model is unsure about some); a share of the items carries a wrong crowd label. Each item has 3
annotations (80% right), so `aggregate` (Dawid-Skene) does its usual work on 30,000 answers.

Measured on the same data in the same run:

- aggregate: factory.core.labeling.aggregate, the labeling step the review queue follows (best of 2).
- review: factory.core.labeling.review_queue with the spec's ``max_fit_rows`` and ``fast_from_classes``
  (defaults unless given), its label issues scored against the items whose aggregated label is wrong.
- review as before (``--before``, minutes at 80 classes): every labeled item fitted by L-BFGS.

Run: .venv/bin/python bench/review.py [--items N] [--classes N] [--max-fit-rows N] [--fast-from-classes N]
[--folds N] [--seed N] [--before]
Prints a table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from factory.core.labeling import aggregate, review_queue
from factory.spec import ReviewSpec

_WORDS_PER_CLASS = 12
_SHARED_WORDS = 300


def generate(items: int, n_classes: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, list[str]]:
    """Annotations (``item_id, annotator, label``), texts (``item_id, text``), the truth (``item_id, truth``)
    and the class names."""
    rng = np.random.default_rng(seed)
    classes = [f"class_{k:03d}" for k in range(n_classes)]
    truth = rng.integers(0, n_classes, size=items)
    texts = []
    for code in truth:
        own = rng.integers(0, _WORDS_PER_CLASS, size=rng.integers(4, 10))
        words = [f"c{code}w{w}" for w in own]
        if rng.random() < 0.2:  # leans on the neighbour class's words
            neighbour = (code + 1) % n_classes
            words += [f"c{neighbour}w{w}" for w in rng.integers(0, _WORDS_PER_CLASS, size=rng.integers(2, 6))]
        words += [f"s{w}" for w in rng.integers(0, _SHARED_WORDS, size=rng.integers(6, 15))]
        rng.shuffle(words)
        texts.append(" ".join(words))
    ids = [f"item-{i:06d}" for i in range(items)]
    rows = []
    for i, code in enumerate(truth):
        for a in rng.choice(40, size=3, replace=False):
            answer = code if rng.random() < 0.8 else rng.integers(0, n_classes)
            rows.append((ids[i], f"annotator-{a:02d}", classes[answer]))
    annotations = pl.DataFrame(rows, schema=["item_id", "annotator", "label"], orient="row")
    true_labels = pl.DataFrame({"item_id": ids, "truth": [classes[c] for c in truth]})
    return annotations, pl.DataFrame({"item_id": ids, "text": texts}), true_labels, classes


@dataclass(frozen=True)
class Run:
    """One timed review: seconds, label issues found, and their precision and recall against the wrong labels."""

    seconds: float
    issues: int
    precision: float
    recall: float


def timed_review(
    labels: pl.DataFrame, texts: pl.DataFrame, truth: pl.DataFrame, classes: list[str], **options: Any
) -> Run:
    """Time `review_queue` on the labels with the given options, and score its label issues."""
    start = time.perf_counter()
    batch = review_queue(
        labels.select("item_id", "label", "confidence", "agreement", "source"),
        texts,
        classes,
        ReviewSpec().budget,
        **options,
    )
    seconds = time.perf_counter() - start
    scored = batch.issues.join(truth, on="item_id").with_columns((pl.col("label") != pl.col("truth")).alias("wrong"))
    hits = scored.filter(pl.col("is_issue") & pl.col("wrong")).height
    flagged = scored.filter(pl.col("is_issue")).height
    wrong = scored.filter(pl.col("wrong")).height
    return Run(seconds, flagged, hits / flagged if flagged else 0.0, hits / wrong if wrong else 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--classes", type=int, default=80)
    parser.add_argument("--max-fit-rows", type=int, default=ReviewSpec().max_fit_rows)
    parser.add_argument("--fast-from-classes", type=int, default=ReviewSpec().fast_from_classes)
    parser.add_argument("--folds", type=int, default=ReviewSpec().folds)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--before", action="store_true", help="also time the review as it was (minutes at 80 classes)")
    args = parser.parse_args()

    annotations, texts, truth, classes = generate(args.items, args.classes, args.seed)
    aggregate_seconds = []
    for _ in range(2):
        start = time.perf_counter()
        labels = aggregate(annotations, classes).labels
        aggregate_seconds.append(time.perf_counter() - start)
    common = {"folds": args.folds, "seed": args.seed}
    runs = {
        f"review: max_fit_rows {args.max_fit_rows:,}, fast model from {args.fast_from_classes} classes": timed_review(
            labels,
            texts,
            truth,
            classes,
            max_fit_rows=args.max_fit_rows,
            fast_from_classes=args.fast_from_classes,
            **common,
        )
    }
    if args.before:
        runs["review as before: every row, L-BFGS"] = timed_review(labels, texts, truth, classes, **common)

    best_aggregate = min(aggregate_seconds)
    print(f"{args.items:,} items x {args.classes} classes, {annotations.height:,} annotations, {args.folds} folds")
    print("| step | seconds | label issues | precision | recall |")
    print("|---|---|---|---|---|")
    print(f"| aggregate (Dawid-Skene) | {best_aggregate:.2f} | | | |")
    for name, run in runs.items():
        print(f"| {name} | {run.seconds:.2f} | {run.issues} | {run.precision:.3f} | {run.recall:.3f} |")
    result: dict[str, object] = {
        "items": args.items,
        "classes": args.classes,
        "annotations": annotations.height,
        "folds": args.folds,
        "max_fit_rows": args.max_fit_rows,
        "fast_from_classes": args.fast_from_classes,
        "aggregate_seconds": round(best_aggregate, 3),
    }
    for key, run in zip(("review", "before"), runs.values(), strict=False):
        result |= {
            f"{key}_seconds": round(run.seconds, 3),
            f"{key}_label_issues": run.issues,
            f"{key}_precision": round(run.precision, 4),
            f"{key}_recall": round(run.recall, 4),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
