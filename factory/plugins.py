"""Plug-in kinds: where a use case's data, annotations and production corrections come from.

A use-case spec names a *kind* for each of its data sources (``sources[].kind``), annotation sources
(``labeling.sources[].kind``) and feedback sources (``feedback.sources[].kind``). This registry maps a kind to
the object that implements it, so the Dagster wiring (``factory.defs``) asks the registry and never imports an
implementation: the demo is one plug-in among others.

Built-in kinds:

=====================  ==========================================  ==========================================
category               kind                                        implementation
=====================  ==========================================  ==========================================
data source            ``demo``                                    `factory.demo.plugin.DemoSource`
data source            ``files``, ``postgres``, ``duckdb``,        `factory.resources.landing`
                       ``sqlite``
annotation source      ``demo`` (the simulated crowd)              `factory.demo.plugin.DemoCrowd`
annotation source      ``files`` (the annotation inbox)            `factory.resources.inbox.AnnotationInbox`
annotation source      ``column`` (a label column of the data)     `factory.resources.label_column.LabelColumn`
feedback source        ``demo`` (the simulated support agents)     `factory.demo.plugin.DemoAgents`
feedback source        ``files`` (the production-feedback inbox)   `factory.resources.inbox.FeedbackInbox`
=====================  ==========================================  ==========================================

Third parties add or replace kinds through the ``factory.plugins`` entry-point group: each entry point names a
callable taking the `Registry`, which calls ``register_*``. The spec reads a source of any kind it does not
know as a `factory.spec.PluginSourceSpec` (``name``, ``kind``, ``options``), handed to the plug-in as is; a
kind no plug-in implements fails when the use case is built, naming the kinds that exist.

Example, in a third party's ``pyproject.toml``::

    [project.entry-points."factory.plugins"]
    zendesk = "factory_zendesk:register"    # def register(registry): registry.register_feedback_source(...)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol

import polars as pl

if TYPE_CHECKING:
    from factory.spec import UseCaseSpec

__all__ = [
    "ENTRY_POINT_GROUP",
    "AnnotationBatch",
    "AnnotationSourceKind",
    "DataSourceKind",
    "FeedbackBatch",
    "FeedbackSourceKind",
    "Landed",
    "PendingFile",
    "PluginError",
    "Registry",
    "annotation_source",
    "data_source",
    "feedback_source",
    "registry",
]

ENTRY_POINT_GROUP = "factory.plugins"
"""Entry-point group of third-party kinds: each entry point is a callable ``(Registry) -> None``."""


class PluginError(LookupError):
    """A kind no plug-in implements."""


@dataclass
class Landed:
    """One data source's rows for a day, in the raw layout (`factory.core.ingestion.as_raw`) with the schema's
    delivered columns (derived ones are filled by the raw asset), the ledger entries of the files read
    (``file, sha256, size, rows, rejects, duplicate_of``) and notes for the log. ``expected`` is False when the
    source expected nothing that day (a batch source none of whose files maps to it): no rows is then no
    failure."""

    frame: pl.DataFrame
    files: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    expected: bool = True


@dataclass
class AnnotationBatch:
    """One annotation source's contribution to a day: annotations (`factory.core.labeling.ANNOTATIONS_SCHEMA`),
    rejects (`factory.core.labeling.REJECTS_SCHEMA`), gold labels (``item_id, label``), entries of the
    ``annotation_sources`` ledger (``kind, name, sha256, records, annotations, rejects``) and notes."""

    annotations: list[pl.DataFrame] = field(default_factory=list)
    rejects: list[pl.DataFrame] = field(default_factory=list)
    gold: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema={"item_id": pl.String, "label": pl.String}))
    ledger: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class FeedbackBatch:
    """One feedback source's corrections for a day (``item_id, corrected_label, corrected_at, reviewer``),
    rejects (`factory.core.labeling.REJECTS_SCHEMA`), entries of the ``feedback_files`` ledger (``source, file,
    sha256, records, corrections, rejects, duplicate_of``) and notes."""

    corrections: pl.DataFrame
    rejects: pl.DataFrame
    files: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PendingFile:
    """A file a sensor has not handled yet (by content hash) and the days it concerns."""

    sha256: str
    relative: str
    days: tuple[str, ...]


class DataSourceKind(Protocol):
    """Lands one day of a data source. ``label`` is the Dagster kind tag of its ``raw_<source>`` asset."""

    label: str

    def land(self, spec: UseCaseSpec, source: Any, day: str) -> Landed: ...


class AnnotationSourceKind(Protocol):
    """Annotations of one day's items. ``items`` is the day's prepared rows; ``known`` every prepared
    ``item_id`` with its ``partition_key`` (an item may be annotated in a file dropped any day); ``duplicates``
    the rows removed as duplicates of the day's items, on any day (the ``duplicates`` table with its
    ``partition_key``: a label they carried belongs to the item kept)."""

    def collect(
        self,
        spec: UseCaseSpec,
        source: Any,
        day: str,
        items: pl.DataFrame,
        known: pl.DataFrame,
        duplicates: pl.DataFrame,
    ) -> AnnotationBatch: ...

    def pending(self, spec: UseCaseSpec, source: Any, known: pl.DataFrame, skip: set[str]) -> list[PendingFile]:
        """Files not in ``skip`` (content hashes) and the days they concern; [] for kinds without files."""
        ...


class FeedbackSourceKind(Protocol):
    """Production corrections of one day's items. ``predictions`` is the day's predictions (``<id>,
    predicted_label``; may be empty), ``known`` as for annotation sources. ``needs_predictions`` says whether
    the kind reads the predictions (then the ``feedback`` asset depends on ``predictions``, and labels read
    corrections without depending on them, since they come from the model the labels train)."""

    needs_predictions: bool

    def collect(
        self, spec: UseCaseSpec, source: Any, day: str, predictions: pl.DataFrame, known: pl.DataFrame
    ) -> FeedbackBatch: ...

    def pending(self, spec: UseCaseSpec, source: Any, known: pl.DataFrame, skip: set[str]) -> list[PendingFile]:
        """Files not in ``skip`` (content hashes) and the days they concern; [] for kinds without files."""
        ...


@dataclass
class Registry:
    """Kinds by category."""

    data_sources: dict[str, DataSourceKind] = field(default_factory=dict)
    annotation_sources: dict[str, AnnotationSourceKind] = field(default_factory=dict)
    feedback_sources: dict[str, FeedbackSourceKind] = field(default_factory=dict)

    def register_data_source(self, kind: str, implementation: DataSourceKind) -> None:
        self.data_sources[kind] = implementation

    def register_annotation_source(self, kind: str, implementation: AnnotationSourceKind) -> None:
        self.annotation_sources[kind] = implementation

    def register_feedback_source(self, kind: str, implementation: FeedbackSourceKind) -> None:
        self.feedback_sources[kind] = implementation


def _builtins(target: Registry) -> None:
    # Imported here, not at the top: the registry is read by the wiring, and the implementations import
    # resources (and the demo) that need not load until a kind is asked for.
    from factory.demo.plugin import register as register_demo
    from factory.resources.inbox import register as register_inboxes
    from factory.resources.label_column import register as register_label_column
    from factory.resources.landing import register as register_landing

    register_landing(target)
    register_inboxes(target)
    register_label_column(target)
    register_demo(target)


@cache
def registry() -> Registry:
    """The built-in kinds, then those of every ``factory.plugins`` entry point (which may replace them)."""
    target = Registry()
    _builtins(target)
    for point in entry_points(group=ENTRY_POINT_GROUP):
        point.load()(target)
    return target


def _lookup(kinds: dict[str, Any], kind: str, category: str) -> Any:
    try:
        return kinds[kind]
    except KeyError:
        raise PluginError(f"no plug-in implements the {category} kind '{kind}' (known: {sorted(kinds)})") from None


def data_source(kind: str) -> DataSourceKind:
    """The implementation of a data source kind; PluginError when none."""
    implementation: DataSourceKind = _lookup(registry().data_sources, kind, "data source")
    return implementation


def annotation_source(kind: str) -> AnnotationSourceKind:
    """The implementation of an annotation source kind; PluginError when none."""
    implementation: AnnotationSourceKind = _lookup(registry().annotation_sources, kind, "annotation source")
    return implementation


def feedback_source(kind: str) -> FeedbackSourceKind:
    """The implementation of a feedback source kind; PluginError when none."""
    implementation: FeedbackSourceKind = _lookup(registry().feedback_sources, kind, "feedback source")
    return implementation
