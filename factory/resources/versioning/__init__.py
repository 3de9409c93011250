"""The dataset version store: one lakeFS-shaped interface, an embedded local backend and a lakeFS backend.

Import from here, not from the private modules: ``from factory.resources.versioning import VersionStore``.
``LakeFSVersionStore`` is imported on first use: ``lakefs_sdk`` takes over a second to import, and processes
on the local backend never need it.
"""

from typing import TYPE_CHECKING, Any

from factory.resources.versioning.local import LocalVersionStore
from factory.resources.versioning.store import (
    MAIN_BRANCH,
    BranchExists,
    Change,
    ChangeKind,
    Commit,
    ConcurrentUpdate,
    CorruptStore,
    InvalidName,
    MergeConflict,
    NothingToCommit,
    ObjectNotFound,
    ProtectedBranch,
    RefNotFound,
    RepositoryNotFound,
    TagExists,
    UncommittedChanges,
    VersionStore,
    VersionStoreError,
    frame_to_parquet,
    parquet_to_frame,
    table_path,
)

if TYPE_CHECKING:
    from factory.resources.versioning.lakefs import LakeFSVersionStore

__all__ = [
    "MAIN_BRANCH",
    "BranchExists",
    "Change",
    "ChangeKind",
    "Commit",
    "ConcurrentUpdate",
    "CorruptStore",
    "InvalidName",
    "LakeFSVersionStore",
    "LocalVersionStore",
    "MergeConflict",
    "NothingToCommit",
    "ObjectNotFound",
    "ProtectedBranch",
    "RefNotFound",
    "RepositoryNotFound",
    "TagExists",
    "UncommittedChanges",
    "VersionStore",
    "VersionStoreError",
    "frame_to_parquet",
    "parquet_to_frame",
    "table_path",
]


def __getattr__(name: str) -> Any:
    if name == "LakeFSVersionStore":
        from factory.resources.versioning.lakefs import LakeFSVersionStore

        return LakeFSVersionStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
