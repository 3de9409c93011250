"""The lakeFS backend: :class:`VersionStore` over the lakeFS REST API, through ``lakefs_sdk``.

Each operation is one to three API calls (``/api/v1/repositories/{repository}/...``):

    ensure_repository   GET /repositories/{r}; POST /repositories when missing (404)
    create_branch       resolve the source, then POST /branches from that commit id
    delete_branch       DELETE /branches/{b}
    list_branches       GET /branches (paged)
    write_object        POST /branches/{b}/objects (body application/octet-stream)
    delete_object       GET /branches/{b}, GET /refs/{b}/objects/stat, DELETE /branches/{b}/objects
    commit              POST /branches/{b}/commits
    resolve, get_commit GET /commits/{ref} (lakeFS dereferences any ref there)
    read_object         resolve, then GET /refs/{commit}/objects
    list_objects        resolve, then GET /refs/{commit}/objects/ls (paged)
    diff                resolve both, then GET /refs/{left}/diff/{right}?type=two_dot (paged)
    merge               resolve the source, POST /refs/{commit}/merge/{b}, GET /commits/{new}
    revert              resolve, POST /branches/{b}/revert (204), GET /commits/{b}
    create_tag          resolve, POST /tags; on 409, GET /tags/{t} to tell idempotent from TagExists
    list_tags           GET /tags (paged)
    delete_tag          DELETE /tags/{t}
    log                 resolve, then GET /refs/{commit}/commits?first_parent=true (paged)

Refs are resolved to commit ids before reading, because reading a *branch* in lakeFS includes its staged
changes, while the interface reads committed data only. lakeFS would also resolve an abbreviated commit id;
the interface does not, so such a resolution is refused (RefNotFound) unless a branch or tag has that name.

Names. lakeFS branch ids match ``^\\w[-\\w]*$`` and tag ids may not contain "/", while the factory names
branches ``<use_case>/stage/<run_id>`` and tags ``<use_case>/v<N>``. Branch and tag names are therefore
stored under a reversible code: "-" becomes "--" and "/" becomes "-", so ``ticket_triage/v3`` is the lakeFS
tag ``ticket_triage-v3``. Valid names never hold "//" or "/-", so a run of 2k dashes decodes to k dashes and
a run of 2k + 1 to k dashes and a slash. lakeFS keeps its own further rules: it refuses branch names with "."
and tags ending in "." or ".lock" (InvalidName). Branches or tags made outside the factory are listed under
their decoded names, or skipped when they do not decode to a valid name.

Errors. lakeFS answers: 404 -> RefNotFound, ObjectNotFound or RepositoryNotFound (by what was asked);
409 -> BranchExists, TagExists or MergeConflict; 400 "no changes" -> NothingToCommit; 400 "dirty branch"
-> UncommittedChanges; 400 on a name -> InvalidName; 403 on a protected branch -> ProtectedBranch; 429 or
a locked branch -> ConcurrentUpdate; 412 (a hook refused), 401 and anything else -> VersionStoreError.
lakeFS reports a conflict without paths, so MergeConflict.paths are computed after the 409 from two-dot
diffs between merge base, source and destination (a concurrent writer can make them approximate).

Where lakeFS differs from the local backend (the contract suite pins everything else):

- Commit times have one-second resolution (``creation_date`` is Unix seconds).
- lakeFS reports "no changes" for a merge only when the source changed nothing since the merge base; when
  every source change is already on the destination it writes a merge commit anyway (local: NothingToCommit).
- Commit metadata keys starting with ``.lakefs.`` belong to lakeFS (it records the merge strategy there):
  they are refused on write and dropped on read. lakeFS requires a non-empty commit message.
- ``revert`` returns the branch head read after lakeFS answered 204; a concurrent commit in between would be
  returned instead. lakeFS serializes its own ref updates; there is no client-side compare-and-swap.

The secret key is held by the SDK's configuration only: it is never logged and not part of ``repr``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import urllib3
from lakefs_sdk.client import LakeFSClient
from lakefs_sdk.configuration import Configuration
from lakefs_sdk.exceptions import ApiException
from lakefs_sdk.models.branch_creation import BranchCreation
from lakefs_sdk.models.commit import Commit as ApiCommit
from lakefs_sdk.models.commit_creation import CommitCreation
from lakefs_sdk.models.merge import Merge
from lakefs_sdk.models.repository_creation import RepositoryCreation
from lakefs_sdk.models.revert_creation import RevertCreation
from lakefs_sdk.models.tag_creation import TagCreation

from factory.resources.versioning.store import (
    HEX_ID,
    MAIN_BRANCH,
    MAX_NAME,
    REF_NAME,
    REPOSITORY_NAME,
    BranchExists,
    Change,
    ChangeKind,
    Commit,
    ConcurrentUpdate,
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
    check_path,
    check_ref_name,
    clean_metadata,
)

__all__ = ["LakeFSVersionStore", "decode_ref_name", "encode_ref_name"]

_PAGE = 1000  # lakeFS's largest page
_RESERVED_METADATA = ".lakefs."
_HEX_PREFIX = re.compile(r"^[0-9a-fA-F]{1,63}$")
_DASHES = re.compile(r"-+")
_CHANGE_KINDS: dict[str, ChangeKind] = {"added": "added", "removed": "removed", "changed": "changed"}


class _RepositoryExists(VersionStoreError):
    """lakeFS's 409 on repository creation: someone created it between our get and our create."""


class _Conflict(VersionStoreError):
    """lakeFS's 409 on a merge or revert, before the conflicting paths are known."""


def encode_ref_name(name: str) -> str:
    """The lakeFS id of branch or tag ``name``: "-" -> "--", then "/" -> "-"."""
    return name.replace("-", "--").replace("/", "-")


def decode_ref_name(lakefs_id: str) -> str:
    """The inverse of :func:`encode_ref_name` on its image: a run of n dashes is n // 2 dashes, "/" if odd."""
    return _DASHES.sub(lambda run: "-" * (len(run.group()) // 2) + "/" * (len(run.group()) % 2), lakefs_id)


def _is_name(ref: str) -> bool:
    """Whether ``ref`` is a valid branch or tag name (the local backend's rules)."""
    return len(ref) <= MAX_NAME and bool(REF_NAME.match(ref)) and ".." not in ref and not HEX_ID.match(ref)


def _message(error: ApiException) -> str:
    """lakeFS's error message: the ``message`` of its JSON ``Error`` body, else the HTTP reason."""
    body = error.body
    if isinstance(body, bytes | bytearray):
        body = body.decode("utf-8", "replace")
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
        return str(parsed["message"])
    return str(body or error.reason or "no message")


def _check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    cleaned = clean_metadata(metadata)
    reserved = sorted(key for key in cleaned if key.startswith(_RESERVED_METADATA))
    if reserved:
        raise ValueError(f"commit metadata keys starting with {_RESERVED_METADATA!r} belong to lakeFS: {reserved}")
    return cleaned


def _to_commit(commit: ApiCommit) -> Commit:
    metadata = {k: v for k, v in (commit.metadata or {}).items() if not k.startswith(_RESERVED_METADATA)}
    return Commit(
        id=commit.id,
        parents=tuple(commit.parents),
        message=commit.message,
        metadata=MappingProxyType(metadata),
        created_at=datetime.fromtimestamp(commit.creation_date, UTC),
    )


STORAGE_ROOT_ENV = "LAKEFS_STORAGE_ROOT"
"""Where new repositories keep their data, e.g. ``s3://lakefs`` on a lakeFS whose blockstore is S3 (such a server
refuses ``local://`` namespaces); unset: lakeFS's local blockstore."""


def storage_namespace_for(repository: str) -> str:
    """A new repository's storage namespace: ``<LAKEFS_STORAGE_ROOT>/<repository>``, else ``local://<repository>``."""
    root = os.environ.get(STORAGE_ROOT_ENV, "").rstrip("/")
    return f"{root}/{repository}" if root else f"local://{repository}"


class LakeFSVersionStore(VersionStore):
    """A :class:`VersionStore` on a lakeFS server: one lakeFS repository, branch ``main`` as its default.

    ``endpoint`` is the server's URL (``http://127.0.0.1:8000``; ``/api/v1`` is added when no path is given).
    ``storage_namespace`` is where ``ensure_repository`` puts a new repository's data, default
    `storage_namespace_for` the repository (``local://<repository>``, lakeFS's local blockstore, unless
    ``LAKEFS_STORAGE_ROOT`` names an object store); an existing repository keeps its own.
    """

    def __init__(
        self,
        endpoint: str,
        access_key_id: str,
        secret_access_key: str,
        repository: str,
        storage_namespace: str | None = None,
    ) -> None:
        if not isinstance(repository, str) or not REPOSITORY_NAME.match(repository):
            raise InvalidName(f"invalid repository name {repository!r} (lakeFS: {REPOSITORY_NAME.pattern})")
        if not endpoint:
            raise ValueError("a lakeFS endpoint is required, e.g. http://127.0.0.1:8000")
        if not access_key_id or not secret_access_key:
            raise ValueError("lakeFS needs an access key id and a secret access key")
        self.repository = repository
        self.storage_namespace = storage_namespace or storage_namespace_for(repository)
        configuration = Configuration(host=endpoint, username=access_key_id, password=secret_access_key)
        self.client = LakeFSClient(configuration)  # type: ignore[no-untyped-call]  # the SDK leaves it unannotated
        self.endpoint = str(configuration.host)

    def __repr__(self) -> str:
        return f"LakeFSVersionStore(endpoint={self.endpoint!r}, repository={self.repository!r})"

    def close(self) -> None:
        """Close the HTTP connections (the store is unusable afterwards)."""
        self.client.objects_api.api_client.rest_client.pool_manager.clear()

    # Calls and errors

    def _error(
        self,
        error: ApiException,
        what: str,
        missing: type[VersionStoreError],
        conflict: type[VersionStoreError],
    ) -> VersionStoreError:
        """Map one lakeFS error answer to the interface's errors (see the module docstring)."""
        status, message = error.status, _message(error)
        text = f"{what}: {message} (lakeFS {status})"
        lowered = message.lower()
        if status == 404:
            if "repository not found" in lowered:
                return RepositoryNotFound(f"repository {self.repository!r} does not exist on {self.endpoint}")
            return missing(text)
        if status == 409:
            return conflict(text)
        if status == 400:
            if "no changes" in lowered:
                return NothingToCommit(text)
            if "dirty branch" in lowered or "uncommitted changes" in lowered:
                return UncommittedChanges(text)
            if "id: invalid value" in lowered:
                return InvalidName(text)
        if status == 403 and ("protected" in lowered or "default branch" in lowered):
            return ProtectedBranch(text)
        if status == 429 or (status == 500 and "locked" in lowered):
            return ConcurrentUpdate(text)
        if status == 401:
            return VersionStoreError(f"{what}: lakeFS at {self.endpoint} refused the credentials (401)")
        return VersionStoreError(text)

    @contextmanager
    def _call(
        self,
        what: str,
        *,
        missing: type[VersionStoreError] = RefNotFound,
        conflict: type[VersionStoreError] = VersionStoreError,
    ) -> Iterator[None]:
        """Translate lakeFS errors and unreachable servers raised inside the block."""
        try:
            yield
        except ApiException as error:
            raise self._error(error, what, missing, conflict) from error
        except urllib3.exceptions.HTTPError as error:
            raise VersionStoreError(f"{what}: cannot reach lakeFS at {self.endpoint}: {error}") from error

    def _paged(self, what: str, list_page: Callable[..., Any], *args: Any, **kwargs: Any) -> Iterator[Any]:
        """Every result of a paged lakeFS listing: ``list_page(repository, *args, after=..., amount=..., **kwargs)``."""
        kwargs.setdefault("amount", _PAGE)
        after: str | None = None
        while True:
            with self._call(what):
                page = list_page(self.repository, *args, after=after, **kwargs)
            yield from page.results
            if not page.pagination.has_more:
                return
            after = page.pagination.next_offset

    # Refs

    def _lakefs_ref(self, ref: str) -> str:
        """The lakeFS form of a ref: a full commit id as is, a name encoded; RefNotFound for anything else."""
        if isinstance(ref, str) and HEX_ID.match(ref):
            return ref
        if isinstance(ref, str) and _is_name(ref):
            return encode_ref_name(ref)
        raise RefNotFound(f"ref {ref!r} not found in {self.repository!r}")

    def _names_ref(self, lakefs_id: str) -> bool:
        """Whether a branch or tag has this lakeFS id (not just a commit id starting with it)."""
        for lookup in (self.client.branches_api.get_branch, self.client.tags_api.get_tag):
            try:
                with self._call(f"ref {lakefs_id!r}"):
                    lookup(self.repository, lakefs_id)
            except RefNotFound:
                continue
            return True
        return False

    def _commit_at(self, ref: str) -> ApiCommit:
        target = self._lakefs_ref(ref)
        with self._call(f"ref {ref!r} in {self.repository!r}"):
            commit = self.client.commits_api.get_commit(self.repository, target)
        abbreviated = _HEX_PREFIX.match(target) and commit.id.startswith(target.lower())
        if abbreviated and not self._names_ref(target):
            raise RefNotFound(f"ref {ref!r} not found in {self.repository!r} (abbreviated commit ids do not resolve)")
        return commit

    def resolve(self, ref: str) -> str:
        return str(self._commit_at(ref).id)

    def get_commit(self, ref: str) -> Commit:
        return _to_commit(self._commit_at(ref))

    # Repository and branches

    def ensure_repository(self) -> None:
        try:
            with self._call(f"repository {self.repository!r}"):
                repo = self.client.repositories_api.get_repository(self.repository)
        except RepositoryNotFound:
            creation = RepositoryCreation.from_dict(
                {"name": self.repository, "storage_namespace": self.storage_namespace, "default_branch": MAIN_BRANCH}
            )
            try:
                with self._call(f"create repository {self.repository!r}", conflict=_RepositoryExists):
                    repo = self.client.repositories_api.create_repository(creation)
            except _RepositoryExists:
                with self._call(f"repository {self.repository!r}"):  # created concurrently: use it
                    repo = self.client.repositories_api.get_repository(self.repository)
        if repo.default_branch != MAIN_BRANCH:
            raise VersionStoreError(
                f"lakeFS repository {self.repository!r} has default branch {repo.default_branch!r}, not {MAIN_BRANCH!r}"
            )

    def create_branch(self, name: str, source_ref: str = MAIN_BRANCH) -> str:
        check_ref_name(name, "branch")
        head = self.resolve(source_ref)
        creation = BranchCreation.from_dict({"name": encode_ref_name(name), "source": head})
        with self._call(f"create branch {name!r}", conflict=BranchExists):
            self.client.branches_api.create_branch(self.repository, creation)
        return head

    def delete_branch(self, name: str) -> None:
        if name == MAIN_BRANCH:
            raise ProtectedBranch(f"branch {MAIN_BRANCH!r} cannot be deleted")
        check_ref_name(name, "branch")
        with self._call(f"delete branch {name!r}"):
            self.client.branches_api.delete_branch(self.repository, encode_ref_name(name))

    def _list_refs(self, kind: str, list_page: Callable[..., Any], prefix: str) -> dict[str, str]:
        """Decoded name -> commit id of every branch or tag whose name starts with ``prefix``, by name."""
        found: dict[str, str] = {}
        for ref in self._paged(f"list {kind}", list_page, prefix=encode_ref_name(prefix) or None):
            name = decode_ref_name(ref.id)
            if _is_name(name) and encode_ref_name(name) == ref.id and name.startswith(prefix):
                found[name] = ref.commit_id
        return dict(sorted(found.items()))

    def list_branches(self, prefix: str = "") -> list[str]:
        return list(self._list_refs("branches", self.client.branches_api.list_branches, prefix))

    # Staged writes and commits

    def write_object(self, branch: str, path: str, data: bytes) -> None:
        check_path(path)
        check_ref_name(branch, "branch")
        # Sent as application/octet-stream, the upload's second body type in the OpenAPI document: the SDK's
        # upload_object only sends multipart/form-data and silently drops empty content.
        with self._call(f"write {path!r} on branch {branch!r}"):
            self.client.objects_api.api_client.call_api(
                "/repositories/{repository}/branches/{branch}/objects",
                "POST",
                path_params={"repository": self.repository, "branch": encode_ref_name(branch)},
                query_params=[("path", path)],
                header_params={"Accept": "application/json", "Content-Type": "application/octet-stream"},
                body=bytes(data),
                response_types_map={"201": "ObjectStats"},
                auth_settings=["basic_auth"],
                _return_http_data_only=True,
            )

    def delete_object(self, branch: str, path: str) -> None:
        check_path(path)
        check_ref_name(branch, "branch")
        lakefs_branch = encode_ref_name(branch)
        with self._call(f"branch {branch!r}"):
            self.client.branches_api.get_branch(self.repository, lakefs_branch)
        # lakeFS deletes missing objects without complaint; the interface raises. Stat at the branch sees staging.
        with self._call(f"{path!r} on branch {branch!r}", missing=ObjectNotFound):
            self.client.objects_api.stat_object(self.repository, lakefs_branch, path, user_metadata=False)
        with self._call(f"delete {path!r} on branch {branch!r}"):
            self.client.objects_api.delete_object(self.repository, lakefs_branch, path)

    def commit(self, branch: str, message: str, metadata: Mapping[str, str] | None = None) -> Commit:
        check_ref_name(branch, "branch")
        creation = CommitCreation.from_dict({"message": message, "metadata": _check_metadata(metadata)})
        with self._call(f"commit on branch {branch!r}"):
            commit = self.client.commits_api.commit(self.repository, encode_ref_name(branch), creation)
        return _to_commit(commit)

    # Reading

    def read_object(self, ref: str, path: str) -> bytes:
        check_path(path)
        commit_id = self.resolve(ref)
        with self._call(f"{path!r} at ref {ref!r}", missing=ObjectNotFound):
            return bytes(self.client.objects_api.get_object(self.repository, commit_id, path))

    def list_objects(self, ref: str, prefix: str = "") -> list[str]:
        commit_id = self.resolve(ref)
        listing = self._paged(
            f"list objects at {ref!r}",
            self.client.objects_api.list_objects,
            commit_id,
            user_metadata=False,
            prefix=prefix or None,
        )
        return sorted(stats.path for stats in listing)

    def _changed_paths(self, left: str, right: str) -> dict[str, ChangeKind]:
        """Path -> kind of change from commit ``left`` to commit ``right`` (a two-dot diff)."""
        changes: dict[str, ChangeKind] = {}
        for diff in self._paged(f"diff {left}..{right}", self.client.refs_api.diff_refs, left, right, type="two_dot"):
            kind = _CHANGE_KINDS.get(diff.type)
            if kind is None:
                raise VersionStoreError(f"unexpected lakeFS diff type {diff.type!r} for {diff.path!r}")
            changes[diff.path] = kind
        return changes

    def diff(self, left_ref: str, right_ref: str) -> list[Change]:
        changes = self._changed_paths(self.resolve(left_ref), self.resolve(right_ref))
        return [Change(path, kind) for path, kind in sorted(changes.items())]

    def log(self, ref: str, limit: int | None = None) -> list[Commit]:
        if limit is not None and limit < 0:
            raise ValueError(f"limit must be None or >= 0, got {limit}")
        commit_id = self.resolve(ref)
        if limit == 0:
            return []
        amount = min(limit or _PAGE, _PAGE)
        history = self._paged(
            f"log of {ref!r}", self.client.refs_api.log_commits, commit_id, amount=amount, first_parent=True
        )
        commits: list[Commit] = []
        for commit in history:
            commits.append(_to_commit(commit))
            if limit is not None and len(commits) == limit:
                break
        return commits

    # Merge and revert

    def merge(
        self,
        source_ref: str,
        dest_branch: str,
        message: str,
        metadata: Mapping[str, str] | None = None,
    ) -> Commit:
        check_ref_name(dest_branch, "branch")
        merge = Merge.from_dict({"message": message, "metadata": _check_metadata(metadata)})
        source = self.resolve(source_ref)
        what = f"merge {source_ref!r} into {dest_branch!r}"
        try:
            with self._call(what, conflict=_Conflict):
                result = self.client.refs_api.merge_into_branch(
                    self.repository, source, encode_ref_name(dest_branch), merge=merge
                )
        except _Conflict as conflict:
            raise MergeConflict(f"cannot {what}", self._merge_conflicts(source, dest_branch)) from conflict
        return self.get_commit(result.reference)

    def _merge_conflicts(self, source: str, dest_branch: str) -> set[str]:
        """Paths changed differently on both sides since the merge base: lakeFS's 409 does not name them."""
        with self._call(f"merge base of {source} and {dest_branch!r}"):
            found = self.client.refs_api.find_merge_base(self.repository, source, encode_ref_name(dest_branch))
        base, dest = found.base_commit_id, found.destination_commit_id
        theirs, ours = self._changed_paths(base, source), self._changed_paths(base, dest)
        return theirs.keys() & ours.keys() & self._changed_paths(source, dest).keys()

    def revert(
        self,
        branch: str,
        commit_ref: str,
        message: str,
        metadata: Mapping[str, str] | None = None,
    ) -> Commit:
        check_ref_name(branch, "branch")
        cleaned = _check_metadata(metadata)
        target = self._commit_at(commit_ref)
        revert = RevertCreation.from_dict(
            {
                "ref": target.id,
                "parent_number": 1 if target.parents else 0,
                "commit_overrides": {"message": message, "metadata": cleaned},
            }
        )
        what = f"revert {commit_ref!r} on {branch!r}"
        try:
            with self._call(what, conflict=_Conflict):
                self.client.branches_api.revert_branch(self.repository, encode_ref_name(branch), revert)
        except _Conflict as conflict:
            raise MergeConflict(f"cannot {what}", self._revert_conflicts(target, branch)) from conflict
        return self.get_commit(branch)

    def _revert_conflicts(self, target: ApiCommit, branch: str) -> set[str]:
        """Paths the reverted commit changed that have changed again since, to a third value."""
        if not target.parents:
            return set()
        parent, head = target.parents[0], self.resolve(branch)
        reverted = self._changed_paths(parent, target.id)
        return reverted.keys() & self._changed_paths(target.id, head).keys() & self._changed_paths(parent, head).keys()

    # Tags

    def create_tag(self, tag: str, ref: str) -> str:
        check_ref_name(tag, "tag")
        commit_id = self.resolve(ref)
        lakefs_tag = encode_ref_name(tag)
        try:
            with self._call(f"create tag {tag!r}", conflict=TagExists):
                self.client.tags_api.create_tag(
                    self.repository, TagCreation.from_dict({"id": lakefs_tag, "ref": commit_id})
                )
        except TagExists as exists:
            with self._call(f"tag {tag!r}"):
                current = self.client.tags_api.get_tag(self.repository, lakefs_tag).commit_id
            if current != commit_id:
                raise TagExists(f"tag {tag!r} already points to {current}; tags are immutable") from exists
        return commit_id

    def list_tags(self, prefix: str = "") -> dict[str, str]:
        return self._list_refs("tags", self.client.tags_api.list_tags, prefix)

    def delete_tag(self, tag: str) -> None:
        check_ref_name(tag, "tag")
        with self._call(f"delete tag {tag!r}"):
            self.client.tags_api.delete_tag(self.repository, encode_ref_name(tag))
