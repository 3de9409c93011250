"""The dataset version store: one lakeFS-shaped interface, an embedded local backend.

Import from here, not from the private modules: ``from factory.resources.versioning import VersionStore``.
"""

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

__all__ = [
    "MAIN_BRANCH",
    "BranchExists",
    "Change",
    "ChangeKind",
    "Commit",
    "ConcurrentUpdate",
    "CorruptStore",
    "InvalidName",
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
