"""The contract every version-store backend passes: branches, staging, commits, diff, merge, tags, revert."""

from __future__ import annotations

from datetime import UTC

import polars as pl
import pytest

from factory.resources.versioning import (
    BranchExists,
    Change,
    InvalidName,
    MergeConflict,
    NothingToCommit,
    ObjectNotFound,
    ProtectedBranch,
    RefNotFound,
    TagExists,
    UncommittedChanges,
    VersionStore,
)

HEX_ID_LENGTH = 64


def _commit_files(store: VersionStore, branch: str, files: dict[str, bytes | None], message: str) -> str:
    """Stage writes (bytes) and deletions (None) on ``branch``, commit, return the commit id."""
    for path, data in files.items():
        if data is None:
            store.delete_object(branch, path)
        else:
            store.write_object(branch, path, data)
    return store.commit(branch, message).id


def _contents(store: VersionStore, ref: str) -> dict[str, bytes]:
    return {path: store.read_object(ref, path) for path in store.list_objects(ref)}


def test_new_repository_has_main_at_an_empty_root_commit(store: VersionStore) -> None:
    store.ensure_repository()  # idempotent: a second call changes nothing
    assert store.list_branches() == ["main"]
    root = store.get_commit("main")
    assert root.parents == ()
    assert store.list_objects("main") == []
    assert store.log("main") == [root]


def test_commit_records_message_metadata_parent_and_utc_time(store: VersionStore) -> None:
    head = store.create_branch("stage")
    store.write_object("stage", "data/a.txt", b"alpha")
    commit = store.commit("stage", "add a", {"run_id": "r-1", "partitions": "2024-01-01"})
    assert len(commit.id) == HEX_ID_LENGTH
    assert int(commit.id, 16) >= 0
    assert commit.parents == (head,)
    assert commit.message == "add a"
    assert dict(commit.metadata) == {"run_id": "r-1", "partitions": "2024-01-01"}
    assert commit.created_at.utcoffset() == UTC.utcoffset(None)
    assert store.get_commit("stage") == commit
    assert store.get_commit(commit.id) == commit
    assert store.resolve("stage") == commit.id
    assert store.read_object("stage", "data/a.txt") == b"alpha"


def test_commit_without_metadata_has_empty_metadata(store: VersionStore) -> None:
    store.write_object("main", "a", b"1")
    assert dict(store.commit("main", "no metadata").metadata) == {}


def test_metadata_values_must_be_strings(store: VersionStore) -> None:
    store.write_object("main", "a", b"1")
    with pytest.raises(TypeError):
        store.commit("main", "bad", {"rows": 3})  # type: ignore[dict-item]  # the error under test
    assert store.log("main")[0].parents == ()


def test_staged_data_is_invisible_until_committed(store: VersionStore) -> None:
    store.create_branch("stage")
    store.write_object("stage", "a.txt", b"staged")
    with pytest.raises(ObjectNotFound):
        store.read_object("stage", "a.txt")
    assert store.list_objects("stage") == []
    assert store.diff("main", "stage") == []
    store.commit("stage", "now visible")
    assert store.read_object("stage", "a.txt") == b"staged"
    with pytest.raises(ObjectNotFound):
        store.read_object("main", "a.txt")


def test_staged_overwrite_is_invisible_until_committed(store: VersionStore) -> None:
    _commit_files(store, "main", {"a.txt": b"v1"}, "v1")
    store.write_object("main", "a.txt", b"v2")
    assert store.read_object("main", "a.txt") == b"v1"
    store.commit("main", "v2")
    assert store.read_object("main", "a.txt") == b"v2"


def test_commit_clears_the_staging_area(store: VersionStore) -> None:
    _commit_files(store, "main", {"a.txt": b"v1"}, "v1")
    with pytest.raises(NothingToCommit):
        store.commit("main", "again")


def test_reads_at_branch_tag_and_commit_id(store: VersionStore) -> None:
    first = _commit_files(store, "main", {"a.txt": b"v1"}, "v1")
    store.create_tag("release-1", "main")
    second = _commit_files(store, "main", {"a.txt": b"v2", "b.txt": b"new"}, "v2")
    assert store.read_object("release-1", "a.txt") == b"v1"
    assert store.read_object(first, "a.txt") == b"v1"
    assert store.read_object("main", "a.txt") == b"v2"
    assert store.read_object(second, "b.txt") == b"new"
    assert store.list_objects("release-1") == ["a.txt"]
    assert store.resolve("release-1") == first


def test_tables_round_trip_as_parquet_under_tables(store: VersionStore) -> None:
    frame = pl.DataFrame({"id": [1, 2, 3], "text": ["a", None, "c"], "score": [0.5, 1.5, -2.0]})
    store.write_table("main", "ticket_triage/train", frame)
    store.commit("main", "train split")
    assert store.list_objects("main") == ["tables/ticket_triage/train.parquet"]
    assert store.read_table("main", "ticket_triage/train").equals(frame)


def test_empty_objects_round_trip(store: VersionStore) -> None:
    store.write_object("main", "empty.txt", b"")
    store.commit("main", "an empty file")
    assert store.read_object("main", "empty.txt") == b""
    assert store.list_objects("main") == ["empty.txt"]


def test_list_objects_filters_by_prefix(store: VersionStore) -> None:
    _commit_files(store, "main", {"tables/a.parquet": b"a", "cards/a.md": b"c", "tables/b.parquet": b"b"}, "m")
    assert store.list_objects("main", prefix="tables/") == ["tables/a.parquet", "tables/b.parquet"]
    assert store.list_objects("main", prefix="nothing/") == []


def test_delete_object_is_staged_then_committed(store: VersionStore) -> None:
    _commit_files(store, "main", {"a.txt": b"1", "b.txt": b"2"}, "two files")
    store.delete_object("main", "a.txt")
    assert store.list_objects("main") == ["a.txt", "b.txt"]
    store.commit("main", "remove a")
    assert store.list_objects("main") == ["b.txt"]
    with pytest.raises(ObjectNotFound):
        store.read_object("main", "a.txt")


def test_deleting_a_missing_object_raises(store: VersionStore) -> None:
    with pytest.raises(ObjectNotFound):
        store.delete_object("main", "never-written.txt")


def test_deleting_a_staged_new_object_unstages_it(store: VersionStore) -> None:
    store.write_object("main", "tmp.txt", b"x")
    store.delete_object("main", "tmp.txt")
    with pytest.raises(NothingToCommit):
        store.commit("main", "nothing left")


def test_diff_reports_added_removed_changed_sorted_by_path(store: VersionStore) -> None:
    left = _commit_files(store, "main", {"b": b"1", "c": b"1", "d": b"1"}, "left")
    right = _commit_files(store, "main", {"a": b"new", "c": None, "d": b"2"}, "right")
    assert store.diff(left, right) == [
        Change("a", "added"),
        Change("c", "removed"),
        Change("d", "changed"),
    ]
    assert store.diff(right, left) == [
        Change("a", "removed"),
        Change("c", "added"),
        Change("d", "changed"),
    ]
    assert store.diff("main", right) == []


def test_clean_three_way_merge_takes_changes_from_both_sides(store: VersionStore) -> None:
    _commit_files(store, "main", {"a": b"a0", "b": b"b0", "c": b"c0", "d": b"d0"}, "base")
    store.create_branch("feature")
    source = _commit_files(store, "feature", {"b": b"b1", "c": None, "e": b"e1"}, "feature work")
    dest = _commit_files(store, "main", {"a": b"a1", "f": b"f1"}, "main work")
    merged = store.merge("feature", "main", "merge feature", {"run_id": "r-9"})
    assert merged.parents == (dest, source)
    assert merged.message == "merge feature"
    assert dict(merged.metadata) == {"run_id": "r-9"}
    assert store.resolve("main") == merged.id
    assert _contents(store, "main") == {"a": b"a1", "b": b"b1", "d": b"d0", "e": b"e1", "f": b"f1"}
    assert store.resolve("feature") == source


def test_merge_never_fast_forwards(store: VersionStore) -> None:
    base = store.create_branch("feature")
    source = _commit_files(store, "feature", {"a": b"1"}, "feature only")
    merged = store.merge("feature", "main", "merge")
    assert merged.id != source
    assert merged.parents == (base, source)
    assert store.diff(source, "main") == []


def test_same_change_on_both_sides_is_not_a_conflict(store: VersionStore) -> None:
    store.create_branch("feature")
    _commit_files(store, "feature", {"a": b"same", "c": b"feature"}, "feature")
    _commit_files(store, "main", {"a": b"same", "b": b"main"}, "main")
    store.merge("feature", "main", "merge")
    assert _contents(store, "main") == {"a": b"same", "b": b"main", "c": b"feature"}


def test_conflicting_merge_raises_and_leaves_dest_untouched(store: VersionStore) -> None:
    _commit_files(store, "main", {"a": b"base", "b": b"base"}, "base")
    store.create_branch("feature")
    _commit_files(store, "feature", {"a": b"feature", "b": b"feature-b", "c": b"new"}, "feature")
    dest = _commit_files(store, "main", {"a": b"main", "b": None}, "main")
    before = _contents(store, "main")
    with pytest.raises(MergeConflict) as raised:
        store.merge("feature", "main", "merge")
    assert raised.value.paths == ("a", "b")
    assert store.resolve("main") == dest
    assert _contents(store, "main") == before
    assert store.log("main")[0].id == dest


def test_merge_without_changes_raises_nothing_to_commit(store: VersionStore) -> None:
    store.create_branch("feature")
    head = store.resolve("main")
    with pytest.raises(NothingToCommit):
        store.merge("feature", "main", "empty merge")
    assert store.resolve("main") == head


def test_merging_an_already_merged_branch_again_changes_nothing(store: VersionStore) -> None:
    store.create_branch("feature")
    _commit_files(store, "feature", {"a": b"1"}, "feature")
    merged = store.merge("feature", "main", "first")
    with pytest.raises(NothingToCommit):
        store.merge("feature", "main", "second")
    assert store.resolve("main") == merged.id


def test_repeated_merges_use_the_latest_merge_base(store: VersionStore) -> None:
    store.create_branch("feature")
    _commit_files(store, "feature", {"a": b"1"}, "feature 1")
    store.merge("feature", "main", "merge 1")
    _commit_files(store, "main", {"a": b"main-edit"}, "main edits a after the merge")
    _commit_files(store, "feature", {"b": b"2"}, "feature 2")
    store.merge("feature", "main", "merge 2")
    assert _contents(store, "main") == {"a": b"main-edit", "b": b"2"}


def test_merge_into_a_branch_with_staged_changes_is_refused(store: VersionStore) -> None:
    store.create_branch("feature")
    _commit_files(store, "feature", {"a": b"1"}, "feature")
    store.write_object("main", "staged", b"x")
    head = store.resolve("main")
    with pytest.raises(UncommittedChanges):
        store.merge("feature", "main", "merge")
    assert store.resolve("main") == head


def test_merge_from_a_tag_or_commit_id(store: VersionStore) -> None:
    store.create_branch("feature")
    first = _commit_files(store, "feature", {"a": b"1"}, "one")
    _commit_files(store, "feature", {"b": b"2"}, "two")
    merged = store.merge(first, "main", "merge first only")
    assert merged.parents[1] == first
    assert store.list_objects("main") == ["a"]


def test_tags_are_immutable_and_creation_is_idempotent(store: VersionStore) -> None:
    first = _commit_files(store, "main", {"a": b"1"}, "one")
    assert store.create_tag("v1", "main") == first
    second = _commit_files(store, "main", {"a": b"2"}, "two")
    assert store.create_tag("v1", first) == first
    with pytest.raises(TagExists):
        store.create_tag("v1", "main")
    assert store.resolve("v1") == first
    assert store.read_object("v1", "a") == b"1"
    assert store.create_tag("v2", second) == second
    assert store.list_tags() == {"v1": first, "v2": second}


def test_delete_tag(store: VersionStore) -> None:
    store.create_tag("old", "main")
    store.delete_tag("old")
    assert store.list_tags() == {}
    with pytest.raises(RefNotFound):
        store.resolve("old")
    with pytest.raises(RefNotFound):
        store.delete_tag("old")


def test_log_is_newest_first_following_first_parents(store: VersionStore) -> None:
    root = store.resolve("main")
    one = _commit_files(store, "main", {"a": b"1"}, "one")
    store.create_branch("feature")
    side = _commit_files(store, "feature", {"b": b"1"}, "side")
    two = _commit_files(store, "main", {"a": b"2"}, "two")
    merge = store.merge("feature", "main", "merge").id
    assert [commit.id for commit in store.log("main")] == [merge, two, one, root]
    assert [commit.id for commit in store.log("main", limit=2)] == [merge, two]
    assert store.log("main", limit=0) == []
    assert [commit.id for commit in store.log("feature")] == [side, one, root]
    assert [commit.message for commit in store.log(two)] == ["two", "one", "Repository created"]


def test_revert_undoes_a_commit_relative_to_its_first_parent(store: VersionStore) -> None:
    _commit_files(store, "main", {"a": b"1", "b": b"1", "keep": b"k"}, "base")
    bad = _commit_files(store, "main", {"a": b"2", "b": None, "c": b"new"}, "bad")
    later = _commit_files(store, "main", {"d": b"later"}, "later")
    reverted = store.revert("main", bad, "revert bad", {"reason": "gate failed"})
    assert reverted.parents == (later,)
    assert dict(reverted.metadata) == {"reason": "gate failed"}
    assert _contents(store, "main") == {"a": b"1", "b": b"1", "d": b"later", "keep": b"k"}
    with pytest.raises(NothingToCommit):
        store.revert("main", bad, "revert again")


def test_revert_of_a_merge_undoes_what_the_merge_brought_in(store: VersionStore) -> None:
    _commit_files(store, "main", {"a": b"1"}, "base")
    store.create_branch("feature")
    _commit_files(store, "feature", {"a": b"2", "b": b"new"}, "feature")
    merge = store.merge("feature", "main", "merge")
    store.revert("main", merge.id, "revert merge")
    assert _contents(store, "main") == {"a": b"1"}


def test_revert_conflicts_when_the_path_changed_since(store: VersionStore) -> None:
    bad = _commit_files(store, "main", {"a": b"bad"}, "bad")
    head = _commit_files(store, "main", {"a": b"fixed"}, "fixed by hand")
    with pytest.raises(MergeConflict) as raised:
        store.revert("main", bad, "revert")
    assert raised.value.paths == ("a",)
    assert store.resolve("main") == head


def test_delete_branch(store: VersionStore) -> None:
    store.create_branch("scratch")
    store.write_object("scratch", "a", b"staged")
    store.delete_branch("scratch")
    assert store.list_branches() == ["main"]
    with pytest.raises(RefNotFound):
        store.resolve("scratch")
    with pytest.raises(RefNotFound):
        store.delete_branch("scratch")
    store.create_branch("scratch")
    with pytest.raises(NothingToCommit):
        store.commit("scratch", "staged data of the deleted branch is gone")


def test_main_cannot_be_deleted(store: VersionStore) -> None:
    with pytest.raises(ProtectedBranch):
        store.delete_branch("main")
    assert store.list_branches() == ["main"]


def test_creating_an_existing_branch_raises(store: VersionStore) -> None:
    store.create_branch("stage")
    with pytest.raises(BranchExists):
        store.create_branch("stage")
    with pytest.raises(BranchExists):
        store.create_branch("main")


def test_branch_from_a_tag_or_commit_id(store: VersionStore) -> None:
    first = _commit_files(store, "main", {"a": b"1"}, "one")
    store.create_tag("v1", first)
    _commit_files(store, "main", {"a": b"2"}, "two")
    assert store.create_branch("from-tag", "v1") == first
    assert store.create_branch("from-id", first) == first
    assert store.read_object("from-tag", "a") == b"1"


@pytest.mark.parametrize("ref", ["nope", "a/b", "0" * HEX_ID_LENGTH])
def test_unknown_refs_raise_ref_not_found(store: VersionStore, ref: str) -> None:
    with pytest.raises(RefNotFound):
        store.resolve(ref)
    with pytest.raises(RefNotFound):
        store.get_commit(ref)
    with pytest.raises(RefNotFound):
        store.read_object(ref, "a")
    with pytest.raises(RefNotFound):
        store.list_objects(ref)
    with pytest.raises(RefNotFound):
        store.log(ref)
    with pytest.raises(RefNotFound):
        store.create_branch("new", ref)
    with pytest.raises(RefNotFound):
        store.create_tag("t", ref)
    with pytest.raises(RefNotFound):
        store.merge(ref, "main", "m")
    with pytest.raises(RefNotFound):
        store.diff("main", ref)


def test_abbreviated_commit_ids_do_not_resolve(store: VersionStore) -> None:
    commit = _commit_files(store, "main", {"a": b"1"}, "one")
    for ref in (commit[:7], commit[:12], commit[:63]):
        with pytest.raises(RefNotFound):
            store.resolve(ref)
    store.create_branch(commit[:7])  # a name that looks like a commit prefix is still a name
    assert store.resolve(commit[:7]) == commit


def test_operations_on_a_missing_branch_raise_ref_not_found(store: VersionStore) -> None:
    with pytest.raises(RefNotFound):
        store.write_object("missing", "a", b"1")
    with pytest.raises(RefNotFound):
        store.delete_object("missing", "a")
    with pytest.raises(RefNotFound):
        store.commit("missing", "m")
    with pytest.raises(RefNotFound):
        store.merge("main", "missing", "m")
    with pytest.raises(RefNotFound):
        store.revert("missing", "main", "m")


def test_commit_with_nothing_staged_raises(store: VersionStore) -> None:
    head = store.resolve("main")
    with pytest.raises(NothingToCommit):
        store.commit("main", "empty")
    assert store.resolve("main") == head


def test_names_with_slashes(store: VersionStore) -> None:
    stage = "ticket_triage/stage/run-0b1f"
    store.create_branch("ticket_triage")
    store.create_branch(stage)
    store.create_branch("other/stage/run-1")
    commit = _commit_files(store, stage, {"tables/ticket_triage/train.parquet": b"t"}, "stage")
    assert store.list_branches(prefix="ticket_triage/") == [stage]
    assert store.list_branches() == ["main", "other/stage/run-1", "ticket_triage", stage]
    store.merge(stage, "main", "publish")
    assert store.create_tag("ticket_triage/v3", "main") == store.resolve("main")
    assert store.list_tags(prefix="ticket_triage/") == {"ticket_triage/v3": store.resolve("main")}
    assert store.read_object("ticket_triage/v3", "tables/ticket_triage/train.parquet") == b"t"
    assert store.resolve(stage) == commit
    store.delete_branch(stage)
    assert store.list_branches(prefix="ticket_triage") == ["ticket_triage"]


@pytest.mark.parametrize("name", ["", "/a", "a/", "a//b", "../a", "a/../b", ".hidden", "-dash", "a b", "a:b"])
def test_invalid_branch_and_tag_names_are_rejected(store: VersionStore, name: str) -> None:
    with pytest.raises(InvalidName):
        store.create_branch(name)
    with pytest.raises(InvalidName):
        store.create_tag(name, "main")
    assert store.list_branches() == ["main"]
    assert store.list_tags() == {}
