"""The version-store resource: picks a backend from configuration and hands out a ready store."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from dagster import ConfigurableResource

from factory.resources.versioning import LocalVersionStore, VersionStore

__all__ = ["VersionStoreResource"]


class VersionStoreResource(ConfigurableResource["VersionStoreResource"]):
    """Dataset versions: the local content-addressed store under ``FACTORY_HOME`` (lakeFS comes next)."""

    backend: Literal["local"] = "local"
    root: str
    repository: str = "factory"

    def open(self) -> VersionStore:
        store = LocalVersionStore(Path(self.root), self.repository)
        store.ensure_repository()
        return store
