"""Preparation at speed: our prepare_batch on 1,000,000 demo tickets against its floor and its peers.

- floor: Polars alone on the same Parquet file: read, normalize the text, hash it, one regex pass.
- scrubadub: PII scrubbing on a sample, same texts; recall on the PII values the demo injected.
- datasketch: MinHash LSH near-duplicate search on a sample, same texts; recall on injected near duplicates.

Run: .venv/bin/python bench/prepare.py [--rows N] [--pii-sample N] [--dedup-sample N]
Times are the best of 2 runs (preparation, floor) or 3 runs (PII, both sides); datasketch runs once.
Prints a table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import date
from pathlib import Path

import polars as pl

from factory.core.preparation import (
    MinHashConfig,
    minhash_signatures,
    near_duplicates,
    normalize_text,
    prepare_batch,
    scrub,
)
from factory.defs.usecase import UseCase
from factory.demo import DemoConfig, generate_day
from factory.paths import package_path
from factory.spec import load_spec

DAY = date(2026, 1, 5)


def _text(frame: pl.DataFrame) -> pl.Series:
    return frame.select(pl.concat_str([pl.col("subject").fill_null(""), pl.col("body").fill_null("")], separator="\n"))[
        "subject"
    ]


def _timed(fn, *args, repeat: int = 1, **kwargs):  # type: ignore[no-untyped-def]
    """The result of `fn` and its best wall time over `repeat` runs (best-of-N damps a shared machine's noise)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return out, best


def bench_prepare(path: Path, uc: UseCase) -> dict[str, float]:
    prior = pl.DataFrame(schema={"ticket_id": pl.String, "content_hash": pl.String, "signature": pl.List(pl.UInt32)})

    def ours() -> int:
        raw = pl.read_parquet(path)
        return prepare_batch(raw, uc.prepare_rules(DAY.isoformat()), prior).prepared.height

    def floor() -> int:
        frame = pl.read_parquet(path).with_columns(normalize_text(pl.col("subject")), normalize_text(pl.col("body")))
        hashed = frame.with_columns(pl.concat_str("subject", "body").hash().alias("h"))
        cleaned = hashed.with_columns(pl.col("body").str.replace_all(r"[\w.+-]+@[\w-]+\.[\w.]+", "<EMAIL>"))
        return cleaned.height

    # Warm-up on a small slice: Numba compiles the MinHash kernels once per machine (cached on disk after).
    prepare_batch(pl.read_parquet(path, n_rows=2_000), uc.prepare_rules(DAY.isoformat()), prior)
    prepared, ours_s = _timed(ours, repeat=2)
    _, floor_s = _timed(floor, repeat=2)
    return {"seconds": ours_s, "floor_seconds": floor_s, "prepared": prepared}


def bench_pii(sample: pl.DataFrame, injected: pl.DataFrame) -> dict[str, float]:
    import scrubadub

    texts = _text(sample)
    values = injected.filter(pl.col("kind").str.starts_with("pii_"))
    ours, ours_s = _timed(lambda: scrub(texts).text, repeat=3)
    scrubber = scrubadub.Scrubber()
    theirs, theirs_s = _timed(lambda: pl.Series([scrubber.clean(t) for t in texts.to_list()]), repeat=3)

    def recall(out: pl.Series) -> float:
        hits = total = 0
        for row, value in values.select("row", "detail").iter_rows():
            total += 1
            hits += value not in out[row]
        return hits / max(total, 1)

    return {
        "texts": texts.len(),
        "pii_values": values.height,
        "seconds": ours_s,
        "scrubadub_seconds": theirs_s,
        "recall": recall(ours),
        "scrubadub_recall": recall(theirs),
    }


def bench_near(sample: pl.DataFrame, injected: pl.DataFrame, config: MinHashConfig) -> dict[str, float]:
    from datasketch import MinHash, MinHashLSH

    texts = _text(sample).str.to_lowercase()
    ids = sample["ticket_id"].fill_null("").cast(pl.String)
    row_of = {tid: i for i, tid in enumerate(ids.to_list())}
    truth = [
        row
        for row, original in injected.filter(pl.col("kind") == "near_duplicate").select("row", "detail").iter_rows()
        if original in row_of and row_of[original] < row
    ]
    empty = pl.Series([], dtype=pl.String)

    def ours() -> set[int]:
        keyed = pl.Series([f"{i}" for i in range(texts.len())])
        signatures = minhash_signatures(texts, config)
        prior = minhash_signatures(empty, config)
        found = near_duplicates(keyed, signatures, prior_ids=empty, prior_signatures=prior, config=config)
        return {int(x) for x in found[found.columns[0]].to_list()}

    def theirs() -> set[int]:
        lsh = MinHashLSH(threshold=config.threshold, num_perm=config.num_perm)
        flagged: set[int] = set()
        hashes: list[MinHash] = []
        for i, text in enumerate(texts.to_list()):
            data = text.encode()
            shingles = {data[j : j + config.shingle_size] for j in range(max(len(data) - config.shingle_size + 1, 0))}
            minhash = MinHash(num_perm=config.num_perm, seed=config.seed)
            minhash.update_batch(list(shingles))
            if any(minhash.jaccard(hashes[int(c)]) >= config.threshold for c in lsh.query(minhash)):
                flagged.add(i)
            else:
                lsh.insert(str(i), minhash)
            hashes.append(minhash)
        return flagged

    ours_found, ours_s = _timed(ours)
    theirs_found, theirs_s = _timed(theirs)
    return {
        "texts": texts.len(),
        "true_pairs": len(truth),
        "seconds": ours_s,
        "datasketch_seconds": theirs_s,
        "recall": sum(r in ours_found for r in truth) / max(len(truth), 1),
        "datasketch_recall": sum(r in theirs_found for r in truth) / max(len(truth), 1),
        "flagged": len(ours_found),
        "datasketch_flagged": len(theirs_found),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pii-sample", type=int, default=10_000)
    parser.add_argument("--dedup-sample", type=int, default=20_000)
    args = parser.parse_args()

    uc = UseCase(load_spec(package_path("usecases", "ticket_triage.yaml")))
    batch = generate_day(DAY, DemoConfig(rows_per_day=args.rows, seed=7))
    raw = batch.raw.with_row_index("_line").with_columns(pl.col("_line").cast(pl.Int64))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "raw.parquet"
        raw.write_parquet(path)
        prep = bench_prepare(path, uc)
    pii = bench_pii(raw.head(args.pii_sample), batch.injected.filter(pl.col("row") < args.pii_sample))
    near = bench_near(
        raw.head(args.dedup_sample),
        batch.injected.filter(pl.col("row") < args.dedup_sample),
        uc.prepare_rules(DAY.isoformat()).minhash,
    )
    result = {
        "rows": args.rows,
        "columns": raw.width - 1,
        "seconds": round(prep["seconds"], 3),
        "rows_per_s": round(args.rows / prep["seconds"]),
        "floor_seconds": round(prep["floor_seconds"], 3),
        "ratio_to_floor": round(prep["seconds"] / prep["floor_seconds"], 2),
        "pii_sample": pii["texts"],
        "pii_seconds": round(pii["seconds"], 4),
        "scrubadub_seconds": round(pii["scrubadub_seconds"], 3),
        "ratio_to_scrubadub": round(pii["scrubadub_seconds"] / pii["seconds"], 1),
        "pii_recall": round(pii["recall"], 4),
        "scrubadub_recall": round(pii["scrubadub_recall"], 4),
        "dedup_sample": near["texts"],
        "near_duplicate_pairs": near["true_pairs"],
        "dedup_seconds": round(near["seconds"], 3),
        "datasketch_seconds": round(near["datasketch_seconds"], 3),
        "ratio_to_datasketch": round(near["datasketch_seconds"] / near["seconds"], 1),
        "near_recall": round(near["recall"], 4),
        "datasketch_recall": round(near["datasketch_recall"], 4),
    }
    print(f"{'measure':<34}{'ours':>12}{'peer/floor':>14}{'ratio':>10}")
    print(
        f"{'prepare 1M rows (s)':<34}{result['seconds']:>12}{result['floor_seconds']:>14}{result['ratio_to_floor']:>10}"
    )
    print(
        f"{'PII scrub sample (s)':<34}{result['pii_seconds']:>12}{result['scrubadub_seconds']:>14}"
        f"{result['ratio_to_scrubadub']:>10}"
    )
    print(f"{'PII recall':<34}{result['pii_recall']:>12}{result['scrubadub_recall']:>14}")
    print(
        f"{'near duplicates sample (s)':<34}{result['dedup_seconds']:>12}{result['datasketch_seconds']:>14}"
        f"{result['ratio_to_datasketch']:>10}"
    )
    print(f"{'near-duplicate recall':<34}{result['near_recall']:>12}{result['datasketch_recall']:>14}")
    print(f"rows/s through preparation: {result['rows_per_s']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
