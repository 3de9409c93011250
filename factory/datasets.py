"""Published dataset versions outside Dagster: list, show, check out, roll back (`factory dataset ...`).

A published version is a tag ``<use_case>/v<N>`` on a commit of ``main`` holding the dataset table
(``tables/<use_case>/dataset.parquet``) and its data card (``<use_case>/datacard.md``). Versions never
change. A rollback does not move a tag or rewrite history: it commits on ``main`` a tree whose use-case
files equal the chosen version's, records ``rollback_to`` in the commit metadata, and tags that commit as
the next version, so everything downstream (training, drift reference) picks it up like any publish.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from factory.resources.versioning import (
    MAIN_BRANCH,
    Commit,
    CorruptStore,
    RefNotFound,
    VersionStore,
    table_path,
)

__all__ = [
    "DamagedVersion",
    "DatasetVersion",
    "checkout",
    "damaged_versions",
    "list_versions",
    "resolve_version",
    "rollback",
    "show",
]


@dataclass(frozen=True)
class DatasetVersion:
    """One published version: its number, tag and commit."""

    number: int
    tag: str
    commit: Commit


@dataclass(frozen=True)
class DamagedVersion:
    """A published version whose tag or commit record cannot be read, with the reason. It affects itself only:
    the other versions list, show, check out and roll back as usual."""

    number: int
    tag: str
    reason: str


def _scan(store: VersionStore, use_case: str) -> tuple[list[DatasetVersion], list[DamagedVersion]]:
    prefix = f"{use_case}/v"
    found: list[DatasetVersion] = []
    damaged: list[DamagedVersion] = []
    for tag, reason in store.damaged_tags(prefix=prefix).items():
        suffix = tag.removeprefix(prefix)
        if suffix.isdigit():
            damaged.append(DamagedVersion(int(suffix), tag, reason))
    for tag, commit_id in store.list_tags(prefix=prefix).items():
        suffix = tag.removeprefix(prefix)
        if not suffix.isdigit():
            continue
        try:
            found.append(DatasetVersion(int(suffix), tag, store.get_commit(commit_id)))
        except (CorruptStore, RefNotFound) as error:
            damaged.append(DamagedVersion(int(suffix), tag, f"its commit {commit_id[:12]} cannot be read: {error}"))
    return sorted(found, key=lambda v: v.number), sorted(damaged, key=lambda v: v.number)


def list_versions(store: VersionStore, use_case: str) -> list[DatasetVersion]:
    """Every readable published version of `use_case`, oldest first (`damaged_versions` lists the others)."""
    return _scan(store, use_case)[0]


def damaged_versions(store: VersionStore, use_case: str) -> list[DamagedVersion]:
    """The published versions of `use_case` whose tag or commit record is damaged, oldest first."""
    return _scan(store, use_case)[1]


def resolve_version(store: VersionStore, use_case: str, version: str) -> DatasetVersion:
    """The version named ``v3``, ``3``, ``<use_case>/v3`` or ``latest``; RefNotFound naming what exists,
    CorruptStore when the version asked for (or the newest, for ``latest``) is damaged."""
    versions, damaged = _scan(store, use_case)
    if not versions and not damaged:
        raise RefNotFound(f"{use_case} has no published dataset version yet")
    wanted = version.removeprefix(f"{use_case}/").removeprefix("v")
    newest = max([v.number for v in versions] + [d.number for d in damaged])
    for broken in damaged:
        if str(broken.number) == wanted or (version == "latest" and broken.number == newest):
            raise CorruptStore(f"{broken.tag} is damaged: {broken.reason}")
    if version == "latest":
        return versions[-1]
    for candidate in versions:
        if str(candidate.number) == wanted:
            return candidate
    known = ", ".join(f"v{v.number}" for v in versions)
    raise RefNotFound(f"{use_case} has no version {version!r}; published: {known}")


def _dataset_path(use_case: str) -> str:
    return table_path(f"{use_case}/dataset")


def _card_path(use_case: str) -> str:
    return f"{use_case}/datacard.md"


def show(store: VersionStore, use_case: str, version: str) -> str:
    """A readable summary of a version: tag, commit, lineage metadata, rows per split and per label."""
    found = resolve_version(store, use_case, version)
    frame = pl.read_parquet(store.read_object(found.commit.id, _dataset_path(use_case)))
    lines = [
        f"{found.tag}  commit {found.commit.id}",
        f"  message: {found.commit.message}",
        *(f"  {key}: {value}" for key, value in sorted(found.commit.metadata.items())),
        f"  rows: {frame.height}",
    ]
    for column in ("split", "label"):
        if column in frame.columns:
            counts = frame.group_by(column).len().sort(["len", column], descending=[True, False])
            lines.append(f"  by {column}: " + ", ".join(f"{name} {count}" for name, count in counts.iter_rows()))
    return "\n".join(lines)


def checkout(store: VersionStore, use_case: str, version: str, out: Path) -> list[Path]:
    """Write a version's dataset (Parquet, byte for byte), data card and commit record into folder `out`."""
    found = resolve_version(store, use_case, version)
    out.mkdir(parents=True, exist_ok=True)
    stem = found.tag.replace("/", "-")
    written = []
    for path, name in ((_dataset_path(use_case), f"{stem}.parquet"), (_card_path(use_case), f"{stem}.datacard.md")):
        target = out / name
        target.write_bytes(store.read_object(found.commit.id, path))
        written.append(target)
    record = out / f"{stem}.commit.json"
    commit = found.commit
    record.write_text(
        json.dumps(
            {"tag": found.tag, "commit": commit.id, "message": commit.message, "metadata": dict(commit.metadata)},
            indent=2,
            sort_keys=True,
        )
        + "\n"
    )
    written.append(record)
    return written


def rollback(store: VersionStore, use_case: str, version: str, reason: str) -> DatasetVersion:
    """Commit on ``main`` the use case's files as they were in `version`, and tag it as the next version.

    Files of other use cases on ``main`` are untouched. Raises NothingToCommit when ``main`` already
    holds exactly that content.
    """
    target = resolve_version(store, use_case, version)
    prefixes = (f"tables/{use_case}/", f"{use_case}/")
    wanted = {path for prefix in prefixes for path in store.list_objects(target.commit.id, prefix)}
    current = {path for prefix in prefixes for path in store.list_objects(MAIN_BRANCH, prefix)}
    for path in sorted(current - wanted):
        store.delete_object(MAIN_BRANCH, path)
    for path in sorted(wanted):
        store.write_object(MAIN_BRANCH, path, store.read_object(target.commit.id, path))
    versions, damaged = _scan(store, use_case)
    number = max([v.number for v in versions] + [d.number for d in damaged]) + 1
    tag = f"{use_case}/v{number}"
    metadata = {**target.commit.metadata, "rollback_to": target.tag, "reason": reason, "version": tag}
    commit = store.commit(MAIN_BRANCH, f"roll {use_case} back to {target.tag}: {reason}", metadata)
    store.create_tag(tag, commit.id)
    return DatasetVersion(number, tag, store.get_commit(commit.id))
