"""The ``champion`` asset's evidence against a real MLflow sqlite registry, a real version store and a real DuckDB
warehouse: two registered versions whose predictions are laid out row by row, compared overall, per slice, on
production corrections scored in shadow and on red-team failure rates, each decision leaving a blessing record.

Each model is a 1-nearest-neighbour lookup over the words of the ticket and its channel, fitted to a lookup table so its
predictions are known exactly: a ticket's true class is a function of its text, and a model answers the next
class where its rule says it is wrong (by channel and by a ``variant`` word in the subject). The test split has
72 email, 48 web, 48 chat and 24 phone tickets; with ``min_slice_support`` 30, phone is reported, not gated.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder

from factory.cli import main
from factory.core.promotion import FAIL, NOT_EVALUATED, NOT_GATED, PASS, Blessing
from factory.core.training import TEXT_COLUMN, ModelColumns, model_frame
from factory.defs import UseCase, build_definitions
from factory.defs.resources import build_resources
from factory.resources.blessings import DECISION_TAG, REASON_TAG, RECORD_TAG, latest_blessing
from factory.resources.tracking import ModelInputs, Tracking
from factory.spec import UseCaseSpec, load_spec
from factory_tests.helpers import SHIPPED_SPEC, TICKET_TEXTS, as_prepared, publish_version

BLOCKS = (("email", 72), ("web", 48), ("chat", 48), ("phone", 24))
VARIANTS = ("variant0", "variant1", "feedback")
FEEDBACK_DAY = "2026-01-10"

Wrong = Callable[[str, str], bool]
"""Whether a model answers wrongly for a (channel, variant)."""


def _spec() -> UseCaseSpec:
    spec = load_spec(SHIPPED_SPEC)
    return spec.model_copy(
        update={
            "gates": spec.gates.model_copy(update={"quality_floor": 0.3}),
            "promotion": spec.promotion.model_copy(update={"bootstrap": 200, "min_feedback": 50}),
        }
    )


SPEC = _spec()
UC = UseCase(SPEC)
CLASSES = SPEC.labeling.classes
COLUMNS = ModelColumns.of(SPEC)


def _truth(k: int) -> str:
    return CLASSES[k]


def _rows(ids: list[str], channels: list[str], variants: list[str], texts: list[int]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "ticket_id": ids,
            "created_at": [datetime(2026, 1, 9, tzinfo=UTC)] * len(ids),
            "customer_id": [f"c-{i}" for i in ids],
            "channel": channels,
            "subject": variants,
            "body": [TICKET_TEXTS[k] for k in texts],
            "label": [_truth(k) for k in texts],
        }
    )


def _test_split() -> pl.DataFrame:
    ids, channels, variants, texts = [], [], [], []
    for channel, count in BLOCKS:
        for i in range(count):
            ids.append(f"te-{channel}-{i}")
            channels.append(channel)
            variants.append(VARIANTS[(i // len(TICKET_TEXTS)) % 2])
            texts.append(i % len(TICKET_TEXTS))
    return _rows(ids, channels, variants, texts).with_columns(split=pl.lit("test"))


def _train_split() -> pl.DataFrame:
    n = 24
    ids = [f"tr-{i}" for i in range(n)]
    rows = _rows(ids, ["email"] * n, ["variant0"] * n, [i % len(TICKET_TEXTS) for i in range(n)])
    return rows.with_columns(split=pl.lit("train"))


def _model(wrong: Wrong) -> Pipeline:
    """A lookup that answers every (text, channel, variant) of the lookup table: right, or the next class where
    ``wrong`` says so."""
    grid = [(k, c, v) for k in range(len(TICKET_TEXTS)) for c, _ in BLOCKS for v in VARIANTS]
    frame = pl.DataFrame(
        {
            "subject": [v for _, _, v in grid],
            "body": [TICKET_TEXTS[k] for k, _, _ in grid],
            "channel": [c for _, c, _ in grid],
        }
    )
    labels = [CLASSES[(k + 1) % len(CLASSES)] if wrong(c, v) else CLASSES[k] for k, c, v in grid]
    features = ColumnTransformer(
        [
            ("words", CountVectorizer(), TEXT_COLUMN),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), ["channel"]),
        ],
        sparse_threshold=0,  # dense: the neighbours are stored as an array, which skops trusts
    )
    model = Pipeline([("features", features), ("clf", KNeighborsClassifier(n_neighbors=1, algorithm="brute"))])
    model.fit(model_frame(frame, COLUMNS), labels)
    return model


def _never(channel: str, variant: str) -> bool:
    return False


@dataclass
class Decision:
    """What the champion asset decided, and where it recorded it."""

    metadata: dict[str, object]
    tracking: Tracking
    checks: dict[str, bool]
    """The champion asset's check results, by name (all warnings)."""

    def blessing(self, version: str = "2") -> Blessing:
        record = self.tracking.get_version(UC.model_name, version)
        assert record is not None
        found = latest_blessing(self.tracking, record)
        assert found is not None, f"v{version} has no blessing record"
        return found

    def champion(self) -> str:
        current = self.tracking.champion(UC.model_name)
        assert current is not None
        return current.version


def _write_feedback(items: int, in_training: int, stale: int) -> None:
    """``items`` corrected items of the feedback variant on `FEEDBACK_DAY`, plus ``in_training`` corrections of
    training rows and ``stale`` corrections 30 days older: only the first are scored."""
    warehouse = build_resources()["warehouse"]
    ids = [f"fb-{i}" for i in range(items + stale)]
    texts = [i % len(TICKET_TEXTS) for i in range(items + stale)]
    fresh = _rows(ids, ["email"] * len(ids), ["feedback"] * len(ids), texts)
    trained = _train_split().head(in_training).drop("split")
    prepared = as_prepared(SPEC, pl.concat([fresh, trained]))
    warehouse.replace_partition(UC.name, "prepared", "2026-01-09", prepared)
    corrections = pl.DataFrame(
        {
            "ticket_id": prepared["ticket_id"],
            "predicted_label": ["billing"] * prepared.height,
            "corrected_label": fresh["label"].to_list() + trained["label"].to_list(),
            "corrected_at": [datetime(2026, 1, 10, tzinfo=UTC)] * prepared.height,
            "reviewer": ["agent"] * prepared.height,
            "source": ["agents"] * prepared.height,
        }
    )
    is_stale = pl.Series([items <= i < items + stale for i in range(prepared.height)])
    warehouse.replace_partition(UC.name, "feedback", FEEDBACK_DAY, corrections.filter(~is_stale))
    warehouse.replace_partition(UC.name, "feedback", "2025-12-01", corrections.filter(is_stale))


def _register(tracking: Tracking, commit: str, wrong: Wrong, redteam: Mapping[str, float]) -> str:
    example = _test_split().select(COLUMNS.inputs).head(3)
    record = tracking.log_model(
        experiment=UC.name,
        model_name=UC.model_name,
        model=_model(wrong),
        inputs=ModelInputs(columns=COLUMNS, example=example),
        params={"candidate": "tree"},
        metrics={"test_macro_f1": 0.8, "test_accuracy": 0.8}
        | {f"redteam.{test}.failure_rate": rate for test, rate in redteam.items()},
        tags={"dataset.commit": commit, "dataset.version": f"{UC.name}/v1", "model.candidate": "tree"},
        documents={},
    )
    return record.version


@pytest.fixture
def decide(factory_home: Path) -> Iterator[Callable[..., Decision]]:
    """Register v1 (the champion) and v2 (the challenger) on one published dataset, then run the champion
    asset on v2."""
    defs = build_definitions([SPEC])

    def run(
        champion: Wrong = _never,
        challenger: Wrong = _never,
        redteam: tuple[Mapping[str, float], Mapping[str, float]] = ({}, {}),
        feedback: tuple[int, int, int] | None = None,
    ) -> Decision:
        resources = build_resources()
        tracking: Tracking = resources["tracking"]
        commit = publish_version(resources["versions"].open(), UC.name, pl.concat([_test_split(), _train_split()]), 1)
        assert _register(tracking, commit, champion, redteam[0]) == "1"
        tracking.promote(UC.model_name, "1", "first champion")
        assert _register(tracking, commit, challenger, redteam[1]) == "2"
        if feedback is not None:
            _write_feedback(*feedback)
        with dg.instance_for_test() as instance:
            instance.report_runless_asset_event(
                dg.AssetMaterialization(UC.key("model"), metadata={"model_version": "2"})
            )
            result = dg.materialize([defs.resolve_assets_def(UC.key("champion"))], instance=instance)
        event = result.get_asset_materialization_events()[0].materialization
        assert event is not None
        evaluations = result.get_asset_check_evaluations()
        assert {e.severity for e in evaluations} == {dg.AssetCheckSeverity.WARN}
        checks = {e.check_name: e.passed for e in evaluations}
        return Decision({k: v.value for k, v in event.metadata.items()}, tracking, checks)

    yield run


def _by_name(blessing: Blessing) -> dict[str, str]:
    return {f"{c.kind} {c.name}": c.verdict for c in blessing.checks}


def test_worse_in_one_gated_slice_is_not_promoted_and_the_blessing_says_why(
    decide: Callable[..., Decision], capsys: pytest.CaptureFixture[str]
) -> None:
    """The champion is wrong on web, the challenger on chat: equal overall (the same errors per class), so only
    the chat slice tells them apart."""
    decision = decide(
        champion=lambda channel, variant: channel == "web", challenger=lambda channel, variant: channel == "chat"
    )
    assert decision.metadata["promoted"] == "false" and decision.metadata["decision"] == "not promoted"
    assert decision.champion() == "1"
    assert decision.checks == {
        "not_worse_overall": True,
        "not_worse_in_gated_slices": False,
        "not_worse_on_feedback": True,
        "redteam_within_margin": True,
    }
    blessing = decision.blessing()
    verdicts = _by_name(blessing)
    assert verdicts["overall overall"] == PASS
    assert verdicts["slice channel=chat"] == FAIL and verdicts["slice channel=web"] == PASS
    assert verdicts["slice channel=phone"] == NOT_GATED
    overall = next(c for c in blessing.checks if c.kind == "overall")
    assert overall.measured["difference"] == 0 and overall.interval is not None
    chat = next(c for c in blessing.checks if c.name == "channel=chat")
    perfect = round(12 / 13, 4)  # macro F1 over the 13 classes; the 13th has no ticket in the lookup
    assert chat.measured["challenger"] == 0 and chat.measured["champion"] == perfect and chat.measured["n"] == 48
    assert "channel=chat" in blessing.reason and blessing.reason == decision.metadata["reason"]
    assert (blessing.challenger, blessing.champion, blessing.dataset_version) == ("2", "1", "ticket_triage/v1")
    assert len(blessing.dataset_commit) > 8 and blessing.metric == "macro_f1"

    record = decision.tracking.get_version(UC.model_name, "2")
    assert record is not None and record.tags[DECISION_TAG] == "not promoted"
    assert record.tags[REASON_TAG] == blessing.reason and record.tags[RECORD_TAG].startswith("blessings/")
    assert "slices worse: channel=chat" in str(decision.metadata["evidence"])
    assert "| slice | channel=chat | fail |" in str(decision.metadata["checks"])
    assert decision.metadata["blessing"] == json.loads(blessing.to_json()), "the same record in Dagster and MLflow"

    assert main(["model", "list", UC.name]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "blessing promoted" not in lines[1] and "blessing not promoted" in lines[1]
    assert main(["model", "show", UC.name, "--version", "2"]) == 0
    shown = capsys.readouterr().out
    assert "blessing: not promoted" in shown and "fail          slice channel=chat" in shown


def test_worse_only_in_a_slice_under_min_support_is_promoted(decide: Callable[..., Decision]) -> None:
    """The challenger is wrong on the 24 phone tickets, the champion on 24 web ones: phone is reported only."""
    decision = decide(
        champion=lambda channel, variant: channel == "web" and variant == "variant0",
        challenger=lambda channel, variant: channel == "phone",
    )
    assert decision.metadata["promoted"] == "true" and decision.champion() == "2"
    blessing = decision.blessing()
    verdicts = _by_name(blessing)
    assert verdicts["slice channel=phone"] == NOT_GATED and verdicts["overall overall"] == PASS
    phone = next(c for c in blessing.checks if c.name == "channel=phone")
    assert phone.measured["challenger"] == 0 and "24 rows < min_slice_support 30" in phone.detail
    assert verdicts["redteam suite"] == NOT_EVALUATED, "no red-team results: not evaluated, not a failure"
    assert verdicts["feedback last 7 days"] == NOT_GATED
    record = decision.tracking.get_version(UC.model_name, "2")
    assert record is not None and record.tags[DECISION_TAG] == "promoted"
    assert record.tags["promotion.reason"] == blessing.reason
    assert str(decision.metadata["evidence"]).startswith("v2 promoted over v1 — macro F1 ")


def test_a_red_team_failure_rate_rising_beyond_the_margin_blocks(decide: Callable[..., Decision]) -> None:
    champion = {"typos": 0.05, "casing": 0.10, "only_on_champion": 0.2}
    challenger = {"typos": 0.30, "casing": 0.11}
    decision = decide(redteam=(champion, challenger))
    assert decision.metadata["promoted"] == "false" and decision.champion() == "1"
    assert not decision.checks["redteam_within_margin"] and decision.checks["not_worse_overall"]
    verdicts = _by_name(decision.blessing())
    assert verdicts["redteam typos"] == FAIL and verdicts["redteam casing"] == PASS
    assert verdicts["redteam only_on_champion"] == NOT_EVALUATED
    assert verdicts["overall overall"] == PASS
    typos = next(c for c in decision.blessing().checks if c.name == "typos")
    assert typos.measured == {"challenger": 0.3, "champion": 0.05, "rise": 0.25} and typos.threshold == 0.02
    assert "red team worse: typos" in str(decision.metadata["evidence"])


def test_red_team_within_the_margin_promotes(decide: Callable[..., Decision]) -> None:
    decision = decide(redteam=({"typos": 0.05}, {"typos": 0.06}))
    assert decision.metadata["promoted"] == "true"
    assert _by_name(decision.blessing())["redteam typos"] == PASS


def test_shadow_feedback_worse_is_not_promoted(decide: Callable[..., Decision]) -> None:
    """Equal on the test split; on the 60 items corrected in the last 7 feedback days the challenger is wrong.
    Corrections of training rows and corrections older than the window are not scored."""
    decision = decide(challenger=lambda channel, variant: variant == "feedback", feedback=(60, 10, 15))
    assert decision.metadata["promoted"] == "false" and decision.champion() == "1"
    blessing = decision.blessing()
    feedback = next(c for c in blessing.checks if c.kind == "feedback")
    assert feedback.verdict == FAIL and feedback.measured["n"] == 60
    assert not decision.checks["not_worse_on_feedback"]
    assert feedback.name == f"last 7 days ({FEEDBACK_DAY}..{FEEDBACK_DAY})"
    assert feedback.measured["challenger"] == 0 and feedback.measured["champion"] == round(12 / 13, 4)
    assert _by_name(blessing)["overall overall"] == PASS
    assert "feedback 60 items -0.923 WORSE" in str(decision.metadata["evidence"])


def test_thin_feedback_is_reported_not_gated(decide: Callable[..., Decision]) -> None:
    decision = decide(challenger=lambda channel, variant: variant == "feedback", feedback=(20, 0, 0))
    assert decision.metadata["promoted"] == "true"
    feedback = next(c for c in decision.blessing().checks if c.kind == "feedback")
    assert feedback.verdict == NOT_GATED and feedback.measured["n"] == 20
    assert feedback.detail == "not enough feedback (n=20 < min_feedback 50): not gated"


def test_the_feedback_window_is_the_newest_days_on_record_and_the_latest_correction_counts(factory_home: Path) -> None:
    """``feedback_items.sql`` with ``promotion.feedback_days`` 7: corrections filed on the newest feedback day and
    the 6 days before it, joined to their prepared rows; an item corrected twice counts with its latest label."""
    build_definitions([SPEC])
    warehouse = build_resources()["warehouse"]
    ids = ["a", "b", "c", "d"]
    warehouse.replace_partition(
        UC.name,
        "prepared",
        "2026-01-01",
        as_prepared(SPEC, _train_split().head(4).with_columns(ticket_id=pl.Series(ids))),
    )

    def correct(day: str, item: str, label: str, hour: int) -> None:
        frame = pl.DataFrame(
            {
                "ticket_id": [item],
                "predicted_label": ["billing"],
                "corrected_label": [label],
                "corrected_at": [datetime(2026, 1, int(day[-2:]), hour, tzinfo=UTC)],
                "reviewer": ["agent"],
                "source": ["agents"],
            }
        )
        existing = warehouse.read_partition(UC.name, "feedback", day)
        warehouse.replace_partition(UC.name, "feedback", day, pl.concat([existing, frame], how="vertical_relaxed"))

    correct("2026-01-20", "a", "refund", 9)
    correct("2026-01-14", "b", "refund", 9)  # the 7th day back: inside
    correct("2026-01-13", "c", "refund", 9)  # the 8th day back: outside
    correct("2026-01-14", "a", "outage", 8)  # an earlier correction of a: the later one counts
    found = warehouse.query("feedback_items", [7], schema=UC.name, id_column="ticket_id")
    assert dict(zip(found["ticket_id"], found["__feedback_label"], strict=True)) == {"a": "refund", "b": "refund"}
    assert sorted(found["__feedback_day"]) == ["2026-01-14", "2026-01-20"]
    assert {"body", "channel", "subject"} <= set(found.columns) and "partition_key" not in found.columns
