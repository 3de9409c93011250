"""Metadata a person reads in the Dagster UI: markdown tables, PII-free previews, check results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import dagster as dg
import polars as pl

from factory.core.gates import GateResult
from factory.core.safe_text import markdown_text
from factory.resources.tables import Table, tables_for
from factory.spec import UseCaseSpec

__all__ = ["check_result", "markdown_list", "markdown_table", "mlflow_links", "preview", "table_metadata"]


def _cell(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else markdown_text(value)


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None) -> str:
    """A markdown table of ``rows``; every header and cell escaped (`markdown_text`), floats to 4 decimals."""
    if not rows:
        return "_(none)_"
    names = list(columns or rows[0].keys())
    lines = ["| " + " | ".join(markdown_text(n) for n in names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(_cell(row.get(n, "")) for n in names) + " |" for row in rows]
    return "\n".join(lines)


def markdown_list(items: Sequence[object]) -> dg.MetadataValue:
    """A markdown bullet list of ``items`` (notes naming files, sources, annotators), each escaped."""
    return dg.MetadataValue.md("\n".join(f"- {markdown_text(item)}" for item in items))


def preview(frame: pl.DataFrame, columns: Sequence[str], rows: int = 5, width: int = 120) -> dg.MetadataValue:
    """A markdown preview of already-scrubbed columns, with long text cut to ``width`` characters."""
    if frame.is_empty():
        return dg.MetadataValue.md("_(no rows)_")
    head = frame.select(columns).head(rows)
    shown = head.with_columns(
        pl.col(c).cast(pl.String).str.slice(0, width) for c in columns if head.schema[c] == pl.String
    )
    return dg.MetadataValue.md(markdown_table(shown.to_dicts()))


def check_result(asset_key: dg.AssetKey, gate: GateResult, *, warn_only: bool = False) -> dg.AssetCheckResult:
    metadata: dict[str, Any] = {"summary": gate.summary}
    for key, value in gate.figures.items():
        metadata[key] = value
    if gate.table:
        metadata["details"] = dg.MetadataValue.md(markdown_table(gate.table))
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=gate.name,
        passed=gate.passed,
        severity=dg.AssetCheckSeverity.WARN if warn_only else dg.AssetCheckSeverity.ERROR,
        description=gate.summary,
        metadata=metadata,
    )


def _owned_by(table: Table, asset: str) -> bool:
    return table.owner == asset or (table.owner == "raw_<source>" and asset.startswith("raw_"))


def table_metadata(spec: UseCaseSpec, asset: str) -> dict[str, Any]:
    """Definition metadata from the table registry: the asset's warehouse table with its columns and types,
    and the side tables internal to it, so the catalog shows where every row lives."""
    owned = [t for t in tables_for(spec).values() if _owned_by(t, asset)]
    metadata: dict[str, Any] = {}
    for table in owned:
        if table.side:
            continue
        metadata["dagster/table_name"] = f"warehouse.{spec.name}.{table.name}"
        metadata["dagster/column_schema"] = dg.TableSchema(
            columns=[dg.TableColumn(name, str(dtype)) for name, dtype in table.columns.items()]
        )
        metadata["key"] = ", ".join(table.key)
    side = [{"table": f"{spec.name}.{t.name}", "holds": t.description} for t in owned if t.side]
    if side:
        metadata["side_tables"] = dg.MetadataValue.md(markdown_table(side))
    return metadata


def mlflow_links(tracking_uri: str, model: str, version: str | None, run_id: str | None) -> dict[str, dg.MetadataValue]:
    """Where to see a model version and its run in MLflow: links into the tracking server's UI when the
    tracking URI is one (``http(s)://``); otherwise the command that serves the local store, as text (a local
    database path is no link a browser can open)."""
    links: dict[str, dg.MetadataValue] = {}
    if tracking_uri.startswith(("http://", "https://")):
        base = tracking_uri.rstrip("/")
        if run_id:
            links["mlflow_run"] = dg.MetadataValue.url(f"{base}/#/runs/{quote(run_id, safe='')}")
        if version:
            page = f"{base}/#/models/{quote(model, safe='')}/versions/{quote(version, safe='')}"
            links["mlflow_model_version"] = dg.MetadataValue.url(page)
        return links
    links["mlflow"] = dg.MetadataValue.text(
        f"model {model} version {version or '-'}, run {run_id or '-'}: browse them with "
        f"`mlflow ui --backend-store-uri {tracking_uri}`"
    )
    return links
