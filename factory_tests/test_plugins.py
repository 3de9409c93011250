"""The plug-in registry: built-in kinds, third-party kinds through the entry-point group, and unknown kinds."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.metadata import EntryPoint
from typing import Any

import pytest

from factory import plugins
from factory.plugins import PluginError, Registry


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    plugins.registry.cache_clear()
    yield
    plugins.registry.cache_clear()


def test_builtin_kinds() -> None:
    known = plugins.registry()
    assert set(known.data_sources) >= {"demo", "files", "postgres", "duckdb", "sqlite"}
    assert set(known.annotation_sources) >= {"column", "demo", "files"}
    assert set(known.feedback_sources) >= {"demo", "files"}
    assert plugins.feedback_source("demo").needs_predictions
    assert not plugins.feedback_source("files").needs_predictions


def test_unknown_kind_names_the_known_ones() -> None:
    known = r"\(known: \['column', 'demo', 'files'\]\)"
    with pytest.raises(PluginError, match=r"annotation source kind 'crowdsource' " + known):
        plugins.annotation_source("crowdsource")


class _Echo:
    label = "echo"

    def land(self, spec: Any, source: Any, day: str) -> plugins.Landed:
        raise NotImplementedError


def register_echo(registry: Registry) -> None:
    registry.register_data_source("echo", _Echo())


def test_entry_points_add_kinds(monkeypatch: pytest.MonkeyPatch, fresh_registry: None) -> None:
    point = EntryPoint(name="echo", value=f"{__name__}:register_echo", group=plugins.ENTRY_POINT_GROUP)

    def points(group: str) -> list[EntryPoint]:
        return [point] if group == plugins.ENTRY_POINT_GROUP else []

    monkeypatch.setattr(plugins, "entry_points", points)
    assert plugins.data_source("echo").label == "echo"
    assert plugins.data_source("demo").label == "polars", "built-ins stay"


def test_core_and_defs_never_import_the_demo() -> None:
    from pathlib import Path

    root = Path(plugins.__file__).parent
    offenders = [
        str(path.relative_to(root))
        for layer in ("core", "defs")
        for path in (root / layer).rglob("*.py")
        if "factory.demo" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
