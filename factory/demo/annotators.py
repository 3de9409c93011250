"""Simulated human annotators and the gold set for the demo's labels.

Six annotators label the demo items: four reliable ones of different skill, a spammer who answers at
random, and one whose accuracy decays day after day. A mistake is usually the class's confusable
neighbour (for tickets billing for refund, outage for bug report, ...; for claims review for approve),
otherwise any other class. A `Taxonomy` says which classes there are, which are confusable and how the
truth table names its columns; `TICKETS` is the ticket stream's, the default.

Every draw depends only on ``(seed, day, item id)``: an item gets the same annotators and labels
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
    "TICKETS",
    "AnnotatorProfile",
    "Taxonomy",
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


@dataclass(frozen=True)
class Taxonomy:
    """The classes of a demo stream, the class an annotator most often picks by mistake for each (classes
    without one are confused uniformly), and the truth table's item id and class columns."""

    classes: tuple[str, ...]
    confusable: Mapping[str, str]
    id_column: str
    label_column: str

    def __post_init__(self) -> None:
        unknown = sorted((set(self.confusable) | set(self.confusable.values())) - set(self.classes))
        if unknown:
            raise ValueError(f"confusable classes outside the taxonomy: {unknown}")

    def codes(self, truth: pl.DataFrame) -> IntArray:
        """The class index of every truth row; raises ``ValueError`` for a class outside the taxonomy."""
        labels = truth[self.label_column]
        unknown = labels.filter(~labels.is_in(self.classes) | labels.is_null()).unique().to_list()
        if unknown:
            raise ValueError(f"truth has categories outside the taxonomy: {sorted(map(str, unknown))}")
        lookup = pl.DataFrame({self.label_column: self.classes, "code": np.arange(len(self.classes), dtype=np.int64)})
        joined = truth.select(self.label_column).join(lookup, on=self.label_column, how="left", maintain_order="left")
        return joined["code"].to_numpy()

    def partners(self) -> IntArray:
        """For each class index, the index of its confusable class, or -1."""
        return np.array(
            [self.classes.index(self.confusable[name]) if name in self.confusable else -1 for name in self.classes],
            dtype=np.int64,
        )


TICKETS = Taxonomy(CATEGORIES, CONFUSABLE, id_column="ticket_id", label_column="category")
"""The ticket stream's taxonomy (`factory.demo.tickets`)."""


def accuracy_on(profile: AnnotatorProfile, days_since_start: int, classes: int = len(CATEGORIES)) -> float:
    """The chance that ``profile`` labels an item right, ``days_since_start`` days into the demo, among
    ``classes`` classes."""
    if profile.kind == "spammer":
        return 1 / classes
    if profile.kind == "decaying":
        return max(DECAY_FLOOR, profile.accuracy - profile.decay_per_day * max(days_since_start, 0))
    return profile.accuracy


def _wrong_labels(true: IntArray, confuse: FloatArray, pick: FloatArray, taxonomy: Taxonomy) -> IntArray:
    """A label other than ``true``: the confusable one when there is one and ``confuse`` says so."""
    size = len(taxonomy.classes)
    uniform = (true + 1 + (pick * (size - 1)).astype(np.int64)) % size
    partner = taxonomy.partners()[true]
    return np.where((partner >= 0) & (confuse < _CONFUSION_SHARE), partner, uniform)


def _labels(profile_index: IntArray, true: IntArray, draws: FloatArray, days: int, taxonomy: Taxonomy) -> IntArray:
    """Labels given by each chosen annotator; ``draws`` holds four uniforms per annotation."""
    size = len(taxonomy.classes)
    accuracy = np.array([accuracy_on(profile, days, size) for profile in ANNOTATORS], dtype=np.float64)
    spammer = np.array([profile.kind == "spammer" for profile in ANNOTATORS], dtype=np.bool_)
    correct = draws[:, 0] < accuracy[profile_index]
    random_label = (draws[:, 3] * size).astype(np.int64)
    labels = np.where(correct, true, _wrong_labels(true, draws[:, 1], draws[:, 2], taxonomy))
    return np.where(spammer[profile_index], random_label, labels)


def _utc_timestamps(day: date, microseconds: IntArray) -> pl.Series:
    stamps = np.datetime64(day, "us") + microseconds.astype("timedelta64[us]")
    return pl.Series("created_at", stamps).dt.replace_time_zone("UTC")


def annotate(
    truth: pl.DataFrame, day: date, config: DemoConfig, start_date: date, taxonomy: Taxonomy = TICKETS
) -> pl.DataFrame:
    """Annotations of the ``truth`` items (the taxonomy's id and class columns, for tickets ``ticket_id``
    and ``category``) made on ``day``.

    Each item gets ``config.annotations_per_item`` labels from distinct annotators. Returns ``item_id``,
    ``annotator``, ``label`` and ``created_at`` (UTC, microseconds), item by item.
    """
    per_item = config.annotations_per_item
    if per_item > len(ANNOTATORS):
        raise ValueError(f"annotations_per_item={per_item} exceeds the {len(ANNOTATORS)} demo annotators")
    items = truth[taxonomy.id_column]
    true = taxonomy.codes(truth)
    draws = stable_uniform(items, config.seed, f"annotate|{day.toordinal()}", len(ANNOTATORS) + 5 * per_item)
    chosen = np.argsort(draws[:, : len(ANNOTATORS)], axis=1, kind="stable")[:, :per_item].reshape(-1)
    per_annotation = draws[:, len(ANNOTATORS) :].reshape(len(items) * per_item, 5)
    labels = _labels(chosen, np.repeat(true, per_item), per_annotation[:, :4], (day - start_date).days, taxonomy)
    offsets = ((_WORK_START_SECONDS + per_annotation[:, 4] * _WORK_SPAN_SECONDS) * 1_000_000).astype(np.int64)
    return pl.DataFrame(
        {
            "item_id": items.gather(np.repeat(np.arange(len(items)), per_item)),
            "annotator": pl.Series([profile.name for profile in ANNOTATORS], dtype=pl.String).gather(chosen),
            "label": pl.Series(taxonomy.classes, dtype=pl.String).gather(labels),
            "created_at": _utc_timestamps(day, offsets),
        }
    )


def gold_labels(truth: pl.DataFrame, config: DemoConfig, taxonomy: Taxonomy = TICKETS) -> pl.DataFrame:
    """The gold set: about ``config.gold_share`` of the items, chosen by a stable hash of the item id.

    Returns ``item_id`` and ``label`` (the true class). An item is gold or not whatever the day.
    """
    taxonomy.codes(truth)
    chosen = stable_uniform(truth[taxonomy.id_column], config.seed, "gold")[:, 0] < config.gold_share
    return truth.filter(pl.Series(chosen)).select(
        pl.col(taxonomy.id_column).alias("item_id"), pl.col(taxonomy.label_column).alias("label")
    )
