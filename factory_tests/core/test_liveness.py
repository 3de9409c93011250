"""The dead-run decision: a run is dead only when the process it recorded is provably gone from this host."""

from __future__ import annotations

from factory.core.liveness import BOOT_TAG, HOST_TAG, PID_TAG, START_TAG, Owner, dead_owner, owner_tags

HOST, BOOT, OWN = "box", "boot-1", 100


def _decide(tags: dict[str, str], live: dict[int, str], boot: str | None = BOOT) -> Owner | None:
    return dead_owner(tags, HOST, boot, OWN, live.get)


def test_owner_tags_name_the_process_and_skip_what_the_system_does_not_tell() -> None:
    assert owner_tags(HOST, 42, "9001", BOOT) == {HOST_TAG: HOST, PID_TAG: "42", START_TAG: "9001", BOOT_TAG: BOOT}
    assert owner_tags(HOST, 42, None, None) == {HOST_TAG: HOST, PID_TAG: "42"}


def test_a_run_whose_pid_is_gone_is_dead() -> None:
    assert _decide(owner_tags(HOST, 42, "9001", BOOT), live={}) == Owner(42, "pid 42 gone")


def test_a_live_process_with_the_recorded_start_is_alive() -> None:
    assert _decide(owner_tags(HOST, 42, "9001", BOOT), live={42: "9001"}) is None


def test_a_recycled_pid_is_not_the_run() -> None:
    owner = _decide(owner_tags(HOST, 42, "9001", BOOT), live={42: "12345"})
    assert owner == Owner(42, "pid 42 gone: that pid is now another process")


def test_a_run_from_before_a_restart_is_dead_even_if_its_pid_is_taken() -> None:
    owner = _decide(owner_tags(HOST, 42, "9001", "boot-0"), live={42: "9001"})
    assert owner == Owner(42, "pid 42 gone: the machine restarted since")


def test_without_start_time_or_boot_id_only_a_missing_pid_counts() -> None:
    assert _decide(owner_tags(HOST, 42, None, None), live={42: "555"}, boot=None) is None
    assert _decide(owner_tags(HOST, 42, None, None), live={}, boot=None) == Owner(42, "pid 42 gone")
    # The system cannot tell the start time of a live process ("" from the probe): alive.
    assert _decide(owner_tags(HOST, 42, "9001", BOOT), live={42: ""}) is None


def test_never_dead_on_another_host_without_tags_with_a_bad_pid_or_for_this_process() -> None:
    assert _decide(owner_tags("other-box", 42, "9001", BOOT), live={}) is None
    assert _decide({}, live={}) is None
    assert _decide({HOST_TAG: HOST, PID_TAG: "forty-two"}, live={}) is None
    assert _decide({HOST_TAG: HOST, PID_TAG: "0"}, live={}) is None
    assert _decide({HOST_TAG: HOST, PID_TAG: "-1"}, live={}) is None
    assert _decide(owner_tags(HOST, OWN, "1", BOOT), live={}) is None
