"""Red team: a regression suite per use case in the manner of CheckList (minimum-functionality, invariance and
directional tests), generated offline and deterministically, and run on any model in one batch per test.

`build_suite` makes the suite from the test split's rows and the use case's red-team file (`parse_redteam_file`);
`run_suite` scores it on a model (`pipeline_scorer` for a fitted pipeline) and gives each test's failure rate.
"""

from __future__ import annotations

from factory.core.redteam._file import (
    DirectionalEntry,
    GoldenEntry,
    RedTeamFile,
    RedTeamFileError,
    parse_redteam_file,
)
from factory.core.redteam._run import RedTeamResult, Scorer, TestResult, pipeline_scorer, run_suite
from factory.core.redteam._suite import (
    CONTACT_KINDS,
    INVARIANCE_TESTS,
    TEXT_TESTS,
    Case,
    RedTeamSuite,
    SuiteConfig,
    build_suite,
)

__all__ = [
    "CONTACT_KINDS",
    "INVARIANCE_TESTS",
    "TEXT_TESTS",
    "Case",
    "DirectionalEntry",
    "GoldenEntry",
    "RedTeamFile",
    "RedTeamFileError",
    "RedTeamResult",
    "RedTeamSuite",
    "Scorer",
    "SuiteConfig",
    "TestResult",
    "build_suite",
    "parse_redteam_file",
    "pipeline_scorer",
    "run_suite",
]
