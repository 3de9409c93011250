"""``factory labels aggregate``: annotations CSV in, ``item_id,label,confidence`` out, quality figures printed."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from factory.cli import main
from factory.demo import DemoConfig, annotate, gold_labels, truth_for
from factory_tests.helpers import SHIPPED_SPEC, number

DAY = date(2026, 1, 8)


def factory_command() -> list[str]:
    """The installed ``factory`` entry point next to this interpreter, else ``python -m factory.cli``."""
    script = Path(sys.executable).with_name("factory")
    return [str(script)] if script.exists() else [sys.executable, "-m", "factory.cli"]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A day of the demo crowd (spammer included) as an annotation CSV, and its gold set."""
    config = DemoConfig(rows_per_day=400)
    truth = truth_for(DAY, config)
    made = annotate(truth, DAY, config, date(2026, 1, 1))
    made.with_columns(pl.col("created_at").dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ")).write_csv(tmp_path / "ann.csv")
    gold_labels(truth, config).write_csv(tmp_path / "gold.csv")
    truth.select(pl.col("ticket_id").alias("item_id"), "category").write_csv(tmp_path / "truth.csv")
    return {"annotations": tmp_path / "ann.csv", "gold": tmp_path / "gold.csv", "truth": tmp_path / "truth.csv"}


def test_round_trip_writes_labels_and_prints_quality_figures(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "labels" / "out.csv"
    args = ["labels", "aggregate", "--annotations", str(files["annotations"]), "--gold", str(files["gold"])]
    args += ["--method", "ds", "--out", str(out), "--spec", str(SHIPPED_SPEC)]
    done = subprocess.run([*factory_command(), *args], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    labels = pl.read_csv(out)
    assert labels.columns == ["item_id", "label", "confidence"]
    truth = pl.read_csv(files["truth"])
    assert labels.height == truth.height and labels["item_id"].n_unique() == labels.height
    assert labels["confidence"].is_between(0, 1, closed="right").all()
    gold = pl.read_csv(files["gold"]).join(labels, on="item_id", suffix="_out")
    assert (gold["label"] == gold["label_out"]).all() and gold["confidence"].eq(1.0).all()
    right = labels.join(truth, on="item_id").select(pl.col("label") == pl.col("category")).to_series().mean()
    assert number(right) > 0.9
    text = done.stdout
    assert f"classes: 13 from the spec {SHIPPED_SPEC}" in text
    assert "Krippendorff's alpha" in text and "without spammers" in text and "Fleiss' kappa" in text
    assert "spammers flagged: elif" in text
    for annotator in ("amara", "bruno", "chen", "dmitri", "elif", "farah"):
        assert f"\n{annotator} " in text
    assert "Dawid-Skene" in text and str(out) in text


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    args = ["labels", "aggregate", "--annotations", str(missing), "--out", str(tmp_path / "out.csv")]
    done = subprocess.run([*factory_command(), *args], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert f"annotations file {missing} does not exist" in done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "out.csv").exists()


def test_classes_are_inferred_given_or_taken_from_the_spec(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out.csv"
    base = ["labels", "aggregate", "--annotations", str(files["annotations"]), "--out", str(out)]
    assert main([*base, "--method", "mv"]) == 0
    printed = capsys.readouterr().out
    assert "inferred from the labels in the annotations" in printed and "majority vote" in printed
    assert main([*base, "--classes", "billing,refund"]) == 0
    printed = capsys.readouterr().out
    assert "classes: 2 given with --classes" in printed and "label_outside_taxonomy" in printed
    assert set(pl.read_csv(out)["label"]) <= {"billing", "refund"}


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        ("item,who,what\n1,a,b\n", ["--classes", "a,b"], "header lacks columns"),
        ("item,who,what\n1,a,b\n", [], "cannot infer the classes: the CSV header has no 'label' column"),
        ("item_id,annotator,label,created_at\n", ["--classes", "a,b"], "no usable annotation"),
        ("item_id,annotator,label,created_at\n1,a,x,2026-01-01T00:00:00Z\n", [], "need at least two classes"),
        ("item_id,annotator,label,created_at\n1,a,x,yesterday\n", ["--classes", "x,y"], "bad_timestamp 1"),
    ],
)
def test_bad_input_exits_nonzero_with_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, extra: list[str], message: str
) -> None:
    source = tmp_path / "in.csv"
    source.write_text(content, encoding="utf-8")
    assert main(["labels", "aggregate", "--annotations", str(source), "--out", str(tmp_path / "o.csv"), *extra]) == 2
    assert message in capsys.readouterr().err


def test_gold_outside_the_classes_is_refused(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gold = tmp_path / "gold.csv"
    gold.write_text("item_id,label\nTCK-1,not_a_class\n", encoding="utf-8")
    args = ["labels", "aggregate", "--annotations", str(files["annotations"]), "--gold", str(gold)]
    assert main([*args, "--spec", str(SHIPPED_SPEC), "--out", str(tmp_path / "o.csv")]) == 2
    assert "outside the classes" in capsys.readouterr().err


def test_a_crowd_of_annotators_is_counted_not_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [f"item{i % 3},ann{i:03d},{'ab'[i % 2]},2026-01-01T00:00:00Z" for i in range(120)]
    (tmp_path / "ann.csv").write_text("item_id,annotator,label,created_at\n" + "\n".join(rows) + "\n")
    args = ["labels", "aggregate", "--annotations", str(tmp_path / "ann.csv"), "--method", "mv"]
    assert main([*args, "--out", str(tmp_path / "out.csv")]) == 0
    printed = capsys.readouterr().out
    assert sum(line[:4] in {"ann0", "ann1"} for line in printed.splitlines()) == 50
    assert "... 70 more annotators" in printed
