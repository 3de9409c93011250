"""Shared test helpers: the shipped spec and a small variant of it, sample ticket texts, a published-version
builder for the version-store tests, and narrowings of Polars aggregates and Dagster events for typed tests.

Test modules import these from here; ``conftest.py`` holds fixtures only, and no test module imports another.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest
import yaml

from factory.defs import UseCase, build_definitions
from factory.defs.resources import build_resources
from factory.paths import package_path
from factory.resources.tables import TableName, tables_for
from factory.resources.versioning import MAIN_BRANCH, VersionStore
from factory.resources.warehouse import Warehouse
from factory.spec import (
    ColumnAnnotationSourceSpec,
    ColumnSpec,
    FeedbackSpec,
    FileSourceSpec,
    UseCaseSpec,
    load_spec,
)

SHIPPED_SPEC = package_path("usecases", "ticket_triage.yaml")
CSV_HEADER = "ticket_id,created_at,customer_id,channel,subject,body"

# Distinct ticket texts, far apart enough that none is a near duplicate of another.
TICKET_TEXTS = [
    "My invoice shows a double charge for the annual plan",
    "The parcel was supposed to arrive Monday and tracking has not moved since",
    "I cannot log in after resetting my password twice this morning",
    "The mobile app crashes whenever I open the settings screen",
    "Please cancel my subscription at the end of this billing period",
    "Do you ship the blue model to Canada and how long does it take",
    "Our whole team lost access to the shared dashboard after the update",
    "Requesting a refund for the headphones that arrived with a cracked case",
    "Is there a way to export all my invoices as a single spreadsheet",
    "The checkout page keeps timing out when I pay with a gift card",
    "How do I add a second admin to our company account",
    "The discount code from your newsletter is rejected at checkout",
]


def small_spec(rows_per_day: int = 600, drift_day: str = "2026-01-03") -> UseCaseSpec:
    """ticket_triage with fewer rows a day and the drift on day 3; the dataset and quality floors are lowered
    to what two small days can clear (macro F1 on a ~120-row test split over 13 classes is noisy)."""
    spec = load_spec(SHIPPED_SPEC)
    demo = spec.demo_source
    assert demo is not None, "the shipped ticket_triage spec has a demo source"
    source = demo.model_copy(update={"rows_per_day": rows_per_day, "drift_start": date.fromisoformat(drift_day)})
    gates = spec.gates.model_copy(update={"min_rows": 300, "quality_floor": 0.5, "min_class_examples": 1})
    return spec.model_copy(update={"sources": (source,), "gates": gates})


def prelabeled_spec(weight: float = 1.0, name: str | None = None) -> UseCaseSpec:
    """`small_spec` as pre-labeled data: CSV files dropped in ``drop/`` (`CSV_HEADER` plus ``category``), whose
    ``category`` column is the only annotation source (kind ``column``, named ``given``), no feedback source."""
    base = small_spec()
    drop = FileSourceSpec(name="tickets", kind="files", path="drop", pattern="*.csv", format="csv")
    given = ColumnAnnotationSourceSpec(kind="column", name="given", column="category", weight=weight)
    labeling = base.labeling.model_copy(update={"sources": (given,), "imports": None, "annotators": None})
    schema = base.schema.model_copy(update={"columns": (*base.schema.columns, ColumnSpec(name="category"))})
    return UseCaseSpec.model_validate(
        {
            **base.model_dump(by_alias=True),
            "name": name or base.name,
            "sources": [drop.model_dump()],
            "schema": schema.model_dump(),
            "labeling": labeling.model_dump(),
            "feedback": FeedbackSpec(sources=()).model_dump(),
        }
    )


@dataclass
class PrelabeledRun:
    """A pre-labeled use case after its daily job ran for one day (`prelabeled_run`)."""

    home: Path
    defs: dg.Definitions
    instance: dg.DagsterInstance
    warehouse: Warehouse
    uc: UseCase
    daily: dg.ExecuteInProcessResult
    day: str

    def table(self, name: TableName) -> pl.DataFrame:
        """The day's rows of a table."""
        return self.warehouse.read_partition(self.uc.name, name, self.day)

    def metadata(self, asset: str) -> dict[str, object]:
        """The metadata of the daily job's materialization of ``asset``."""
        event = next(e for e in self.daily.get_asset_materialization_events() if asset_name(e) == asset)
        assert event.materialization is not None
        return {k: v.value for k, v in event.materialization.metadata.items()}


@contextmanager
def prelabeled_run(home: Path, day: str, csv: str, weight: float) -> Iterator[PrelabeledRun]:
    """`prelabeled_spec` run by its whole daily job for ``day`` in ``home`` (FACTORY_HOME and data root; the
    ``factory_home`` fixture is per test, this serves module-scoped fixtures), ``csv`` dropped as the day's file."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACTORY_HOME", str(home))
        patch.setenv("FACTORY_DATA", str(home))
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.delenv("FACTORY_WAREHOUSE", raising=False)
        (home / "drop").mkdir()
        (home / "drop" / f"tickets_{day}.csv").write_text(csv, encoding="utf-8")
        spec = prelabeled_spec(weight)
        uc = UseCase(spec)
        defs = build_definitions([spec])
        with dg.instance_for_test() as instance:
            # The whole daily job: without a feedback source, nothing may wait for corrections.
            result = defs.resolve_job_def(uc.daily_job).execute_in_process(partition_key=day, instance=instance)
            assert result.success
            yield PrelabeledRun(home, defs, instance, build_resources()["warehouse"], uc, result, day)


def as_prepared(spec: UseCaseSpec, rows: pl.DataFrame) -> pl.DataFrame:
    """``rows`` (some of the schema's columns) as rows of the use case's ``prepared`` table, every other declared
    column null: what a test writes to the warehouse for the layers that read prepared rows."""
    declared = tables_for(spec)["prepared"].rows_schema
    return rows.select(
        pl.col(name).cast(dtype) if name in rows.columns else pl.lit(None, dtype).alias(name)
        for name, dtype in declared.items()
    )


def number(value: object) -> float:
    """A Polars aggregate (``Series.min``, ``max``, ``mean``, ``median``, ``quantile``, ``item``) as a float.

    Polars types these as any Python literal or None, so a test comparing one with a bound narrows it here; a
    None (an empty or all-null series) or a non-number fails the test instead of being compared.
    """
    assert isinstance(value, int | float), f"expected a number, got {value!r}"
    return float(value)


def asset_name(event: dg.DagsterEvent) -> str:
    """The asset name (last key component) of a materialization event; Dagster types the key as optional
    because other event types carry none."""
    key = event.asset_key
    assert key is not None, f"a {event.event_type_value} event carries no asset key"
    return key.path[-1]


def publish_version(store: VersionStore, use_case: str, frame: pl.DataFrame, number: int) -> str:
    """What the `dataset` asset does, reduced: stage on a branch, merge into main, tag."""
    branch = f"{use_case}/stage/run-{number}"
    store.create_branch(branch, MAIN_BRANCH)
    store.write_table(branch, f"{use_case}/dataset", frame)
    store.write_object(branch, f"{use_case}/datacard.md", f"# {use_case} v{number}\n".encode())
    staged = store.commit(branch, f"stage v{number}", {"digest": f"d{number}", "rows": str(frame.height)})
    merged = store.merge(branch, MAIN_BRANCH, f"publish v{number}", {**staged.metadata, "version": f"v{number}"})
    store.create_tag(f"{use_case}/v{number}", merged.id)
    store.delete_branch(branch)
    return merged.id


def dataset_frame(rows: int) -> pl.DataFrame:
    """A small labelled dataset of ``rows`` tickets, one in ten in the test split."""
    return pl.DataFrame(
        {
            "ticket_id": [f"T{i}" for i in range(rows)],
            "label": ["billing" if i % 3 else "refund" for i in range(rows)],
            "split": ["test" if i % 10 == 0 else "train" for i in range(rows)],
        }
    )


def text_label_spec(name: str, source: Mapping[str, object], classes: tuple[str, ...]) -> dict[str, Any]:
    """The shipped spec's settings for a use case whose data is a text column and a label column only (no id,
    timestamp or group: the factory derives them), fed by ``source`` and labeled from the label column."""
    data = yaml.safe_load(SHIPPED_SPEC.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    data.update(
        name=name,
        sources=[dict(source)],
        schema={"columns": [{"name": "text", "required": True}, {"name": "category"}]},
        text_columns=["text"],
        feature_columns=[],
        custom_pii={},
        feedback={"sources": []},
    )
    data["labeling"].update(classes=list(classes), sources=[{"name": "given", "kind": "column", "column": "category"}])
    data["models"]["slices"] = []  # the shipped spec slices by `channel`, which this data has not
    return data


@contextmanager
def factory_env(home: Path) -> Iterator[pytest.MonkeyPatch]:
    """For a module-scoped fixture (where the function-scoped ``factory_home`` cannot serve): ``home`` as both
    FACTORY_HOME and the data root, the default MLflow store and warehouse, until the block ends."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACTORY_HOME", str(home))
        patch.setenv("FACTORY_DATA", str(home))
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.delenv("FACTORY_WAREHOUSE", raising=False)
        yield patch
