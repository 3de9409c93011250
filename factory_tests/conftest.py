"""Shared fixtures: a temporary FACTORY_HOME. Shared constants and helpers live in ``factory_tests.helpers``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def factory_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    home = tmp_path / "factory_home"
    home.mkdir()
    monkeypatch.setenv("FACTORY_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("FACTORY_WAREHOUSE", raising=False)
    monkeypatch.delenv("FACTORY_DATA", raising=False)  # inputs resolve beside this home, not the Makefile's folder
    yield home
