"""Preparation layer: schema enforced, text normalized, PII scrubbed, duplicates recorded, bad rows quarantined.

One multi-asset writes the three destinations of a day together, so a day's rows reconcile by construction;
the checks then prove it from what was written to the warehouse, not from what the code meant to write. A day
without raw rows fails (its raw assets were not materialized) unless every source said it expected nothing
that day: then the day is prepared empty.
"""

from collections.abc import Iterator

import dagster as dg
import polars as pl

from factory.core import gates
from factory.core.ingestion import split_for_preparation
from factory.core.preparation import prepare_batch, residue
from factory.defs.metadata import check_result, markdown_table, preview, table_metadata
from factory.defs.usecase import UseCase
from factory.resources.pseudonyms import PseudonymKey
from factory.resources.tables import TableName
from factory.resources.warehouse import Warehouse

__all__ = ["build_preparation"]

_TYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "timestamp": pl.Datetime("us", "UTC"),
    "integer": pl.Int64(),
    "float": pl.Float64(),
}


def _nothing_expected(instance: dg.DagsterInstance, raw_keys: list[dg.AssetKey], day: str) -> bool:
    """Whether every raw asset of the use case was materialized for ``day`` saying its source expected nothing
    that day (a batch source none of whose files maps to it): an empty day to prepare, not a missing one."""
    for key in raw_keys:
        records = instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=key, asset_partitions=[day]), 1)
        materialization = records.records[0].asset_materialization if records.records else None
        flag = materialization.metadata.get("nothing_expected") if materialization is not None else None
        if not isinstance(flag, dg.BoolMetadataValue) or not flag.value:
            return False
    return True


def build_preparation(uc: UseCase) -> list[dg.AssetsDefinition]:
    prepared_key, quarantine_key, duplicates_key = (
        uc.key("prepared"),
        uc.key("quarantine"),
        uc.key("duplicates"),
    )
    schema = uc.spec.schema
    expected_types = {c.name: _TYPES[c.type] for c in schema.columns}
    required = [c.name for c in schema.columns if c.required]
    group = uc.group("preparation")

    @dg.multi_asset(
        name=uc.op_name("prepare"),
        partitions_def=uc.daily,
        pool="warehouse",
        specs=[
            dg.AssetSpec(
                prepared_key,
                metadata=table_metadata(uc.spec, "prepared"),
                deps=uc.raw_keys,
                group_name=group,
                kinds={"duckdb", "polars"},
                description=(
                    "Typed, normalized, PII-scrubbed tickets of one day, one row per distinct ticket. Text columns "
                    "carry typed placeholders (`<EMAIL>`, `<PHONE>`, `<CARD>`, ...) instead of personal data; "
                    "`content_hash` identifies the normalized content."
                ),
            ),
            dg.AssetSpec(
                quarantine_key,
                metadata=table_metadata(uc.spec, "quarantine"),
                deps=uc.raw_keys,
                group_name=group,
                kinds={"duckdb"},
                description=(
                    "Records of one day that failed parsing or the schema, each with a reason code, a readable detail, "
                    "the raw payload as received and where it came from (source, file, line). Holds personal data: it "
                    "stays in the preparation layer."
                ),
            ),
            dg.AssetSpec(
                duplicates_key,
                metadata=table_metadata(uc.spec, "duplicates"),
                deps=uc.raw_keys,
                group_name=group,
                kinds={"duckdb"},
                description=(
                    "Rows of one day that repeat content already kept (exact, on normalized content, or near, by "
                    "MinHash similarity), each pointing at the ticket kept, this day or any earlier day. With "
                    "pre-labeled data (a `column` annotation source) a duplicate keeps the label it carried, which "
                    "then counts for the ticket kept."
                ),
            ),
        ],
        check_specs=[
            dg.AssetCheckSpec(
                "rows_reconcile",
                asset=prepared_key,
                blocking=True,
                description=(
                    "Every raw line is in exactly one of prepared, quarantine and duplicates: no line lost or "
                    "counted twice (the factory's own count, factory.core.gates; a failure blocks the day)."
                ),
            ),
            dg.AssetCheckSpec(
                "schema_conforms",
                asset=prepared_key,
                blocking=True,
                description=(
                    "Every declared column with its declared type, no null in a required column (the factory's "
                    "own check, factory.core.gates; a failure blocks the day)."
                ),
            ),
            dg.AssetCheckSpec(
                "no_pii_residue",
                asset=prepared_key,
                blocking=True,
                description=(
                    "The PII detector finds zero e-mail addresses, phone, card, IBAN and social security numbers, IP "
                    "addresses or URL secrets left in the prepared text and categorical columns (the factory's own "
                    "regular-expression detector, factory.core.preparation, with `custom_pii`; a failure blocks the "
                    "day)."
                ),
            ),
        ],
    )
    def prepare(
        context: dg.AssetExecutionContext, warehouse: Warehouse, pseudonyms: PseudonymKey
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        day = context.partition_key
        raw = warehouse.read_partition(uc.name, "raw", day)
        if raw.is_empty() and not _nothing_expected(context.instance, uc.raw_keys, day):
            raise dg.Failure(f"no raw rows for {day}: materialize the {uc.name} raw assets for this day first")
        split = split_for_preparation(raw, schema.column_names(), schema.id)
        prior = warehouse.read_before(uc.name, "signatures", day)
        rules = uc.prepare_rules(day, pseudonyms.key())
        batch = prepare_batch(split.parseable, rules, prior.select(schema.id, "content_hash", "signature"))
        quarantine = pl.concat([batch.quarantine, split.rejected], how="diagonal_relaxed").sort("_line")
        outputs: tuple[tuple[TableName, pl.DataFrame], ...] = (
            ("prepared", batch.prepared),
            ("quarantine", quarantine),
            ("duplicates", batch.duplicates),
        )
        for table, frame in outputs:
            warehouse.replace_partition(uc.name, table, day, frame.join(split.provenance, on="_line", how="left"))
        warehouse.replace_partition(uc.name, "signatures", day, batch.signatures)

        stored = {t: warehouse.read_partition(uc.name, t, day) for t, _ in outputs}
        prepared = stored["prepared"]
        scanned = [*uc.spec.text_columns, *uc.spec.categorical_features]
        text = (
            prepared.select(pl.concat_str([pl.col(c).fill_null("") for c in scanned], separator="\n")).to_series()
            if scanned
            else pl.Series("text", [""] * prepared.height, dtype=pl.String)
        )
        text_residue = residue(text, uc.spec.custom_pii)
        reasons = (
            stored["quarantine"].group_by("reason").len("rows").sort("rows", descending=True).to_dicts()
            if stored["quarantine"].height
            else []
        )
        yield dg.MaterializeResult(
            asset_key=prepared_key,
            metadata={
                "dagster/row_count": prepared.height,
                "rows_in": raw.height,
                "keys_pseudonymized": batch.stats["keys_pseudonymized"],
                "pii_replaced": dg.MetadataValue.md(
                    markdown_table([{"type": k, "replaced": v} for k, v in sorted(batch.pii_counts.items())])
                ),
                "preview": preview(prepared, [schema.id, *uc.spec.feature_columns, *uc.spec.text_columns]),
            },
        )
        yield dg.MaterializeResult(
            asset_key=quarantine_key,
            metadata={
                "dagster/row_count": stored["quarantine"].height,
                "reasons": dg.MetadataValue.md(markdown_table(reasons)),
            },
        )
        yield dg.MaterializeResult(
            asset_key=duplicates_key,
            metadata={
                "dagster/row_count": stored["duplicates"].height,
                "by_kind": dg.MetadataValue.md(
                    markdown_table(stored["duplicates"].group_by("kind").len().sort("kind").to_dicts())
                    if stored["duplicates"].height
                    else "_(none)_"
                ),
            },
        )
        reconcile = gates.rows_reconcile(split.provenance["_line"], {t: f["_line"] for t, f in stored.items()})
        yield check_result(prepared_key, reconcile)
        yield check_result(prepared_key, gates.schema_conforms(prepared, expected_types, required))
        yield check_result(prepared_key, gates.no_pii_residue(text_residue, prepared[schema.id]))

    return [prepare]
