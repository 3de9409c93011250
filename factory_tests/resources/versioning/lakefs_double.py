"""A loopback HTTP double of the lakeFS REST API subset that ``LakeFSVersionStore`` calls.

Written from lakeFS's OpenAPI document (``api/swagger.yml`` in treeverse/lakeFS): the same paths, request
and response JSON shapes and status codes, so the unmodified ``lakefs_sdk`` client talks to it. Start it with
``with LakeFSDouble() as double:``; it serves ``http://127.0.0.1:<random port>/api/v1`` from a daemon thread
and keeps everything in memory. Every request needs HTTP basic auth with the double's key pair (else 401).

The double checks itself against lakeFS's contract: every request it receives and every response it gives is
validated against the vendored OpenAPI document of the pinned lakeFS release (``lakefs_contract``). A
request the document does not allow (unknown operations included) is answered 400, as lakeFS's own
validation answers a malformed one; a response the document does not allow is replaced by a 500. Both are
recorded, and :meth:`LakeFSDouble.check` (called by the ``lakefs_double`` fixture after every test, and on
leaving the ``with`` block) raises :class:`ContractViolation` listing them, so a test fails even when the
client tolerated the error answer.

Endpoints (operationId):

    GET    /repositories/{repository}                                   getRepository
    POST   /repositories                                                createRepository
    DELETE /repositories/{repository}                                   deleteRepository
    GET    /repositories/{repository}/branches                          listBranches
    POST   /repositories/{repository}/branches                          createBranch
    GET    /repositories/{repository}/branches/{branch}                 getBranch
    DELETE /repositories/{repository}/branches/{branch}                 deleteBranch
    POST   /repositories/{repository}/branches/{branch}/commits         commit
    POST   /repositories/{repository}/branches/{branch}/revert          revertBranch
    POST   /repositories/{repository}/branches/{branch}/objects         uploadObject
    DELETE /repositories/{repository}/branches/{branch}/objects         deleteObject
    GET    /repositories/{repository}/refs/{ref}/objects                getObject
    GET    /repositories/{repository}/refs/{ref}/objects/stat           statObject
    GET    /repositories/{repository}/refs/{ref}/objects/ls             listObjects
    GET    /repositories/{repository}/refs/{ref}/commits                logCommits
    GET    /repositories/{repository}/commits/{commitId}                getCommit
    GET    /repositories/{repository}/refs/{leftRef}/diff/{rightRef}    diffRefs
    GET    /repositories/{repository}/refs/{sourceRef}/merge/{dest}     findMergeBase
    POST   /repositories/{repository}/refs/{sourceRef}/merge/{dest}     mergeIntoBranch
    GET    /repositories/{repository}/tags                              listTags
    POST   /repositories/{repository}/tags                              createTag
    GET    /repositories/{repository}/tags/{tag}                        getTag
    DELETE /repositories/{repository}/tags/{tag}                        deleteTag

lakeFS semantics it keeps, because the backend depends on them:

- Refs resolve as a full commit id, then a branch, then a tag, then an unambiguous commit-id prefix.
  Reading at a branch sees its staged changes on top of its head; diffs between refs compare commits.
- Branch ids match ``^\\w[-\\w]*$``; tag ids follow lakeFS's git-like rules (no "/", "..", trailing "." ...).
- An entry's identity is its checksum (MD5 of the bytes, as lakeFS's ETag), size and content type. A commit,
  merge or revert whose result has the same identities as the head fails with 400 "no changes"; deleting a
  missing object succeeds; a merge or revert into a branch with effective staged changes fails with 400
  "uncommitted changes (dirty branch)"; the initial commit is "Repository created" with no parents.
- Merges are three-way per path against the best common ancestor; a merge always writes a commit with
  parents (destination head, source), adds ``.lakefs.merge.strategy`` to its metadata, and reports
  "no changes" only when the source's tree equals the merge base's. A conflict is 409 with an empty
  MergeResult (merge) or an Error (revert), and changes nothing. Reverts apply a commit's inverse relative
  to ``parent_number`` as a merge and answer 204 without a body.
- Meta-range ids are content addresses of the tree, so equal trees have equal ids.

Simplified, or not implemented (each answers 400 when asked for, rather than pretending): three-dot diffs,
logs along all parents, merge strategies, squash merges, ref expressions (``~ ^ @ $``), list delimiters, log
filters (``objects``, ``prefixes``, ``since``, ``stop_at``), multipart uploads (only octet-stream bodies) and
``bare`` repositories. Ignored: ``allow_empty``/``force`` flags, presigned URLs, ranges, user metadata. Absent
(404): hooks, branch protection and every other endpoint. Commit ids are random 64-hex
ids, not lakeFS's content addresses. One lock serializes all requests: no concurrent-update races to model.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from factory_tests.resources.versioning.lakefs_contract import (
    ContractViolation,
    HttpRequest,
    HttpResponse,
    ViolationLog,
    request_violations,
    response_violations,
)

__all__ = ["ContractViolation", "LakeFSDouble"]

_API = "/api/v1"
_MAX_AMOUNT = 1000
_DEFAULT_AMOUNT = 100
_FIRST_COMMIT_MESSAGE = "Repository created"
_MERGE_STRATEGY_KEY = ".lakefs.merge.strategy"
_REPOSITORY_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,62}$")
_BRANCH_ID = re.compile(r"^\w[-\w]*$", re.ASCII)
_NAMESPACE = re.compile(r"^(s3|gs|https?|mem|local|transient)://.*$")
_FULL_COMMIT = re.compile(r"^[a-fA-F0-9]{64}$")
_COMMIT_PREFIX = re.compile(r"^[a-fA-F0-9]{1,64}$")


class ApiError(Exception):
    """An error answer: status code and lakeFS's ``Error`` body (``{"message": ...}``) or another body."""

    def __init__(self, status: HTTPStatus, message: str, body: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = dict(body) if body is not None else {"message": message}


@dataclass(frozen=True)
class Entry:
    """A stored object. ``identity`` is what merges and diffs compare, as in lakeFS."""

    data: bytes
    checksum: str
    content_type: str
    mtime: int
    physical_address: str

    @property
    def identity(self) -> tuple[str, int, str]:
        return self.checksum, len(self.data), self.content_type


Tree = dict[str, Entry]


@dataclass(frozen=True)
class CommitRecord:
    id: str
    parents: tuple[str, ...]
    message: str
    metadata: dict[str, str]
    creation_date: int
    committer: str
    generation: int
    tree: Mapping[str, Entry]

    @property
    def meta_range_id(self) -> str:
        return _meta_range_id(self.tree)


@dataclass
class Branch:
    head: str
    staging: dict[str, Entry | None] = field(default_factory=dict)  # None is a tombstone


@dataclass
class Repository:
    id: str
    storage_namespace: str
    default_branch: str
    creation_date: int
    commits: dict[str, CommitRecord] = field(default_factory=dict)
    branches: dict[str, Branch] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)


def _meta_range_id(tree: Mapping[str, Entry]) -> str:
    """A content address of the tree: path and identity of every entry."""
    digest = hashlib.sha256()
    for path in sorted(tree):
        digest.update(json.dumps([path, *tree[path].identity]).encode())
    return digest.hexdigest() if tree else ""


def _identities(tree: Mapping[str, Entry]) -> dict[str, tuple[str, int, str]]:
    return {path: entry.identity for path, entry in tree.items()}


def _working_tree(head: Mapping[str, Entry], staging: Mapping[str, Entry | None]) -> Tree:
    tree = dict(head)
    for path, entry in staging.items():
        if entry is None:
            tree.pop(path, None)
        else:
            tree[path] = entry
    return tree


def _three_way(base: Mapping[str, Entry], dest: Mapping[str, Entry], source: Mapping[str, Entry]) -> Tree:
    """Apply what ``source`` changed since ``base`` onto ``dest``; ApiError 409 if a path changed on both."""
    base_ids, dest_ids, source_ids = _identities(base), _identities(dest), _identities(source)
    merged = dict(dest)
    for path in base_ids.keys() | source_ids.keys():
        before, after = base_ids.get(path), source_ids.get(path)
        if before == after:
            continue
        current = dest_ids.get(path)
        if current not in (before, after):
            raise ApiError(HTTPStatus.CONFLICT, "conflict found", {"reference": ""})
        if after is None:
            merged.pop(path, None)
        else:
            merged[path] = source[path]
    return merged


def _validate_tag_id(tag: str) -> None:
    """lakeFS's tag rules (git check-ref-format, minus "~")."""
    invalid = (
        not tag
        or tag == "@"
        or tag.endswith((".", ".lock"))
        or any(part in tag for part in ("..", "/", "@{"))
        or any(char in tag for char in "^:?*[\\")
        or any(ord(char) <= ord(" ") for char in tag)
    )
    if invalid:
        raise ApiError(HTTPStatus.BAD_REQUEST, "tag id: invalid value: validation error")


def _flag(query: Mapping[str, str], name: str) -> bool:
    """A boolean query parameter as lakeFS (Go's strconv.ParseBool) reads it: the SDK sends "True"."""
    return query.get(name, "") in {"1", "t", "T", "true", "TRUE", "True"}


def _amount(query: Mapping[str, str]) -> int:
    raw = query.get("amount", "")
    amount = int(raw) if raw.lstrip("-").isdigit() else _DEFAULT_AMOUNT
    return _MAX_AMOUNT if amount < 0 or amount > _MAX_AMOUNT else amount


def _page(items: list[tuple[str, Any]], query: Mapping[str, str]) -> dict[str, Any]:
    """lakeFS pagination over (key, item) pairs sorted by key: ``after`` is exclusive, ``next_offset`` a key."""
    after, amount = query.get("after", ""), _amount(query)
    remaining = [(key, item) for key, item in items if key > after] if after else items
    page, has_more = remaining[:amount], len(remaining) > amount
    return {
        "pagination": {
            "has_more": has_more,
            "next_offset": page[-1][0] if has_more else "",
            "results": len(page),
            "max_per_page": _MAX_AMOUNT,
        },
        "results": [item for _, item in page],
    }


def _object_stats(path: str, entry: Entry) -> dict[str, Any]:
    return {
        "path": path,
        "path_type": "object",
        "physical_address": entry.physical_address,
        "checksum": entry.checksum,
        "size_bytes": len(entry.data),
        "mtime": entry.mtime,
        "content_type": entry.content_type,
        "metadata": {},
    }


def _commit_json(commit: CommitRecord) -> dict[str, Any]:
    return {
        "id": commit.id,
        "parents": list(commit.parents),
        "committer": commit.committer,
        "message": commit.message,
        "creation_date": commit.creation_date,
        "meta_range_id": commit.meta_range_id,
        "metadata": dict(commit.metadata),
        "generation": commit.generation,
        "version": 1,
    }


def _unsupported(query: Mapping[str, str], *names: str) -> None:
    for name in names:
        if query.get(name):
            raise ApiError(HTTPStatus.BAD_REQUEST, f"parameter {name!r} is not supported by the lakeFS double")


@dataclass
class Response:
    status: HTTPStatus
    body: Any = None  # JSON-able, bytes (sent as is) or None (no body)
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Request:
    method: str
    params: tuple[str, ...]
    query: dict[str, str]
    headers: Message
    body: bytes

    def json(self) -> dict[str, Any]:
        try:
            payload = json.loads(self.body or b"{}")
        except ValueError as error:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"request body is not JSON: {error}") from error
        if not isinstance(payload, dict):
            raise ApiError(HTTPStatus.BAD_REQUEST, "request body must be a JSON object")
        return payload


class _State:
    """The in-memory lakeFS: repositories and the operations on them, under one lock."""

    def __init__(self, committer: str) -> None:
        self.lock = threading.Lock()
        self.committer = committer
        self.repositories: dict[str, Repository] = {}

    # Lookups and ref resolution

    def repository(self, name: str) -> Repository:
        repo = self.repositories.get(name)
        if repo is None:
            raise ApiError(HTTPStatus.NOT_FOUND, "repository not found")
        return repo

    @staticmethod
    def branch(repo: Repository, name: str) -> Branch:
        branch = repo.branches.get(name)
        if branch is None:
            raise ApiError(HTTPStatus.NOT_FOUND, f"branch '{name}' not found")
        return branch

    @staticmethod
    def resolve(repo: Repository, ref: str) -> tuple[CommitRecord, Branch | None]:
        """The commit ``ref`` names and, for a branch, the branch: full id, branch, tag, id prefix."""
        if not ref or any(char in ref for char in "~^@$") or any(ord(char) <= ord(" ") for char in ref):
            raise ApiError(HTTPStatus.BAD_REQUEST, "ref: invalid value: validation error")
        if _FULL_COMMIT.match(ref) and ref.lower() in repo.commits:
            return repo.commits[ref.lower()], None
        if ref in repo.branches:
            branch = repo.branches[ref]
            return repo.commits[branch.head], branch
        if ref in repo.tags:
            return repo.commits[repo.tags[ref]], None
        if _COMMIT_PREFIX.match(ref):
            found = [commit_id for commit_id in repo.commits if commit_id.startswith(ref.lower())]
            if len(found) == 1:
                return repo.commits[found[0]], None
        raise ApiError(HTTPStatus.NOT_FOUND, "not found")

    def tree_at(self, repo: Repository, ref: str) -> Tree:
        commit, branch = self.resolve(repo, ref)
        return _working_tree(commit.tree, branch.staging) if branch is not None else dict(commit.tree)

    @staticmethod
    def ancestors(repo: Repository, start: str) -> set[str]:
        seen: set[str] = set()
        stack = [start]
        while stack:
            commit_id = stack.pop()
            if commit_id not in seen:
                seen.add(commit_id)
                stack.extend(repo.commits[commit_id].parents)
        return seen

    def merge_base(self, repo: Repository, left: str, right: str) -> CommitRecord:
        """The best common ancestor (no other common ancestor descends from it); the newest if several."""
        common = self.ancestors(repo, left) & self.ancestors(repo, right)
        dominated: set[str] = set()
        for commit_id in common:
            for parent in repo.commits[commit_id].parents:
                dominated |= self.ancestors(repo, parent)
        best = [repo.commits[commit_id] for commit_id in common - dominated]
        if not best:
            raise ApiError(HTTPStatus.NOT_FOUND, "no merge base")
        return max(best, key=lambda commit: (commit.generation, commit.creation_date, commit.id))

    def add_commit(
        self, repo: Repository, parents: Iterable[str], message: str, metadata: Mapping[str, str], tree: Tree
    ) -> CommitRecord:
        parents = tuple(parents)
        commit = CommitRecord(
            id=secrets.token_hex(32),
            parents=parents,
            message=message,
            metadata=dict(metadata),
            creation_date=int(time.time()),
            committer=self.committer if parents else "",
            generation=1 + max((repo.commits[parent].generation for parent in parents), default=0),
            tree=dict(tree),
        )
        repo.commits[commit.id] = commit
        return commit

    @staticmethod
    def require_clean(branch_name: str, branch: Branch, head: CommitRecord) -> None:
        if _identities(_working_tree(head.tree, branch.staging)) != _identities(head.tree):
            raise ApiError(HTTPStatus.BAD_REQUEST, f"{branch_name}: uncommitted changes (dirty branch)")

    # Repositories

    def get_repository(self, request: Request) -> Response:
        repo = self.repository(request.params[0])
        return Response(HTTPStatus.OK, self._repository_json(repo))

    def create_repository(self, request: Request) -> Response:
        body = request.json()
        _unsupported(request.query, "bare")
        name, namespace = str(body.get("name", "")), str(body.get("storage_namespace", ""))
        if not _REPOSITORY_ID.match(name):
            raise ApiError(HTTPStatus.BAD_REQUEST, "repository id: invalid value: validation error")
        if not _NAMESPACE.match(namespace):
            raise ApiError(HTTPStatus.BAD_REQUEST, "storage namespace: invalid value: validation error")
        if name in self.repositories:
            raise ApiError(HTTPStatus.CONFLICT, "not unique")
        default_branch = str(body.get("default_branch") or "main")
        repo = Repository(name, namespace, default_branch, int(time.time()))
        root = self.add_commit(repo, (), _FIRST_COMMIT_MESSAGE, {}, {})
        repo.branches[default_branch] = Branch(head=root.id)
        self.repositories[name] = repo
        return Response(HTTPStatus.CREATED, self._repository_json(repo))

    def delete_repository(self, request: Request) -> Response:
        """Gone with everything in it (``force`` is moot: the double has no read-only repositories)."""
        self.repository(request.params[0])
        del self.repositories[request.params[0]]
        return Response(HTTPStatus.NO_CONTENT)

    @staticmethod
    def _repository_json(repo: Repository) -> dict[str, Any]:
        return {
            "id": repo.id,
            "creation_date": repo.creation_date,
            "default_branch": repo.default_branch,
            "storage_namespace": repo.storage_namespace,
            "read_only": False,
        }

    # Branches

    def list_branches(self, request: Request) -> Response:
        repo = self.repository(request.params[0])
        prefix = request.query.get("prefix", "")
        refs = [(name, {"id": name, "commit_id": b.head}) for name, b in sorted(repo.branches.items())]
        return Response(HTTPStatus.OK, _page([item for item in refs if item[0].startswith(prefix)], request.query))

    def create_branch(self, request: Request) -> Response:
        repo = self.repository(request.params[0])
        body = request.json()
        name, source = str(body.get("name", "")), str(body.get("source", ""))
        if not _BRANCH_ID.match(name):
            raise ApiError(HTTPStatus.BAD_REQUEST, "branch id: invalid value: validation error")
        commit, _ = self.resolve(repo, source)
        if name in repo.branches:
            raise ApiError(HTTPStatus.CONFLICT, "branch already exists: not unique")
        repo.branches[name] = Branch(head=commit.id)
        return Response(HTTPStatus.CREATED, commit.id.encode(), "text/html")  # as lakeFS documents it

    def get_branch(self, request: Request) -> Response:
        repo = self.repository(request.params[0])
        name = request.params[1]
        return Response(HTTPStatus.OK, {"id": name, "commit_id": self.branch(repo, name).head})

    def delete_branch(self, request: Request) -> Response:
        repo = self.repository(request.params[0])
        name = request.params[1]
        self.branch(repo, name)
        if name == repo.default_branch:
            raise ApiError(HTTPStatus.FORBIDDEN, "cannot delete repository default branch")
        del repo.branches[name]
        return Response(HTTPStatus.NO_CONTENT)

    # Objects

    def upload_object(self, request: Request) -> Response:
        repo = self.repository(request.params[0])
        branch = self.branch(repo, request.params[1])
        path = self._path(request)
        content_type = request.headers.get("Content-Type", "application/octet-stream").split(";")[0].strip()
        if content_type.startswith("multipart/"):
            raise ApiError(HTTPStatus.BAD_REQUEST, "the lakeFS double takes application/octet-stream uploads only")
        data = request.body
        entry = Entry(
            data=data,
            checksum=hashlib.md5(data, usedforsecurity=False).hexdigest(),
            content_type=content_type,
            mtime=int(time.time()),
            physical_address=f"{repo.storage_namespace.rstrip('/')}/data/{secrets.token_hex(16)}",
        )
        branch.staging[path] = entry
        return Response(HTTPStatus.CREATED, _object_stats(path, entry))

    def delete_object(self, request: Request) -> Response:
        repo = self.repository(request.params[0])
        branch = self.branch(repo, request.params[1])
        path = self._path(request)
        if path in repo.commits[branch.head].tree or branch.staging.get(path) is not None:
            branch.staging[path] = None
        return Response(HTTPStatus.NO_CONTENT)

    def get_object(self, request: Request) -> Response:
        repo = self.repository(request.params[0])
        path = self._path(request)
        entry = self.tree_at(repo, request.params[1]).get(path)
        if entry is None:
            raise ApiError(HTTPStatus.NOT_FOUND, "not found")
        headers = {"ETag": f'"{entry.checksum}"', "Last-Modified": self._http_date(entry.mtime)}
        return Response(HTTPStatus.OK, entry.data, "application/octet-stream", headers)

    def stat_object(self, request: Request) -> Response:
        repo = self.repository(request.params[0])
        path = self._path(request)
        entry = self.tree_at(repo, request.params[1]).get(path)
        if entry is None:
            raise ApiError(HTTPStatus.NOT_FOUND, "not found")
        return Response(HTTPStatus.OK, _object_stats(path, entry))

    def list_objects(self, request: Request) -> Response:
        repo = self.repository(request.params[0])
        _unsupported(request.query, "delimiter", "presign")
        tree, prefix = self.tree_at(repo, request.params[1]), request.query.get("prefix", "")
        stats = [(path, _object_stats(path, tree[path])) for path in sorted(tree) if path.startswith(prefix)]
        return Response(HTTPStatus.OK, _page(stats, request.query))

    @staticmethod
    def _path(request: Request) -> str:
        path = request.query.get("path", "")
        if not path:
            raise ApiError(HTTPStatus.BAD_REQUEST, "path: required value: validation error")
        return path

    @staticmethod
    def _http_date(timestamp: int) -> str:
        return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(timestamp))

    # Commits, log and diff

    def commit(self, request: Request) -> Response:
        repo = self.repository(request.params[0])
        _unsupported(request.query, "source_metarange")
        body = request.json()
        message, metadata = str(body.get("message") or ""), body.get("metadata") or {}
        if not message:
            raise ApiError(HTTPStatus.BAD_REQUEST, "message: required value: validation error")
        name = request.params[1]
        branch = self.branch(repo, name)
        head = repo.commits[branch.head]
        tree = _working_tree(head.tree, branch.staging)
        if _identities(tree) == _identities(head.tree):
            raise ApiError(HTTPStatus.BAD_REQUEST, "commit: no changes")
        commit = self.add_commit(repo, (head.id,), message, metadata, tree)
        repo.branches[name] = Branch(head=commit.id)
        return Response(HTTPStatus.CREATED, _commit_json(commit))

    def get_commit(self, request: Request) -> Response:
        repo = self.repository(request.params[0])
        try:
            commit, _ = self.resolve(repo, request.params[1])
        except ApiError as error:
            raise ApiError(HTTPStatus.NOT_FOUND, "commit not found") from error
        return Response(HTTPStatus.OK, _commit_json(commit))

    def log_commits(self, request: Request) -> Response:
        repo = self.repository(request.params[0])
        _unsupported(request.query, "objects", "prefixes", "since", "stop_at")
        if not _flag(request.query, "first_parent"):
            raise ApiError(HTTPStatus.BAD_REQUEST, "the lakeFS double logs first parents only")
        commit, _ = self.resolve(repo, request.params[1])
        chain = [commit]
        while chain[-1].parents:
            chain.append(repo.commits[chain[-1].parents[0]])
        after, amount = request.query.get("after", ""), _amount(request.query)
        ids = [c.id for c in chain]
        start = ids.index(after) + 1 if after in ids else 0
        page = chain[start : start + amount]
        has_more = start + amount < len(chain)
        return Response(
            HTTPStatus.OK,
            {
                "pagination": {
                    "has_more": has_more,
                    "next_offset": page[-1].id if has_more else "",
                    "results": len(page),
                    "max_per_page": _MAX_AMOUNT,
                },
                "results": [_commit_json(c) for c in page],
            },
        )

    def diff_refs(self, request: Request) -> Response:
        repo = self.repository(request.params[0])
        _unsupported(request.query, "delimiter")
        left, _ = self.resolve(repo, request.params[1])
        right, _ = self.resolve(repo, request.params[2])
        if request.query.get("type") != "two_dot":
            raise ApiError(HTTPStatus.BAD_REQUEST, "the lakeFS double makes two-dot diffs only")
        before, after = _identities(left.tree), _identities(right.tree)
        prefix = request.query.get("prefix", "")
        diffs: list[tuple[str, Any]] = []
        for path in sorted(before.keys() | after.keys()):
            if not path.startswith(prefix) or before.get(path) == after.get(path):
                continue
            change = "added" if path not in before else "removed" if path not in after else "changed"
            size = len((right.tree if path in after else left.tree)[path].data)
            diffs.append((path, {"type": change, "path": path, "path_type": "object", "size_bytes": size}))
        return Response(HTTPStatus.OK, _page(diffs, request.query))

    # Merge and revert

    def find_merge_base(self, request: Request) -> Response:
        repo = self.repository(request.params[0])
        source, _ = self.resolve(repo, request.params[1])
        dest, _ = self.resolve(repo, request.params[2])
        base = self.merge_base(repo, source.id, dest.id)
        body = {"source_commit_id": source.id, "destination_commit_id": dest.id, "base_commit_id": base.id}
        return Response(HTTPStatus.OK, body)

    def merge(self, request: Request) -> Response:
        repo = self.repository(request.params[0])
        body = request.json()
        if body.get("strategy") or body.get("squash_merge"):
            raise ApiError(HTTPStatus.BAD_REQUEST, "merge strategies and squash merges are not in the lakeFS double")
        source_ref, dest_name = request.params[1], request.params[2]
        branch = self.branch(repo, dest_name)
        dest = repo.commits[branch.head]
        self.require_clean(dest_name, branch, dest)
        source, _ = self.resolve(repo, source_ref)
        base = self.merge_base(repo, source.id, dest.id)
        if source.meta_range_id == base.meta_range_id:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"update branch {dest_name}: no changes")
        if dest.meta_range_id == base.meta_range_id:
            tree = dict(source.tree)
        else:
            tree = _three_way(base.tree, dest.tree, source.tree)
        message = str(body.get("message") or f"Merge '{source_ref}' into '{dest_name}'")
        metadata = {**(body.get("metadata") or {}), _MERGE_STRATEGY_KEY: "default"}
        commit = self.add_commit(repo, (dest.id, source.id), message, metadata, tree)
        repo.branches[dest_name] = Branch(head=commit.id)
        return Response(HTTPStatus.OK, {"reference": commit.id})

    def revert(self, request: Request) -> Response:
        repo = self.repository(request.params[0])
        body = request.json()
        ref, parent_number = str(body.get("ref", "")), int(body.get("parent_number", 0))
        target, _ = self.resolve(repo, ref)
        if len(target.parents) > 1 and parent_number <= 0:
            raise ApiError(HTTPStatus.CONFLICT, "must specify 1-based parent number for reverting merge commit")
        if parent_number > len(target.parents):
            raise ApiError(HTTPStatus.BAD_REQUEST, "given commit does not have the given parent number")
        name = request.params[1]
        branch = self.branch(repo, name)
        head = repo.commits[branch.head]
        self.require_clean(name, branch, head)
        parent: Mapping[str, Entry] = repo.commits[target.parents[parent_number - 1]].tree if parent_number else {}
        if _meta_range_id(parent) == target.meta_range_id:
            raise ApiError(HTTPStatus.BAD_REQUEST, "no changes")
        try:
            tree = (
                dict(parent)
                if head.meta_range_id == target.meta_range_id
                else _three_way(target.tree, head.tree, parent)
            )
        except ApiError as conflict:  # revertBranch's 409 is an Error, not a MergeResult as for a merge
            raise ApiError(HTTPStatus.CONFLICT, "conflict found") from conflict
        if _meta_range_id(tree) == head.meta_range_id:
            raise ApiError(HTTPStatus.BAD_REQUEST, f"update branch: {name}: no changes")
        overrides = body.get("commit_overrides") or {}
        message = str(overrides.get("message") or f"Revert {ref}")
        commit = self.add_commit(repo, (head.id,), message, overrides.get("metadata") or {}, tree)
        repo.branches[name] = Branch(head=commit.id)
        return Response(HTTPStatus.NO_CONTENT)

    # Tags

    def list_tags(self, request: Request) -> Response:
        repo = self.repository(request.params[0])
        prefix = request.query.get("prefix", "")
        refs = [(name, {"id": name, "commit_id": commit_id}) for name, commit_id in sorted(repo.tags.items())]
        return Response(HTTPStatus.OK, _page([item for item in refs if item[0].startswith(prefix)], request.query))

    def create_tag(self, request: Request) -> Response:
        repo = self.repository(request.params[0])
        body = request.json()
        tag, ref = str(body.get("id", "")), str(body.get("ref", ""))
        _validate_tag_id(tag)
        commit, _ = self.resolve(repo, ref)
        if tag in repo.tags:
            raise ApiError(HTTPStatus.CONFLICT, "tag already exists: not unique")
        repo.tags[tag] = commit.id
        return Response(HTTPStatus.CREATED, {"id": tag, "commit_id": commit.id})

    def get_tag(self, request: Request) -> Response:
        repo = self.repository(request.params[0])
        tag = request.params[1]
        if tag not in repo.tags:
            raise ApiError(HTTPStatus.NOT_FOUND, "tag not found")
        return Response(HTTPStatus.OK, {"id": tag, "commit_id": repo.tags[tag]})

    def delete_tag(self, request: Request) -> Response:
        repo = self.repository(request.params[0])
        if repo.tags.pop(request.params[1], None) is None:
            raise ApiError(HTTPStatus.NOT_FOUND, "tag not found")
        return Response(HTTPStatus.NO_CONTENT)

    def routes(self) -> list[tuple[str, re.Pattern[str], Callable[[Request], Response]]]:
        segment = "([^/]+)"
        table = [
            ("GET", "/repositories/{}", self.get_repository),
            ("POST", "/repositories", self.create_repository),
            ("DELETE", "/repositories/{}", self.delete_repository),
            ("GET", "/repositories/{}/branches", self.list_branches),
            ("POST", "/repositories/{}/branches", self.create_branch),
            ("GET", "/repositories/{}/branches/{}", self.get_branch),
            ("DELETE", "/repositories/{}/branches/{}", self.delete_branch),
            ("POST", "/repositories/{}/branches/{}/commits", self.commit),
            ("POST", "/repositories/{}/branches/{}/revert", self.revert),
            ("POST", "/repositories/{}/branches/{}/objects", self.upload_object),
            ("DELETE", "/repositories/{}/branches/{}/objects", self.delete_object),
            ("GET", "/repositories/{}/refs/{}/objects", self.get_object),
            ("GET", "/repositories/{}/refs/{}/objects/stat", self.stat_object),
            ("GET", "/repositories/{}/refs/{}/objects/ls", self.list_objects),
            ("GET", "/repositories/{}/refs/{}/commits", self.log_commits),
            ("GET", "/repositories/{}/commits/{}", self.get_commit),
            ("GET", "/repositories/{}/refs/{}/diff/{}", self.diff_refs),
            ("GET", "/repositories/{}/refs/{}/merge/{}", self.find_merge_base),
            ("POST", "/repositories/{}/refs/{}/merge/{}", self.merge),
            ("GET", "/repositories/{}/tags", self.list_tags),
            ("POST", "/repositories/{}/tags", self.create_tag),
            ("GET", "/repositories/{}/tags/{}", self.get_tag),
            ("DELETE", "/repositories/{}/tags/{}", self.delete_tag),
        ]
        return [(method, re.compile(f"^{_API}{path.format(*[segment] * 3)}$"), call) for method, path, call in table]


class _Handler(BaseHTTPRequestHandler):
    """Authenticates, routes and answers one request (HTTP/1.0: one request per connection)."""

    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read results, not access logs."""

    def _answer(self) -> None:
        url = urlsplit(self.path)
        query = {key: values[-1] for key, values in parse_qs(url.query, keep_blank_values=True).items()}
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        host, port = self.server.server_address[:2]
        exchange = HttpRequest(self.command, f"http://{host!s}:{port}{self.path}", dict(self.headers.items()), body)
        violations = request_violations(exchange)
        if violations:  # refused before it reaches the state; no operation to check the answer against
            self.server.record("request", exchange, violations)
            refusal = Response(HTTPStatus.BAD_REQUEST, {"message": f"request violates the lakeFS API: {violations[0]}"})
            self._send(None, refusal)
            return
        try:
            response = self._route(url.path, query, body)
        except ApiError as error:
            response = Response(error.status, error.body)
        self._send(exchange, response)

    def _route(self, path: str, query: dict[str, str], body: bytes) -> Response:
        if not self.server.authorized(self.headers.get("Authorization", "")):
            raise ApiError(HTTPStatus.UNAUTHORIZED, "error authenticating request")
        for method, pattern, call in self.server.routes:
            match = pattern.match(path)
            if match and method == self.command:
                params = tuple(unquote(value) for value in match.groups())
                with self.server.state.lock:
                    return call(Request(self.command, params, query, self.headers, body))
        raise ApiError(HTTPStatus.NOT_FOUND, f"{self.command} {path} is not in the lakeFS double")

    def _send(self, exchange: HttpRequest | None, response: Response) -> None:
        """Send ``response``, checked against the document as the answer to ``exchange`` (unless None)."""
        payload, headers = self._encode(response)
        violations = (
            [] if exchange is None else response_violations(exchange, HttpResponse(response.status, headers, payload))
        )
        if exchange is not None and violations:
            self.server.record("response", exchange, violations)
            failure = Response(
                HTTPStatus.INTERNAL_SERVER_ERROR, {"message": f"the lakeFS double broke the API: {violations[0]}"}
            )
            payload, headers = self._encode(failure)
            response = failure
        self.send_response(response.status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    @staticmethod
    def _encode(response: Response) -> tuple[bytes, dict[str, str]]:
        """The body's bytes and the headers to send with them."""
        if response.body is None:
            payload = b""
        elif isinstance(response.body, bytes):
            payload = response.body
        else:
            payload = json.dumps(response.body).encode()
        headers = {"Content-Type": response.content_type} if response.body is not None else {}
        return payload, {**headers, **response.headers, "Content-Length": str(len(payload))}

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _answer


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: _State, access_key_id: str, secret_access_key: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state
        self.routes = state.routes()
        expected = base64.b64encode(f"{access_key_id}:{secret_access_key}".encode()).decode()
        self._expected = f"Basic {expected}".encode()
        self.violations = ViolationLog()

    def record(self, side: str, exchange: HttpRequest, violations: list[str]) -> None:
        """Keep a contract violation for :meth:`LakeFSDouble.check` (the client only sees a 400 or 500)."""
        self.violations.record(side, exchange, violations)

    def authorized(self, header: str) -> bool:
        return hmac.compare_digest(header.encode(), self._expected)


class LakeFSDouble:
    """The double as a context manager: ``endpoint``, ``access_key_id`` and ``secret_access_key`` to connect."""

    def __init__(
        self,
        access_key_id: str = "AKIAIOSFODNN7DOUBLE",
        secret_access_key: str | None = None,
        committer: str = "factory",
    ) -> None:
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key or secrets.token_urlsafe(30)
        self.state = _State(committer)
        self._server = _Server(self.state, self.access_key_id, self.secret_access_key)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> LakeFSDouble:
        self._thread.start()
        return self

    @property
    def operations(self) -> list[tuple[str, str]]:
        """(method, path regex) of every operation the double serves: ``([^/]+)`` stands for a path parameter."""
        return [(method, pattern.pattern) for method, pattern, _ in self._server.routes]

    def take_violations(self) -> list[str]:
        """The contract violations seen since the last call, one line each, and forget them."""
        return self._server.violations.take()

    def check(self) -> None:
        """Raise :class:`ContractViolation` if any exchange since the last check broke lakeFS's API."""
        self._server.violations.check()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        if error is None:
            self.check()
