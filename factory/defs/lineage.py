"""Reading what an earlier materialization recorded: the handshake between staged and published layers."""

from __future__ import annotations

import dagster as dg

from factory.defs.usecase import UseCase
from factory.resources.versioning import VersionStore

__all__ = ["latest_metadata", "next_version_number", "published_versions"]


def latest_metadata(instance: dg.DagsterInstance, key: dg.AssetKey) -> dict[str, str]:
    """The text metadata of the newest materialization of ``key``; raises if there is none."""
    event = instance.get_latest_materialization_event(key)
    if event is None or event.asset_materialization is None:
        raise dg.Failure(f"{key.to_user_string()} has never been materialized")
    return {k: str(v.value) for k, v in event.asset_materialization.metadata.items()}


def published_versions(store: VersionStore, uc: UseCase) -> list[tuple[int, str, str]]:
    """(number, tag, commit id) of every published version of the use case, oldest first."""
    prefix = uc.version_tag_prefix
    found = []
    for tag, commit in store.list_tags(prefix=prefix).items():
        suffix = tag.removeprefix(prefix)
        if suffix.isdigit():
            found.append((int(suffix), tag, commit))
    return sorted(found)


def next_version_number(store: VersionStore, uc: UseCase) -> int:
    """The number the next published version takes: one past every version tag, damaged ones included (a
    damaged tag keeps its number, so a publish never collides with it)."""
    prefix = uc.version_tag_prefix
    tags = [*store.list_tags(prefix=prefix), *store.damaged_tags(prefix=prefix)]
    numbers = [int(tag.removeprefix(prefix)) for tag in tags if tag.removeprefix(prefix).isdigit()]
    return max(numbers, default=0) + 1
