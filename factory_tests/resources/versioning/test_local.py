"""The local backend's own promises: concurrent writers, crash safety, deterministic content addresses."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import multiprocessing.synchronize
import os
import re
import signal
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
import pytest

from factory.resources.versioning import (
    CorruptStore,
    InvalidName,
    LocalVersionStore,
    NothingToCommit,
    RepositoryNotFound,
    frame_to_parquet,
    local,
)

PROJECT_ROOT = Path(__file__).resolve().parents[3]
HEX_ID = re.compile(r"^[0-9a-f]{64}$")
WORKER_ROUNDS = 30


def _fresh(root: Path, repository: str = "local-tests") -> LocalVersionStore:
    store = LocalVersionStore(root, repository)
    store.ensure_repository()
    return store


def _assert_every_ref_is_valid(store: LocalVersionStore) -> None:
    """Every ref file holds one commit id whose record exists and matches its content address."""
    ref_files = sorted((store.root / store.repository / "refs").glob("*/*"))
    assert ref_files
    for ref_file in ref_files:
        commit_id = ref_file.read_text(encoding="ascii")
        assert commit_id.endswith("\n")
        assert HEX_ID.match(commit_id.strip()), ref_file
        assert store.get_commit(commit_id.strip()).id == commit_id.strip()


def _commit_records(store: LocalVersionStore) -> set[str]:
    commits = store.root / store.repository / "commits"
    return {path.parent.name + path.name.removesuffix(".json") for path in commits.glob("*/*.json")}


def _run_python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        cwd=PROJECT_ROOT,
        check=False,
    )


def _merge_worker(root: str, name: str, rounds: int, start: multiprocessing.synchronize.Barrier) -> None:
    """Commit to ``workers/<name>`` and merge it into main, ``rounds`` times (runs in a spawned process)."""
    store = LocalVersionStore(Path(root), "concurrency")
    branch = f"workers/{name}"
    start.wait(timeout=60)
    for round_number in range(rounds):
        labels = {"worker": name, "round": str(round_number)}
        store.write_object(branch, f"{name}/{round_number:02d}.txt", f"{name} {round_number}".encode())
        store.commit(branch, f"{name} round {round_number}", labels)
        store.merge(branch, "main", f"merge {name} round {round_number}", labels)


def test_two_processes_merging_into_main_lose_no_update(tmp_path: Path) -> None:
    store = _fresh(tmp_path, "concurrency")
    names = ("left", "right")
    for name in names:
        store.create_branch(f"workers/{name}")
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(len(names))
    workers = [
        context.Process(target=_merge_worker, args=(str(tmp_path), name, WORKER_ROUNDS, start)) for name in names
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [worker.exitcode for worker in workers] == [0, 0]

    main_log = store.log("main")
    merges = [commit for commit in main_log if len(commit.parents) == 2]
    expected = {(name, str(n)) for name in names for n in range(WORKER_ROUNDS)}
    assert {(c.metadata["worker"], c.metadata["round"]) for c in merges} == expected
    assert len(main_log) == 2 * WORKER_ROUNDS + 1
    assert len(store.list_objects("main")) == 2 * WORKER_ROUNDS
    for name in names:
        assert len(store.log(f"workers/{name}")) == WORKER_ROUNDS + 1
    _assert_every_ref_is_valid(store)


def test_threads_committing_to_one_branch_lose_no_write(tmp_path: Path) -> None:
    store = _fresh(tmp_path)

    def work(thread: int) -> None:
        for n in range(10):
            store.write_object("main", f"t{thread}/{n}", f"{thread}-{n}".encode())
            try:
                store.commit("main", f"thread {thread} write {n}")
            except NothingToCommit:
                continue  # another thread's commit already included this write: expected under contention

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(work, range(4)))
    assert len(store.list_objects("main")) == 40
    assert store.read_object("main", "t3/9") == b"3-9"
    _assert_every_ref_is_valid(store)


_CRASH_SCRIPT = """
    import os
    import signal
    import sys
    from pathlib import Path

    from factory.resources.versioning import local

    root, operation, point = sys.argv[1:]
    store = local.LocalVersionStore(Path(root), "crash")


    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)


    if point == "after-commit-record":
        # The commit record is durable; the next step would move the ref.
        local.LocalVersionStore._swap_ref = die
    else:
        # The new ref value is fsynced in a temp file; the next step would rename it onto the ref.
        real_replace = os.replace

        def replace(source, target, *args, **kwargs):
            if "refs" in Path(target).parts:
                die()
            return real_replace(source, target, *args, **kwargs)

        os.replace = replace
    if operation == "commit":
        store.commit("main", "doomed")
    else:
        store.merge("feature", "main", "doomed")
    sys.exit("not killed")
"""


@pytest.mark.parametrize(
    ("operation", "point"),
    [
        ("commit", "after-commit-record"),
        ("merge", "after-commit-record"),
        ("commit", "before-ref-rename"),
    ],
)
def test_sigkill_before_the_ref_moves_leaves_main_at_its_old_commit(tmp_path: Path, operation: str, point: str) -> None:
    store = _fresh(tmp_path, "crash")
    store.write_object("main", "kept.txt", b"kept")
    old_head = store.commit("main", "before the crash").id
    store.create_branch("feature")
    store.write_object("feature" if operation == "merge" else "main", "new.txt", b"new")
    if operation == "merge":
        store.commit("feature", "feature work")
    records_before = _commit_records(store)

    result = _run_python(_CRASH_SCRIPT, str(tmp_path), operation, point)

    assert result.returncode == -signal.SIGKILL, result.stderr
    orphans = _commit_records(store) - records_before
    assert [store.get_commit(orphan).message for orphan in orphans] == ["doomed"]
    reopened = LocalVersionStore(tmp_path, "crash")
    assert reopened.resolve("main") == old_head
    assert reopened.list_objects("main") == ["kept.txt"]
    assert reopened.read_object("main", "kept.txt") == b"kept"
    _assert_every_ref_is_valid(reopened)
    retried = reopened.commit("main", "retry") if operation == "commit" else reopened.merge("feature", "main", "m")
    assert reopened.read_object(retried.id, "new.txt") == b"new"


def test_identical_frames_give_identical_object_ids(tmp_path: Path) -> None:
    store = _fresh(tmp_path)
    store.create_branch("other")
    frame = pl.DataFrame({"id": [1, 2, 3], "label": ["spam", "ham", None]})
    rebuilt = pl.from_dicts([{"id": 1, "label": "spam"}, {"id": 2, "label": "ham"}, {"id": 3, "label": None}])
    store.write_table("main", "train", frame)
    store.write_table("other", "train", rebuilt)
    store.commit("main", "frame")
    store.commit("other", "rebuilt frame")
    assert store.diff("main", "other") == []
    object_id = hashlib.sha256(frame_to_parquet(frame)).hexdigest()
    assert (tmp_path / "local-tests" / "objects" / object_id[:2] / object_id[2:]).is_file()


def test_parquet_bytes_are_identical_across_processes(tmp_path: Path) -> None:
    code = """
        import hashlib
        import polars as pl
        from factory.resources.versioning import frame_to_parquet

        frame = pl.DataFrame({"id": [1, 2, 3], "label": ["spam", "ham", None]})
        print(hashlib.sha256(frame_to_parquet(frame)).hexdigest())
    """
    result = _run_python(code)
    assert result.returncode == 0, result.stderr
    frame = pl.DataFrame({"id": [1, 2, 3], "label": ["spam", "ham", None]})
    assert result.stdout.strip() == hashlib.sha256(frame_to_parquet(frame)).hexdigest()


def test_rewriting_identical_content_is_nothing_to_commit(tmp_path: Path) -> None:
    store = _fresh(tmp_path)
    store.write_object("main", "a", b"same")
    head = store.commit("main", "first").id
    store.write_object("main", "a", b"same")
    with pytest.raises(NothingToCommit):
        store.commit("main", "same bytes again")
    assert store.resolve("main") == head
    with pytest.raises(NothingToCommit):
        store.commit("main", "and the no-op staging was cleared")


def test_branch_names_with_slashes_are_flat_encoded_files(tmp_path: Path) -> None:
    store = _fresh(tmp_path)
    store.create_branch("ticket_triage/stage/run-1")
    store.create_tag("ticket_triage/v3", "main")
    refs = tmp_path / "local-tests" / "refs"
    assert (refs / "branches" / "ticket_triage%2Fstage%2Frun-1").is_file()
    assert (refs / "tags" / "ticket_triage%2Fv3").is_file()


def test_commit_id_is_the_hash_of_its_record(tmp_path: Path) -> None:
    store = _fresh(tmp_path)
    store.write_object("main", "a", b"1")
    commit = store.commit("main", "one", {"run_id": "r"})
    record = tmp_path / "local-tests" / "commits" / commit.id[:2] / f"{commit.id[2:]}.json"
    assert hashlib.sha256(record.read_bytes()).hexdigest() == commit.id


def test_a_corrupted_object_is_detected_not_returned(tmp_path: Path) -> None:
    store = _fresh(tmp_path)
    store.write_object("main", "a", b"original")
    store.commit("main", "one")
    object_id = hashlib.sha256(b"original").hexdigest()
    (tmp_path / "local-tests" / "objects" / object_id[:2] / object_id[2:]).write_bytes(b"tampered")
    with pytest.raises(CorruptStore):
        store.read_object("main", "a")


def test_a_repository_must_exist_before_use(tmp_path: Path) -> None:
    store = LocalVersionStore(tmp_path, "not-created")
    with pytest.raises(RepositoryNotFound):
        store.resolve("main")
    with pytest.raises(RepositoryNotFound):
        store.list_branches()
    with pytest.raises(RepositoryNotFound):
        store.create_branch("stage")


def test_ensure_repository_is_idempotent(tmp_path: Path) -> None:
    store = _fresh(tmp_path)
    root = store.resolve("main")
    LocalVersionStore(tmp_path, "local-tests").ensure_repository()
    assert store.resolve("main") == root
    assert len(_commit_records(store)) == 1


@pytest.mark.parametrize("name", ["ab", "Upper", "under_score", "-lead", "a" * 64])
def test_repository_names_follow_the_lakefs_rule(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidName):
        LocalVersionStore(tmp_path, name)


def test_the_layout_format_is_recorded_and_a_newer_one_refused(tmp_path: Path) -> None:
    store = _fresh(tmp_path)
    marker = store.root / store.repository / "repository.json"
    assert json.loads(marker.read_bytes())["format"] == 1
    store.ensure_repository()  # reopening a current store changes nothing
    marker.write_bytes(json.dumps({"format": 99, "repository": store.repository}).encode())
    with pytest.raises(CorruptStore, match="layout format 99"):
        store.ensure_repository()


def test_an_older_layout_is_upgraded_forward_one_step_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _fresh(tmp_path)
    seen: list[int] = []
    monkeypatch.setattr(local, "_FORMAT", 3)
    monkeypatch.setattr(local, "_UPGRADES", {1: lambda d: seen.append(1), 2: lambda d: seen.append(2)})
    store.ensure_repository()
    assert seen == [1, 2]
    assert json.loads((store.root / store.repository / "repository.json").read_bytes())["format"] == 3
