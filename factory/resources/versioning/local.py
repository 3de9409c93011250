"""The embedded version store: content-addressed objects and commits, atomically updated refs.

On-disk layout under ``<root>/<repository>/``::

    repository.json              marker written last by ensure_repository ({"format": 1, "repository": ...});
                                 the format is the layout's version, upgraded forward only (``_UPGRADES``)
    lock                         fcntl.flock'ed exclusively by every operation that changes refs or staging
    objects/ab/cdef...           object bytes; name = sha256 of the bytes
    commits/ab/cdef....json      canonical JSON {parents, entries, message, metadata, created_at};
                                 name = sha256 of exactly those bytes
    refs/branches/<quoted name>  "<commit id>\\n"; "/" in a name is stored as "%2F"
    refs/tags/<quoted name>      same, for tags
    staging/<quoted name>.json   a branch's staged changes: {"branch", "changes": {path: object id | null}}
    tmp/                         temp files, renamed into place (a crash can leave some behind; harmless)

Every file is written to ``tmp/``, fsynced, ``os.replace``'d into place, and its directory fsynced. Objects
and the commit record are durable before a ref moves, so a crash at any point (even SIGKILL) leaves every
ref pointing to a complete commit. Ref and staging updates run under the repository lock and are
compare-and-swap: a ref is only replaced if it still holds the value the operation read, so concurrent
writers (threads or processes) never lose an update. Readers take no lock: refs are replaced atomically
and commits and objects never change once written.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal
from urllib.parse import quote, unquote

from factory.resources.versioning.store import (
    HEX_ID,
    MAIN_BRANCH,
    MAX_NAME,
    REF_NAME,
    REPOSITORY_NAME,
    BranchExists,
    Change,
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
    check_path,
    check_ref_name,
    clean_metadata,
)

__all__ = ["LocalVersionStore"]

_FORMAT = 1
"""The on-disk layout's version, recorded in ``repository.json``. A layout change bumps it and adds the step
from the previous format to ``_UPGRADES``; ``ensure_repository`` applies the missing steps, forward only."""
_UPGRADES: dict[int, Callable[[Path], None]] = {}
"""Format ``n`` -> the function that rewrites a repository directory from format ``n`` to ``n + 1``."""
_INITIAL_MESSAGE = "Repository created"

RefKind = Literal["branches", "tags"]
_REF_KINDS: tuple[RefKind, ...] = ("branches", "tags")
Entries = dict[str, str]
Staged = dict[str, str | None]


@dataclass(frozen=True)
class _Record:
    """A commit and its entries (path -> object id)."""

    commit: Commit
    entries: Mapping[str, str]


def _canonical_json(payload: Mapping[str, Any]) -> bytes:
    """Deterministic JSON bytes: sorted keys, no whitespace, ASCII only."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _apply(entries: Mapping[str, str], changes: Staged) -> Entries:
    result = dict(entries)
    for path, object_id in changes.items():
        if object_id is None:
            result.pop(path, None)
        else:
            result[path] = object_id
    return result


def _three_way(
    base: Mapping[str, str], ours: Mapping[str, str], theirs: Mapping[str, str]
) -> tuple[Entries, list[str]]:
    """Apply what ``theirs`` changed relative to ``base`` onto ``ours``; return (result, conflicts)."""
    result = dict(ours)
    conflicts: list[str] = []
    for path in base.keys() | theirs.keys():
        before, after = base.get(path), theirs.get(path)
        if before == after:
            continue
        current = ours.get(path)
        if current not in (before, after):
            conflicts.append(path)
        elif after is None:
            result.pop(path, None)
        else:
            result[path] = after
    return result, sorted(conflicts)


def _parse_record(commit_id: str, data: bytes) -> _Record:
    """Verify a commit record against its id and parse it."""
    if _sha256(data) != commit_id:
        raise CorruptStore(f"commit record {commit_id} does not match its content address")
    try:
        raw = json.loads(data)
        commit = Commit(
            id=commit_id,
            parents=tuple(str(parent) for parent in raw["parents"]),
            message=str(raw["message"]),
            metadata=MappingProxyType({str(k): str(v) for k, v in raw["metadata"].items()}),
            created_at=datetime.fromisoformat(raw["created_at"]),
        )
        entries = {str(path): str(object_id) for path, object_id in raw["entries"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise CorruptStore(f"commit record {commit_id} cannot be parsed: {error}") from error
    return _Record(commit=commit, entries=MappingProxyType(entries))


class LocalVersionStore(VersionStore):
    """A :class:`VersionStore` on the local filesystem (the embedded default under ``FACTORY_HOME``)."""

    def __init__(self, root: Path, repository: str) -> None:
        if not isinstance(repository, str) or not REPOSITORY_NAME.match(repository):
            raise InvalidName(f"invalid repository name {repository!r} (lakeFS: {REPOSITORY_NAME.pattern})")
        self.repository = repository
        self.root = Path(root)
        self._dir = self.root / repository
        self._records: dict[str, _Record] = {}

    def __repr__(self) -> str:
        return f"LocalVersionStore(root={str(self.root)!r}, repository={self.repository!r})"

    # Repository and locking

    def ensure_repository(self) -> None:
        for sub in ("objects", "commits", "refs/branches", "refs/tags", "staging", "tmp"):
            (self._dir / sub).mkdir(parents=True, exist_ok=True)
        with self._locked():
            if self._read_ref("branches", MAIN_BRANCH) is None:
                record = self._put_commit((), {}, _INITIAL_MESSAGE, {})
                self._swap_ref("branches", MAIN_BRANCH, None, record.commit.id)
            marker = self._dir / "repository.json"
            if not marker.exists():
                payload = {"format": _FORMAT, "repository": self.repository}
                self._atomic_write(marker, _canonical_json(payload))
            else:
                self._upgrade(marker)

    def _upgrade(self, marker: Path) -> None:
        """Bring the layout to ``_FORMAT``, one forward step at a time (under the lock); refuse a newer one.

        The marker is rewritten after each step, so a crash re-runs at most the step it interrupted: steps must
        be idempotent."""
        try:
            payload = json.loads(marker.read_bytes())
            found = int(payload["format"])
        except (ValueError, KeyError, TypeError) as error:
            raise CorruptStore(f"{marker} does not record a format: {error}") from error
        if found > _FORMAT:
            raise CorruptStore(
                f"{self._dir} has layout format {found}, this factory knows up to {_FORMAT}: upgrade the factory"
            )
        for step in range(found, _FORMAT):
            _UPGRADES[step](self._dir)
            payload["format"] = step + 1
            self._atomic_write(marker, _canonical_json(payload))

    def _missing(self) -> RepositoryNotFound:
        return RepositoryNotFound(f"repository {self.repository!r} does not exist under {self.root}")

    def _require_repository(self) -> None:
        if not (self._dir / "repository.json").exists():
            raise self._missing()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the repository lock. Not reentrant: public methods take it once, helpers assume it."""
        try:
            handle = (self._dir / "lock").open("a+b")
        except FileNotFoundError as error:
            raise self._missing() from error
        with handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _atomic_write(self, target: Path, data: bytes) -> None:
        """Write ``data`` to a temp file, fsync it, rename it onto ``target``, fsync the directory."""
        created = not target.parent.is_dir()
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(dir=self._dir / "tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            Path(temp_name).replace(target)
        except BaseException:
            Path(temp_name).unlink(missing_ok=True)
            raise
        _fsync_dir(target.parent)
        if created:
            _fsync_dir(target.parent.parent)

    # Objects and commit records (content-addressed, immutable)

    def _object_file(self, object_id: str) -> Path:
        return self._dir / "objects" / object_id[:2] / object_id[2:]

    def _commit_file(self, commit_id: str) -> Path:
        return self._dir / "commits" / commit_id[:2] / f"{commit_id[2:]}.json"

    def _put_object(self, data: bytes) -> str:
        object_id = _sha256(data)
        target = self._object_file(object_id)
        if not target.exists():
            self._atomic_write(target, data)
        return object_id

    def _get_object(self, object_id: str) -> bytes:
        try:
            data = self._object_file(object_id).read_bytes()
        except FileNotFoundError as error:
            raise CorruptStore(f"object {object_id} is referenced but missing") from error
        if _sha256(data) != object_id:
            raise CorruptStore(f"object {object_id} does not match its content address")
        return data

    def _put_commit(
        self, parents: tuple[str, ...], entries: Mapping[str, str], message: str, metadata: dict[str, str]
    ) -> _Record:
        created_at = datetime.now(UTC)
        payload = {
            "parents": list(parents),
            "entries": dict(entries),
            "message": message,
            "metadata": metadata,
            "created_at": created_at.isoformat(timespec="microseconds"),
        }
        data = _canonical_json(payload)
        commit_id = _sha256(data)
        target = self._commit_file(commit_id)
        if not target.exists():
            self._atomic_write(target, data)
        return self._load(commit_id)

    def _load(self, commit_id: str) -> _Record:
        record = self._records.get(commit_id)
        if record is None:
            try:
                data = self._commit_file(commit_id).read_bytes()
            except FileNotFoundError as error:
                raise RefNotFound(f"commit {commit_id} not found in {self.repository!r}") from error
            record = _parse_record(commit_id, data)
            self._records[commit_id] = record
        return record

    # Refs (compare-and-swap under the lock) and staging

    def _ref_file(self, kind: RefKind, name: str) -> Path:
        return self._dir / "refs" / kind / quote(name, safe="")

    def _read_ref(self, kind: RefKind, name: str) -> str | None:
        try:
            value = self._ref_file(kind, name).read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        except UnicodeDecodeError as error:
            raise CorruptStore(f"{kind} ref {name!r} is not text: {error}") from None
        if not HEX_ID.fullmatch(value):
            shown = value if len(value) <= 80 else value[:80] + "..."
            raise CorruptStore(f"{kind} ref {name!r} holds {shown!r}, not a commit id")
        return value

    def _swap_ref(self, kind: RefKind, name: str, expected: str | None, new: str | None) -> None:
        """Set ref ``name`` to ``new`` (None deletes) only if it still holds ``expected``. Lock held."""
        current = self._read_ref(kind, name)
        if current != expected:
            raise ConcurrentUpdate(f"{kind} ref {name!r} is {current}, expected {expected}")
        target = self._ref_file(kind, name)
        if new is None:
            target.unlink()
            _fsync_dir(target.parent)
        else:
            self._atomic_write(target, f"{new}\n".encode("ascii"))

    def _list_refs(self, kind: RefKind, prefix: str) -> list[str]:
        self._require_repository()
        names = (unquote(entry.name) for entry in (self._dir / "refs" / kind).iterdir())
        return sorted(name for name in names if name.startswith(prefix))

    def _staging_file(self, branch: str) -> Path:
        return self._dir / "staging" / f"{quote(branch, safe='')}.json"

    def _read_staging(self, branch: str) -> Staged:
        try:
            raw = json.loads(self._staging_file(branch).read_bytes())
            return {str(path): None if oid is None else str(oid) for path, oid in raw["changes"].items()}
        except FileNotFoundError:
            return {}
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise CorruptStore(f"staging area of branch {branch!r} cannot be parsed: {error}") from error

    def _write_staging(self, branch: str, changes: Staged) -> None:
        target = self._staging_file(branch)
        if changes:
            self._atomic_write(target, _canonical_json({"branch": branch, "changes": changes}))
        elif target.exists():
            target.unlink()
            _fsync_dir(target.parent)

    def _branch_head(self, branch: str) -> str:
        check_ref_name(branch, "branch")
        self._require_repository()
        head = self._read_ref("branches", branch)
        if head is None:
            raise RefNotFound(f"branch {branch!r} not found in {self.repository!r}")
        return head

    def _require_clean(self, branch: str) -> None:
        if self._read_staging(branch):
            raise UncommittedChanges(f"branch {branch!r} has uncommitted changes; commit them first")

    def _advance(
        self,
        branch: str,
        head: str,
        entries: Entries,
        parents: tuple[str, ...],
        message: str,
        metadata: Mapping[str, str] | None,
    ) -> Commit:
        """Write a commit with ``entries`` and move ``branch`` from ``head`` to it. Lock held."""
        if entries == self._load(head).entries:
            raise NothingToCommit(f"nothing to commit on branch {branch!r}: content unchanged")
        record = self._put_commit(parents, entries, message, clean_metadata(metadata))
        self._swap_ref("branches", branch, head, record.commit.id)
        return record.commit

    # Branches

    def create_branch(self, name: str, source_ref: str = MAIN_BRANCH) -> str:
        check_ref_name(name, "branch")
        with self._locked():
            head = self.resolve(source_ref)
            if self._read_ref("branches", name) is not None:
                raise BranchExists(f"branch {name!r} already exists in {self.repository!r}")
            self._swap_ref("branches", name, None, head)
            self._write_staging(name, {})
        return head

    def delete_branch(self, name: str) -> None:
        if name == MAIN_BRANCH:
            raise ProtectedBranch(f"branch {MAIN_BRANCH!r} cannot be deleted")
        with self._locked():
            head = self._branch_head(name)
            self._swap_ref("branches", name, head, None)
            self._write_staging(name, {})

    def list_branches(self, prefix: str = "") -> list[str]:
        return self._list_refs("branches", prefix)

    # Staged writes and commits

    def write_object(self, branch: str, path: str, data: bytes) -> None:
        check_path(path)
        self._branch_head(branch)
        object_id = self._put_object(bytes(data))
        with self._locked():
            self._branch_head(branch)
            changes = self._read_staging(branch)
            changes[path] = object_id
            self._write_staging(branch, changes)

    def delete_object(self, branch: str, path: str) -> None:
        check_path(path)
        with self._locked():
            committed = self._load(self._branch_head(branch)).entries
            changes = self._read_staging(branch)
            if _apply(committed, changes).get(path) is None:
                raise ObjectNotFound(f"{path!r} not found on branch {branch!r}")
            if path in committed:
                changes[path] = None
            else:
                del changes[path]
            self._write_staging(branch, changes)

    def commit(self, branch: str, message: str, metadata: Mapping[str, str] | None = None) -> Commit:
        with self._locked():
            head = self._branch_head(branch)
            changes = self._read_staging(branch)
            if not changes:
                raise NothingToCommit(f"nothing staged on branch {branch!r}")
            entries = _apply(self._load(head).entries, changes)
            if entries == self._load(head).entries:
                self._write_staging(branch, {})
                raise NothingToCommit(f"staged changes on branch {branch!r} leave its content unchanged")
            commit = self._advance(branch, head, entries, (head,), message, metadata)
            self._write_staging(branch, {})
        return commit

    # Reading

    def resolve(self, ref: str) -> str:
        self._require_repository()
        if isinstance(ref, str) and REF_NAME.match(ref) and ".." not in ref and len(ref) <= MAX_NAME:
            for kind in _REF_KINDS:
                found = self._read_ref(kind, ref)
                if found is not None:
                    return found
        if isinstance(ref, str) and HEX_ID.match(ref) and self._commit_file(ref).exists():
            return ref
        raise RefNotFound(f"ref {ref!r} not found in {self.repository!r}")

    def get_commit(self, ref: str) -> Commit:
        return self._load(self.resolve(ref)).commit

    def _entries(self, ref: str) -> Mapping[str, str]:
        return self._load(self.resolve(ref)).entries

    def read_object(self, ref: str, path: str) -> bytes:
        check_path(path)
        object_id = self._entries(ref).get(path)
        if object_id is None:
            raise ObjectNotFound(f"{path!r} not found at ref {ref!r}")
        return self._get_object(object_id)

    def list_objects(self, ref: str, prefix: str = "") -> list[str]:
        return sorted(path for path in self._entries(ref) if path.startswith(prefix))

    def diff(self, left_ref: str, right_ref: str) -> list[Change]:
        left, right = self._entries(left_ref), self._entries(right_ref)
        changes: list[Change] = []
        for path in sorted(left.keys() | right.keys()):
            if path not in left:
                changes.append(Change(path, "added"))
            elif path not in right:
                changes.append(Change(path, "removed"))
            elif left[path] != right[path]:
                changes.append(Change(path, "changed"))
        return changes

    def log(self, ref: str, limit: int | None = None) -> list[Commit]:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be None or >= 0, got {limit}")
        commits: list[Commit] = []
        current: str | None = self.resolve(ref)
        while current is not None and (limit is None or len(commits) < limit):
            commit = self._load(current).commit
            commits.append(commit)
            current = commit.parents[0] if commit.parents else None
        return commits

    # Merge and revert

    def _ancestors(self, *starts: str) -> set[str]:
        """Every commit reachable from ``starts`` through all parents, ``starts`` included."""
        seen: set[str] = set()
        stack = list(starts)
        while stack:
            commit_id = stack.pop()
            if commit_id not in seen:
                seen.add(commit_id)
                stack.extend(self._load(commit_id).commit.parents)
        return seen

    def _merge_base(self, left: str, right: str) -> str | None:
        """The best common ancestor: not an ancestor of another common one; the newest if several."""
        common = self._ancestors(left) & self._ancestors(right)
        parents = (parent for commit_id in common for parent in self._load(commit_id).commit.parents)
        dominated = self._ancestors(*parents)
        best = common - dominated
        if not best:
            return None
        return max(best, key=lambda commit_id: (self._load(commit_id).commit.created_at, commit_id))

    def merge(
        self,
        source_ref: str,
        dest_branch: str,
        message: str,
        metadata: Mapping[str, str] | None = None,
    ) -> Commit:
        with self._locked():
            dest_head = self._branch_head(dest_branch)
            self._require_clean(dest_branch)
            source_head = self.resolve(source_ref)
            base = self._merge_base(dest_head, source_head)
            base_entries = self._load(base).entries if base is not None else {}
            merged, conflicts = _three_way(base_entries, self._load(dest_head).entries, self._load(source_head).entries)
            if conflicts:
                raise MergeConflict(f"cannot merge {source_ref!r} into {dest_branch!r}", conflicts)
            return self._advance(dest_branch, dest_head, merged, (dest_head, source_head), message, metadata)

    def revert(
        self,
        branch: str,
        commit_ref: str,
        message: str,
        metadata: Mapping[str, str] | None = None,
    ) -> Commit:
        with self._locked():
            head = self._branch_head(branch)
            self._require_clean(branch)
            target = self._load(self.resolve(commit_ref))
            parents = target.commit.parents
            before = self._load(parents[0]).entries if parents else {}
            reverted, conflicts = _three_way(target.entries, self._load(head).entries, before)
            if conflicts:
                raise MergeConflict(f"cannot revert {commit_ref!r} on {branch!r}", conflicts)
            return self._advance(branch, head, reverted, (head,), message, metadata)

    # Tags

    def create_tag(self, tag: str, ref: str) -> str:
        check_ref_name(tag, "tag")
        with self._locked():
            commit_id = self.resolve(ref)
            current = self._read_ref("tags", tag)
            if current == commit_id:
                return commit_id
            if current is not None:
                raise TagExists(f"tag {tag!r} already points to {current}; tags are immutable")
            self._swap_ref("tags", tag, None, commit_id)
        return commit_id

    def list_tags(self, prefix: str = "") -> dict[str, str]:
        return self._scan_tags(prefix)[0]

    def damaged_tags(self, prefix: str = "") -> dict[str, str]:
        return self._scan_tags(prefix)[1]

    def _scan_tags(self, prefix: str) -> tuple[dict[str, str], dict[str, str]]:
        """Readable tags (name -> commit id) and damaged ones (name -> why): a tag file that does not hold a
        commit id, or cannot be read, is reported on its own."""
        tags: dict[str, str] = {}
        damaged: dict[str, str] = {}
        for name in self._list_refs("tags", prefix):
            try:
                commit_id = self._read_ref("tags", name)
            except (CorruptStore, OSError, UnicodeDecodeError) as error:
                damaged[name] = str(error)
                continue
            if commit_id is not None:
                tags[name] = commit_id
        return tags, damaged

    def delete_tag(self, tag: str) -> None:
        check_ref_name(tag, "tag")
        with self._locked():
            current = self._read_ref("tags", tag)
            if current is None:
                raise RefNotFound(f"tag {tag!r} not found in {self.repository!r}")
            self._swap_ref("tags", tag, current, None)
