"""The version-store resource: picks a backend from configuration and hands out a ready store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import dagster as dg
from dagster import ConfigurableResource

from factory.resources.versioning import LocalVersionStore, VersionStore

__all__ = ["LAKEFS_KEY_ENV", "VersionStoreResource"]

#: The environment variables that hold the lakeFS key pair; the resource names them, never their values.
LAKEFS_KEY_ENV = ("LAKEFS_ACCESS_KEY_ID", "LAKEFS_SECRET_ACCESS_KEY")


def _secret(value: str | None) -> str | None:
    """A config value that may still be an unresolved ``dg.EnvVar`` (when used outside a Dagster run)."""
    return value.get_value() if isinstance(value, dg.EnvVar) else value


class VersionStoreResource(ConfigurableResource["VersionStoreResource"]):
    """Dataset versions: the local content-addressed store under ``FACTORY_HOME``, or a lakeFS repository.

    ``backend="local"`` keeps the store under ``root``. ``backend="lakefs"`` talks to the lakeFS server at
    ``lakefs_endpoint``; pass the keys as ``dg.EnvVar("LAKEFS_ACCESS_KEY_ID")`` and
    ``dg.EnvVar("LAKEFS_SECRET_ACCESS_KEY")`` so Dagster shows and logs the variable names only.
    ``repository`` names the local repository directory or the lakeFS repository.
    """

    backend: Literal["local", "lakefs"] = "local"
    root: str
    repository: str = "factory"
    lakefs_endpoint: str | None = None
    lakefs_access_key_id: str | None = None
    lakefs_secret_access_key: str | None = None
    lakefs_storage_namespace: str | None = None

    @classmethod
    def from_env(cls, root: Path) -> VersionStoreResource:
        """The resource ``FACTORY_VERSION_STORE`` asks for: ``local`` (default, under ``root``) or ``lakefs``.

        ``lakefs`` needs ``LAKEFS_ENDPOINT``, ``LAKEFS_ACCESS_KEY_ID`` and ``LAKEFS_SECRET_ACCESS_KEY``; the
        keys stay in the environment (``dg.EnvVar``) and are read when a run opens the store.
        """
        backend = os.environ.get("FACTORY_VERSION_STORE") or "local"
        if backend == "local":
            return cls(root=str(root))
        if backend != "lakefs":
            raise ValueError(f"FACTORY_VERSION_STORE must be 'local' or 'lakefs', got {backend!r}")
        missing = [name for name in ("LAKEFS_ENDPOINT", *LAKEFS_KEY_ENV) if not os.environ.get(name)]
        if missing:
            raise ValueError(f"FACTORY_VERSION_STORE=lakefs needs {', '.join(missing)} in the environment")
        return cls(
            backend="lakefs",
            root=str(root),
            lakefs_endpoint=os.environ["LAKEFS_ENDPOINT"],
            lakefs_access_key_id=dg.EnvVar(LAKEFS_KEY_ENV[0]),
            lakefs_secret_access_key=dg.EnvVar(LAKEFS_KEY_ENV[1]),
        )

    def open(self) -> VersionStore:
        store: VersionStore
        if self.backend == "lakefs":
            from factory.resources.versioning import LakeFSVersionStore  # here: lakefs_sdk takes a second to import

            endpoint, key, secret = (
                _secret(value)
                for value in (self.lakefs_endpoint, self.lakefs_access_key_id, self.lakefs_secret_access_key)
            )
            if not endpoint or not key or not secret:
                raise ValueError("the lakefs backend needs lakefs_endpoint, lakefs_access_key_id and its secret key")
            store = LakeFSVersionStore(endpoint, key, secret, self.repository, self.lakefs_storage_namespace)
        else:
            store = LocalVersionStore(Path(self.root), self.repository)
        store.ensure_repository()
        return store
