"""The version-store interface: lakeFS-shaped branches, commits, merges and tags over objects by path.

A dataset version is written to a branch, committed with string metadata, audited, then merged into
``main`` and tagged. Every backend (the embedded local store, lakeFS) implements :class:`VersionStore`
and passes the same contract suite, so callers never depend on which one runs.

Semantics shared by every backend:

- A *ref* is a branch name, a tag or a full commit id, resolved in that order.
- Writes are staged on a branch and invisible to readers until :meth:`VersionStore.commit`;
  reading a branch reads its committed head.
- Merges always create a merge commit whose parents are (destination head, source head); they are
  three-way at path level against the merge base, and a conflict leaves the destination untouched.
- Tags are immutable. A published version is a tag, so it never changes.
"""

from __future__ import annotations

import io
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import polars as pl

__all__ = [
    "MAIN_BRANCH",
    "BranchExists",
    "Change",
    "ChangeKind",
    "Commit",
    "ConcurrentUpdate",
    "CorruptStore",
    "InvalidName",
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

MAIN_BRANCH = "main"

ChangeKind = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class Commit:
    """One immutable commit. Its entries (path -> object) are read separately, through a ref."""

    id: str
    parents: tuple[str, ...]
    message: str
    metadata: Mapping[str, str]
    created_at: datetime


@dataclass(frozen=True)
class Change:
    """One path that differs between two refs."""

    path: str
    kind: ChangeKind


class VersionStoreError(Exception):
    """Base class of every error a version store raises on purpose."""


class RepositoryNotFound(VersionStoreError):
    """The repository does not exist yet: call ``ensure_repository`` first."""


class RefNotFound(VersionStoreError):
    """A branch, tag or commit id that does not exist."""


class ObjectNotFound(VersionStoreError):
    """A path that does not exist at the ref it was read at (or deleted from)."""


class MergeConflict(VersionStoreError):
    """A merge or revert changed the same paths differently on both sides; nothing was written."""

    def __init__(self, message: str, paths: Iterable[str]) -> None:
        self.paths: tuple[str, ...] = tuple(sorted(paths))
        super().__init__(f"{message}: {len(self.paths)} conflicting path(s): {', '.join(self.paths)}")


class NothingToCommit(VersionStoreError):
    """A commit, merge or revert that would leave the branch's content unchanged."""


class TagExists(VersionStoreError):
    """A tag that already points to another commit: tags are immutable."""


class BranchExists(VersionStoreError):
    """A branch that already exists."""


class ProtectedBranch(VersionStoreError):
    """An operation the ``main`` branch does not allow (deletion)."""


class UncommittedChanges(VersionStoreError):
    """A merge or revert into a branch that has staged, uncommitted changes (lakeFS calls it dirty)."""


class InvalidName(VersionStoreError, ValueError):
    """A repository, branch, tag or object path that the store does not accept."""


class ConcurrentUpdate(VersionStoreError):
    """A ref moved between being read and being swapped; the update was not applied."""


class CorruptStore(VersionStoreError):
    """Stored bytes do not match their content address, or a record cannot be parsed."""


# --- naming rules shared by every backend (lakeFS's, so a name valid here is valid there) ---

HEX_ID = re.compile(r"^[0-9a-f]{64}$")
REPOSITORY_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{2,62}$")
_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9_.\-]*"
REF_NAME = re.compile(rf"^{_SEGMENT}(?:/{_SEGMENT})*$")
MAX_NAME = 255


def check_ref_name(name: str, what: str) -> None:
    """Branch and tag names: segments of [A-Za-z0-9_.-] joined by "/", not starting with "." or "-"."""
    if (
        not isinstance(name, str)
        or len(name) > MAX_NAME
        or not REF_NAME.match(name)
        or ".." in name
        or HEX_ID.match(name)
    ):
        raise InvalidName(f"invalid {what} name {name!r}")


def check_path(path: str) -> None:
    """Object paths: any non-empty text without NUL."""
    if not isinstance(path, str) or not path or "\x00" in path:
        raise InvalidName(f"invalid object path {path!r}")


def clean_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """Commit metadata is string to string, as in lakeFS; anything else is a caller error."""
    cleaned = dict(metadata or {})
    for key, value in cleaned.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"commit metadata must map str to str, got {key!r}: {value!r}")
    return cleaned


def table_path(name: str) -> str:
    """The object path of table ``name``: ``tables/<name>.parquet``."""
    if not name or name.startswith("/") or name.endswith("/"):
        raise InvalidName(f"invalid table name {name!r}")
    return f"tables/{name}.parquet"


def frame_to_parquet(frame: pl.DataFrame) -> bytes:
    """Serialize a frame to Parquet deterministically: same frame and Polars version, same bytes.

    Polars writes no timestamp; the footer names the Polars version (``created_by``), so bytes are
    stable for one installed version. Statistics are on so readers can prune row groups.
    """
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", statistics=True)
    return buffer.getvalue()


def parquet_to_frame(data: bytes) -> pl.DataFrame:
    """Read Parquet bytes written by :func:`frame_to_parquet`."""
    return pl.read_parquet(io.BytesIO(data))


class VersionStore(ABC):
    """A repository of versioned objects with branches, commits, merges and tags (the lakeFS model)."""

    repository: str

    @abstractmethod
    def ensure_repository(self) -> None:
        """Create the repository with branch ``main`` at an empty initial commit; no-op if it exists."""

    @abstractmethod
    def create_branch(self, name: str, source_ref: str = MAIN_BRANCH) -> str:
        """Create branch ``name`` at ``source_ref`` and return its head commit id.

        Raises BranchExists if the branch exists, RefNotFound if ``source_ref`` does not resolve.
        """

    @abstractmethod
    def delete_branch(self, name: str) -> None:
        """Delete a branch and its staged changes. ProtectedBranch for ``main``, RefNotFound if absent."""

    @abstractmethod
    def list_branches(self, prefix: str = "") -> list[str]:
        """Branch names starting with ``prefix``, sorted."""

    @abstractmethod
    def write_object(self, branch: str, path: str, data: bytes) -> None:
        """Stage ``data`` at ``path`` on ``branch``; invisible to readers until committed."""

    @abstractmethod
    def delete_object(self, branch: str, path: str) -> None:
        """Stage the deletion of ``path`` on ``branch``. ObjectNotFound if neither committed nor staged."""

    @abstractmethod
    def commit(self, branch: str, message: str, metadata: Mapping[str, str] | None = None) -> Commit:
        """Commit the staged changes of ``branch``.

        Raises NothingToCommit if nothing is staged. The local backend also raises it when the staged
        changes leave the content identical to the head (content addressing makes that detectable).
        """

    @abstractmethod
    def read_object(self, ref: str, path: str) -> bytes:
        """The committed bytes at ``path`` in ``ref``. Staged data is never visible. ObjectNotFound."""

    @abstractmethod
    def list_objects(self, ref: str, prefix: str = "") -> list[str]:
        """Committed object paths in ``ref`` starting with ``prefix``, sorted."""

    @abstractmethod
    def resolve(self, ref: str) -> str:
        """The commit id a branch, tag or commit id points to. RefNotFound if none."""

    @abstractmethod
    def get_commit(self, ref: str) -> Commit:
        """The commit ``ref`` resolves to."""

    @abstractmethod
    def diff(self, left_ref: str, right_ref: str) -> list[Change]:
        """What changes going from ``left_ref`` to ``right_ref``, sorted by path."""

    @abstractmethod
    def merge(
        self,
        source_ref: str,
        dest_branch: str,
        message: str,
        metadata: Mapping[str, str] | None = None,
    ) -> Commit:
        """Merge ``source_ref`` into ``dest_branch`` with a merge commit (parents: dest head, source head).

        Three-way at path level against the merge base; never a fast-forward. Raises MergeConflict (dest
        untouched) when a path changed differently on both sides, NothingToCommit when the merged content
        equals the destination's (lakeFS: "no changes"), UncommittedChanges when dest has staged changes.
        """

    @abstractmethod
    def create_tag(self, tag: str, ref: str) -> str:
        """Tag the commit ``ref`` resolves to and return its id.

        Idempotent if the tag already points to that commit; TagExists if it points elsewhere.
        """

    @abstractmethod
    def list_tags(self, prefix: str = "") -> dict[str, str]:
        """Tags starting with ``prefix`` mapped to their commit ids, in name order."""

    def damaged_tags(self, prefix: str = "") -> dict[str, str]:
        """Tags starting with ``prefix`` whose reference cannot be read, mapped to the reason; `list_tags` leaves
        them out, so one damaged tag never hides the others. A backend whose refs cannot be damaged on their own
        (a server keeps them) has none."""
        return {}

    @abstractmethod
    def delete_tag(self, tag: str) -> None:
        """Delete a tag. RefNotFound if absent."""

    @abstractmethod
    def log(self, ref: str, limit: int | None = None) -> list[Commit]:
        """Commits reachable from ``ref`` through first parents, newest first, at most ``limit``."""

    @abstractmethod
    def revert(
        self,
        branch: str,
        commit_ref: str,
        message: str,
        metadata: Mapping[str, str] | None = None,
    ) -> Commit:
        """Commit on ``branch`` the inverse of what ``commit_ref`` changed relative to its first parent.

        Raises MergeConflict if a path it touched has changed since on ``branch``, NothingToCommit if
        the revert changes nothing, UncommittedChanges if ``branch`` has staged changes.
        """

    def write_table(self, branch: str, name: str, frame: pl.DataFrame) -> None:
        """Stage ``frame`` as deterministic Parquet at ``tables/<name>.parquet`` on ``branch``."""
        self.write_object(branch, table_path(name), frame_to_parquet(frame))

    def read_table(self, ref: str, name: str) -> pl.DataFrame:
        """The committed table ``name`` at ``ref``."""
        return parquet_to_frame(self.read_object(ref, table_path(name)))
