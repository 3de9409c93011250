"""Dataset gates at speed: the full gate suite on a 1,000,000-row staged dataset, GX against Polars.

The staged dataset is built the way the factory builds one: demo tickets (ticket_triage, seed 7) without
the injected duplicates and malformed rows, labeled with their true category (13 classes), a simulated
label confidence (1.0 / 0.67 / 0.33 with probabilities 0.70 / 0.25 / 0.05), the deterministic split by
customer, the content hash, and exact and near duplicates removed as preparation would. Columns:
ticket_id, created_at, customer_id, channel, subject, body (~224 characters), label, label_confidence,
label_source, split, content_hash. The reference (the "last published version") is a 90% sample of it.

Measured, each in the same process after a warm-up on 1,000 rows (which pays the GX import once):

- gx: `expectations_only`: the expectation suite validated by Great Expectations (pandas conversion
  included);
- own: `own_checks`: leakage (exact, near, groups), shift against the reference, low confidence;
- polars: `polars_equivalent`: the same expectations as the GX suite, computed directly in Polars.

The full suite (``seconds``) is `run_gates`, which runs our checks on a worker thread beside GX
(``serial_seconds`` = gx + own, one after the other). ``ratio_to_polars`` is gx / polars (the same
expectations through GX and directly in Polars); ``suite_ratio_to_polars`` is the full suite over the
same suite with Polars in place of GX (polars + own). The two engines' reports are compared gate by gate,
and the full suite's against the parts run alone.

Run: .venv/bin/python bench/gates.py [--rows N] [--repeat N] [--cache PATH]
Times are the best of ``--repeat`` runs (default 1). Prints a table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TypeVar

import numpy as np
import polars as pl

from factory.core.dataset import assign_split
from factory.core.preparation import MinHashConfig, content_hash, join_content, minhash_signatures, near_duplicates
from factory.core.validation import (
    GateConfig,
    GateOutcome,
    expectations_only,
    gate_config_from_spec,
    own_checks,
    polars_equivalent,
    reference_stats,
    run_gates,
)
from factory.demo import DemoConfig, generate_day
from factory.paths import package_path
from factory.spec import load_spec

T = TypeVar("T")
DAY = date(2026, 1, 5)


def staged_dataset(rows: int, spec_fractions: dict[str, float], salt: str, minhash: MinHashConfig) -> pl.DataFrame:
    """A clean staged dataset of exactly ``rows`` rows (module docstring)."""
    batch = generate_day(DAY, DemoConfig(rows_per_day=int(rows * 1.12) + 1000, seed=7))
    injected = batch.injected.filter(pl.col("kind").str.contains("duplicate|malformed"))["row"].cast(pl.UInt32)
    raw = batch.raw.with_row_index("_row").filter(~pl.col("_row").is_in(injected.implode())).drop("_row")
    frame = raw.join(batch.truth.rename({"category": "label"}), on="ticket_id", how="inner", maintain_order="left")
    frame = frame.filter(pl.col("body").is_not_null() & pl.col("customer_id").is_not_null())
    frame = frame.with_columns(content_hash(frame, ["subject", "body"])).unique(
        "content_hash", keep="first", maintain_order=True
    )
    frame = frame.unique("ticket_id", keep="first", maintain_order=True)
    content = join_content(frame, ["subject", "body"], normalized=True)
    signatures = minhash_signatures(content, minhash)
    none = pl.Series([], dtype=pl.String)
    near = near_duplicates(
        frame["ticket_id"], signatures, prior_ids=none, prior_signatures=signatures[:0], config=minhash
    )
    frame = frame.filter(~pl.col("ticket_id").is_in(near["ticket_id"].implode())).head(rows)
    if frame.height < rows:
        raise SystemExit(f"only {frame.height} clean rows generated, wanted {rows}")
    rng = np.random.default_rng(7)
    confidence = rng.choice([1.0, 2 / 3, 1 / 3], size=frame.height, p=[0.70, 0.25, 0.05])
    return frame.with_columns(
        pl.Series("label_confidence", confidence),
        pl.lit("consensus").alias("label_source"),
        assign_split(frame["customer_id"], spec_fractions, salt),
    ).select(
        "ticket_id",
        "created_at",
        "customer_id",
        "channel",
        "subject",
        "body",
        "label",
        "label_confidence",
        "label_source",
        "split",
        "content_hash",
    )


def _report(gate: GateOutcome) -> tuple[object, ...]:
    return gate.passed, gate.figures, gate.table, gate.sample


def timed(fn: Callable[[], T], repeat: int) -> tuple[T, float]:
    """The result of `fn` and its best wall time over `repeat` runs."""
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    assert out is not None
    return out, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--cache", type=Path, help="Parquet file to reuse the staged dataset from (or write it to)")
    args = parser.parse_args()

    spec = load_spec(package_path("usecases", "ticket_triage.yaml"))
    config: GateConfig = gate_config_from_spec(spec)
    start = time.perf_counter()
    if args.cache and args.cache.exists():
        frame = pl.read_parquet(args.cache)
    else:
        frame = staged_dataset(args.rows, spec.splits.fractions(), spec.splits.salt, config.near_duplicates)
        if args.cache:
            frame.write_parquet(args.cache)
    build_seconds = time.perf_counter() - start
    start = time.perf_counter()
    stats = reference_stats(frame.sample(fraction=0.9, seed=11), config)
    reference_seconds = time.perf_counter() - start

    start = time.perf_counter()
    expectations_only(frame.head(1000), config, stats)  # imports GX and builds its context, once per process
    warmup_seconds = time.perf_counter() - start

    gx, gx_seconds = timed(lambda: expectations_only(frame, config, stats), args.repeat)
    own, own_seconds = timed(lambda: own_checks(frame, config, stats), args.repeat)
    direct, polars_seconds = timed(lambda: polars_equivalent(frame, config, stats), args.repeat)
    suite, seconds = timed(lambda: run_gates(frame, config, stats), args.repeat)
    disagree = [a.name for a, b in zip(gx, direct, strict=True) if _report(a) != _report(b)]

    if [(g.name, g.passed, g.figures) for g in suite] != [(g.name, g.passed, g.figures) for g in [*gx, *own]]:
        raise SystemExit("run_gates disagrees with expectations_only + own_checks")
    print(
        f"staged dataset: {frame.height:,} rows x {frame.width} columns, {len(config.classes)} classes (built in "
        f"{build_seconds:.1f} s; reference stats {reference_seconds:.2f} s; GX warm-up {warmup_seconds:.1f} s)"
    )
    print()
    print(f"{'gate':<36}{'passed':>8}{'severity':>10}  summary")
    for gate in suite:
        print(f"{gate.name:<36}{'yes' if gate.passed else 'NO':>8}{gate.severity:>10}  {gate.summary}")
    print()
    print(f"{'part':<52}{'seconds':>10}")
    print(f"{'expectations through GX (gx)':<52}{gx_seconds:>10.2f}")
    print(f"{'our checks: leakage, shift, confidence (own)':<52}{own_seconds:>10.2f}")
    print(f"{'full suite: run_gates (own on a thread beside gx)':<52}{seconds:>10.2f}")
    print(f"{'same expectations directly in Polars (polars)':<52}{polars_seconds:>10.3f}")
    agreement = "yes" if not disagree else "NO: " + ", ".join(disagree)
    print(f"GX vs Polars on the same expectations: {gx_seconds / polars_seconds:.1f}x; reports agree: {agreement}")
    result = {
        "rows": frame.height,
        "columns": frame.width,
        "classes": len(config.classes),
        "seconds": round(seconds, 3),
        "gx_seconds": round(gx_seconds, 3),
        "own_seconds": round(own_seconds, 3),
        "polars_seconds": round(polars_seconds, 3),
        "ratio_to_polars": round(gx_seconds / polars_seconds, 1),
        "suite_ratio_to_polars": round(seconds / (polars_seconds + own_seconds), 2),
        "gx_warmup_seconds": round(warmup_seconds, 2),
        "engines_agree": not disagree,
        "serial_seconds": round(gx_seconds + own_seconds, 3),
        "gates_failed": [gate.name for gate in suite if not gate.passed],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
