"""Validation and versioning layers: write, audit, publish.

``dataset_candidate`` stages the labeled dataset as a commit on its own branch; blocking checks read that
commit; ``dataset`` merges it into ``main`` and tags ``<use_case>/v<N>`` only if the gates hold. Publishing
re-evaluates the same gates, so materializing ``dataset`` on its own cannot skip them.
"""

import dagster as dg
import polars as pl

from factory.codeversion import code_version
from factory.core import validation
from factory.core.dataset import DatasetLayout, assemble, datacard, frame_digest
from factory.core.monitoring import dataset_reference
from factory.core.safe_text import markdown_text
from factory.defs.lineage import latest_metadata, next_version_number, published_versions
from factory.defs.metadata import check_result, markdown_table
from factory.defs.usecase import UseCase
from factory.resources.label_store import failed_label_gates
from factory.resources.versioning import VersionStore
from factory.resources.versions import VersionStoreResource
from factory.resources.warehouse import Warehouse

__all__ = ["build_versioning", "dataset_rows"]


def _reference(store: VersionStore, uc: UseCase) -> pl.DataFrame | None:
    """The last published version's table: the reference the shift gates compare against."""
    versions = published_versions(store, uc)
    return store.read_table(versions[-1][2], uc.dataset_table) if versions else None


def _published_digest(store: VersionStore, uc: UseCase) -> tuple[str, str, str] | None:
    versions = published_versions(store, uc)
    if not versions:
        return None
    _, tag, commit = versions[-1]
    return tag, commit, store.get_commit(commit).metadata.get("digest", "")


def reference_stats(uc: UseCase, dataset: pl.DataFrame) -> bytes:
    """The reference statistics of a dataset version's train split, serialized: what the daily drift report
    compares with (`factory.core.monitoring.ReferenceStats`)."""
    spec = uc.spec
    stats = dataset_reference(
        dataset,
        text_columns=spec.text_columns,
        numeric=spec.numeric_features,
        categorical=spec.categorical_features,
    )
    return stats.to_json()


def _layout(uc: UseCase) -> DatasetLayout:
    schema = uc.spec.schema
    return DatasetLayout(schema.id, schema.timestamp, schema.group, uc.spec.text_columns, uc.spec.feature_columns)


def dataset_rows(uc: UseCase, rows: pl.DataFrame) -> pl.DataFrame:
    """The labeled rows of the ``dataset_rows`` query as a dataset version holds them: the canonical columns and
    each row's split."""
    splits = uc.spec.splits
    return assemble(rows, _layout(uc), splits.fractions(), splits.salt, splits.holdout_after)


def build_versioning(uc: UseCase) -> list[dg.AssetsDefinition]:
    candidate_key, dataset_key = uc.key("dataset_candidate"), uc.key("dataset")
    schema = uc.spec.schema
    config = validation.gate_config_from_spec(uc.spec)
    described = validation.gate_descriptions(config)

    def dataset_gates(frame: pl.DataFrame, reference: pl.DataFrame | None) -> list[validation.GateOutcome]:
        return validation.run_gates(frame, config, reference)

    @dg.asset(
        key=candidate_key,
        deps=[
            dg.AssetDep(uc.key("prepared"), partition_mapping=dg.AllPartitionMapping()),
            dg.AssetDep(uc.key("labels"), partition_mapping=dg.AllPartitionMapping()),
        ],
        group_name=uc.group("validation"),
        kinds={"polars", "parquet"},
        pool="warehouse",
        check_specs=[
            dg.AssetCheckSpec(
                name, asset=candidate_key, blocking=config.severity(name) == "error", description=described[name]
            )
            for name in validation.GATES
        ],
        description=(
            "The next dataset version, staged: every labeled, prepared example with its deterministic split, "
            "refused while any day's labels fail their blocking agreement gate, "
            "committed on branch `<use_case>/stage/<run_id>` of the version store with its data card and the "
            "reference statistics of its train split (`reference_stats.json`: bounded sketches the daily drift "
            "report compares with, so that it never re-reads the dataset). The blocking "
            "checks read that commit; nothing reaches `main` until they pass. If the content equals the published "
            "version, nothing is staged."
        ),
    )
    def dataset_candidate(
        context: dg.AssetExecutionContext, warehouse: Warehouse, versions: VersionStoreResource
    ) -> dg.MaterializeResult:
        blocked = failed_label_gates(warehouse, uc.name)
        if blocked.height:
            days = "; ".join(f"{r['partition_key']}: {r['summary']}" for r in blocked.head(5).iter_rows(named=True))
            raise dg.Failure(
                f"not staging: the labels of {blocked.height} day(s) fail the agreement gate ({days})",
                metadata={"failed_days": ", ".join(blocked.get_column("partition_key").to_list())},
            )
        rows = warehouse.query("dataset_rows", schema=uc.name, id_column=schema.id)
        if rows.is_empty():
            raise dg.Failure("no labeled, prepared rows yet: materialize the daily layers first")
        frame = dataset_rows(uc, rows)
        digest = frame_digest(frame, [schema.id])
        store = versions.open()
        published = _published_digest(store, uc)
        reference = _reference(store, uc)
        partitions = frame["source_partition"].unique().sort().to_list()
        if published is not None and published[2] == digest:
            tag, commit_id, _ = published
            branch, unchanged = "main", True
            staged = store.read_table(commit_id, uc.dataset_table)
            results = dataset_gates(staged, reference)
        else:
            lineage = {
                "dagster_run_id": context.run.run_id,
                "code_version": code_version(),
                "upstream_partitions": f"{partitions[0]}..{partitions[-1]} ({len(partitions)})",
                "digest": digest,
            }
            metadata = {**lineage, "use_case": uc.name, "rows": str(frame.height), "partitions": ",".join(partitions)}
            branch, tag, unchanged = uc.stage_branch(context.run.run_id), "", False
            store.create_branch(branch, "main")
            store.write_table(branch, uc.dataset_table, frame)
            table_commit = store.commit(branch, f"stage {uc.name} dataset ({frame.height} rows)", metadata).id
            # The gates read the staged commit, and their results go into the data card of the next commit.
            staged = store.read_table(table_commit, uc.dataset_table)
            results = dataset_gates(staged, reference)
            card = datacard(
                title=f"{uc.name} candidate",
                frame=staged,
                classes=uc.spec.labeling.classes,
                digest=digest,
                lineage=lineage,
                gates=results,
            )
            store.write_object(branch, uc.datacard_path, card.encode())
            store.write_object(branch, uc.reference_stats_path, reference_stats(uc, staged))
            commit_id = store.commit(
                branch, f"data card and reference statistics of {uc.name} dataset {digest[:12]}", metadata
            ).id
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": staged.height,
                "commit": commit_id,
                "branch": branch,
                "digest": digest,
                "unchanged": str(unchanged).lower(),
                "published_as": tag,
                "splits": dg.MetadataValue.md(
                    markdown_table(staged.group_by("split").len("rows").sort("split").to_dicts())
                ),
                "data_card": dg.MetadataValue.md(store.read_object(commit_id, uc.datacard_path).decode()),
            },
            check_results=[check_result(candidate_key, g, warn_only=g.severity == "warn") for g in results],
        )

    @dg.asset(
        key=dataset_key,
        deps=[candidate_key],
        group_name=uc.group("versioning"),
        kinds={"parquet"},
        description=(
            "The published dataset: the staged commit merged into `main` and tagged `<use_case>/v<N>`, only after "
            "its blocking checks passed. A published version never changes; re-running with unchanged content "
            "publishes nothing. Metadata carries the commit, digest and data card, and whether the version holds "
            "its reference statistics (`reference_stats.json`, staged with the data card)."
        ),
    )
    def dataset(context: dg.AssetExecutionContext, versions: VersionStoreResource) -> dg.MaterializeResult:
        staged = latest_metadata(context.instance, candidate_key)
        store = versions.open()
        commit_id = staged["commit"]
        if staged["unchanged"] == "true":
            tag = staged["published_as"]
            context.log.info(f"content unchanged: {tag} stays the published version")
            return _published_result(store, uc, tag, commit_id, published_now=False)
        frame = store.read_table(commit_id, uc.dataset_table)
        failed = validation.blocking(dataset_gates(frame, _reference(store, uc)))
        if failed:
            raise dg.Failure(
                f"not publishing {commit_id[:12]}: blocking gates failed",
                metadata={"failed": "; ".join(f"{g.name}: {g.summary}" for g in failed)},
            )
        branch = staged["branch"]
        if store.resolve(branch) != commit_id:
            raise dg.Failure(f"branch {branch} moved since staging; re-materialize {candidate_key.to_user_string()}")
        number = next_version_number(store, uc)
        tag = uc.version_tag(number)
        merged = store.merge(
            branch,
            "main",
            f"publish {tag}",
            {**store.get_commit(commit_id).metadata, "published_by_run": context.run.run_id, "version": tag},
        )
        store.create_tag(tag, merged.id)
        for stale in store.list_branches(prefix=uc.stage_prefix):
            store.delete_branch(stale)
        return _published_result(store, uc, tag, merged.id, published_now=True)

    return [dataset_candidate, dataset]


def _titled(card: str, version: str) -> str:
    """The data card as the published version shows it: titled by the version's tag (the card was written while
    staging, before the tag existed; the stored card is left as committed)."""
    first, newline, rest = card.partition("\n")
    if not first.startswith("# Data card:"):
        return card
    return f"# Data card: {markdown_text(version)}{newline}{rest}"


def _published_result(
    store: VersionStore, uc: UseCase, tag: str, commit_id: str, *, published_now: bool
) -> dg.MaterializeResult:
    commit = store.get_commit(commit_id)
    return dg.MaterializeResult(
        metadata={
            "version": tag,
            "commit": commit_id,
            "digest": commit.metadata.get("digest", ""),
            "published_now": str(published_now).lower(),
            "reference_statistics": "stored"
            if store.list_objects(commit_id, uc.reference_stats_path)
            else "absent (published before they were stored: the drift report computes them from the dataset)",
            "dagster/row_count": int(commit.metadata.get("rows", "0")),
            "data_card": dg.MetadataValue.md(_titled(store.read_object(commit_id, uc.datacard_path).decode(), tag)),
        }
    )
