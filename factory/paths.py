"""Where the factory keeps its state and finds the files it ships, resolved from the environment.

``FACTORY_HOME`` (default ``.factory/`` in the current directory; the Makefile points it at the repository's
``.factory/``) holds the DuckDB warehouse, the local version store and the MLflow SQLite store.
``FACTORY_DATA`` (default ``factory-data/`` next to ``FACTORY_HOME``: with the Makefile's ``.factory/``, the
repository's ``factory-data/``) holds the inputs: drop folders, annotation and feedback inboxes, gold files.
Relative paths in a use-case spec resolve against it. It is not state: ``make reset`` deletes ``FACTORY_HOME``
and keeps it. Input paths must lie under ``FACTORY_DATA`` or ``FACTORY_HOME`` unless the spec allows one
outside (``allow_outside: true``). ``FACTORY_USECASES`` points at a directory of use-case YAML files (default:
the ones shipped in the package, ``factory/usecases``). Files shipped in the package (SQL, use cases) are found
with ``importlib.resources``, so an installed ``factory`` reads its own copies wherever it runs.
"""

from __future__ import annotations

import logging
import os
from importlib.resources import files
from pathlib import Path

__all__ = ["confine", "factory_data", "factory_home", "input_roots", "package_path", "resolve_input", "usecases_dir"]

_log = logging.getLogger(__name__)


def _home() -> Path:
    configured = os.environ.get("FACTORY_HOME")
    return (Path(configured) if configured else Path.cwd() / ".factory").resolve()


def factory_home() -> Path:
    """The state directory; created on first use."""
    home = _home()
    home.mkdir(parents=True, exist_ok=True)
    return home


def factory_data() -> Path:
    """The data root (inputs, not state): ``FACTORY_DATA``, else ``factory-data/`` next to ``FACTORY_HOME``.
    Not created here: a drop folder or inbox that does not exist yet is simply empty."""
    configured = os.environ.get("FACTORY_DATA")
    return Path(configured).resolve() if configured else _home().parent / "factory-data"


def input_roots() -> tuple[Path, Path]:
    """The folders input paths may point into without ``allow_outside``: the data root and ``FACTORY_HOME``."""
    return factory_data(), _home()


def confine(path: str) -> Path:
    """A spec's input path, resolved (relative paths against the data root, symbolic links followed), that lies
    under one of `input_roots`; ``ValueError`` naming the roots otherwise."""
    given = Path(path).expanduser()
    resolved = (given if given.is_absolute() else factory_data() / given).resolve()
    roots = input_roots()
    if any(resolved.is_relative_to(root.resolve()) for root in roots):
        return resolved
    raise ValueError(
        f"path {path!r} ({resolved}) is outside the data root {roots[0]} (FACTORY_DATA) and FACTORY_HOME {roots[1]}"
    )


def resolve_input(path: str, *, allow_outside: bool = False) -> Path:
    """Where a spec's input path (drop folder, inbox, gold file, database file) is on disk.

    Absolute paths stay; relative ones resolve against the data root. A relative path found only under
    ``FACTORY_HOME`` (where earlier versions resolved it) is still read there, with a warning to move it, since
    ``make reset`` deletes it. Unless ``allow_outside``, the result must lie under `input_roots` (``ValueError``).
    """
    given = Path(path).expanduser()
    if not given.is_absolute():
        current, legacy = factory_data() / given, _home() / given
        if not current.exists() and legacy.exists():
            _log.warning(
                "input %s is read from FACTORY_HOME (%s), which `make reset` deletes: move it to the data root %s",
                path,
                legacy,
                current,
            )
            return legacy if allow_outside else confine(str(legacy))
    if allow_outside:
        return given if given.is_absolute() else factory_data() / given
    return confine(path)


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
