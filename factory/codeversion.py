"""The code version recorded on every dataset commit and model version.

A digest of the factory's own source (Python, SQL and use-case files), so it is the same on every clone of
the same commit, with or without git metadata.
"""

from __future__ import annotations

import hashlib
from functools import cache

from factory.paths import REPO_ROOT, SQL_DIR

__all__ = ["code_version"]


@cache
def code_version() -> str:
    digest = hashlib.sha256()
    package = REPO_ROOT / "factory"
    files = sorted([*package.rglob("*.py"), *package.rglob("*.yaml"), *SQL_DIR.glob("*.sql")])
    for path in files:
        digest.update(path.relative_to(REPO_ROOT).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
