"""Resources configured from the environment, with embedded defaults under ``FACTORY_HOME``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dagster as dg

from factory.paths import factory_home
from factory.resources.clock import Clock
from factory.resources.pseudonyms import KEY_ENV, KEY_FILE, PseudonymKey
from factory.resources.tracking import Tracking
from factory.resources.versions import VersionStoreResource
from factory.resources.warehouse import Warehouse

__all__ = ["TRACKING_ENV", "build_resources"]

TRACKING_ENV = "MLFLOW_TRACKING_URI"
"""MLflow's own variable: a tracking server (``http://...``) or a database store; unset, a SQLite file under
``FACTORY_HOME``."""


def build_resources() -> dict[str, Any]:
    home = factory_home()
    return {
        "warehouse": Warehouse(database=os.environ.get("FACTORY_WAREHOUSE") or str(home / "warehouse.duckdb")),
        "versions": VersionStoreResource.from_env(home / "versions"),
        "tracking": _tracking(home),
        "clock": Clock(),
        "pseudonyms": PseudonymKey(
            key_file=str(home / KEY_FILE), secret=dg.EnvVar(KEY_ENV) if os.environ.get(KEY_ENV) else None
        ),
    }


def _tracking(home: Path) -> Tracking:
    """MLflow from ``MLFLOW_TRACKING_URI`` (read through ``dg.EnvVar``: a URI with credentials never shows in the
    UI), else the SQLite store under ``FACTORY_HOME``. A tracking server keeps the artifacts where it is configured
    to (they are uploaded through it); a database store gets them under ``FACTORY_HOME/mlartifacts``."""
    configured = os.environ.get(TRACKING_ENV)
    if not configured:
        return Tracking(tracking_uri=f"sqlite:///{home / 'mlflow.db'}", artifact_root=(home / "mlartifacts").as_uri())
    served = urlsplit(configured).scheme in ("http", "https")
    return Tracking(
        tracking_uri=dg.EnvVar(TRACKING_ENV), artifact_root=None if served else (home / "mlartifacts").as_uri()
    )
