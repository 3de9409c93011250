"""`factory model list|show|rollback` against a real MLflow sqlite registry holding two small registered
versions of ticket_triage (logged through `Tracking.log_model`, as the model asset logs them), and
`factory predict` and the monitoring ``predictions`` asset following the champion alias after a rollback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import Pipeline

from factory.cli import main
from factory.core.training import ModelColumns, model_frame
from factory.defs import UseCase, build_definitions
from factory.defs.resources import build_resources
from factory.resources.redteam import run_and_store
from factory.resources.tracking import DEMOTED_TAG, ModelInputs, Tracking
from factory.spec import load_spec
from factory_tests.helpers import SHIPPED_SPEC, TICKET_TEXTS, as_prepared

USE_CASE = "ticket_triage"
MAJORITY = {"1": "billing", "2": "refund"}
"""The class each registered version predicts for every row."""


def _rows(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ticket_id": [f"t{i}" for i in range(n)],
            "subject": [TICKET_TEXTS[i % len(TICKET_TEXTS)][:20] for i in range(n)],
            "body": [TICKET_TEXTS[i % len(TICKET_TEXTS)] for i in range(n)],
            "channel": ["email"] * n,
        }
    )


def _register(tracking: Tracking, number: str, score: float, card: bool) -> str:
    """Register version ``number``, a model that predicts ``MAJORITY[number]``, trained on dataset v``number``."""
    majority, other = MAJORITY[number], next(c for n, c in MAJORITY.items() if n != number)
    columns = ModelColumns.of(load_spec(SHIPPED_SPEC))
    rows = _rows(6)
    model = Pipeline([("clf", DummyClassifier(strategy="most_frequent"))])
    model.fit(model_frame(rows, columns), [majority] * 4 + [other] * 2)
    lineage = {
        "dataset.commit": f"commit-of-{majority}",
        "dataset.digest": f"digest-of-{majority}",
        "dataset.version": f"{USE_CASE}/v{number}",
        "code.version": "code-1",
        "dagster.run_id": f"run-{majority}",
        "model.candidate": "majority",
    }
    record = tracking.log_model(
        experiment=USE_CASE,
        model_name=USE_CASE,
        model=model,
        inputs=ModelInputs(columns=columns, example=rows.select(columns.inputs).head(3)),
        params={"candidate": "majority"},
        metrics={"test_macro_f1": score, "test_accuracy": score + 0.1},
        tags=lineage,
        documents={"model_card.md": f"# Model card: {majority}\n\nthe \x1b[31mmajority\x1b[0m class"} if card else {},
    )
    return record.version


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tracking]:
    home = tmp_path_factory.mktemp("factory_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACTORY_HOME", str(home))
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.delenv("FACTORY_USECASES", raising=False)
        tracking = build_resources()["tracking"]
        assert _register(tracking, "1", 0.5, card=False) == "1"
        tracking.promote(USE_CASE, "1", "first champion")
        assert _register(tracking, "2", 0.7, card=True) == "2"
        tracking.promote(USE_CASE, "2", "v2 replaces v1")
        yield tracking


def _predict(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, set[str]]:
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    _rows(5).write_csv(source)
    assert main(["predict", USE_CASE, "--input", str(source), "--out", str(out)]) == 0
    return capsys.readouterr().out, set(pl.read_csv(out)["label"])


def test_list_and_show(registry: Tracking, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["model", "list", USE_CASE]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["v1", "v2"]
    assert "macro_f1 0.5000" in lines[0] and "accuracy 0.6000" in lines[0] and "majority" in lines[0]
    assert "dataset ticket_triage/v1 commit-of-bi" in lines[0] and "created 20" in lines[0]
    assert not lines[0].endswith("champion") and lines[1].endswith("champion")

    assert main(["model", "show", USE_CASE]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("ticket_triage v2  (champion)")
    for expected in ("dataset.commit: commit-of-refund", "dataset.digest: digest-of-refund", "code.version: code-1"):
        assert expected in shown
    assert "dagster.run_id: run-refund" in shown and "run id: " in shown
    assert "promotion.reason: v2 replaces v1" in shown and "champion.previous: 1" in shown
    assert "test_macro_f1: 0.7000" in shown
    assert "model card:\n# Model card: refund" in shown
    assert "\x1b" not in shown and "\\x1b[31mmajority" in shown, "escape sequences are shown, not run"

    assert main(["model", "show", USE_CASE, "--version", "v1"]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("ticket_triage v1\n") and "model card" not in shown


def test_show_prints_the_red_team_results(registry: Tracking, capsys: pytest.CaptureFixture[str]) -> None:
    record = registry.get_version(USE_CASE, "2")
    assert record is not None
    result = run_and_store(registry, load_spec(SHIPPED_SPEC), record, _rows(12))
    assert main(["model", "show", USE_CASE, "--version", "2"]) == 0
    shown = capsys.readouterr().out
    assert f"red team: {result.summary()} (" in shown
    golden = next(t for t in result.tests if t.name == "minimum_functionality")
    assert f"  minimum_functionality (mft): {golden.cases} cases, {golden.failures} failing" in shown
    assert "    e.g. golden[0]\n" in shown, "a golden billing case fails for a model that says refund"
    assert main(["model", "show", USE_CASE, "--version", "1"]) == 0
    assert "red team: no results stored with this version" in capsys.readouterr().out


def test_errors(registry: Tracking, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["model", "rollback", USE_CASE, "--to", "v1"])
    assert exit_info.value.code == 2
    assert "--reason" in capsys.readouterr().err
    assert main(["model", "rollback", USE_CASE, "--to", "v9", "--reason", "bad"]) == 2
    assert "no registered version 9" in capsys.readouterr().err
    assert main(["model", "rollback", USE_CASE, "--to", "2", "--reason", "same"]) == 2
    assert "v2 is already the champion" in capsys.readouterr().err
    assert main(["model", "show", USE_CASE, "--version", "x"]) == 2
    assert "not 'x'" in capsys.readouterr().err
    assert main(["model", "list", "nope\x1b[2J"]) == 2
    error = capsys.readouterr().err
    assert "has no registered model version" in error and "\x1b" not in error
    assert registry.champion(USE_CASE) is not None and registry.champion(USE_CASE).version == "2"  # type: ignore[union-attr]


def test_rollback_moves_the_alias_and_predict_follows(
    registry: Tracking, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    printed, labels = _predict(tmp_path, capsys)
    assert "by ticket_triage v2" in printed and labels == {MAJORITY["2"]}

    assert main(["model", "rollback", USE_CASE, "--reason", "v2 misroutes refunds"]) == 0
    assert capsys.readouterr().out.strip() == "champion of ticket_triage moved from v2 to v1: v2 misroutes refunds"
    champion = registry.champion(USE_CASE)
    assert champion is not None and champion.version == "1"
    assert champion.tags["rollback.reason"] == "v2 misroutes refunds"
    assert champion.tags["champion.previous"] == "2"
    assert champion.tags["rollback.by"] and champion.tags["rollback.at"].startswith("20")

    printed, labels = _predict(tmp_path, capsys)
    assert "by ticket_triage v1" in printed and labels == {MAJORITY["1"]}

    assert main(["model", "rollback", USE_CASE, "--to", "v2", "--reason", "fixed upstream"]) == 0
    assert "moved from v1 to v2" in capsys.readouterr().out
    printed, labels = _predict(tmp_path, capsys)
    assert "by ticket_triage v2" in printed and labels == {MAJORITY["2"]}
    demoted = registry.get_version(USE_CASE, "1")
    assert demoted is not None and demoted.tags[DEMOTED_TAG].endswith(": fixed upstream")
    assert DEMOTED_TAG not in registry.champion(USE_CASE).tags, "rolling back to a version clears its mark"  # type: ignore[union-attr]


def test_the_champion_asset_does_not_promote_a_rolled_back_version(registry: Tracking) -> None:
    """A retrain on unchanged data and code reuses the version a rollback demoted: it stays demoted."""
    assert main(["model", "rollback", USE_CASE, "--to", "v1", "--reason", "v2 misroutes refunds"]) == 0
    spec = load_spec(SHIPPED_SPEC)
    uc = UseCase(spec)
    defs = build_definitions([spec])
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization(uc.key("model"), metadata={"model_version": "2"}))
        result = dg.materialize([defs.resolve_assets_def(uc.key("champion"))], instance=instance)
    event = result.get_asset_materialization_events()[0].materialization
    assert event is not None and event.metadata["promoted"].value == "false"
    assert "v2 was rolled back" in str(event.metadata["reason"].value)
    champion = registry.champion(USE_CASE)
    assert champion is not None and champion.version == "1"


def test_the_predictions_asset_follows_the_alias(registry: Tracking) -> None:
    """The daily ``predictions`` asset loads ``@champion``: after a rollback, the next day's run (and a re-run)
    predicts with the version the alias now names, and records it."""
    spec = load_spec(SHIPPED_SPEC)
    uc = UseCase(spec)
    defs = build_definitions([spec])
    warehouse = build_resources()["warehouse"]
    day = "2026-01-05"
    warehouse.replace_partition(USE_CASE, "prepared", day, as_prepared(spec, _rows(5)))

    def predicted() -> tuple[set[str], set[str]]:
        with dg.instance_for_test() as instance:
            result = dg.materialize(
                [defs.resolve_assets_def(uc.key("predictions"))], instance=instance, partition_key=day
            )
        assert result.success
        frame = warehouse.read_partition(USE_CASE, "predictions", day)
        return set(frame["model_version"]), set(frame["predicted_label"])

    before = registry.champion(USE_CASE)
    assert before is not None
    assert predicted() == ({before.version}, {MAJORITY[before.version]})
    other = next(v for v in MAJORITY if v != before.version)
    assert main(["model", "rollback", USE_CASE, "--to", other, "--reason", "predictions must follow"]) == 0
    assert predicted() == ({other}, {MAJORITY[other]})
