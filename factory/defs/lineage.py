"""Reading what an earlier materialization recorded: the handshake between staged and published layers."""

from __future__ import annotations

import dagster as dg

from factory.defs.usecase import UseCase
from factory.resources.versioning import VersionStore

__all__ = ["latest_metadata", "published_versions"]


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
