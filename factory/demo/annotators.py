"""Simulated human annotators and the gold set for the demo's ``ticket_triage`` labels.

Six annotators label the demo tickets: four reliable ones of different skill, a spammer who answers at
random, and one whose accuracy decays day after day. A mistake is usually the category's confusable
neighbour (billing for refund, outage for bug report, ...), otherwise any other category.

Every draw depends only on ``(seed, day, ticket_id)``: an item gets the same annotators and labels
whatever else is in the batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from factory.demo.tickets import CATEGORIES, DemoConfig, stable_uniform

__all__ = [
    "ANNOTATORS",
    "CONFUSABLE",
    "DECAY_FLOOR",
    "AnnotatorProfile",
    "accuracy_on",
    "annotate",
    "gold_labels",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

DECAY_FLOOR = 0.3
"""A decaying annotator never drops below this accuracy."""

_CONFUSION_SHARE = 0.7
_WORK_START_SECONDS = 7 * 3600
_WORK_SPAN_SECONDS = 16 * 3600


@dataclass(frozen=True)
class AnnotatorProfile:
    """How one simulated annotator behaves."""

    name: str
    accuracy: float
    kind: Literal["reliable", "spammer", "decaying"]
    decay_per_day: float = 0.0


ANNOTATORS: tuple[AnnotatorProfile, ...] = (
    AnnotatorProfile("amara", 0.95, "reliable"),
    AnnotatorProfile("bruno", 0.90, "reliable"),
    AnnotatorProfile("chen", 0.85, "reliable"),
    AnnotatorProfile("dmitri", 0.78, "reliable"),
    AnnotatorProfile("elif", 1 / len(CATEGORIES), "spammer"),
    AnnotatorProfile("farah", 0.92, "decaying", decay_per_day=0.03),
)

_PAIRS = (
    ("billing", "refund"),
    ("password_reset", "account_access"),
    ("shipping_delay", "damaged_item"),
    ("cancellation", "subscription_change"),
    ("bug_report", "outage"),
    ("product_question", "feature_request"),
)
CONFUSABLE: Mapping[str, str] = {a: b for pair in _PAIRS for a, b in (pair, pair[::-1])}
"""The category an annotator most often picks by mistake; categories without one are confused uniformly."""

_CONFUSED = np.array(
    [CATEGORIES.index(CONFUSABLE[name]) if name in CONFUSABLE else -1 for name in CATEGORIES], dtype=np.int64
)


def accuracy_on(profile: AnnotatorProfile, days_since_start: int) -> float:
    """The chance that ``profile`` labels an item right, ``days_since_start`` days into the demo."""
    if profile.kind == "spammer":
        return 1 / len(CATEGORIES)
    if profile.kind == "decaying":
        return max(DECAY_FLOOR, profile.accuracy - profile.decay_per_day * max(days_since_start, 0))
    return profile.accuracy


def _category_codes(truth: pl.DataFrame) -> IntArray:
    categories = truth["category"]
    unknown = categories.filter(~categories.is_in(CATEGORIES) | categories.is_null()).unique().to_list()
    if unknown:
        raise ValueError(f"truth has categories outside the taxonomy: {sorted(map(str, unknown))}")
    lookup = pl.DataFrame({"category": CATEGORIES, "code": np.arange(len(CATEGORIES), dtype=np.int64)})
    return truth.select("category").join(lookup, on="category", how="left", maintain_order="left")["code"].to_numpy()


def _wrong_labels(true: IntArray, confuse: FloatArray, pick: FloatArray) -> IntArray:
    """A label other than ``true``: the confusable one when there is one and ``confuse`` says so."""
    others = len(CATEGORIES) - 1
    uniform = (true + 1 + (pick * others).astype(np.int64)) % len(CATEGORIES)
    partner = _CONFUSED[true]
    return np.where((partner >= 0) & (confuse < _CONFUSION_SHARE), partner, uniform)


def _labels(profile_index: IntArray, true: IntArray, draws: FloatArray, days: int) -> IntArray:
    """Labels given by each chosen annotator; ``draws`` holds four uniforms per annotation."""
    accuracy = np.array([accuracy_on(profile, days) for profile in ANNOTATORS], dtype=np.float64)
    spammer = np.array([profile.kind == "spammer" for profile in ANNOTATORS], dtype=np.bool_)
    correct = draws[:, 0] < accuracy[profile_index]
    random_label = (draws[:, 3] * len(CATEGORIES)).astype(np.int64)
    labels = np.where(correct, true, _wrong_labels(true, draws[:, 1], draws[:, 2]))
    return np.where(spammer[profile_index], random_label, labels)


def _utc_timestamps(day: date, microseconds: IntArray) -> pl.Series:
    stamps = np.datetime64(day, "us") + microseconds.astype("timedelta64[us]")
    return pl.Series("created_at", stamps).dt.replace_time_zone("UTC")


def annotate(truth: pl.DataFrame, day: date, config: DemoConfig, start_date: date) -> pl.DataFrame:
    """Annotations of the ``truth`` items (``ticket_id``, ``category``) made on ``day``.

    Each item gets ``config.annotations_per_item`` labels from distinct annotators. Returns ``item_id``,
    ``annotator``, ``label`` and ``created_at`` (UTC, microseconds), item by item.
    """
    per_item = config.annotations_per_item
    if per_item > len(ANNOTATORS):
        raise ValueError(f"annotations_per_item={per_item} exceeds the {len(ANNOTATORS)} demo annotators")
    items = truth["ticket_id"]
    true = _category_codes(truth)
    draws = stable_uniform(items, config.seed, f"annotate|{day.toordinal()}", len(ANNOTATORS) + 5 * per_item)
    chosen = np.argsort(draws[:, : len(ANNOTATORS)], axis=1, kind="stable")[:, :per_item].reshape(-1)
    per_annotation = draws[:, len(ANNOTATORS) :].reshape(len(items) * per_item, 5)
    labels = _labels(chosen, np.repeat(true, per_item), per_annotation[:, :4], (day - start_date).days)
    offsets = ((_WORK_START_SECONDS + per_annotation[:, 4] * _WORK_SPAN_SECONDS) * 1_000_000).astype(np.int64)
    return pl.DataFrame(
        {
            "item_id": items.gather(np.repeat(np.arange(len(items)), per_item)),
            "annotator": pl.Series([profile.name for profile in ANNOTATORS], dtype=pl.String).gather(chosen),
            "label": pl.Series(CATEGORIES, dtype=pl.String).gather(labels),
            "created_at": _utc_timestamps(day, offsets),
        }
    )


def gold_labels(truth: pl.DataFrame, config: DemoConfig) -> pl.DataFrame:
    """The gold set: about ``config.gold_share`` of the items, chosen by a stable hash of the ticket id.

    Returns ``item_id`` and ``label`` (the true category). An item is gold or not whatever the day.
    """
    _category_codes(truth)
    chosen = stable_uniform(truth["ticket_id"], config.seed, "gold")[:, 0] < config.gold_share
    return truth.filter(pl.Series(chosen)).select(
        pl.col("ticket_id").alias("item_id"), pl.col("category").alias("label")
    )
