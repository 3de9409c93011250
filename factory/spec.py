"""The use-case spec: one YAML file per use case, validated by a typed model.

A use case declares its sources, schema, text and feature columns, label set, group and time keys, split
policy, gate thresholds, model candidates and drift thresholds. The factory builds every asset of a use case
from its spec, so adding a use case needs no Python change. ``load_spec`` turns a bad file into a
``SpecError`` whose message names the file and every offending field.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from factory.core.redteam import INVARIANCE_TESTS
from factory.spec_checks import (
    LABEL_COLUMN_NAME,
    UniqueKeyLoader,
    check_columns,
    check_custom_pii,
    check_input_path,
)
from factory.spec_sources import (
    AnnotationInboxSpec,
    AnnotationSourceSpec,
    ColumnAnnotationSourceSpec,
    DatabaseFileSourceSpec,
    DemoAnnotationSourceSpec,
    DemoFeedbackSourceSpec,
    DemoSourceSpec,
    FeedbackSourceSpec,
    FeedbackSpec,
    FilesAnnotationSourceSpec,
    FilesFeedbackSourceSpec,
    FileSourceSpec,
    PluginSourceSpec,
    PostgresSourceSpec,
    SourceSpec,
    SpecDate,
    StrictModel,
)

__all__ = [
    "DERIVED_COLUMNS",
    "HEALTH_LOWER_IS_WORSE",
    "AnnotationInboxSpec",
    "AnnotationSourceSpec",
    "ColumnAnnotationSourceSpec",
    "ColumnSpec",
    "DatabaseFileSourceSpec",
    "DemoAnnotationSourceSpec",
    "DemoFeedbackSourceSpec",
    "DemoSourceSpec",
    "DriftSpec",
    "FeedbackSourceSpec",
    "FeedbackSpec",
    "FileSourceSpec",
    "FilesAnnotationSourceSpec",
    "FilesFeedbackSourceSpec",
    "GateSpec",
    "HealthBounds",
    "HealthSpec",
    "LabelingSpec",
    "ModelSpec",
    "NearDuplicateSpec",
    "PluginSourceSpec",
    "PostgresSourceSpec",
    "PromotionSpec",
    "RedTeamSpec",
    "RetrainSpec",
    "ReviewSpec",
    "SchemaSpec",
    "SelectionSpec",
    "SourceSpec",
    "SpecError",
    "SpecLoad",
    "SplitSpec",
    "UseCaseSpec",
    "check_specs",
    "load_spec",
    "load_specs",
]

_log = logging.getLogger(__name__)

_AnnotationSource = DemoAnnotationSourceSpec | FilesAnnotationSourceSpec | ColumnAnnotationSourceSpec | PluginSourceSpec

_NAME = re.compile(r"^[a-z][a-z0-9_]{1,40}$")


class SpecError(ValueError):
    """A use-case file that cannot be loaded, with a message a person can act on."""


_Strict = StrictModel


Derived = Literal["content_hash", "arrival_day"]
"""How the factory makes up a column no source delivers (see `SchemaSpec`)."""

DERIVED_COLUMNS: dict[str, tuple[str, Derived, Literal["string", "timestamp"]]] = {
    "id": ("row_id", "content_hash", "string"),
    "timestamp": ("arrived_at", "arrival_day", "timestamp"),
}
"""Schema role -> (column name, derivation, type) of the column made up when the spec omits the role."""


class ColumnSpec(_Strict):
    """A declared column. ``derived`` is set only on a column the factory makes up for an omitted role
    (`SchemaSpec`); sources never deliver it."""

    name: str
    type: Literal["string", "timestamp", "integer", "float"] = "string"
    required: bool = False
    values: tuple[str, ...] | None = None
    max_length: Annotated[int, Field(gt=0)] | None = None
    derived: Derived | None = None


class SchemaSpec(_Strict):
    """The columns and their roles. Each role may be omitted:

    - no ``id``: a derived string column ``row_id``, the row's content hash
      (`factory.core.ingestion.content_hash_ids`: ``h`` and 20 hex digits of a SHA-256 over the delivered
      columns' values as delivered text, in declared order), so identical rows share an id;
    - no ``timestamp``: a derived timestamp column ``arrived_at``, midnight UTC of the day the rows landed in
      (the partition day: for a file, the day the file is filed under);
    - no ``group``: the id column.

    After loading, ``id``, ``timestamp`` and ``group`` always name a column, and derived columns are in
    ``columns`` (after the declared ones) with ``derived`` set; `delivered_columns` lists what sources deliver.
    A declared column named ``row_id`` or ``arrived_at`` must be the role's column when that role is omitted.
    """

    id: str
    timestamp: str
    group: str
    columns: tuple[ColumnSpec, ...]

    @model_validator(mode="before")
    @classmethod
    def _derive_omitted_roles(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("columns"), list | tuple):
            return data
        data = dict(data)
        columns = list(data["columns"])
        names = [c.get("name") if isinstance(c, dict) else getattr(c, "name", None) for c in columns]
        for role, (name, how, kind) in DERIVED_COLUMNS.items():
            if data.get(role) is not None:
                continue
            if name in names:
                raise ValueError(
                    f"schema.{role} is omitted, so the factory derives a column '{name}' ({how}), but a column of "
                    f"that name is declared: declare `{role}: {name}` if it is your {role} column, or rename it"
                )
            columns.append({"name": name, "type": kind, "required": True, "derived": how})
            data[role] = name
        if data.get("group") is None:
            data["group"] = data["id"]
        data["columns"] = columns
        return data

    @model_validator(mode="after")
    def _keys_are_columns(self) -> SchemaSpec:
        names = [c.name for c in self.columns]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"columns declared twice: {duplicated}")
        for column in self.columns:
            if column.derived is None:
                continue
            role, (name, _, kind) = next((r, d) for r, d in DERIVED_COLUMNS.items() if d[1] == column.derived)
            if (column.name, column.type, getattr(self, role), column.required) != (name, kind, name, True):
                raise ValueError(
                    f"column '{column.name}': `derived: {column.derived}` is set by the factory on the column "
                    f"'{name}' it adds when schema.{role} is omitted; omit schema.{role} instead of declaring it"
                )
        for role in ("id", "timestamp", "group"):
            column = getattr(self, role)
            if column not in names:
                raise ValueError(f"schema.{role} names '{column}', which is not among the columns {names}")
        by_name = {c.name: c for c in self.columns}
        if by_name[self.timestamp].type != "timestamp":
            raise ValueError(f"schema.timestamp column '{self.timestamp}' must have type timestamp")
        for role in ("id", "timestamp", "group"):
            if not by_name[getattr(self, role)].required:
                raise ValueError(f"the {role} column '{getattr(self, role)}' must be required")
        keys = {"id": self.id, "timestamp": self.timestamp, "group": self.group}
        truncated = [c.name for c in self.columns if c.max_length is not None]
        check_columns(names, keys, truncated, exempt=(LABEL_COLUMN_NAME,))  # the use case checks it (labels)
        return self

    def column_names(self) -> list[str]:
        """Every column, derived ones included: the columns of the raw and prepared tables."""
        return [c.name for c in self.columns]

    def delivered_columns(self) -> list[str]:
        """The columns sources deliver (the declared ones, without the derived)."""
        return [c.name for c in self.columns if c.derived is None]

    def derived_columns(self) -> dict[str, Derived]:
        """The derived columns and how each is made."""
        return {c.name: c.derived for c in self.columns if c.derived is not None}


class NearDuplicateSpec(_Strict):
    threshold: Annotated[float, Field(gt=0, le=1)] = 0.8
    num_perm: Annotated[int, Field(ge=8, le=1024)] = 64
    bands: Annotated[int, Field(ge=1)] = 16

    @model_validator(mode="after")
    def _bands_divide(self) -> NearDuplicateSpec:
        if self.num_perm % self.bands:
            raise ValueError(f"num_perm ({self.num_perm}) must be a multiple of bands ({self.bands})")
        return self


_DUPLICATE_COLUMNS = frozenset({"duplicate_of", "kind", "similarity"})
"""Columns of the ``duplicates`` table beside the id and the label columns it keeps."""

_DURATION = re.compile(r"^[1-9][0-9]*(h|d|w)$")


class ReviewSpec(_Strict):
    """The review queue: at most ``budget`` items a day, split between the reasons by ``quotas`` (shares of the budget
    for ``label_error``, ``disagreement``, ``low_confidence`` and ``rare_class``; the rest of the budget goes to the
    best combined scores). ``label_conflict`` (items that copies of the same row in pre-labeled data labeled
    differently) is served first, from its own share (0.2 unless given; 0 turns it off), and the other shares divide
    what is left: a day without conflicts is queued as if it did not exist. ``confidence_below`` is the model confidence
    under which an item counts as uncertain, ``rare_share`` the share of labels under which a class counts as rare, and
    ``folds`` the number of folds of the out-of-fold model whose probabilities cleanlab reads for label issues.
    ``enabled: false`` switches the queue off (the asset writes an empty queue and says so; nothing is fitted).
    ``max_fit_rows`` bounds its cost: the out-of-fold models fit on a stratified sample of at most that many of the
    day's labeled items (every item is still predicted by a model that did not see it); a day with fewer items fits them
    all. From ``fast_from_classes`` classes on (by default always), those models are fitted by a few SAGA epochs
    instead of L-BFGS to convergence: the same label issues at a fraction of the cost (`bench/review.py`: 1.1-6x
    faster from 2 to 80 classes, precision and recall within one item of L-BFGS's)."""

    enabled: bool = True
    max_fit_rows: Annotated[int, Field(ge=2, le=1_000_000)] = 5_000
    fast_from_classes: Annotated[int, Field(ge=2)] = 2
    budget: Annotated[int, Field(ge=0, le=100_000)] = 100
    quotas: dict[str, Annotated[float, Field(ge=0, le=1)]] = Field(
        default_factory=lambda: {
            "label_conflict": 0.2,
            "label_error": 0.4,
            "disagreement": 0.25,
            "low_confidence": 0.2,
            "rare_class": 0.15,
        }
    )
    confidence_below: Annotated[float, Field(gt=0, le=1)] = 0.5
    rare_share: Annotated[float, Field(ge=0, le=1)] = 0.05
    folds: Annotated[int, Field(ge=2, le=20)] = 5

    @field_validator("quotas")
    @classmethod
    def _known_reasons(cls, quotas: dict[str, float]) -> dict[str, float]:
        reasons = ("label_conflict", "label_error", "disagreement", "low_confidence", "rare_class")
        unknown = sorted(set(quotas) - set(reasons))
        if unknown:
            raise ValueError(f"quotas name unknown reasons {unknown}; reasons are {list(reasons)}")
        shared = sum(share for reason, share in quotas.items() if reason != "label_conflict")
        if shared > 1 + 1e-9:
            raise ValueError(f"quotas add up to {shared:g} besides label_conflict, more than the whole budget")
        return {"label_conflict": 0.2, **quotas}


class LabelingSpec(_Strict):
    """Label set, annotation sources, aggregation and the labeling gates.

    ``method`` aggregates annotations by Dawid-Skene (``ds``, the default: a confusion matrix per annotator,
    labels with their posterior confidence) or majority vote (``mv``). ``agreement_floor`` is the blocking
    gate: Krippendorff's alpha among the annotators not flagged as spammers (0 accepts items with a single
    annotation). ``gold_accuracy_floor`` warns about annotators under it on gold items (those with at least
    ``min_gold_items`` of them). Labeler drift compares each annotator's agreement with the consensus in
    ``drift_window`` windows over the last ``drift_lookback_days`` days and warns on a drop over
    ``drift_drop``. ``sources`` lists the annotation sources by kind (``demo``: the simulated crowd;
    ``files``: an annotation inbox); omitted, they are the demo crowd when the use case has a demo data source,
    plus ``imports`` (the older spelling of one ``files`` source) when given. ``annotators``, when given, is
    the list of known annotators of imported files (others are rejected). Production corrections become
    annotations with provenance ``feedback`` weighing ``feedback_weight`` (human annotations weigh 1; majority
    vote ignores weights).
    """

    classes: tuple[str, ...]
    annotations_per_item: Annotated[int, Field(ge=1, le=20)] = 3
    gold_share: Annotated[float, Field(ge=0, le=1)] = 0.05
    method: Literal["ds", "mv"] = "ds"
    agreement_floor: Annotated[float, Field(ge=0, le=1)] = 0.6
    gold_accuracy_floor: Annotated[float, Field(ge=0, le=1)] = 0.6
    min_gold_items: Annotated[int, Field(ge=1)] = 20
    drift_window: str = "1d"
    drift_drop: Annotated[float, Field(gt=0, le=1)] = 0.15
    drift_min_items: Annotated[int, Field(ge=1)] = 50
    drift_lookback_days: Annotated[int, Field(ge=1, le=366)] = 28
    feedback_weight: Annotated[float, Field(ge=0, le=100)] = 1.0
    annotators: tuple[str, ...] | None = None
    sources: tuple[AnnotationSourceSpec, ...] | None = None
    imports: AnnotationInboxSpec | None = None
    review: ReviewSpec = ReviewSpec()

    @model_validator(mode="after")
    def _one_form(self) -> LabelingSpec:
        if self.sources is not None and self.imports is not None:
            raise ValueError(
                "labeling.imports is the older form of a `files` entry in labeling.sources: give one or the other"
            )
        return self

    @field_validator("classes")
    @classmethod
    def _distinct_classes(cls, classes: tuple[str, ...]) -> tuple[str, ...]:
        if len(classes) < 2:
            raise ValueError("a label set needs at least two classes")
        if len(set(classes)) != len(classes):
            raise ValueError(f"classes repeated: {sorted({c for c in classes if classes.count(c) > 1})}")
        return classes

    @field_validator("drift_window")
    @classmethod
    def _window(cls, window: str) -> str:
        if not _DURATION.match(window):
            raise ValueError(f"drift_window must be a number of hours, days or weeks such as 1d, 12h, 1w: {window!r}")
        return window

    @field_validator("annotators")
    @classmethod
    def _distinct_annotators(cls, annotators: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if annotators is not None:
            if not annotators:
                raise ValueError("annotators, when given, must name at least one annotator (omit it to accept any)")
            if len(set(annotators)) != len(annotators):
                raise ValueError(f"annotators repeated: {sorted({a for a in annotators if annotators.count(a) > 1})}")
        return annotators


class SplitSpec(_Strict):
    """Split shares by a salted hash of the group key; ``holdout_after`` (a fixed UTC moment) optionally sends
    every row stamped at or after it to ``test`` (a time holdout). Changing any of these moves examples: treat
    them as part of the dataset's definition."""

    train: Annotated[float, Field(gt=0, lt=1)] = 0.8
    validation: Annotated[float, Field(gt=0, lt=1)] = 0.1
    test: Annotated[float, Field(gt=0, lt=1)] = 0.1
    salt: str
    holdout_after: datetime | None = None

    @field_validator("holdout_after")
    @classmethod
    def _as_utc(cls, moment: datetime | None) -> datetime | None:
        if moment is None:
            return None
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitSpec:
        total = self.train + self.validation + self.test
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"split fractions must sum to 1, they sum to {total:g}")
        return self

    def fractions(self) -> dict[str, float]:
        return {"train": self.train, "validation": self.validation, "test": self.test}


class GateSpec(_Strict):
    """Dataset gate thresholds. ``severities`` maps a gate name (see `factory.core.validation.GATES`) to
    ``error`` (blocks publishing) or ``warn``."""

    min_rows: Annotated[int, Field(ge=1)] = 500
    min_class_share: Annotated[float, Field(ge=0, lt=1)] = 0.002
    min_class_examples: Annotated[int, Field(ge=0)] = 10
    max_low_confidence_share: Annotated[float, Field(ge=0, le=1)] = 0.2
    confidence_floor: Annotated[float, Field(ge=0, le=1)] = 0.6
    severities: dict[str, Literal["error", "warn"]] = Field(default_factory=dict)
    quality_metric: Literal["macro_f1", "accuracy"] = "macro_f1"
    quality_floor: Annotated[float, Field(ge=0, le=1)] = 0.5
    champion_tolerance: Annotated[float, Field(ge=0, le=1)] = 0.0


CandidateName = Literal["majority", "tfidf_logreg", "complement_nb", "tfidf_svm", "onehot_logreg", "hist_gb"]
# The default ladders, cheapest first: the order is the cost order the selection rule climbs.
TEXT_CANDIDATES: tuple[CandidateName, ...] = ("majority", "complement_nb", "tfidf_logreg", "tfidf_svm")
TABULAR_CANDIDATES: tuple[CandidateName, ...] = ("majority", "onehot_logreg", "hist_gb")
# What each candidate reads: a candidate that reads text needs a text column, one that reads only features a
# feature column (the majority baseline reads nothing).
CANDIDATE_INPUTS: dict[str, Literal["none", "text", "features"]] = {
    "majority": "none",
    "tfidf_logreg": "text",
    "complement_nb": "text",
    "tfidf_svm": "text",
    "onehot_logreg": "features",
    "hist_gb": "features",
}


class SelectionSpec(_Strict):
    """How the ladder of `models.candidates` (cheapest first) is climbed. Each candidate's small hyperparameter
    grid is searched by ``cv_folds``-fold cross-validation on the training split, within ``time_budget_seconds``
    for all candidates together (a candidate's default configuration is always tried). Each candidate's best
    configuration is fit on train and scored on validation with a bootstrap interval (``bootstrap`` resamples).
    The cheapest candidate whose validation metric is within ``tolerance`` of the best is chosen: ``one_se`` (the
    default) is the best candidate's bootstrap standard error (the one-standard-error rule) but at most
    ``max_loss``, a number a fixed margin. The cap is there because the rule alone trades more than a data engineer
    expects: on the demo's tickets it chose naive Bayes 0.006 under the linear SVM on validation and 0.011 under
    it on test (validation sets of 1,500 rows have a standard error near 0.01); set ``max_loss: 1`` for the plain
    rule. The choice is refit on train + validation; the test split is scored once, by the refit model.
    ``search_max_rows`` bounds the search: it cross-validates on a stratified sample of at most that many train
    rows (every other fit uses all of them), so its cost stops growing with the data (None: all rows).
    ``workers`` processes search, fit and score the candidates side by side (each with one thread and a copy of
    the train and validation splits; the results are the same as one after another); 1 keeps a retrain in its
    run's process."""

    tolerance: Literal["one_se"] | Annotated[float, Field(ge=0, le=1)] = "one_se"
    max_loss: Annotated[float, Field(ge=0, le=1)] = 0.002
    time_budget_seconds: Annotated[float, Field(gt=0)] = 300.0
    cv_folds: Annotated[int, Field(ge=2, le=10)] = 3
    bootstrap: Annotated[int, Field(ge=20, le=10_000)] = 200
    search_max_rows: Annotated[int, Field(ge=100)] | None = 4_000
    workers: Annotated[int, Field(ge=1, le=16)] = 2


class PromotionSpec(_Strict):
    """When a challenger replaces the champion. Both models are scored on the challenger's test split, overall and
    in each slice of ``models.slices`` with at least ``models.min_slice_support`` rows (the gated slices); a paired
    bootstrap (``bootstrap`` resamples, ``confidence``) decides whether the challenger is worse by more than the
    tolerance: ``gates.champion_tolerance`` overall, ``slice_tolerance`` in a slice. Production feedback of the
    last ``feedback_days`` days is scored for both models in shadow when it covers at least ``min_feedback``
    items. No red-team test's failure rate may rise by more than ``redteam_margin``."""

    slice_tolerance: Annotated[float, Field(ge=0, le=1)] = 0.02
    confidence: Annotated[float, Field(gt=0.5, lt=1)] = 0.95
    bootstrap: Annotated[int, Field(ge=50, le=10_000)] = 1000
    feedback_days: Annotated[int, Field(ge=1, le=365)] = 7
    min_feedback: Annotated[int, Field(ge=1)] = 50
    redteam_margin: Annotated[float, Field(ge=0, le=1)] = 0.02


class ModelSpec(_Strict):
    """Model candidates: a ladder, listed cheapest first (the order is the cost order: the selection rule picks
    the earliest candidate within tolerance of the best). ``majority`` predicts the most frequent class;
    ``complement_nb`` complement naive Bayes over TF-IDF word uni- and bigrams of the joined text columns plus the
    features; ``tfidf_logreg`` a logistic regression over the same word n-grams plus the features (categorical
    one-hot, numeric imputed and scaled); ``tfidf_svm`` a linear SVM over word and character n-grams plus the
    features; ``onehot_logreg`` the same linear model over the features alone; ``hist_gb`` gradient-boosted trees
    (scikit-learn's HistGradientBoostingClassifier) over the features, categoricals natively. The chosen model's
    probabilities are calibrated (temperature scaling) unless that makes them worse on validation. Omitted, the
    candidates are
    ``majority, complement_nb, tfidf_logreg, tfidf_svm`` for a use case with text columns and ``majority,
    onehot_logreg, hist_gb`` for one without. A feature column's kind follows its schema type: integer and float
    are numeric, string is categorical.

    ``selection`` says how the ladder is climbed (`SelectionSpec`). ``slices`` names string columns whose values
    are slices: metrics are reported per slice with support counts, and a slice with at least
    ``min_slice_support`` test rows is gated at promotion (`PromotionSpec`); smaller ones are reported only."""

    candidates: tuple[CandidateName, ...] = TEXT_CANDIDATES
    seed: int = 13
    max_features: Annotated[int, Field(ge=100)] = 50_000
    selection: SelectionSpec = SelectionSpec()
    slices: tuple[str, ...] = ()
    min_slice_support: Annotated[int, Field(ge=1)] = 30


class RedTeamSpec(_Strict):
    """The red-team regression suite run on every registered model (`factory.core.redteam`), CheckList-style.

    Minimum-functionality cases (inputs that must get a label) and directional expectations (a change that must
    move a class's probability one way) come from the use case's red-team file, ``redteam/<name>.yaml`` in the
    folder of the spec (``file`` names another path, relative to that folder); without the file the use case
    still gets the invariance tests. The invariance tests in ``tests`` (default: all that apply; text tests need a
    text column, ``numeric_jitter`` a float feature) are generated from the test split to fill the suite up to
    ``cases`` cases, each drawn by a generator seeded with ``seed``. ``numeric_jitter`` moves float features by at
    most ``jitter`` of their value. ``enabled: false`` skips the suite."""

    enabled: bool = True
    cases: Annotated[int, Field(ge=0, le=100_000)] = 1000
    seed: int = 17
    tests: tuple[str, ...] = INVARIANCE_TESTS
    jitter: Annotated[float, Field(gt=0, le=0.1)] = 0.001
    file: str | None = None

    @field_validator("tests")
    @classmethod
    def _known_tests(cls, tests: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(tests) - set(INVARIANCE_TESTS))
        if unknown:
            raise ValueError(f"unknown red-team tests {unknown}; the invariance tests are {list(INVARIANCE_TESTS)}")
        return tests


class DriftSpec(_Strict):
    """The drift report's bounds (see `factory.core.monitoring` for every measure).

    ``threshold`` applies to the day's headline drift score, the largest of its components on the PSI scale
    (predicted-label mix, confidence, text length, vocabulary and out-of-vocabulary rate, one per feature), and
    to the verdicts of the text components. Per kind, a verdict is drifted when its effect reaches the threshold
    and, where a test applies, the chi-squared test of the bins or categories is significant at ``alpha``:
    ``numeric_wasserstein`` (Wasserstein distance in reference standard deviations, numeric features and
    confidence), ``category_share`` (largest change of one category's share: categorical features, predicted
    labels, missing values), ``domain_auc`` (ROC AUC of a classifier telling reference texts from the day's).
    ``cooldown_hours`` spaces the retrains the drift sensor asks for; ``release`` is the score under which an
    episode of requests ends (hysteresis: within one the sensor asks at ``release``, not ``threshold``; default
    half the threshold; `factory.core.monitoring.decide`)."""

    threshold: Annotated[float, Field(gt=0)] = 0.2
    release: Annotated[float, Field(gt=0)] | None = None
    cooldown_hours: Annotated[float, Field(ge=0)] = 24.0
    numeric_wasserstein: Annotated[float, Field(gt=0)] = 0.05
    category_share: Annotated[float, Field(gt=0, lt=1)] = 0.02
    domain_auc: Annotated[float, Field(gt=0.5, lt=1)] = 0.55
    alpha: Annotated[float, Field(gt=0, lt=1)] = 0.001

    @property
    def release_score(self) -> float:
        """``release``, or half the threshold when it is not set."""
        return self.threshold / 2.0 if self.release is None else self.release

    @model_validator(mode="after")
    def _release_under_threshold(self) -> DriftSpec:
        if self.release is not None and self.release > self.threshold:
            raise ValueError(f"drift.release ({self.release}) must not exceed drift.threshold ({self.threshold})")
        return self


class HealthBounds(_Strict):
    """A KPI's yellow and red bounds (either may be left out: no such verdict). Whether a high or a low value is
    the bad one is the KPI's own (`HealthSpec`): a rate turns yellow at or above ``yellow``; a level (agreement,
    a metric) turns yellow below it."""

    yellow: float | None = None
    red: float | None = None


def _bounds(yellow: float | None, red: float | None) -> Any:
    return Field(default_factory=lambda: HealthBounds(yellow=yellow, red=red))


HEALTH_LOWER_IS_WORSE = frozenset({"rows_in", "annotations", "agreement", "champion_metric"})
"""The `HealthSpec` KPIs whose low values are the bad ones; for every other KPI a high value is."""


class HealthSpec(_Strict):
    """Bounds of the factory health view (the ``factory_health`` asset and ``factory health NAME``), per KPI, over
    the last ``window_days`` days. Rates and counts turn yellow / red at or above their bounds; the levels
    (``rows_in``, ``annotations``, ``agreement``, ``champion_metric``) below them. Three default to other
    sections: ``agreement`` to red under ``labeling.agreement_floor`` and yellow under it plus 0.1,
    ``champion_metric`` to red under ``gates.quality_floor`` and yellow under it plus 0.05, ``drift_score`` to
    yellow from ``drift.threshold`` (the drift sensor's retrain is under way) and red from twice the threshold.
    A failed blocking gate turns its layer red whatever the KPIs."""

    window_days: Annotated[int, Field(ge=2, le=366)] = 30
    rows_in: HealthBounds = _bounds(1, None)
    quarantine_rate: HealthBounds = _bounds(0.05, 0.2)
    duplicate_rate: HealthBounds = _bounds(0.2, 0.5)
    pii_row_share: HealthBounds = _bounds(None, None)
    annotations: HealthBounds = _bounds(1, None)
    agreement: HealthBounds | None = None
    spammers: HealthBounds = _bounds(2, 5)
    champion_metric: HealthBounds | None = None
    drift_score: HealthBounds | None = None
    estimated_drop: HealthBounds = _bounds(0.02, 0.05)
    realized_drop: HealthBounds = _bounds(0.02, 0.05)
    ready_coverage: Annotated[float, Field(ge=0, le=1)] = 0.5

    @model_validator(mode="after")
    def _ordered(self) -> HealthSpec:
        for name in type(self).model_fields:
            bounds = getattr(self, name)
            if not isinstance(bounds, HealthBounds) or bounds.yellow is None or bounds.red is None:
                continue
            lower = name in HEALTH_LOWER_IS_WORSE
            if (bounds.yellow < bounds.red) if lower else (bounds.yellow > bounds.red):
                word = "at or above" if lower else "at or below"
                raise ValueError(f"health.{name}: yellow {bounds.yellow} must be {word} red {bounds.red}")
        return self


class RetrainSpec(_Strict):
    """What a retrain is worth: the drift sensor requests one only when the errors it is expected to avoid over
    ``horizon_days`` cost more than the retrain (`factory.core.monitoring.decide`). Costs are in one unit of your
    choosing (money, or errors: the defaults price an error at 1 and a CPU-second at 1).

    ``cost_per_error`` is what one wrong prediction costs. ``retrain_cost`` is the cost of one retrain; when
    unset, it is the CPU-seconds the last retrain measured (the ``model`` asset records them; before any,
    ``assumed_cpu_seconds``) times ``cost_per_cpu_second``. ``min_new_labeled_rows`` labeled rows must have
    arrived since the published dataset version. The drop in quality is realized from feedback once
    ``min_feedback_rows`` corrections arrived for the day, else estimated without labels; only the part beyond
    ``noise_margin`` counts, or two standard errors of the drop when that is more (the bootstrap errors of the
    day's estimate and of the test split's; for a realized figure, its error over the corrections, at least
    `factory.core.monitoring.thin_class_error` for macro F1, and the test figure's)."""

    cost_per_error: Annotated[float, Field(ge=0)] = 1.0
    retrain_cost: Annotated[float, Field(ge=0)] | None = None
    cost_per_cpu_second: Annotated[float, Field(ge=0)] = 1.0
    assumed_cpu_seconds: Annotated[float, Field(ge=0)] = 60.0
    horizon_days: Annotated[float, Field(gt=0, le=365)] = 7.0
    min_new_labeled_rows: Annotated[int, Field(ge=0)] = 200
    min_feedback_rows: Annotated[int, Field(ge=1)] = 200
    noise_margin: Annotated[float, Field(ge=0, le=1)] = 0.02


class UseCaseSpec(_Strict):
    name: str
    description: str
    start_date: SpecDate
    sources: tuple[SourceSpec, ...]
    schema_: SchemaSpec = Field(alias="schema")
    text_columns: tuple[str, ...] = ()
    feature_columns: tuple[str, ...] = ()
    labeling: LabelingSpec
    near_duplicates: NearDuplicateSpec = NearDuplicateSpec()
    custom_pii: dict[str, str] = Field(default_factory=dict)
    splits: SplitSpec
    gates: GateSpec = GateSpec()
    models: ModelSpec = ModelSpec()
    promotion: PromotionSpec = PromotionSpec()
    redteam: RedTeamSpec = RedTeamSpec()
    drift: DriftSpec = DriftSpec()
    retrain: RetrainSpec = RetrainSpec()
    feedback: FeedbackSpec = FeedbackSpec()
    health: HealthSpec = HealthSpec()

    @field_validator("name")
    @classmethod
    def _name_is_identifier(cls, name: str) -> str:
        if not _NAME.match(name):
            raise ValueError(f"'{name}' must be lower-case letters, digits and underscores, 2-41 characters")
        return name

    @field_validator("custom_pii")
    @classmethod
    def _patterns_compile(cls, patterns: dict[str, str]) -> dict[str, str]:
        check_custom_pii(patterns)
        return patterns

    @model_validator(mode="after")
    def _consistent(self) -> UseCaseSpec:
        names = self.schema_.column_names()
        for field_name in ("text_columns", "feature_columns"):
            unknown = [c for c in getattr(self, field_name) if c not in names]
            if unknown:
                raise ValueError(f"{field_name} name columns not in the schema: {unknown}")
            derived = [c for c in getattr(self, field_name) if c in self.schema_.derived_columns()]
            if derived:
                raise ValueError(f"{field_name} name columns the factory derives, not model inputs: {derived}")
        self._check_inputs()
        if not self.sources:
            raise ValueError("a use case needs at least one source")
        source_names = [s.name for s in self.sources]
        if len(set(source_names)) != len(source_names):
            raise ValueError(f"source names repeated: {source_names}")
        for source in self.sources:
            if not _NAME.match(source.name):
                raise ValueError(f"source name '{source.name}' must be lower-case letters, digits and underscores")
            if isinstance(source, DemoSourceSpec) and source.drift_start and source.drift_start < self.start_date:
                raise ValueError(f"source '{source.name}' drift_start is before the use case start_date")
            if (
                isinstance(source, FileSourceSpec)
                and source.partition_by == "timestamp"
                and self.schema_.timestamp in self.schema_.derived_columns()
            ):
                raise ValueError(
                    f"source '{source.name}' is partitioned by timestamp, but schema.timestamp is omitted (the "
                    "arrival day stands in for it): declare the timestamp column, or use `partition_by: file_date` "
                    "or `batch`"
                )
        self._check_plugin_sources()
        self._check_label_columns()
        self._check_paths()
        if self.gates.min_class_share * len(self.labeling.classes) >= 1:
            raise ValueError(
                f"gates.min_class_share {self.gates.min_class_share} times {len(self.labeling.classes)} classes "
                "is at least 1: no dataset could pass"
            )
        return self

    @model_validator(mode="before")
    @classmethod
    def _default_candidates(cls, data: Any) -> Any:
        """Without ``models.candidates``, the candidates suit the inputs (`ModelSpec`)."""
        if not isinstance(data, dict):
            return data
        models = data.get("models", {})
        if isinstance(models, dict) and "candidates" not in models:
            default = TEXT_CANDIDATES if data.get("text_columns") else TABULAR_CANDIDATES
            return {**data, "models": {**models, "candidates": list(default)}}
        return data

    def _check_inputs(self) -> None:
        """At least one model input; text columns are strings, feature columns strings or numbers, none both;
        every candidate finds the inputs it reads."""
        if not self.text_columns and not self.feature_columns:
            raise ValueError("a model needs inputs: text_columns and feature_columns cannot both be empty")
        for field_name in ("text_columns", "feature_columns"):
            names = getattr(self, field_name)
            repeated = sorted({c for c in names if names.count(c) > 1})
            if repeated:
                raise ValueError(f"{field_name} repeat columns: {repeated}")
        both = sorted(set(self.text_columns) & set(self.feature_columns))
        if both:
            raise ValueError(f"columns are both text and feature columns: {both}")
        by_name = {c.name: c for c in self.schema_.columns}
        wrong_text = [c for c in self.text_columns if by_name[c].type != "string"]
        if wrong_text:
            raise ValueError(f"text_columns must have type string: {wrong_text}")
        wrong_features = [c for c in self.feature_columns if by_name[c].type == "timestamp"]
        if wrong_features:
            raise ValueError(
                f"feature_columns must have type string (categorical), integer or float (numeric): {wrong_features}"
            )
        for name in self.models.candidates:
            reads = CANDIDATE_INPUTS[name]
            if reads == "text" and not self.text_columns:
                raise ValueError(f"models.candidates: {name} reads text, and the use case has no text_columns")
            if reads == "features" and not self.feature_columns:
                raise ValueError(f"models.candidates: {name} reads features, and the use case has no feature_columns")
        keys = {self.schema_.id, self.schema_.timestamp}
        for column in self.models.slices:
            declared = by_name.get(column)
            if declared is None or declared.type != "string" or column in keys or column in self.text_columns:
                raise ValueError(
                    f"models.slices: '{column}' must be a string column of the schema that is neither the id, the "
                    "timestamp nor a text column"
                )

    @property
    def numeric_features(self) -> tuple[str, ...]:
        """The feature columns of type integer or float, in spec order."""
        by_name = {c.name: c for c in self.schema_.columns}
        return tuple(c for c in self.feature_columns if by_name[c].type in ("integer", "float"))

    @property
    def categorical_features(self) -> tuple[str, ...]:
        """The feature columns of type string, in spec order."""
        numeric = set(self.numeric_features)
        return tuple(c for c in self.feature_columns if c not in numeric)

    @property
    def schema(self) -> SchemaSpec:  # type: ignore[override]  # pydantic reserves `schema`; the YAML key is `schema`
        return self.schema_

    def _check_paths(self) -> None:
        for index, source in enumerate(self.sources):
            if isinstance(source, FileSourceSpec | DatabaseFileSourceSpec):
                check_input_path(f"sources.{index} ({source.name}).path", source.path, source.allow_outside)
        for entry in (*self.annotation_sources, *self.feedback_sources):
            if isinstance(entry, FilesAnnotationSourceSpec | FilesFeedbackSourceSpec):
                check_input_path(f"source '{entry.name}' path", entry.path, entry.allow_outside)
            if isinstance(entry, FilesAnnotationSourceSpec):
                check_input_path(f"source '{entry.name}' gold", entry.gold, entry.allow_outside)

    def _check_label_columns(self) -> None:
        """A ``column`` annotation source names a string column of the schema that is no key and no model input;
        only such a column may be named ``label`` (the dataset's own label column otherwise)."""
        by_name = {c.name: c for c in self.schema_.columns}
        inputs = set(self.text_columns) | set(self.feature_columns)
        keys = {self.schema_.id, self.schema_.timestamp, self.schema_.group}
        given = {e.column for e in self.annotation_sources if isinstance(e, ColumnAnnotationSourceSpec)}
        for name in by_name:
            if name.casefold() == LABEL_COLUMN_NAME and name not in given:
                raise ValueError(
                    f"column '{name}' is a name the factory adds to the use case's tables; rename it, or make it the "
                    "column of a `column` annotation source (labeling.sources) if it holds the data's labels"
                )
        for entry in self.annotation_sources:
            if not isinstance(entry, ColumnAnnotationSourceSpec):
                continue
            where = f"labeling.sources '{entry.name}' (kind column)"
            declared = by_name.get(entry.column)
            if declared is None:
                raise ValueError(f"{where} names column '{entry.column}', which is not among the schema's columns")
            if declared.type != "string":
                raise ValueError(f"{where}: column '{entry.column}' must have type string, not {declared.type}")
            if entry.column in inputs:
                raise ValueError(
                    f"{where}: column '{entry.column}' is a text or feature column; a label used as a model input "
                    "leaks it into the model"
                )
            if entry.column in keys:
                raise ValueError(f"{where}: column '{entry.column}' is the schema's id, timestamp or group key")
            if entry.column.casefold() in _DUPLICATE_COLUMNS:
                raise ValueError(
                    f"{where}: column '{entry.column}' would collide with a column of the duplicates table, which "
                    f"keeps a removed row's label (reserved there: {', '.join(sorted(_DUPLICATE_COLUMNS))})"
                )

    def _check_plugin_sources(self) -> None:
        for section, entries in (
            ("labeling.sources", self.annotation_sources),
            ("feedback.sources", self.feedback_sources),
        ):
            names = [entry.name for entry in entries]
            if len(set(names)) != len(names):
                raise ValueError(f"{section}: names repeated: {names}")
            for entry in entries:
                if not _NAME.match(entry.name):
                    raise ValueError(
                        f"{section}: name '{entry.name}' must be lower-case letters, digits and underscores"
                    )
                if isinstance(entry, DemoAnnotationSourceSpec | DemoFeedbackSourceSpec):
                    self.demo_data_source(entry.source, f"{section} '{entry.name}'")

    @property
    def demo_source(self) -> DemoSourceSpec | None:
        """The first demo data source; None for real-data use cases."""
        return next((s for s in self.sources if isinstance(s, DemoSourceSpec)), None)

    def demo_data_source(self, name: str | None, where: str = "a demo kind") -> DemoSourceSpec:
        """The demo data source a demo annotation or feedback source simulates (``name``, or the only one)."""
        demos = [s for s in self.sources if isinstance(s, DemoSourceSpec)]
        chosen = [s for s in demos if name is None or s.name == name]
        if name is None and len(demos) > 1:
            raise ValueError(f"{where}: name the demo data source (`source`), one of {[s.name for s in demos]}")
        if not chosen:
            wanted = f"a demo data source named '{name}'" if name else "a demo data source"
            raise ValueError(f"{where} needs {wanted} among the sources")
        return chosen[0]

    @property
    def annotation_sources(self) -> tuple[_AnnotationSource, ...]:
        """The annotation sources: ``labeling.sources``, or the older implicit form (the demo crowd when there
        is a demo data source, then ``labeling.imports`` as a ``files`` source named ``inbox``)."""
        if self.labeling.sources is not None:
            return self.labeling.sources
        implicit: list[_AnnotationSource] = []
        if self.demo_source is not None:
            implicit.append(DemoAnnotationSourceSpec(kind="demo", source=self.demo_source.name))
        if self.labeling.imports is not None:
            fields = self.labeling.imports.model_dump()
            implicit.append(FilesAnnotationSourceSpec(kind="files", **fields))
        return tuple(implicit)

    @property
    def label_columns(self) -> tuple[str, ...]:
        """The columns of the data that hold labels (the ``column`` annotation sources' columns), each once."""
        columns = (s.column for s in self.annotation_sources if isinstance(s, ColumnAnnotationSourceSpec))
        return tuple(dict.fromkeys(columns))

    @property
    def feedback_sources(self) -> tuple[DemoFeedbackSourceSpec | FilesFeedbackSourceSpec | PluginSourceSpec, ...]:
        """The feedback sources: ``feedback.sources``, or the demo agents when there is a demo data source."""
        if self.feedback.sources is not None:
            return self.feedback.sources
        if self.demo_source is not None:
            return (DemoFeedbackSourceSpec(kind="demo", source=self.demo_source.name),)
        return ()


def _format_errors(path: Path, error: ValidationError) -> str:
    lines = [f"{path}: {error.error_count()} problem(s) in the use-case spec"]
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"  - {where}: {item['msg']}")
    return "\n".join(lines)


def parse_spec(data: Any, origin: Path) -> UseCaseSpec:
    """Validate already-parsed YAML content."""
    if not isinstance(data, dict):
        raise SpecError(f"{origin}: a use-case spec must be a mapping, found {type(data).__name__}")
    try:
        return UseCaseSpec.model_validate(data)
    except ValidationError as exc:
        raise SpecError(_format_errors(origin, exc)) from None


def load_spec(path: Path) -> UseCaseSpec:
    """Load one use-case YAML file, raising ``SpecError`` with every problem found."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: cannot read the use-case spec: {exc}") from None
    try:
        data = yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506  # a SafeLoader subclass: safe_load's rules
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from None
    spec = parse_spec(data, path)
    if spec.name != path.stem:
        raise SpecError(f"{path}: the file name must match the use-case name '{spec.name}'")
    return spec


@dataclass(frozen=True)
class SpecLoad:
    """The use cases of a directory: the valid ones, and the message of every file that is not."""

    specs: list[UseCaseSpec] = field(default_factory=list)
    invalid: dict[Path, str] = field(default_factory=dict)


def check_specs(directory: Path) -> SpecLoad:
    """Load every ``*.yaml`` use case in a directory: the valid ones sorted by name, and each invalid file with
    its problems. A bad file disables its own use case only. ``SpecError`` when there is no file at all."""
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise SpecError(f"{directory}: no use-case files (*.yaml) found")
    loaded = SpecLoad()
    for path in files:
        try:
            loaded.specs.append(load_spec(path))
        except SpecError as exc:
            loaded.invalid[path] = str(exc)
    loaded.specs.sort(key=lambda s: s.name)
    return loaded


def load_specs(directory: Path) -> list[UseCaseSpec]:
    """The valid use cases of a directory, sorted by name. Each invalid file is logged as a warning with its
    problems and left out; ``SpecError`` when no file is valid (with every file's problems)."""
    loaded = check_specs(directory)
    for message in loaded.invalid.values():
        _log.warning("use case disabled, its spec is invalid: %s", message)
    if not loaded.specs:
        raise SpecError("\n".join(loaded.invalid.values()))
    return loaded.specs
