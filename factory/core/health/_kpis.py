"""The KPIs of the factory health view, layer by layer, from the figures the warehouse and the registries hold.

Daily figures (rows, quarantine and duplicate rates, PII hits, annotations, agreement, spammers, drift and the
estimated and realized performance) come with their values for every day of the window. Figures that are not
daily (the published dataset, the champion) take their trend from the health rows stored on earlier days.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import polars as pl

from factory.core.health._verdict import Bounds, GateFailure, Kpi, gate_kpi

__all__ = ["ChampionState", "DatasetState", "HealthInputs", "RetrainRun", "health_kpis"]


@dataclass(frozen=True)
class DatasetState:
    """The newest published dataset version and its rows."""

    version: str
    rows: int


@dataclass(frozen=True)
class ChampionState:
    """The champion model version and its test metric, and the newest promotion decision with its reason."""

    version: str | None
    metric: str
    value: float | None
    decision: str
    reason: str


@dataclass(frozen=True)
class RetrainRun:
    """One run of the retrain job: when it started (ISO day), its status and its ``factory/reason`` tag."""

    day: str
    status: str
    reason: str


@dataclass(frozen=True)
class HealthInputs:
    """What the health view reads for one day.

    ``sources``: per ``source, partition_key`` the columns ``raw, prepared, quarantined, duplicates, pii_rows``.
    ``annotations``: ``partition_key, n``. ``label_quality``: ``partition_key, krippendorff_alpha_trusted``.
    ``annotators``: ``partition_key, spammers``. ``drift``: the drift reports of the window (the newest per day
    counts). ``decisions``: the retrain decisions of the window. ``history``: the stored health rows of earlier
    days (``layer, kpi, value, partition_key``). ``gates``: per layer, its blocking gates evaluated in the window
    and declared."""

    days: Sequence[str]
    sources: pl.DataFrame
    annotations: pl.DataFrame
    label_quality: pl.DataFrame
    annotators: pl.DataFrame
    drift: pl.DataFrame
    decisions: pl.DataFrame
    history: pl.DataFrame
    dataset: DatasetState | None
    champion: ChampionState | None
    retrains: Sequence[RetrainRun]
    failures: Sequence[GateFailure]
    gates: Mapping[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def day(self) -> str:
        return self.days[-1]


def _series(frame: pl.DataFrame, column: str, days: Sequence[str]) -> tuple[float | None, ...]:
    """``column`` by ``partition_key`` over ``days`` (the last row of a day wins; ``None`` for a day without)."""
    if frame.is_empty() or column not in frame.columns:
        return tuple(None for _ in days)
    values = {
        day: (None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value))
        for day, value in zip(frame["partition_key"].to_list(), frame[column].to_list(), strict=True)
    }
    return tuple(values.get(day) for day in days)


def _ratio(numerator: tuple[float | None, ...], denominator: tuple[float | None, ...]) -> tuple[float | None, ...]:
    return tuple(n / d if n is not None and d else None for n, d in zip(numerator, denominator, strict=True))


def _shown(value: float | None, kind: str = "float") -> str:
    if value is None:
        return "n/a"
    if kind == "share":
        return f"{value:.1%}"
    if kind == "count":
        return f"{value:.0f}"
    return f"{value:.3f}"


def _kpi(
    layer: str, name: str, trend: tuple[float | None, ...], bounds: Bounds, kind: str = "float", note: str = ""
) -> Kpi:
    today = trend[-1] if trend else None
    return Kpi(layer, name, today, _shown(today, kind), trend, bounds, note)


def _history(inputs: HealthInputs, layer: str, name: str, today: float | None) -> tuple[float | None, ...]:
    """A figure that is not daily: its stored values on earlier days of the window, then today's."""
    stored = inputs.history.filter((pl.col("layer") == layer) & (pl.col("kpi") == name))
    return (*_series(stored, "value", inputs.days[:-1]), today)


def _preparation(inputs: HealthInputs, bounds: Mapping[str, Bounds]) -> list[Kpi]:
    by_day = (
        inputs.sources.group_by("partition_key").agg(
            pl.col("raw", "prepared", "quarantined", "duplicates", "pii_rows").sum()
        )
        if not inputs.sources.is_empty()
        else pl.DataFrame(schema={"partition_key": pl.String})
    )
    raw = _series(by_day, "raw", inputs.days)
    prepared = _series(by_day, "prepared", inputs.days)
    return [
        _kpi("preparation", "rows_in", raw, bounds["rows_in"], "count", "rows the sources delivered"),
        _kpi(
            "preparation",
            "quarantine_rate",
            _ratio(_series(by_day, "quarantined", inputs.days), raw),
            bounds["quarantine_rate"],
            "share",
        ),
        _kpi(
            "preparation",
            "duplicate_rate",
            _ratio(_series(by_day, "duplicates", inputs.days), raw),
            bounds["duplicate_rate"],
            "share",
        ),
        _kpi(
            "preparation",
            "pii_row_share",
            _ratio(_series(by_day, "pii_rows", inputs.days), prepared),
            bounds["pii_row_share"],
            "share",
            "prepared rows in which PII was found and replaced by a placeholder",
        ),
    ]


def _labeling(inputs: HealthInputs, bounds: Mapping[str, Bounds]) -> list[Kpi]:
    return [
        _kpi("labeling", "annotations", _series(inputs.annotations, "n", inputs.days), bounds["annotations"], "count"),
        _kpi(
            "labeling",
            "agreement",
            _series(inputs.label_quality, "krippendorff_alpha_trusted", inputs.days),
            bounds["agreement"],
            note="Krippendorff's alpha among the annotators not flagged as spammers",
        ),
        _kpi("labeling", "spammers", _series(inputs.annotators, "spammers", inputs.days), bounds["spammers"], "count"),
    ]


def _dataset(inputs: HealthInputs) -> list[Kpi]:
    state = inputs.dataset
    rows = float(state.rows) if state else None
    version = _version_number(state.version) if state else None
    return [
        Kpi("dataset", "dataset_rows", rows, _shown(rows, "count"), _history(inputs, "dataset", "dataset_rows", rows)),
        Kpi(
            "dataset",
            "dataset_version",
            version,
            state.version if state else "none published",
            _history(inputs, "dataset", "dataset_version", version),
        ),
    ]


def _model(inputs: HealthInputs, bounds: Mapping[str, Bounds]) -> list[Kpi]:
    champion = inputs.champion
    value = champion.value if champion else None
    metric = Kpi(
        "model",
        "champion_metric",
        value,
        f"{_shown(value)} (test {champion.metric}, v{champion.version})"
        if champion and champion.version
        else "no champion",
        _history(inputs, "model", "champion_metric", value),
        bounds["champion_metric"],
    )
    decision = Kpi(
        "model",
        "promotion",
        None,
        champion.decision if champion and champion.decision else "none yet",
        note=champion.reason if champion else "",
    )
    return [metric, decision]


def _newest_reports(drift: pl.DataFrame) -> pl.DataFrame:
    if drift.is_empty():
        return drift
    return drift.sort("partition_key", "created_at").unique("partition_key", keep="last").sort("partition_key")


def _monitoring(inputs: HealthInputs, bounds: Mapping[str, Bounds]) -> list[Kpi]:
    reports = _newest_reports(inputs.drift)
    drops = (
        reports.select(
            "partition_key",
            (pl.col("reference_macro_f1") - pl.col("estimated_macro_f1")).alias("estimated_drop"),
            (pl.col("reference_macro_f1") - pl.col("realized_macro_f1")).alias("realized_drop"),
        )
        if not reports.is_empty()
        else reports
    )
    kpis = [
        _kpi("monitoring", "drift_score", _series(reports, "score", inputs.days), bounds["drift_score"]),
        _kpi(
            "monitoring",
            "estimated_drop",
            _series(drops, "estimated_drop", inputs.days),
            bounds["estimated_drop"],
            note="reference macro F1 minus the macro F1 estimated without labels (CBPE)",
        ),
        _kpi(
            "monitoring",
            "realized_drop",
            _series(drops, "realized_drop", inputs.days),
            bounds["realized_drop"],
            note="reference macro F1 minus the macro F1 on the production corrections"
            + (
                f" ({int(rows)} corrected predictions today)"
                if (rows := _series(reports, "feedback_rows", inputs.days)[-1]) is not None
                else ""
            ),
        ),
    ]
    in_window = [run for run in inputs.retrains if inputs.days[0] <= run.day <= inputs.day]
    started = _first_day(inputs)
    per_day = tuple(
        float(sum(run.day == day for run in in_window)) if started is not None and day >= started else None
        for day in inputs.days
    )
    reasons = "; ".join(f"{run.day} {run.status}: {run.reason or 'no reason recorded'}" for run in in_window[-3:])
    decisions = inputs.decisions
    fired = int(decisions["fire"].sum()) if not decisions.is_empty() else 0
    decided = f"; {fired} of {decisions.height} retrain decisions fired" if not decisions.is_empty() else ""
    if not decisions.is_empty():
        last = decisions.sort("partition_key", "decided_at").row(-1, named=True)
        verb = "fire" if last["fire"] else "skip"
        reasons = "; ".join(
            filter(None, [reasons, f"latest decision ({last['partition_key']}) {verb}: {last['reason']}"])
        )
    kpis.append(
        Kpi(
            "monitoring",
            "retrains",
            float(len(in_window)),
            f"{len(in_window)} in {len(inputs.days)} days{decided}",
            per_day,
            note=reasons or "no retrain run in the window",
        )
    )
    return kpis


def _first_day(inputs: HealthInputs) -> str | None:
    """The first day of the window on which a source delivered rows: counts start there, not before the data."""
    days = inputs.sources.filter(pl.col("raw") > 0)["partition_key"] if not inputs.sources.is_empty() else None
    return str(days.min()) if days is not None and days.len() else None


def _version_number(tag: str) -> float | None:
    digits = tag.rsplit("v", 1)[-1]
    return float(digits) if digits.isdigit() else None


def health_kpis(inputs: HealthInputs, bounds: Mapping[str, Bounds]) -> list[Kpi]:
    """Every KPI of the day, layer by layer, each layer ending with its blocking-gates KPI. ``bounds`` holds the
    bounds of ``rows_in, quarantine_rate, duplicate_rate, pii_row_share, annotations, agreement, spammers,
    champion_metric, drift_score, estimated_drop, realized_drop``."""
    layers = {
        "preparation": _preparation(inputs, bounds),
        "labeling": _labeling(inputs, bounds),
        "dataset": _dataset(inputs),
        "model": _model(inputs, bounds),
        "monitoring": _monitoring(inputs, bounds),
    }
    kpis: list[Kpi] = []
    for layer, found in layers.items():
        kpis += [*found, gate_kpi(layer, inputs.failures, inputs.gates.get(layer, (0, 0)))]
    return kpis
