"""`factory new-usecase`: a spec inferred from a CSV, JSON Lines or Parquet file. Column types, text versus
categorical versus numeric columns and the class list (odd names, 100+ classes) come out the same from each
format; the classes are counted over the whole file while types come from a bounded sample; the written file
passes `factory check-spec` unedited; an existing file is only replaced with --force; options that cannot make
a use case are refused with a message naming the column."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
import yaml

import factory.new_usecase as new_usecase_module
from factory.cli import main
from factory.core.preparation import ColumnProfile, profile_columns
from factory.demo.samples import ODD_CLASS_NAMES, class_names, tabular_csv
from factory.new_usecase import (
    FileFacts,
    NewUseCaseError,
    new_usecase,
    spec_document,
    spec_text,
)
from factory.spec import TABULAR_CANDIDATES, load_spec

ROWS = 660
CLASSES = class_names(110)
START = date(2026, 1, 1)


def _frame(rows: int = ROWS, days: int = 3) -> pl.DataFrame:
    """Keys, a free-text column, a categorical and two numeric columns, one-word codes, a column under a name
    the factory reserves, and the label over `CLASSES` (every class at least 6 times)."""
    return pl.DataFrame(
        {
            "ticket_id": [f"T{i:05d}" for i in range(rows)],
            "created_at": [f"{START + timedelta(days=i % days)}T10:{i % 60:02d}:00Z" for i in range(rows)],
            "channel": [("email", "chat", "web")[i % 3] for i in range(rows)],
            "amount": [round(i * 1.25, 2) for i in range(rows)],
            "items": [i % 7 for i in range(rows)],
            "body": [f"please help with order {i} it arrived late and broken" for i in range(rows)],
            "code": [f"X{i:06d}" for i in range(rows)],
            "source": ["web"] * rows,
            "category": [CLASSES[i % len(CLASSES)] for i in range(rows)],
        }
    )


def _write(frame: pl.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        frame.write_csv(path)
    elif path.suffix == ".jsonl":
        frame.write_ndjson(path)
    else:
        frame.write_parquet(path)
    return path


def _roles(profiles: tuple[ColumnProfile, ...]) -> dict[str, tuple[str, str]]:
    return {p.name: (p.role, p.type) for p in profiles}


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_types_roles_and_classes_are_inferred_alike_from_each_format(
    factory_home: Path, tmp_path: Path, suffix: str
) -> None:
    data = _write(_frame(), tmp_path / f"tickets{suffix}")
    made = new_usecase("tickets", data, label="category", directory=tmp_path / "usecases", group="ticket_id")
    assert _roles(made.profiles) == {
        "ticket_id": ("id", "string"),
        "created_at": ("timestamp", "timestamp"),
        "channel": ("categorical", "string"),
        "amount": ("numeric", "float"),
        "items": ("numeric", "integer"),
        "body": ("text", "string"),
        "code": ("unused", "string"),
        "source": ("unused", "string"),
        "category": ("label", "string"),
    }
    spec = made.spec
    assert spec.labeling.classes == tuple(sorted(CLASSES)) and len(spec.labeling.classes) == 110
    assert set(ODD_CLASS_NAMES) <= set(spec.labeling.classes)
    assert spec.text_columns == ("body",) and spec.feature_columns == ("channel", "amount", "items")
    assert (spec.schema.id, spec.schema.timestamp, spec.schema.group) == ("ticket_id", "created_at", "ticket_id")
    assert "source" not in spec.schema.column_names() and "code" not in spec.schema.column_names()
    (source,) = spec.sources
    assert source.model_dump()["path"] == str(data.resolve())
    assert source.model_dump()["format"] == suffix[1:]
    assert source.model_dump()["partition_by"] == "timestamp" and spec.start_date == START
    given = spec.labeling.sources
    assert given is not None and [s.model_dump()["column"] for s in given] == ["category"]
    assert spec.labeling.annotations_per_item == 1 and spec.labeling.method == "ds"
    assert spec.gates.min_rows <= ROWS and spec.gates.min_class_share * 110 < 1
    assert spec.gates.min_class_examples <= ROWS // 110
    assert spec.models.candidates == ("majority", "complement_nb", "tfidf_logreg", "tfidf_svm")
    assert made.facts.rows == ROWS and made.facts.days == (START, START + timedelta(1), START + timedelta(2))


def test_check_spec_passes_on_the_written_file_and_it_says_what_was_inferred(
    factory_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write(_frame(), tmp_path / "tickets.csv")
    folder = tmp_path / "usecases"
    args = ["new-usecase", "tickets", "--data", str(data), "--label", "category", "--group", "ticket_id"]
    assert main([*args, "--dir", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "110 from column 'category'" in out and "factory run tickets --retrain" in out
    written = folder / "tickets.yaml"
    assert main(["check-spec", str(written)]) == 0
    assert "use case 'tickets' is valid (110 classes)" in capsys.readouterr().out
    header = [line for line in written.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    text = "\n".join(header)
    assert 'id "ticket_id" (inferred)' in text and 'timestamp "created_at" (inferred)' in text
    assert 'Text columns: "body"' in text and '"channel" (string)' in text and '"amount" (float)' in text
    assert '"source" (left out:' in text and "by the timestamp's day (3 days" in text
    assert "--force" in text


def test_an_existing_file_is_replaced_only_with_force(
    factory_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write(_frame(), tmp_path / "tickets.csv")
    folder = tmp_path / "usecases"
    folder.mkdir()
    target = folder / "tickets.yaml"
    target.write_text("# mine\n", encoding="utf-8")
    args = ["new-usecase", "tickets", "--data", str(data), "--label", "category", "--group", "ticket_id"]
    assert main([*args, "--dir", str(folder)]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert target.read_text(encoding="utf-8") == "# mine\n"
    assert main([*args, "--dir", str(folder), "--force"]) == 0
    assert load_spec(target).name == "tickets"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"label": "nope"}, "the label column 'nope' is not in the data"),
        ({"label": "category", "text": ["category"]}, "cannot also be a text column"),
        ({"label": "source"}, "the factory adds a column named 'source'"),
        ({"label": "category", "timestamp": "body"}, "does not hold ISO-8601 timestamps"),
        ({"label": "channel", "id_column": "channel"}, "cannot also be the id key"),
    ],
)
def test_options_that_cannot_make_a_use_case_are_refused(
    factory_home: Path, tmp_path: Path, options: dict[str, object], message: str
) -> None:
    data = _write(_frame(), tmp_path / "tickets.csv")
    with pytest.raises(NewUseCaseError, match=message):
        new_usecase("tickets", data, directory=tmp_path, **options)  # type: ignore[arg-type]
    assert not (tmp_path / "tickets.yaml").exists()


def test_types_come_from_a_bounded_sample_and_classes_from_the_whole_file(
    factory_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(new_usecase_module, "SAMPLE_ROWS", 100)
    frame = _frame().with_columns(pl.col("items").cast(pl.String))
    late = pl.DataFrame({**{c: frame[c][:1] for c in frame.columns}, "items": ["many"], "category": ["late class"]})
    data = _write(pl.concat([frame, late]), tmp_path / "tickets.csv")
    made = new_usecase("tickets", data, label="category", directory=tmp_path, group="ticket_id")
    assert _roles(made.profiles)["items"] == ("numeric", "integer"), "the value after the sample is not read"
    assert "late class" in made.spec.labeling.classes and made.facts.rows == ROWS + 1


def test_given_text_columns_leave_other_free_text_out(factory_home: Path, tmp_path: Path) -> None:
    frame = _frame().with_columns(pl.format("note {}", pl.col("body")).alias("note"))
    data = _write(frame, tmp_path / "tickets.parquet")
    made = new_usecase("tickets", data, label="category", directory=tmp_path, text=["note"], group="ticket_id")
    roles = _roles(made.profiles)
    assert roles["note"] == ("text", "string") and roles["body"][0] == "unused"
    assert made.spec.text_columns == ("note",)


def test_data_spanning_many_days_is_one_batch_filed_under_yesterday(factory_home: Path, tmp_path: Path) -> None:
    data = _write(_frame(days=90), tmp_path / "tickets.csv")
    made = new_usecase("tickets", data, label="category", directory=tmp_path, group="ticket_id", today=date(2026, 6, 1))
    document = yaml.safe_load((tmp_path / "tickets.yaml").read_text(encoding="utf-8"))
    assert document["sources"][0]["partition_by"] == "batch"
    assert document["sources"][0]["batch_day"] == date(2026, 5, 31) == made.spec.start_date
    written = (tmp_path / "tickets.yaml").read_text(encoding="utf-8")
    assert "&id" not in written and "*id" not in written, "no YAML anchors in a file people edit"


def test_without_id_timestamp_or_group_the_spec_omits_those_keys(tmp_path: Path) -> None:
    """The written YAML for text,label data: no schema.id/timestamp/group (the factory derives them), one batch
    on yesterday, the data's own columns only."""
    profiles = (
        ColumnProfile("text", "string", "text", 600, "8.0 words per value on average"),
        ColumnProfile("label", "string", "label", 3, "given"),
    )
    facts = FileFacts(rows=600, classes={"a?": 200, "b / c": 200, "ça va 🚀": 200}, unlabeled=0, days=())
    today = date(2026, 3, 2)
    data = tmp_path / "reviews.csv"
    document = spec_document("reviews", data, profiles, facts, label="label", group=None, today=today)
    assert set(document["schema"]) == {"columns"}
    assert document["schema"]["columns"] == [{"name": "text", "type": "string"}, {"name": "label", "type": "string"}]
    assert document["sources"] == [
        {
            "name": "data",
            "kind": "files",
            "path": str(data),
            "format": "csv",
            "partition_by": "batch",
            "batch_day": date(2026, 3, 1),
            "allow_outside": True,
        }
    ]
    assert document["start_date"] == date(2026, 3, 1)
    assert document["labeling"]["classes"] == ["a?", "b / c", "ça va 🚀"]
    text = spec_text(document, profiles, facts, "label")
    assert yaml.safe_load(text) == document
    assert "derived: id, timestamp, group" in text and "no timestamp column" in text


def test_a_table_of_features_gets_tabular_candidates(tmp_path: Path) -> None:
    """The tabular sample: numeric and categorical features, no free text, so the candidates read features."""
    data = tmp_path / "claims.csv"
    tabular_csv(data, rows=400, start=START)
    sample = pl.read_csv(data, infer_schema=False)
    profiles = profile_columns(sample, label="decision", usable=lambda _: None, key_name=lambda _: True)
    assert _roles(profiles) == {
        "application_id": ("id", "string"),
        "submitted_on": ("timestamp", "timestamp"),
        "amount": ("numeric", "float"),
        "tenure_months": ("numeric", "integer"),
        "segment": ("categorical", "string"),
        "region": ("categorical", "string"),
        "note": ("categorical", "string"),
        "decision": ("label", "string"),
    }
    facts = FileFacts(rows=400, classes={"approve": 280, "reject": 40, "review": 80}, unlabeled=0, days=(START,))
    document = spec_document("claims", data, profiles, facts, label="decision", group=None, today=START)
    assert document["text_columns"] == [] and document["models"]["candidates"] == list(TABULAR_CANDIDATES)
    assert document["feature_columns"] == ["amount", "tenure_months", "segment", "region", "note"]


def test_a_label_column_may_be_called_label_and_another_label_column_is_left_out(
    factory_home: Path, tmp_path: Path
) -> None:
    frame = _frame().rename({"category": "label"})
    data = _write(frame, tmp_path / "tickets.csv")
    made = new_usecase("tickets", data, label="label", directory=tmp_path, group="ticket_id")
    assert _roles(made.profiles)["label"] == ("label", "string") and len(made.spec.labeling.classes) == 110
    other = new_usecase("tickets", data, label="channel", directory=tmp_path, group="ticket_id", force=True)
    assert _roles(other.profiles)["label"] == ("unused", "string")
    assert "label" not in other.spec.schema.column_names()
