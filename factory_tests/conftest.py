"""Shared fixtures: a temporary FACTORY_HOME. Shared constants and helpers live in ``factory_tests.helpers``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

TODAY = "2026-01-09"
"""The tests' today: the shipped specs' ``8 days ago`` and ``2 days ago`` are then 2026-01-01 and 2026-01-07."""


def pytest_configure(config: pytest.Config) -> None:
    """Pin the factory's today before any test module loads a spec (subprocesses inherit it)."""
    os.environ["FACTORY_TODAY"] = TODAY


@pytest.fixture(autouse=True)
def _mlflow_environment() -> Iterator[None]:
    """``mlflow.set_tracking_uri`` writes ``MLFLOW_TRACKING_URI`` into the environment, which the factory reads as
    the user's tracking server: a test that calls it would point every later test (and the services a later test
    starts) at its own store. Each test ends with the two variables as it found them."""
    names = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    saved = {name: os.environ.get(name) for name in names}
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture
def factory_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "factory_home"
    home.mkdir()
    monkeypatch.setenv("FACTORY_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("FACTORY_WAREHOUSE", raising=False)
    monkeypatch.delenv("FACTORY_DATA", raising=False)  # inputs resolve beside this home, not the Makefile's folder
    yield home
