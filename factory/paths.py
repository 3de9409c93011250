"""Where the factory keeps its state and finds the files it ships, resolved from the environment.

``FACTORY_HOME`` (default ``.factory/`` in the current directory; the Makefile points it at the repository's
``.factory/``) holds the DuckDB warehouse, the local version store and the MLflow SQLite store.
``FACTORY_USECASES`` points at a directory of use-case YAML files (default: the ones shipped in the package,
``factory/usecases``). Files shipped in the package (SQL, use cases) are found with ``importlib.resources``,
so an installed ``factory`` reads its own copies wherever it runs.
"""

from __future__ import annotations

import os
from importlib.resources import files
from pathlib import Path

__all__ = ["factory_home", "package_path", "usecases_dir"]


def factory_home() -> Path:
    """The state directory; created on first use."""
    configured = os.environ.get("FACTORY_HOME")
    home = Path(configured) if configured else Path.cwd() / ".factory"
    home = home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    return home


def package_path(*parts: str) -> Path:
    """A file or directory shipped inside the ``factory`` package, as a path on disk.

    Raises ``FileNotFoundError`` when it does not exist, and ``RuntimeError`` when the package is not installed
    as plain files (a zip import), where shipped files have no path.
    """
    resource = files("factory").joinpath(*parts)
    if not isinstance(resource, Path):
        raise RuntimeError(f"factory is not installed as files on disk; cannot locate {'/'.join(parts)}")
    if not resource.exists():
        raise FileNotFoundError(f"{'/'.join(parts)} is missing from the installed factory package at {resource}")
    return resource


def usecases_dir() -> Path:
    """The directory of use-case YAML files: ``FACTORY_USECASES``, else the package's own ``usecases/``."""
    configured = os.environ.get("FACTORY_USECASES")
    return Path(configured).resolve() if configured else package_path("usecases")
