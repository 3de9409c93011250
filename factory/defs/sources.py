"""Sources layer: one daily-partitioned ``raw`` asset per use case, landed as strings in the warehouse."""

from datetime import date

import dagster as dg
import polars as pl

from factory.core import gates
from factory.defs.metadata import check_result
from factory.defs.usecase import UseCase
from factory.demo import generate_day
from factory.resources.warehouse import Warehouse

__all__ = ["build_sources"]


def build_sources(uc: UseCase) -> list[dg.AssetsDefinition]:
    key = uc.key("raw")
    expected = uc.spec.schema.column_names()
    source = uc.spec.demo_source

    @dg.asset(
        key=key,
        group_name=uc.group("sources"),
        partitions_def=uc.daily,
        kinds={"duckdb", "polars"},
        pool="warehouse",
        check_specs=[
            dg.AssetCheckSpec(
                "schema_readable", asset=key, blocking=True, description="Every declared column arrived."
            ),
            dg.AssetCheckSpec("batch_not_empty", asset=key, blocking=True, description="The day delivered rows."),
        ],
        description=(
            f"Raw tickets for one day from source `{source.name}`, exactly as delivered: every field kept as a "
            "string, plus `_line` (position in the delivery) and `source`. Holds personal data: nothing "
            "downstream of preparation may read it. Re-materializing a day replaces that day."
        ),
    )
    def raw(context: dg.AssetExecutionContext, warehouse: Warehouse) -> dg.MaterializeResult:
        batch = generate_day(date.fromisoformat(context.partition_key), uc.demo_config()).raw
        frame = batch.with_row_index("_line").with_columns(
            pl.col("_line").cast(pl.Int64), pl.lit(source.name).alias("source")
        )
        rows = warehouse.replace_partition(uc.name, "raw", context.partition_key, frame)
        missing = [c for c in expected if c not in frame.columns]
        readable = gates.GateResult(
            "schema_readable",
            not missing,
            "all declared columns present" if not missing else f"missing columns: {missing}",
            {"columns": len(frame.columns)},
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": rows,
                "source": source.name,
                "columns": dg.MetadataValue.md(", ".join(f"`{c}`" for c in frame.columns)),
            },
            check_results=[check_result(key, readable), check_result(key, gates.not_empty(rows))],
        )

    return [raw]
