"""The red-team adapter against a real SQLite MLflow store and real files: the shipped red-team files load, a bad
one is refused naming the file, and a suite and its results are stored with a model version and read back."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from factory.cli import main
from factory.core.redteam import RedTeamFileError
from factory.core.training import ModelColumns, build_candidate, model_frame
from factory.paths import package_path
from factory.resources.redteam import (
    CASES_ARTIFACT,
    RATES_TAG,
    SUMMARY_TAG,
    load_redteam_file,
    redteam_file_path,
    run_and_store,
    run_stored_suite,
    stored_result,
    stored_suite,
)
from factory.resources.tracking import ModelInputs, ModelRecord, Tracking
from factory.spec import UseCaseSpec, load_spec
from factory_tests.helpers import SHIPPED_SPEC, TICKET_TEXTS, small_spec


@pytest.mark.parametrize("name", ["ticket_triage", "claims_review"])
def test_the_shipped_files_load_with_their_use_cases(name: str) -> None:
    spec = load_spec(package_path("usecases", f"{name}.yaml"))
    assert redteam_file_path(spec) == package_path("usecases", "redteam", f"{name}.yaml")
    file = load_redteam_file(spec)
    assert file is not None and 20 <= len(file.golden) <= 60 and file.directional
    assert {g.label for g in file.golden} == set(spec.labeling.classes), "every class has golden cases"


def test_a_bad_file_is_refused_naming_it(tmp_path: Path) -> None:
    spec = load_spec(SHIPPED_SPEC)
    assert load_redteam_file(spec, tmp_path) is None, "no file: invariance tests only"
    path = tmp_path / "redteam" / "ticket_triage.yaml"
    path.parent.mkdir()
    path.write_text("golden:\n  - {label: billing, inputs: {body: a}\n", encoding="utf-8")
    with pytest.raises(RedTeamFileError, match=f"^{path}: not valid YAML"):
        load_redteam_file(spec, tmp_path)
    path.write_text("golden:\n  - {label: shipping, inputs: {body: a}}\n", encoding="utf-8")
    with pytest.raises(RedTeamFileError, match=f"(?s)^{path}: 1 problem.*golden.0.label: 'shipping' is not a class"):
        load_redteam_file(spec, tmp_path)
    named = spec.model_copy(update={"redteam": spec.redteam.model_copy(update={"file": "elsewhere.yaml"})})
    with pytest.raises(RedTeamFileError, match=r"redteam\.file names this red-team file, and there is none"):
        load_redteam_file(named, tmp_path)


def _register(tracking: Tracking, spec: UseCaseSpec, bodies: list[str], labels: list[str]) -> ModelRecord:
    columns = ModelColumns.of(spec)
    rows = pl.DataFrame({"subject": bodies, "body": bodies, "channel": ["email"] * len(bodies)})
    model = build_candidate("tfidf_logreg", columns, seed=1, max_features=1000)
    model.set_params(features__text__min_df=1)
    model.fit(model_frame(rows, columns), labels)
    return tracking.log_model(
        experiment=spec.name,
        model_name=spec.name,
        model=model,
        inputs=ModelInputs(columns, rows.head(3)),
        params={},
        metrics={},
        tags={"dataset.digest": f"d{len(bodies)}"},
        documents={},
    )


def test_a_suite_and_its_results_are_stored_with_the_version_and_read_back(tmp_path: Path) -> None:
    tracking = Tracking(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}", artifact_root=(tmp_path / "art").as_uri())
    spec = small_spec()
    labels = [spec.labeling.classes[i % 3] for i in range(len(TICKET_TEXTS))]
    first = _register(tracking, spec, TICKET_TEXTS, labels)
    assert stored_result(tracking, first) is None and stored_suite(tracking, first) is None
    test = pl.DataFrame({"subject": TICKET_TEXTS, "body": TICKET_TEXTS, "channel": ["web"] * len(TICKET_TEXTS)})

    result = run_and_store(tracking, spec, first, test)

    assert result.cases >= spec.redteam.cases and result.seconds > 0
    assert {t.name for t in result.tests} >= {"minimum_functionality", "directional", "typos", "casing"}
    assert stored_result(tracking, first) == result
    suite = stored_suite(tracking, first)
    assert suite is not None and len(suite.cases) == result.cases and suite.columns == ModelColumns.of(spec)
    version = tracking.get_version(spec.name, first.version)
    assert version is not None
    assert version.tags[SUMMARY_TAG] == result.summary()
    assert version.tags[RATES_TAG].startswith("{") and '"typos"' in version.tags[RATES_TAG]
    assert version.metrics["redteam.typos.failure_rate"] == result.failure_rates()["typos"]
    assert CASES_ARTIFACT == "redteam/cases.jsonl"

    other = _register(tracking, spec, [*TICKET_TEXTS, "Refund please"], [*labels, "refund"])
    on_other = run_stored_suite(tracking, suite, other)
    assert on_other.cases == result.cases and stored_result(tracking, other) is None, "running stores nothing"


def test_check_spec_checks_the_red_team_file_beside_the_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec_file = tmp_path / "ticket_triage.yaml"
    spec_file.write_text(SHIPPED_SPEC.read_text(encoding="utf-8"), encoding="utf-8")
    assert main(["check-spec", str(spec_file)]) == 0, "no red-team file: fine"
    (tmp_path / "redteam").mkdir()
    (tmp_path / "redteam" / "ticket_triage.yaml").write_text(
        "directional:\n  - {name: x, class: refund, direction: sideways, append: {body: y}}\n", encoding="utf-8"
    )
    capsys.readouterr()
    assert main(["check-spec", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'redteam' / 'ticket_triage.yaml'}: 1 problem(s) in the red-team file" in err
    assert "directional.0.direction: Input should be 'up' or 'down'" in err
