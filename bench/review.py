"""The review queue's cost: out-of-fold models on 10,000 items x 80 classes against the rest of labeling.

Generated labeled text with known truth: every class has its own vocabulary (12 words) and every text mixes
4-9 of its class's words with 6-14 words shared by all classes (some texts lean on a neighbour class's words,
so the model is unsure about some); a share of the items carries a wrong crowd label. Each item has 3
annotations (80% right), so `aggregate` (Dawid-Skene) does its usual work on 30,000 answers.

Measured on the same data in the same run:

- aggregate: factory.core.labeling.aggregate, the labeling step the review queue follows (best of 2).
- review, capped: factory.core.labeling.review_queue with ``max_fit_rows`` (the spec's default unless given).
- review, uncapped: the same with every labeled item fitted (the cost before ``labeling.review.max_fit_rows``).

Run: .venv/bin/python bench/review.py [--items N] [--classes N] [--max-fit-rows N] [--folds N] [--seed N]
Prints a table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import polars as pl

from factory.core.labeling import aggregate, review_queue
from factory.spec import ReviewSpec

_WORDS_PER_CLASS = 12
_SHARED_WORDS = 300


def generate(items: int, n_classes: int, seed: int) -> tuple[pl.DataFrame, pl.DataFrame, list[str]]:
    """Annotations (``item_id, annotator, label``), texts (``item_id, text``) and the class names."""
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
    return annotations, pl.DataFrame({"item_id": ids, "text": texts}), classes


def _timed_review(
    labels: pl.DataFrame, texts: pl.DataFrame, classes: list[str], args: argparse.Namespace, cap: int | None
) -> tuple[float, int]:
    start = time.perf_counter()
    batch = review_queue(
        labels.select("item_id", "label", "confidence", "agreement", "source"),
        texts,
        classes,
        ReviewSpec().budget,
        folds=args.folds,
        seed=args.seed,
        max_fit_rows=cap,
    )
    return time.perf_counter() - start, int(batch.issues.get_column("is_issue").sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--classes", type=int, default=80)
    parser.add_argument("--max-fit-rows", type=int, default=ReviewSpec().max_fit_rows)
    parser.add_argument("--folds", type=int, default=ReviewSpec().folds)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-uncapped", action="store_true", help="do not time the uncapped review")
    args = parser.parse_args()

    annotations, texts, classes = generate(args.items, args.classes, args.seed)
    aggregate_seconds = []
    for _ in range(2):
        start = time.perf_counter()
        labels = aggregate(annotations, classes).labels
        aggregate_seconds.append(time.perf_counter() - start)
    capped, capped_issues = _timed_review(labels, texts, classes, args, args.max_fit_rows)
    uncapped, uncapped_issues = (
        (None, None) if args.skip_uncapped else _timed_review(labels, texts, classes, args, None)
    )

    best_aggregate = min(aggregate_seconds)
    print(f"{args.items:,} items x {args.classes} classes, {annotations.height:,} annotations, {args.folds} folds")
    print("| step | seconds | label issues | review share of (aggregate + review) |")
    print("|---|---|---|---|")
    print(f"| aggregate (Dawid-Skene) | {best_aggregate:.2f} | | |")
    print(
        f"| review, max_fit_rows={args.max_fit_rows:,} | {capped:.2f} | {capped_issues} | "
        f"{capped / (capped + best_aggregate):.0%} |"
    )
    if uncapped is not None:
        print(
            f"| review, every row fitted | {uncapped:.2f} | {uncapped_issues} | "
            f"{uncapped / (uncapped + best_aggregate):.0%} |"
        )
    print(
        json.dumps(
            {
                "items": args.items,
                "classes": args.classes,
                "annotations": annotations.height,
                "folds": args.folds,
                "max_fit_rows": args.max_fit_rows,
                "aggregate_seconds": round(best_aggregate, 3),
                "review_seconds": round(capped, 3),
                "review_label_issues": capped_issues,
                "uncapped_review_seconds": None if uncapped is None else round(uncapped, 3),
                "uncapped_label_issues": uncapped_issues,
            }
        )
    )


if __name__ == "__main__":
    main()
