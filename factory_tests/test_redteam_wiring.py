"""The red team's Dagster metadata: readable tables whose names and values from data are escaped."""

from __future__ import annotations

from factory.core.redteam import RedTeamResult, TestResult
from factory.defs.redteam import redteam_metadata


def test_metadata_tables_escape_what_comes_from_data() -> None:
    example = {"origin": "golden[0] <b>bold</b>", "expected": "a|b", "predicted": "[x](http://e)"}
    result = RedTeamResult(
        tests=(TestResult("minimum_functionality", "mft", 4, 1, (example,)), TestResult("typos", "invariance", 6, 0)),
        seconds=0.25,
    )
    metadata = redteam_metadata(result)
    table, failing = str(metadata["redteam"].value), str(metadata["redteam_failing"].value)
    assert (
        "| minimum_functionality | mft | 4 | 1 | 0.2500 |" in table
        and "| typos | invariance | 6 | 0 | 0.0000 |" in table
    )
    assert "&lt;b&gt;bold&lt;/b&gt;" in failing and "a\\|b" in failing and "\\[x\\](http://e)" in failing
    assert metadata["redteam_summary"] == "10 cases, 2 tests; worst: minimum_functionality 25.0% failing"
    assert metadata["redteam_seconds"] == 0.25 and metadata["redteam_cases"] == 10
    assert redteam_metadata(None) == {"redteam_summary": "off (redteam.enabled: false)"}
