"""Drift at scale: our drift report against Evidently's ``DataDriftPreset`` on 1,000,000 + 1,000,000 rows.

Data (seeded): a reference split, a drifted current split and a clean current split (drawn from the reference
distribution), each ``--rows`` rows of 12 numeric and 8 categorical columns and one text column, written once
as Parquet in a temporary directory that both sides read. Drift of known strengths is injected in 7 of the 21
columns of the drifted split (``INJECTED``): strong (a 1-standard-deviation mean shift, a 1.7x wider spread, a
category share swap, a new topic in the texts), moderate (a category that did not exist), subtle (a 0.1
standard-deviation mean shift, a 3-point change in one category's share); the other 14 are drawn as in the
reference. The clean split counts false alarms over all 21 columns.

- ours: ``ReferenceStats.of`` on the reference (done once when a dataset version is published, stored as JSON),
  then ``drift_against`` on each current split (the daily report: the stored statistics read back, the day's
  rows compared); a column counts as flagged when a verdict of its component(s) says drifted.
- Evidently 0.7: ``Report([DataDriftPreset()]).run(current, reference)`` with a ``DataDefinition`` declaring the
  numeric, categorical and text columns (text drift by its domain classifier), in its own environment
  (``make bench-drift-env``: Evidently needs pandas < 3), through ``bench/_drift_evidently.py``.

Every step runs in a subprocess of its own, so its peak RSS (``os.wait4``) is honest, and is bounded by
``--timeout`` seconds. ``seconds`` is ours end to end (reference statistics + daily report on the drifted
split), the comparison with ``evidently_seconds``, which does both in one ``run``. Reading the Parquet files
is timed apart on both sides and not counted.

Run: make bench-drift-env && .venv/bin/python bench/drift.py [--rows N] [--seed N] [--timeout S]
Prints a table, then one JSON object as the last line.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

_BENCH = Path(__file__).resolve().parent
_EVIDENTLY_PYTHON = _BENCH / ".venv-evidently" / "bin" / "python"
_EVIDENTLY_WORKER = _BENCH / "_drift_evidently.py"

NUMERIC = [f"n{k:02d}" for k in range(12)]
CATEGORICAL = [f"c{k:02d}" for k in range(8)]
TEXT = "text"
COLUMNS = [*NUMERIC, *CATEGORICAL, TEXT]

# The columns drifted in the drifted split, with the strength of what was injected (see `_numeric`, `_categorical`
# and `_texts` for the exact change).
INJECTED = {
    "n00": "strong: mean +1 sd",
    "n01": "subtle: mean +0.1 sd",
    "n02": "strong: sd x1.7",
    "c00": "strong: shares 40/30/15/10/5 -> 15/30/15/10/30",
    "c01": "subtle: one share 30% -> 33%",
    "c02": "moderate: a new category at 5%",
    TEXT: "strong: a topic 2% -> 20% of texts",
}

_TOPICS = 8
_TOPIC_WORDS = 40
_COMMON_WORDS = 300
_MAX_WORDS = 16
_SYLLABLES = ["ka", "lo", "mi", "ren", "tas", "vo", "ble", "dri", "sun", "por", "gel", "fa", "quin", "zu", "ter", "mo"]


@dataclass(frozen=True)
class Step:
    """What one subprocess printed (its JSON line), its wall seconds and its peak resident memory."""

    out: dict[str, Any]
    wall_seconds: float
    peak_rss_mb: float


# ----------------------------------------------------------------------------------------------- the data


def _vocabulary(rng: np.random.Generator, size: int) -> list[str]:
    """``size`` distinct pseudo-words of 3 to 4 syllables."""
    words: dict[str, None] = {}
    while len(words) < size:
        picks = rng.integers(len(_SYLLABLES), size=int(rng.integers(3, 5)))
        words["".join(_SYLLABLES[p] for p in picks)] = None
    return list(words)


def _texts(rng: np.random.Generator, rows: int, topic_shares: np.ndarray, vocabulary: list[str]) -> pl.Series:
    """Texts of 6 to 16 words: each word from the text's topic (40%) or from the common words (60%)."""
    topic = rng.choice(_TOPICS, size=rows, p=topic_shares)
    own = rng.random((rows, _MAX_WORDS)) < 0.4
    topic_word = _COMMON_WORDS + topic[:, None] * _TOPIC_WORDS + rng.integers(_TOPIC_WORDS, size=(rows, _MAX_WORDS))
    common_word = rng.integers(_COMMON_WORDS, size=(rows, _MAX_WORDS))
    index = np.where(own, topic_word, common_word).astype(np.uint32).ravel()
    words = pl.Series(vocabulary).gather(index).reshape((rows, _MAX_WORDS))
    lengths = pl.lit(pl.Series(rng.integers(6, _MAX_WORDS + 1, size=rows)))
    return pl.select(pl.lit(words).arr.to_list().list.head(lengths).list.join(" ")).to_series().alias(TEXT)


def _with_nulls(values: np.ndarray, rng: np.random.Generator, share: float) -> pl.Series:
    series = pl.Series(values)
    return series.scatter(np.flatnonzero(rng.random(values.size) < share), None) if share else series


def _numeric(rng: np.random.Generator, rows: int, drifted: bool) -> dict[str, pl.Series]:
    """12 numeric columns of varied shapes; with ``drifted``, n00, n01 and n02 change (`INJECTED`)."""
    shift_strong = 10.0 if drifted else 0.0  # n00 ~ N(50, 10): +1 sd
    shift_subtle = 0.1 if drifted else 0.0  # n01 ~ N(0, 1): +0.1 sd
    spread = 1.7 if drifted else 1.0  # n02 ~ N(100, 15): sd x1.7
    bimodal = np.where(rng.random(rows) < 0.3, rng.normal(-2.0, 0.5, rows), rng.normal(3.0, 1.0, rows))
    return {
        "n00": pl.Series(rng.normal(50.0 + shift_strong, 10.0, rows)),
        "n01": pl.Series(rng.normal(shift_subtle, 1.0, rows)),
        "n02": pl.Series(rng.normal(100.0, 15.0 * spread, rows)),
        "n03": _with_nulls(rng.lognormal(3.0, 0.5, rows), rng, 0.02),
        "n04": pl.Series(rng.exponential(5.0, rows)),
        "n05": pl.Series(rng.poisson(3.0, rows).astype(np.int64)),
        "n06": pl.Series(rng.random(rows)),
        "n07": _with_nulls(rng.normal(1000.0, 300.0, rows), rng, 0.05),
        "n08": pl.Series(bimodal),
        "n09": pl.Series((rng.random(rows) < 0.2).astype(np.int64)),
        "n10": pl.Series(rng.standard_t(3.0, rows)),
        "n11": pl.Series(rng.integers(18, 91, rows)),
    }


def _category(rng: np.random.Generator, rows: int, names: list[str], shares: np.ndarray) -> pl.Series:
    return pl.Series(names).gather(rng.choice(len(names), size=rows, p=shares / shares.sum()))


def _zipf_shares(levels: int, exponent: float) -> np.ndarray:
    shares = 1.0 / np.arange(1, levels + 1) ** exponent
    return np.asarray(shares / shares.sum())


def _categorical(rng: np.random.Generator, rows: int, drifted: bool) -> dict[str, pl.Series]:
    """8 categorical columns (2 to 1,000 levels, one with nulls); with ``drifted``, c00, c01 and c02 change."""
    c00 = np.array([15, 30, 15, 10, 30] if drifted else [40, 30, 15, 10, 5], dtype=np.float64)
    c01 = np.array([30.0, 30.0, 25.0, 15.0])
    if drifted:  # one category 30% -> 33%, the others scaled down to make room
        c01 = np.concatenate([[33.0], c01[1:] * 67.0 / 70.0])
    c02_names = [f"region_{k:02d}" for k in range(20)]
    c02 = _zipf_shares(20, 1.0)
    if drifted:  # a category the reference never saw takes 5%
        c02_names, c02 = [*c02_names, "region_new"], np.concatenate([c02 * 0.95, [0.05]])
    c06 = _category(rng, rows, [f"tier_{k}" for k in range(10)], _zipf_shares(10, 0.7))
    return {
        "c00": _category(rng, rows, ["web", "email", "phone", "chat", "store"], c00),
        "c01": _category(rng, rows, ["basic", "plus", "pro", "enterprise"], c01),
        "c02": _category(rng, rows, c02_names, c02),
        "c03": _category(rng, rows, ["low", "medium", "high"], np.array([0.5, 0.35, 0.15])),
        "c04": _category(rng, rows, [f"product_{k:02d}" for k in range(50)], _zipf_shares(50, 1.1)),
        "c05": _category(rng, rows, ["yes", "no"], np.array([0.7, 0.3])),
        "c06": c06.scatter(np.flatnonzero(rng.random(rows) < 0.05), None),
        "c07": _category(rng, rows, [f"{k:05d}" for k in range(10_000, 11_000)], _zipf_shares(1000, 0.8)),
    }


def make_split(rows: int, seed: int, drifted: bool, vocabulary: list[str]) -> pl.DataFrame:
    """One split of ``rows`` rows; ``drifted`` injects `INJECTED`, otherwise the reference distribution."""
    rng = np.random.default_rng(seed)
    topics = np.array([0.25, 0.2, 0.15, 0.12, 0.1, 0.08, 0.08, 0.02])
    if drifted:  # the last topic goes from 2% to 20% of texts, the others scaled down
        topics = np.concatenate([topics[:-1] * 0.8 / 0.98, [0.2]])
    columns = _numeric(rng, rows, drifted) | _categorical(rng, rows, drifted)
    return pl.DataFrame(columns).with_columns(_texts(rng, rows, topics, vocabulary))


def write_data(directory: Path, rows: int, seed: int) -> dict[str, float]:
    """``reference``, ``drifted`` and ``clean`` Parquet files plus ``columns.json``; their sizes in MB."""
    vocabulary = _vocabulary(np.random.default_rng(seed), _COMMON_WORDS + _TOPICS * _TOPIC_WORDS)
    sizes = {}
    for offset, (name, drifted) in enumerate((("reference", False), ("drifted", True), ("clean", False))):
        path = directory / f"{name}.parquet"
        make_split(rows, seed + 1 + offset, drifted, vocabulary).write_parquet(path)
        sizes[name] = path.stat().st_size / 2**20
    columns = {"numeric": NUMERIC, "categorical": CATEGORICAL, "text": TEXT}
    (directory / "columns.json").write_text(json.dumps(columns))
    return sizes


# ------------------------------------------------------------------------------------------ subprocesses


def run_step(command: list[str], timeout: float, log: Path) -> Step | None:
    """Run ``command``, its stdout to ``log``; its last stdout line parsed as JSON, or None on timeout."""
    with log.open("w") as out:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=out)
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > timeout:
                process.send_signal(signal.SIGKILL)
                os.wait4(process.pid, 0)
                return None
            time.sleep(0.1)
        wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{' '.join(command)} failed with exit code {process.returncode}; output in {log}")
    last = log.read_text().strip().splitlines()[-1]
    return Step(json.loads(last), wall, usage.ru_maxrss / 1024)  # Linux reports ru_maxrss in KiB


def _worker(kind: str, data: Path, split: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--worker", kind, "--data", str(data), "--split", split]


def ours_reference(data: Path) -> dict[str, Any]:
    """Worker: the reference statistics, as at publish: read, `ReferenceStats.of`, stored as JSON."""
    from factory.core.monitoring import ReferenceStats

    start = time.perf_counter()
    reference = pl.read_parquet(data / "reference.parquet")
    read_seconds = time.perf_counter() - start
    start = time.perf_counter()
    stats = ReferenceStats.of(reference, numeric=NUMERIC, categorical=CATEGORICAL, text=reference[TEXT], labels=None)
    stored = stats.to_json()
    seconds = time.perf_counter() - start
    (data / "reference_stats.json").write_bytes(stored)
    return {"read_seconds": read_seconds, "seconds": seconds, "stored_bytes": len(stored)}


def ours_report(data: Path, split: str) -> dict[str, Any]:
    """Worker: the daily report, as the drift asset runs it: stored statistics read back, the day compared."""
    from factory.core.monitoring import ReferenceStats, drift_against

    start = time.perf_counter()
    current = pl.read_parquet(data / f"{split}.parquet")
    read_seconds = time.perf_counter() - start
    start = time.perf_counter()
    reference = ReferenceStats.from_json((data / "reference_stats.json").read_bytes())
    result = drift_against(
        reference, current, numeric=NUMERIC, categorical=CATEGORICAL, text=current[TEXT], labels=None
    )
    seconds = time.perf_counter() - start
    verdicts = [verdict.as_dict() for verdict in result.verdicts]
    return {"read_seconds": read_seconds, "seconds": seconds, "rows": result.rows, "verdicts": verdicts}


def flagged_by_ours(verdicts: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The columns our verdicts flag, each with the components that flagged it.

    A feature verdict is named ``<property>.<column>`` (``numeric.n00``, ``missing.n03``, ``categorical.c00``);
    the text verdicts (``text.length_psi``, ``text.vocabulary_shift``, ``text.oov_rate_delta``,
    ``text.domain_classifier``) belong to the text column. No predicted labels are given, so no prediction
    verdicts come out.
    """
    flagged: dict[str, list[str]] = {}
    for verdict in verdicts:
        if not verdict["drifted"]:
            continue
        component = str(verdict["component"])
        column = TEXT if verdict["kind"] == "text" else component.split(".", 1)[-1]
        if column not in COLUMNS:
            raise SystemExit(f"a drifted verdict names no benchmark column: {verdict}")
        flagged.setdefault(column, []).append(component)
    return flagged


# ----------------------------------------------------------------------------------------------- the run


def _recall(flagged: set[str]) -> float:
    return len(flagged & set(INJECTED)) / len(INJECTED)


def _row(*cells: object) -> str:
    widths = (8, 50, 34, 20)
    return "".join(f"{cell!s:<{width}}" for cell, width in zip(cells, widths, strict=False)).rstrip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per split (reference, drifted, clean)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed to each subprocess")
    parser.add_argument("--evidently-python", type=Path, default=_EVIDENTLY_PYTHON)
    parser.add_argument("--skip-evidently", action="store_true", help="ours only")
    parser.add_argument("--worker", choices=["data", "ours-reference", "ours-report"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--split", default="reference", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker == "data":
        print(json.dumps(write_data(args.data, args.rows, args.seed)))
        return
    if args.worker == "ours-reference":
        print(json.dumps(ours_reference(args.data)))
        return
    if args.worker == "ours-report":
        print(json.dumps(ours_report(args.data, args.split)))
        return
    if not args.skip_evidently and not args.evidently_python.exists():
        raise SystemExit(f"{args.evidently_python} is missing: run `make bench-drift-env` first")

    with tempfile.TemporaryDirectory(prefix="bench-drift-") as tmp:
        data = Path(tmp)
        # The data is written by a subprocess too: a child's peak RSS counts its parent's at the fork (Linux keeps
        # the high-water mark across exec), so this process must stay small for the children's figures to hold.
        start = time.perf_counter()
        command = [*_worker("data", data, ""), "--rows", str(args.rows), "--seed", str(args.seed)]
        written = run_step(command, args.timeout, data / "data.log")
        if written is None:
            raise SystemExit("writing the data did not finish within the timeout")
        sizes = written.out
        print(
            f"{args.rows:,} rows per split, 12 numeric + 8 categorical + 1 text column; data written in "
            f"{time.perf_counter() - start:.1f} s ({', '.join(f'{k} {v:.0f} MB' for k, v in sizes.items())})",
            flush=True,
        )
        steps: dict[str, Step | None] = {
            "reference": run_step(_worker("ours-reference", data, ""), args.timeout, data / "r.log")
        }
        for split in ("drifted", "clean"):
            steps[split] = run_step(_worker("ours-report", data, split), args.timeout, data / f"{split}.log")
        if not args.skip_evidently:
            for split in ("drifted", "clean"):
                command = [str(args.evidently_python), str(_EVIDENTLY_WORKER), str(data), split]
                steps[f"evidently_{split}"] = run_step(command, args.timeout, data / f"evidently_{split}.log")
    print(json.dumps(summarize(args.rows, steps)))


def summarize(rows: int, steps: dict[str, Step | None]) -> dict[str, Any]:
    """The table (printed) and the JSON result."""
    reference, drifted, clean = steps["reference"], steps["drifted"], steps["clean"]
    if reference is None or drifted is None or clean is None:
        raise SystemExit("our drift report did not finish within the timeout")
    ours_drifted = flagged_by_ours(drifted.out["verdicts"])
    ours_clean = flagged_by_ours(clean.out["verdicts"])
    result: dict[str, Any] = {
        "rows": rows,
        "seconds": round(reference.out["seconds"] + drifted.out["seconds"], 3),
        "reference_seconds": round(reference.out["seconds"], 3),
        "report_seconds": round(drifted.out["seconds"], 3),
        "clean_report_seconds": round(clean.out["seconds"], 3),
        "peak_rss_mb": round(max(step.peak_rss_mb for step in (reference, drifted, clean))),
        "reference_peak_rss_mb": round(reference.peak_rss_mb),
        "report_peak_rss_mb": round(max(drifted.peak_rss_mb, clean.peak_rss_mb)),
        "recall": round(_recall(set(ours_drifted)), 4),
        "false_alarms": len(ours_clean),
        "missed": sorted(set(INJECTED) - set(ours_drifted)),
        "flagged_clean": sorted(ours_clean),
        "flagged_undrifted": sorted(set(ours_drifted) - set(INJECTED)),
        "reference_stats_bytes": reference.out["stored_bytes"],
    }
    theirs_drifted, theirs_clean = steps.get("evidently_drifted"), steps.get("evidently_clean")
    evidently: dict[str, dict[str, Any]] = {}
    if "evidently_drifted" in steps and (theirs_drifted is None or theirs_clean is None):
        result["evidently_timed_out"] = True
    elif theirs_drifted is not None and theirs_clean is not None:
        evidently = theirs_drifted.out["verdicts"]
        flagged = {column for column, v in evidently.items() if v["drifted"]}
        clean_flags = {column for column, v in theirs_clean.out["verdicts"].items() if v["drifted"]}
        result |= {
            "evidently_seconds": round(theirs_drifted.out["run_seconds"], 3),
            "evidently_clean_seconds": round(theirs_clean.out["run_seconds"], 3),
            "ratio_to_evidently": round(theirs_drifted.out["run_seconds"] / result["seconds"], 1),
            "evidently_peak_rss_mb": round(max(theirs_drifted.peak_rss_mb, theirs_clean.peak_rss_mb)),
            "evidently_recall": round(_recall(flagged), 4),
            "evidently_false_alarms": len(clean_flags),
            "evidently_missed": sorted(set(INJECTED) - flagged),
            "evidently_flagged_clean": sorted(clean_flags),
            "evidently_flagged_undrifted": sorted(flagged - set(INJECTED)),
            "evidently_version": theirs_drifted.out["evidently_version"],
        }
    print(_row("column", "injected drift", "ours: drifted verdicts", "Evidently: score"))
    for column in COLUMNS:
        ours = ", ".join(ours_drifted.get(column, [])) or "-"
        theirs = evidently.get(column)
        cell = f"{theirs['score']:.3g}{' DRIFT' if theirs['drifted'] else ''}" if theirs else "n/a"
        print(_row(column, INJECTED.get(column, "none"), ours, cell))
    print(_row("", "seconds (reference + report; Evidently's run)", result["seconds"], result.get("evidently_seconds")))
    print(_row("", "peak RSS, MB", result["peak_rss_mb"], result.get("evidently_peak_rss_mb")))
    print(_row("", "recall on the 7 drifted columns", result["recall"], result.get("evidently_recall")))
    print(
        _row(
            "", "false alarms on the clean split (of 21)", result["false_alarms"], result.get("evidently_false_alarms")
        )
    )
    return result


if __name__ == "__main__":
    main()
