"""Gate thresholds (`GateConfig`, built from the use-case spec) and the reference statistics of a version."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from factory.core.preparation import MinHashConfig
from factory.spec import UseCaseSpec

from ._result import Severity

__all__ = [
    "SPLIT_NAMES",
    "Binned",
    "GateConfig",
    "ReferenceStats",
    "gate_config_from_spec",
    "reference_stats",
]

SPLIT_NAMES: tuple[str, ...] = ("train", "validation", "test")

# Shift against the last published version is news, not necessarily a defect: a growing dataset may move.
_DEFAULT_SEVERITIES: dict[str, Severity] = {
    "label_mix_matches_reference": "warn",
    "features_match_reference": "warn",
}
_LENGTH_BINS = 10
# Spec column types as the pandas dtype names Great Expectations sees after `polars.DataFrame.to_pandas`.
_PANDAS_TYPES = {"string": "str", "integer": "int64", "float": "float64", "timestamp": "datetime64"}


@dataclass(frozen=True)
class GateConfig:
    """What the dataset gates check and their thresholds; `gate_config_from_spec` builds it from a spec.

    Columns: ``column_types`` maps a column to the pandas dtype name it must have once converted (``str``,
    ``int64``, ``float64``; the id, group, label, split and text columns default to ``str``, the confidence
    column to ``float64``). ``id_column`` must be unique and complete; ``label_column``, ``split_column`` and
    ``group_column`` complete; ``required_text_columns`` complete; every text column within length
    bounds. ``content_hash_column`` and ``signature_column`` are used when the frame has them (the prepared
    layer computes both); otherwise they are computed from the text columns, which are taken as already
    normalized when ``texts_normalized`` (the prepared layer normalizes them).
    """

    id_column: str
    classes: tuple[str, ...]
    label_column: str = "label"
    split_column: str = "split"
    group_column: str | None = None
    text_columns: tuple[str, ...] = ()
    required_text_columns: tuple[str, ...] = ()
    feature_columns: tuple[str, ...] = ()
    confidence_column: str | None = "label_confidence"
    column_types: dict[str, str] = field(default_factory=dict)
    content_hash_column: str = "content_hash"
    signature_column: str = "signature"
    texts_normalized: bool = True
    # size and balance
    min_rows: int = 500
    min_class_share: float = 0.002
    min_class_examples: int = 10
    split_fractions: dict[str, float] = field(default_factory=lambda: {"train": 0.8, "validation": 0.1, "test": 0.1})
    split_tolerance: float = 0.05
    # text lengths: [min, max] per column; with a reference, the bounds also follow its length quantiles
    text_min_length: int = 1
    text_max_length: dict[str, int] = field(default_factory=dict)
    length_quantiles: tuple[float, float] = (0.001, 0.999)
    length_slack: float = 2.0
    length_mostly: float = 0.999
    # leakage and shift
    near_duplicates: MinHashConfig = field(default_factory=MinHashConfig)
    max_shift_psi: float = 0.2
    # label quality
    confidence_floor: float = 0.6
    max_low_confidence_share: float = 0.2
    # reporting
    sample_rows: int = 20
    severities: dict[str, Severity] = field(default_factory=lambda: dict(_DEFAULT_SEVERITIES))

    def __post_init__(self) -> None:
        problems = []
        if len(self.classes) < 2:
            problems.append("classes needs at least two labels")
        if not 0 <= self.min_class_share < 1 or self.min_class_examples < 0 or self.min_rows < 0:
            problems.append("min_rows, min_class_examples and min_class_share must be non-negative (share < 1)")
        if not 0 <= self.split_tolerance < 1:
            problems.append(f"split_tolerance must be in [0, 1), got {self.split_tolerance}")
        unknown = sorted(set(self.split_fractions) - set(SPLIT_NAMES))
        if unknown:
            problems.append(f"split_fractions names unknown splits {unknown}; splits are {list(SPLIT_NAMES)}")
        low, high = self.length_quantiles
        if not 0 <= low < high <= 1 or self.length_slack < 1 or not 0 < self.length_mostly <= 1:
            problems.append("length_quantiles must be 0 <= low < high <= 1, length_slack >= 1, length_mostly in (0, 1]")
        if not 0 <= self.confidence_floor <= 1 or not 0 <= self.max_low_confidence_share <= 1:
            problems.append("confidence_floor and max_low_confidence_share must be in [0, 1]")
        if self.sample_rows < 1 or self.max_shift_psi <= 0:
            problems.append("sample_rows must be positive and max_shift_psi above 0")
        bad = {name: value for name, value in self.severities.items() if value not in ("error", "warn")}
        if bad:
            problems.append(f"severities must be 'error' or 'warn', got {bad}")
        if problems:
            raise ValueError("invalid gate config: " + "; ".join(problems))

    def severity(self, gate: str) -> Severity:
        return self.severities.get(gate, "error")


def gate_config_from_spec(spec: UseCaseSpec, **overrides: Any) -> GateConfig:
    """The gate config of a use case: what the spec declares today, defaults for the rest.

    Read from the spec: id, group, text and feature columns, the text columns' ``required`` and
    ``max_length``, the label set, split fractions, ``gates.min_rows``, ``gates.min_class_share``,
    ``gates.min_class_examples``, ``gates.confidence_floor``, ``gates.max_low_confidence_share``,
    ``gates.severities`` (over the defaults), ``near_duplicates``, ``drift.threshold`` (as the largest PSI
    against the last version) and the declared types of the id and group columns.
    ``overrides`` replace any field (e.g. ``split_tolerance=0.02``).
    """
    schema = spec.schema
    by_name = {column.name: column for column in schema.columns}
    near = spec.near_duplicates
    values: dict[str, Any] = {
        "id_column": schema.id,
        "classes": tuple(spec.labeling.classes),
        "group_column": schema.group,
        "text_columns": tuple(spec.text_columns),
        "required_text_columns": tuple(c for c in spec.text_columns if by_name[c].required),
        "feature_columns": tuple(spec.feature_columns),
        "min_rows": spec.gates.min_rows,
        "min_class_share": spec.gates.min_class_share,
        "min_class_examples": spec.gates.min_class_examples,
        "confidence_floor": spec.gates.confidence_floor,
        "max_low_confidence_share": spec.gates.max_low_confidence_share,
        "severities": {**_DEFAULT_SEVERITIES, **spec.gates.severities},
        "split_fractions": spec.splits.fractions(),
        "text_max_length": {c: m for c in spec.text_columns if (m := by_name[c].max_length) is not None},
        "near_duplicates": MinHashConfig(threshold=near.threshold, num_perm=near.num_perm, bands=near.bands),
        "max_shift_psi": spec.drift.threshold,
        "column_types": {c: _PANDAS_TYPES[by_name[c].type] for c in (schema.id, schema.group)},
    }
    return GateConfig(**{**values, **overrides})


@dataclass(frozen=True)
class Binned:
    """Counts of a numeric quantity in bins: bin ``i`` holds values in ``[edges[i-1], edges[i])``."""

    edges: tuple[float, ...]
    counts: tuple[int, ...]

    def bin(self, values: pl.Series) -> dict[str, int]:
        """Counts of `values` (nulls and NaN skipped) in this histogram's bins, keyed by bin index."""
        array = values.cast(pl.Float64).drop_nulls().drop_nans().to_numpy()
        index = np.searchsorted(np.asarray(self.edges, dtype=np.float64), array, side="right")
        counts = np.bincount(index, minlength=len(self.edges) + 1)
        return {str(i): int(n) for i, n in enumerate(counts)}

    def as_counts(self) -> dict[str, int]:
        return {str(i): n for i, n in enumerate(self.counts)}

    @classmethod
    def at_deciles(cls, values: pl.Series) -> Binned:
        array = values.cast(pl.Float64).drop_nulls().drop_nans().to_numpy()
        if array.size == 0:
            return cls((), (0,))
        edges = np.unique(np.quantile(array, np.linspace(0.0, 1.0, _LENGTH_BINS + 1)[1:-1]))
        counts = np.bincount(np.searchsorted(edges, array, side="right"), minlength=edges.size + 1)
        return cls(tuple(float(e) for e in edges), tuple(int(n) for n in counts))


@dataclass(frozen=True)
class ReferenceStats:
    """What the gates compare a candidate with: statistics of the last published version.

    Small and JSON-able (`to_dict` / `from_dict`), so it can be stored with a version instead of re-reading
    the whole table. ``categorical`` holds value counts of string features; ``binned`` holds decile
    histograms of numeric features and of text lengths (key ``length(<column>)``); ``length_quantiles``
    the low and high quantiles of each text column's length (`GateConfig.length_quantiles`).
    """

    rows: int
    label_counts: dict[str, int]
    categorical: dict[str, dict[str, int]] = field(default_factory=dict)
    binned: dict[str, Binned] = field(default_factory=dict)
    length_quantiles: dict[str, tuple[float, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "label_counts": dict(self.label_counts),
            "categorical": {k: dict(v) for k, v in self.categorical.items()},
            "binned": {k: {"edges": list(b.edges), "counts": list(b.counts)} for k, b in self.binned.items()},
            "length_quantiles": {k: list(v) for k, v in self.length_quantiles.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReferenceStats:
        return cls(
            rows=int(data["rows"]),
            label_counts={str(k): int(v) for k, v in data["label_counts"].items()},
            categorical={f: {str(k): int(v) for k, v in c.items()} for f, c in data.get("categorical", {}).items()},
            binned={
                k: Binned(tuple(float(e) for e in b["edges"]), tuple(int(n) for n in b["counts"]))
                for k, b in data.get("binned", {}).items()
            },
            length_quantiles={k: (float(v[0]), float(v[1])) for k, v in data.get("length_quantiles", {}).items()},
        )


def length_key(column: str) -> str:
    return f"length({column})"


def value_counts(values: pl.Series) -> dict[str, int]:
    """Count of each non-null value, keyed by its text."""
    counts = values.drop_nulls().cast(pl.String).alias("value").value_counts(name="count")
    return dict(zip(counts["value"].to_list(), counts["count"].to_list(), strict=True))


def reference_stats(frame: pl.DataFrame, config: GateConfig) -> ReferenceStats:
    """The statistics of a published dataset version that the shift and length gates compare with."""
    categorical: dict[str, dict[str, int]] = {}
    binned: dict[str, Binned] = {}
    for name in config.feature_columns:
        if name not in frame.columns:
            continue
        if frame.schema[name].is_numeric():
            binned[name] = Binned.at_deciles(frame[name])
        else:
            categorical[name] = value_counts(frame[name])
    quantiles: dict[str, tuple[float, float]] = {}
    low, high = config.length_quantiles
    for name in config.text_columns:
        if name not in frame.columns:
            continue
        lengths = frame[name].cast(pl.String).str.len_chars().drop_nulls()
        binned[length_key(name)] = Binned.at_deciles(lengths)
        if lengths.len():
            quantiles[name] = (float(lengths.quantile(low) or 0.0), float(lengths.quantile(high) or 0.0))
    return ReferenceStats(
        rows=frame.height,
        label_counts=value_counts(frame[config.label_column]) if config.label_column in frame.columns else {},
        categorical=categorical,
        binned=binned,
        length_quantiles=quantiles,
    )
