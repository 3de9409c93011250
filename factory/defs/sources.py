"""Sources layer: one daily-partitioned ``raw_<source>`` asset per declared source, landed as text.

Every record a source delivers for the day lands in ``raw``, parsed into the schema's columns or, when it
cannot be parsed, as a reject with its reason and raw payload, so preparation can account for all of it.
Columns the factory derives for an omitted id or timestamp (a content hash, the arrival day) are filled here,
in one place for every source kind (`factory.core.ingestion.with_derived`).
A source's kind (``demo``, ``files``, ``postgres``, ``duckdb``, ``sqlite`` or a third party's) is resolved
through `factory.plugins`. File drops keep a ledger (``source_files``) of every file by content hash; the
sensor that asks for the partitions of new files is declared in `factory.defs.automation`.
"""

from datetime import date
from typing import Any

import dagster as dg
import polars as pl

from factory.core import gates
from factory.core.ingestion import with_derived
from factory.defs.metadata import check_result, markdown_list, markdown_table, table_metadata
from factory.defs.usecase import UseCase
from factory.plugins import data_source
from factory.resources.sources import SourceError
from factory.resources.warehouse import Warehouse
from factory.spec import SourceSpec

__all__ = ["build_sources"]


def _raw_asset(uc: UseCase, source: SourceSpec) -> dg.AssetsDefinition:
    key = uc.raw_key(source.name)
    kind = data_source(source.kind)

    @dg.asset(
        key=key,
        metadata=table_metadata(uc.spec, uc.raw_key(source.name).path[-1]),
        group_name=uc.group("sources"),
        partitions_def=uc.daily,
        kinds={"duckdb", kind.label},
        pool="warehouse",
        check_specs=[
            dg.AssetCheckSpec(
                "schema_readable",
                asset=key,
                blocking=True,
                description=(
                    "Every declared column arrived (the factory's own check on the raw batch; a failure blocks "
                    "the day)."
                ),
            ),
            dg.AssetCheckSpec(
                "batch_not_empty",
                asset=key,
                blocking=True,
                description=(
                    "The day delivered rows. A batch source passes on a day none of its files maps to: nothing "
                    "was expected. The factory's own check; a failure blocks the day."
                ),
            ),
        ],
        description=(
            f"Raw records for one day from source `{source.name}` ({source.kind}), exactly as delivered: every field "
            "as text, with `_file` and `_line` saying where it came from; a record that could not be parsed keeps its "
            "reason and raw payload. Holds personal data: nothing downstream of preparation reads it. "
            "Re-materializing a day replaces that day's rows of this source."
        ),
    )
    def raw(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        day = context.partition_key
        try:
            landed = kind.land(uc.spec, source, day)
        except SourceError as error:
            raise dg.Failure(str(error)) from None
        schema = uc.spec.schema
        delivered = schema.delivered_columns()
        frame = with_derived(landed.frame, delivered, schema.derived_columns(), date.fromisoformat(day))
        rows = warehouse.replace_source_partition(uc.name, "raw", day, source.name, frame)
        if landed.files:
            ledger = pl.DataFrame(landed.files, schema_overrides={"duplicate_of": pl.String})
            warehouse.replace_source_partition(uc.name, "source_files", day, source.name, ledger)
        for note in landed.notes:
            context.log.warning(note)
        missing = [c for c in delivered if c not in landed.frame.columns]
        readable = gates.GateResult(
            "schema_readable",
            not missing,
            "all declared columns present" if not missing else f"missing columns: {missing}",
            {"columns": len(delivered)},
        )
        rejects = int(frame["_reject_reason"].is_not_null().sum())
        metadata: dict[str, Any] = {
            "dagster/row_count": rows,
            "source": source.name,
            "unparseable_records": rejects,
            "nothing_expected": not landed.expected and not rows,
        }
        if landed.files:
            metadata["files"] = dg.MetadataValue.md(markdown_table(landed.files))
        if landed.notes:
            metadata["notes"] = markdown_list(landed.notes)
        return dg.MaterializeResult(
            metadata=metadata,
            check_results=[
                check_result(key, readable),
                check_result(key, gates.not_empty(rows, expected=landed.expected)),
            ],
        )

    return raw


def build_sources(uc: UseCase) -> list[dg.AssetsDefinition]:
    return [_raw_asset(uc, source) for source in uc.spec.sources]
