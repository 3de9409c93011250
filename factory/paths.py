"""Where the factory keeps its state, resolved from the environment with embedded defaults.

``FACTORY_HOME`` (default ``.factory/`` at the repo root) holds the DuckDB warehouse, the local version
store and the MLflow SQLite store. ``FACTORY_USECASES`` points at a directory of use-case YAML files
(default: the ones shipped in ``factory/usecases``).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["REPO_ROOT", "SQL_DIR", "factory_home", "usecases_dir"]

REPO_ROOT = Path(__file__).resolve().parents[1]
SQL_DIR = REPO_ROOT / "sql"
_PACKAGE_USECASES = Path(__file__).resolve().parent / "usecases"


def factory_home() -> Path:
    """The state directory; created on first use."""
    configured = os.environ.get("FACTORY_HOME")
    home = Path(configured) if configured else REPO_ROOT / ".factory"
    home = home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def usecases_dir() -> Path:
    configured = os.environ.get("FACTORY_USECASES")
    return Path(configured).resolve() if configured else _PACKAGE_USECASES
