"""The red-team suite of the ``model`` asset: run on each newly registered version and stored with it.

The suite is generated from the published dataset's test split and the use case's red-team file
(`factory.core.redteam`, `factory.resources.redteam`) and run on the model as registered (loaded back from the
registry, as production loads it). A reused version keeps the results stored with it; a version registered
before the red team existed gets its suite on its next materialization.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import polars as pl

from factory.core.redteam import RedTeamFileError, RedTeamResult
from factory.defs.metadata import markdown_table
from factory.defs.usecase import UseCase
from factory.resources.redteam import run_and_store, stored_result
from factory.resources.tracking import ModelRecord, Tracking
from factory.resources.versioning import VersionStore

__all__ = ["redteam_metadata", "redteam_results"]


def redteam_results(
    uc: UseCase, tracking: Tracking, store: VersionStore, commit_id: str, record: ModelRecord
) -> RedTeamResult | None:
    """The red-team results of a registered version: those stored with it, else the suite generated from the
    test split of `commit_id`, run and stored now. None when the spec turns the red team off."""
    if not uc.spec.redteam.enabled:
        return None
    stored = stored_result(tracking, record)
    if stored is not None:
        return stored
    test = store.read_table(commit_id, uc.dataset_table).filter(pl.col("split") == "test")
    try:
        return run_and_store(tracking, uc.spec, record, test)
    except RedTeamFileError as error:
        raise dg.Failure(f"the red-team suite cannot be built: {error}") from None


def redteam_metadata(result: RedTeamResult | None) -> dict[str, Any]:
    """Metadata of the ``model`` asset: a table of the tests (cases, failures, failure rate), one failing case
    per failing test (where it came from, what was expected, what the model said), the one-line summary, the
    number of cases and the seconds the suite took to generate and run."""
    if result is None:
        return {"redteam_summary": "off (redteam.enabled: false)"}
    failing = [
        {
            "test": test.name,
            "case": example.get("origin", ""),
            "expected": example.get("expected") or example.get("expected_move") or example.get("predicted", ""),
            "predicted": example.get("predicted_variant") or example.get("predicted", ""),
        }
        for test in result.tests
        for example in test.examples[:1]
    ]
    return {
        "redteam": dg.MetadataValue.md(markdown_table(result.rows())),
        "redteam_failing": dg.MetadataValue.md(markdown_table(failing)),
        "redteam_summary": result.summary(),
        "redteam_cases": result.cases,
        "redteam_seconds": round(result.seconds, 2),
    }
