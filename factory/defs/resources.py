"""Resources configured from the environment, with embedded defaults under ``FACTORY_HOME``."""

from __future__ import annotations

import os
from typing import Any

import dagster as dg

from factory.paths import factory_home
from factory.resources.clock import Clock
from factory.resources.pseudonyms import KEY_ENV, KEY_FILE, PseudonymKey
from factory.resources.tracking import Tracking
from factory.resources.versions import VersionStoreResource
from factory.resources.warehouse import Warehouse

__all__ = ["build_resources"]


def build_resources() -> dict[str, Any]:
    home = factory_home()
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home / 'mlflow.db'}"
    return {
        "warehouse": Warehouse(database=os.environ.get("FACTORY_WAREHOUSE") or str(home / "warehouse.duckdb")),
        "versions": VersionStoreResource.from_env(home / "versions"),
        "tracking": Tracking(tracking_uri=tracking_uri, artifact_root=(home / "mlartifacts").as_uri()),
        "clock": Clock(),
        "pseudonyms": PseudonymKey(
            key_file=str(home / KEY_FILE), secret=dg.EnvVar(KEY_ENV) if os.environ.get(KEY_ENV) else None
        ),
    }
