"""Every warehouse table, declared once: name, Polars schema, primary key, owning asset, description.

The warehouse creates tables from these declarations, refuses to write a table that is not declared or a
frame whose columns differ from its declaration, and reads a missing table as a typed empty frame. A use
case's tables live in the DuckDB schema named after it; some of their columns come from its spec (the id
column, the declared input columns), so the registry is a function of the spec: ``tables_for(spec)``.

Most tables are an asset's main table and carry the asset's name. Side tables (``side=True``) are internal
to their owning asset: written in the same step, read by it or by later steps of the same use case, and
not an asset of their own in the UI.

The process-wide catalog (``declare_use_case``, ``declared_table``) maps a DuckDB schema name to its use
case's registry: ``build_definitions`` declares every use case it builds; a use case not declared in the
process is looked up among the spec files of ``FACTORY_USECASES``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

import polars as pl

from factory.core.health import INVENTORY_SCHEMA
from factory.core.labeling import CONFLICTS_SCHEMA, REJECTS_SCHEMA
from factory.paths import usecases_dir
from factory.spec import SpecError, UseCaseSpec, load_specs

__all__ = [
    "PARTITION_KEY",
    "Table",
    "TableName",
    "declare_use_case",
    "declared_table",
    "declared_use_cases",
    "tables_for",
]

TableName = Literal[
    "raw",
    "source_files",
    "prepared",
    "quarantine",
    "duplicates",
    "signatures",
    "annotations",
    "gold",
    "annotation_rejects",
    "annotation_sources",
    "label_conflicts",
    "annotator_report",
    "labels",
    "label_quality",
    "review_queue",
    "label_issues",
    "predictions",
    "feedback",
    "feedback_rejects",
    "feedback_files",
    "drift_report",
    "retrain_decisions",
    "factory_health",
    "data_inventory",
]
"""Every table the registry declares, by name. The warehouse's methods take a `TableName`, so the type checker
rejects a table the registry does not know; `tables_for` declares exactly these (a test holds the two together)."""

PARTITION_KEY = "partition_key"
"""The column every partitioned table carries: the day (ISO date) its rows belong to."""

_SPEC_TYPES: dict[str, pl.DataType] = {
    "string": pl.String(),
    "timestamp": pl.Datetime("us", "UTC"),
    "integer": pl.Int64(),
    "float": pl.Float64(),
}
_S, _I, _F, _B = pl.String(), pl.Int64(), pl.Float64(), pl.Boolean()
_TS = pl.Datetime("us", "UTC")


@dataclass(frozen=True)
class Table:
    """One warehouse table: its columns (``partition_key``, the day, last), key and owning asset.

    ``key`` is the primary key the factory's writes keep unique. DuckDB does not enforce it (writes replace whole
    partitions, so keys stay unique by construction); ``test_end_to_end`` checks every key on a demo run."""

    name: TableName
    owner: str
    description: str
    columns: Mapping[str, pl.DataType]
    key: tuple[str, ...]
    side: bool = False

    def __post_init__(self) -> None:
        unknown = [k for k in self.key if k not in self.columns]
        if list(self.columns)[-1:] != [PARTITION_KEY]:
            raise ValueError(f"table {self.name}: {PARTITION_KEY} must be its last column")
        if unknown:
            raise ValueError(f"table {self.name}: key columns {unknown} are not among its columns")

    @property
    def schema(self) -> pl.Schema:
        """The Polars schema of the table's rows, as the warehouse stores and returns them."""
        return pl.Schema(dict(self.columns))

    @property
    def rows_schema(self) -> pl.Schema:
        """The schema of the frames an asset writes: every column but ``partition_key``, which the warehouse stamps."""
        return pl.Schema({n: t for n, t in self.columns.items() if n != PARTITION_KEY})

    def empty(self) -> pl.DataFrame:
        """A typed frame with no rows."""
        return pl.DataFrame(schema=self.schema)


@dataclass
class _Columns:
    """A small builder: ``partition_key`` is appended last, as the warehouse stamps it."""

    items: dict[str, pl.DataType] = field(default_factory=dict)

    def add(self, **columns: pl.DataType) -> _Columns:
        self.items.update(columns)
        return self

    def named(self, name: str, dtype: pl.DataType) -> _Columns:
        self.items[name] = dtype
        return self

    def done(self) -> Mapping[str, pl.DataType]:
        return MappingProxyType({**self.items, PARTITION_KEY: _S})


def tables_for(spec: UseCaseSpec) -> dict[TableName, Table]:
    """The registry of one use case's tables, by name."""
    schema = spec.schema
    id_col = schema.id
    id_type = _SPEC_TYPES[next(c.type for c in schema.columns if c.name == id_col)]
    typed = {c.name: _SPEC_TYPES[c.type] for c in schema.columns}
    truncated = {f"{c.name}_truncated": _B for c in schema.columns if c.max_length is not None}
    provenance = {"_line": _I, "source": _S, "source_file": _S, "source_line": _I}
    raw_cols = _Columns({c.name: _S for c in schema.columns}).add(
        _file=_S, _line=_I, _reject_reason=_S, _reject_detail=_S, _payload=_S, source=_S
    )
    tables = [
        Table(
            "raw",
            "raw_<source>",
            "Every record each source delivered, each declared column as text; parse failures keep reason and payload.",
            raw_cols.done(),
            ("source", "_file", "_line", PARTITION_KEY),
        ),
        Table(
            "source_files",
            "raw_<source>",
            "Ledger of the files a file drop delivered, by content hash: the drop sensor's memory of what it saw.",
            _Columns().add(file=_S, sha256=_S, size=_I, rows=_I, rejects=_I, duplicate_of=_S, source=_S).done(),
            ("source", "file", PARTITION_KEY),
            side=True,
        ),
        Table(
            "prepared",
            "prepared",
            "Clean, typed, PII-redacted rows: the only table downstream layers read input rows from.",
            _Columns(dict(typed)).add(**truncated, content_hash=_S, **provenance).done(),
            (id_col, PARTITION_KEY),
        ),
        Table(
            "quarantine",
            "quarantine",
            "Rows preparation refused, with a reason code, detail and the raw payload.",
            _Columns()
            .add(_line=_I)
            .named(id_col, _S)
            .add(reason=_S, detail=_S, payload=_S)
            .add(source=_S, source_file=_S, source_line=_I)
            .done(),
            ("source", "source_file", "_line", PARTITION_KEY),
        ),
        Table(
            "duplicates",
            "duplicates",
            "Exact and near duplicates removed by preparation, each pointing to the row kept, with the label it "
            "carried when the data is pre-labeled.",
            _Columns()
            .add(_line=_I)
            .named(id_col, id_type)
            .named("duplicate_of", id_type)
            .add(kind=_S, similarity=_F, source=_S, source_file=_S, source_line=_I)
            .add(**dict.fromkeys(spec.label_columns, _S))
            .done(),
            ("source", "source_file", "_line", PARTITION_KEY),
        ),
        Table(
            "signatures",
            "prepared",
            "MinHash signature of every prepared row: the near-duplicate index later days are compared against.",
            _Columns().named(id_col, id_type).add(content_hash=_S, signature=pl.List(pl.UInt32())).done(),
            (id_col, PARTITION_KEY),
            side=True,
        ),
        Table(
            "annotations",
            "annotations",
            "Every annotation of the day's items: people, imported files and production corrections.",
            _Columns()
            .add(item_id=_S, annotator=_S, label=_S, created_at=_TS, provenance=_S, weight=_F, origin=_S)
            .done(),
            ("item_id", "annotator", "origin", "created_at", PARTITION_KEY),
        ),
        Table(
            "gold",
            "annotations",
            "Gold labels of the day's items: what annotator accuracy is measured against.",
            _Columns().add(item_id=_S, label=_S).done(),
            ("item_id", PARTITION_KEY),
            side=True,
        ),
        Table(
            "annotation_rejects",
            "annotations",
            "Annotations refused on import (file, position, reason, record), filed under the day they name.",
            _Columns().add(**REJECTS_SCHEMA).done(),
            ("file", "position", PARTITION_KEY),
            side=True,
        ),
        Table(
            "annotation_sources",
            "annotations",
            "Ledger of where the day's annotations came from (demo crowd, inbox files by hash, feedback).",
            _Columns().add(kind=_S, name=_S, sha256=_S, records=_I, annotations=_I, rejects=_I).done(),
            ("kind", "name", PARTITION_KEY),
            side=True,
        ),
        Table(
            "label_conflicts",
            "annotations",
            "Items whose labels given with the data disagree (a removed duplicate labeled differently from the row "
            "kept): the labels, their counts and the rows behind them, no text.",
            _Columns().add(**CONFLICTS_SCHEMA).done(),
            ("item_id", "annotator", PARTITION_KEY),
            side=True,
        ),
        Table(
            "annotator_report",
            "annotator_report",
            "One row per annotator and day: accuracy against gold and consensus, agreement, spammer flag.",
            _Columns()
            .add(
                annotator=_S,
                annotations=_I,
                n_gold=_I,
                gold_accuracy=_F,
                n_consensus=_I,
                consensus_accuracy=_F,
                consensus_kappa=_F,
                spammer_score=_F,
                n_pairs=_I,
                mean_pair_kappa=_F,
                spammer=_B,
            )
            .done(),
            ("annotator", PARTITION_KEY),
        ),
        Table(
            "labels",
            "labels",
            "One label per item and day, with its confidence, agreement and how it was decided.",
            _Columns()
            .add(item_id=_S, label=_S, confidence=_F, n_annotations=_I, agreement=_F, source=_S, method=_S)
            .done(),
            ("item_id", PARTITION_KEY),
        ),
        Table(
            "label_quality",
            "labels",
            "The day's agreement figures and gate outcome: what the dataset gate reads.",
            _Columns()
            .add(
                method=_S,
                labels=_I,
                annotations=_I,
                krippendorff_alpha_trusted=_F,
                krippendorff_alpha=_F,
                fleiss_kappa=_F,
                spammers=_S,
                agreement_passed=_B,
                summary=_S,
            )
            .done(),
            (PARTITION_KEY,),
            side=True,
        ),
        Table(
            "review_queue",
            "review_queue",
            "Items chosen for a second look (uncertain, suspected label issues, rare classes), by priority.",
            _Columns()
            .add(
                item_id=_S,
                label=_S,
                confidence=_F,
                model_label=_S,
                agreement=_F,
                is_issue=_B,
                label_quality=_F,
                rarer_class=_S,
                rarer_class_count=_I,
                score=_F,
                selected_for=_S,
                reasons=_S,
                priority=_I,
            )
            .done(),
            ("item_id", PARTITION_KEY),
        ),
        Table(
            "label_issues",
            "review_queue",
            "Labels that cross-validated predictions suspect, with the suggested label.",
            _Columns()
            .add(item_id=_S, label=_S, suggested_label=_S, confidence=_F, label_quality=_F, is_issue=_B)
            .done(),
            ("item_id", PARTITION_KEY),
            side=True,
        ),
        Table(
            "predictions",
            "predictions",
            "The champion model's prediction for every prepared row of the day.",
            _Columns().named(id_col, id_type).add(predicted_label=_S, confidence=_F, model_version=_S).done(),
            (id_col, PARTITION_KEY),
        ),
        Table(
            "feedback",
            "feedback",
            "Production corrections: the label a reviewer gave an item, when, who, and from which feedback source "
            "(the prediction it corrects, when there was one).",
            _Columns()
            .named(id_col, id_type)
            .add(predicted_label=_S, corrected_label=_S, corrected_at=_TS, reviewer=_S, source=_S)
            .done(),
            (id_col, PARTITION_KEY),
        ),
        Table(
            "feedback_rejects",
            "feedback",
            "Production corrections refused (file, position, reason, record), filed under the day they name.",
            _Columns().add(**REJECTS_SCHEMA).done(),
            ("file", "position", PARTITION_KEY),
            side=True,
        ),
        Table(
            "feedback_files",
            "feedback",
            "Ledger of the feedback files read, by content hash, so each file is read once.",
            _Columns()
            .add(source=_S, file=_S, sha256=_S, records=_I, corrections=_I, rejects=_I, duplicate_of=_S)
            .done(),
            ("source", "file", PARTITION_KEY),
            side=True,
        ),
        Table(
            "drift_report",
            "drift_report",
            "The day's drift against the reference statistics of the published dataset: the headline score, each "
            "component with its threshold and verdict, the features that moved most, the champion's performance "
            "estimated without labels (CBPE) next to its reference and the realized performance from feedback.",
            _Columns()
            .add(
                score=_F,
                threshold=_F,
                components=_S,
                top_new_terms=_S,
                rows=_I,
                reference_version=_S,
                created_at=_TS,
                drifted=_B,
                verdicts=_S,
                top_features=_S,
                champion_version=_S,
                reference_macro_f1=_F,
                reference_accuracy=_F,
                estimated_macro_f1=_F,
                estimated_accuracy=_F,
                realized_macro_f1=_F,
                realized_accuracy=_F,
                feedback_rows=_I,
                estimated_macro_f1_se=_F,
                estimated_accuracy_se=_F,
                realized_macro_f1_se=_F,
                realized_accuracy_se=_F,
            )
            .done(),
            (PARTITION_KEY, "created_at"),
        ),
        Table(
            "retrain_decisions",
            "drift_report",
            "Every decision of the drift sensor's retrain policy (fire or skip) with its reason and the figures it "
            "weighed, filed under the drift report's day it read.",
            _Columns()
            .add(
                decided_at=_TS,
                fire=_B,
                reason=_S,
                score=_F,
                expected_benefit=_F,
                retrain_cost=_F,
                new_labeled_rows=_I,
                run_key=_S,
            )
            .done(),
            (PARTITION_KEY, "decided_at"),
            side=True,
        ),
        Table(
            "factory_health",
            "factory_health",
            "One row per KPI, layer and day: today's value as judged and as shown, its verdict against the bounds of "
            "the `health` spec section, the bounds, its daily values over the window (JSON, oldest first) and their "
            "sparkline, and a note on what is behind it (the gates that failed, the retrain reasons).",
            _Columns()
            .add(
                layer=_S,
                kpi=_S,
                value=_F,
                shown=_S,
                verdict=_S,
                bounds=_S,
                trend=_S,
                trend_values=_S,
                note=_S,
                position=_I,
            )
            .done(),
            ("layer", "kpi", PARTITION_KEY),
        ),
        Table(
            "data_inventory",
            "data_inventory",
            "One row per source and day: its volume, freshness, schema conformance, label coverage, PII and duplicate "
            "shares over every day up to that day, and its readiness verdict with the reason and a labeling priority.",
            _Columns().add(**INVENTORY_SCHEMA).done(),
            ("source", PARTITION_KEY),
        ),
    ]
    return {t.name: t for t in tables}


# --- the process-wide catalog ------------------------------------------------------------------------------------

_DECLARED: dict[str, UseCaseSpec] = {}
_LOCK = threading.Lock()


def declare_use_case(spec: UseCaseSpec) -> None:
    """Make ``spec``'s tables known to every warehouse in this process (its schema is the use case's name)."""
    with _LOCK:
        _DECLARED[spec.name] = spec


def declared_use_cases() -> dict[str, UseCaseSpec]:
    """Every use case this process knows: the declared ones, then the spec files of ``FACTORY_USECASES``."""
    with _LOCK:
        known = dict(_DECLARED)
    try:
        on_disk = load_specs(usecases_dir())
    except SpecError:
        on_disk = []
    return {**{s.name: s for s in on_disk}, **known}


def declared_table(schema: str, name: str) -> Table:
    """The declaration of table ``name`` in use case ``schema``; ``ValueError`` if there is none."""
    with _LOCK:
        spec = _DECLARED.get(schema)
    if spec is None:
        spec = declared_use_cases().get(schema)
    if spec is None:
        raise ValueError(f"no use case named {schema!r} is declared: its tables are unknown to the warehouse")
    tables = tables_for(spec)
    if name not in tables:
        raise ValueError(f"table {schema}.{name} is not in the table registry (factory/resources/tables.py)")
    return tables[name]
