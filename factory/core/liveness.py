"""Is the process that runs a run still alive? The decision, as a pure function of what the run recorded.

A run started by the factory records who runs it in its tags: the host, the process id, the process's start
time (so a recycled pid is not mistaken for the run) and the machine's boot id (so a run from before a restart
is known to be dead). A run is declared dead only on the host that started it, and only when that process is
provably gone; a run that recorded nothing, or ran on another host, is never declared dead here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["BOOT_TAG", "HOST_TAG", "PID_TAG", "START_TAG", "Owner", "dead_owner", "owner_tags"]

HOST_TAG = "factory/host"
PID_TAG = "factory/pid"
START_TAG = "factory/pid_start"
BOOT_TAG = "factory/boot_id"


@dataclass(frozen=True)
class Owner:
    """The process a run recorded as its own, and why it is known to be gone."""

    pid: int
    reason: str


def owner_tags(host: str, pid: int, start: str | None, boot_id: str | None) -> dict[str, str]:
    """The run tags that name the process running it; start time and boot id only when the system tells them."""
    tags = {HOST_TAG: host, PID_TAG: str(pid)}
    if start:
        tags[START_TAG] = start
    if boot_id:
        tags[BOOT_TAG] = boot_id
    return tags


def dead_owner(
    tags: Mapping[str, str],
    host: str,
    boot_id: str | None,
    own_pid: int,
    start_of: Callable[[int], str | None],
) -> Owner | None:
    """The recorded owner of a run when it is provably gone from this host, else ``None``.

    ``start_of(pid)`` returns the start time of a live process (``""`` when the system does not tell it) or
    ``None`` when no process has that pid. Gone means: the machine restarted since (boot ids differ), or no
    process has the pid, or the process that has it started at another time than the one recorded.
    """
    if tags.get(HOST_TAG) != host:
        return None
    try:
        pid = int(tags.get(PID_TAG, ""))
    except ValueError:
        return None
    if pid <= 0 or pid == own_pid:
        return None
    recorded_boot = tags.get(BOOT_TAG)
    if recorded_boot and boot_id and recorded_boot != boot_id:
        return Owner(pid, f"pid {pid} gone: the machine restarted since")
    start = start_of(pid)
    if start is None:
        return Owner(pid, f"pid {pid} gone")
    recorded_start = tags.get(START_TAG)
    if recorded_start and start and recorded_start != start:
        return Owner(pid, f"pid {pid} gone: that pid is now another process")
    return None
