"""Which labels to look at again within a budget: the review policy, the queue and its Label Studio tasks.

`select_review_queue` picks at most ``budget`` items for a person to relabel. Each candidate may qualify
for review for one or more reasons (`REVIEW_REASONS`, thresholds in `ReviewPolicy`):

* ``label_conflict``: the data itself labeled the item differently (a removed duplicate and the row kept
  disagree: `factory.core.labeling.label_conflicts`; the candidates' optional ``label_conflict`` column);
  least confident first. Served before the others: up to its quota of the budget goes to conflicts, and the
  other quotas share the budget left, so a day without conflicts is queued exactly as if the reason did not
  exist;
* ``label_error``: cleanlab flags the label (``is_issue``); most suspicious first (lowest ``label_quality``);
* ``disagreement``: annotators disagree (``agreement`` below ``agreement_below``); least agreement first;
* ``low_confidence``: the model is unsure (``confidence`` below ``confidence_below``); least confident first;
* ``rare_class``: the label or the model's label is a rare class (share of the class counts below
  ``rare_share``); rare classes taken in turn, rarest first, least confident item of each first.

Each of the other reasons has a reserved share of the budget (``quotas``, apportioned by largest remainder,
ties to the reason listed first). Reasons are served in the order above; an item is taken once, for the first reason
that picks it. Slots a reason cannot fill, and the budget beyond the quotas, go to the remaining candidates
by a combined score, the ``weights``-weighted sum of four components in [0, 1]:

    label_error    0.5 * is_issue + 0.5 * (1 - label_quality)
    disagreement   1 - agreement
    low_confidence 1 - confidence
    rare_class     1 - count(rarer of label and model_label) / count(most frequent class)

(a null input makes its component 0), plus the ``label_conflict`` weight on items in conflict. The queue is
ordered by that score, highest first, and ``priority`` numbers it from 1. Every tie is broken by ``item_id``,
so the same candidates give the same queue.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import polars as pl

from factory.core.labeling._agreement import require_columns
from factory.core.labeling._label_studio_tasks import label_studio_tasks

__all__ = [
    "CANDIDATE_COLUMNS",
    "CONFLICT",
    "CONFLICT_SHARE",
    "ISSUE_SCHEMA",
    "REVIEW_REASONS",
    "ReviewPolicy",
    "require_unique_item_ids",
    "review_candidates",
    "review_tasks",
    "select_review_queue",
]

REVIEW_REASONS: tuple[str, ...] = ("label_conflict", "label_error", "disagreement", "low_confidence", "rare_class")
"""Why an item is worth a second look, in the order their quotas are served."""

CONFLICT = "label_conflict"
"""The reason served first, from its own share of the budget (module docstring)."""
_SHARED = REVIEW_REASONS[1:]
"""The reasons whose quotas share the budget left after the conflicts."""
CONFLICT_SHARE = 0.2
"""The default share of the budget for label conflicts (and weight of a conflict in the combined score)."""

CANDIDATE_COLUMNS: tuple[str, ...] = (
    "item_id",
    "label",
    "confidence",
    "model_label",
    "agreement",
    "is_issue",
    "label_quality",
)
"""The columns `select_review_queue` needs (`review_candidates` builds them)."""

_DEFAULT_SHARES = MappingProxyType(
    {CONFLICT: CONFLICT_SHARE, "label_error": 0.4, "disagreement": 0.25, "low_confidence": 0.2, "rare_class": 0.15}
)
ISSUE_SCHEMA: dict[str, pl.DataType] = {
    "label": pl.String(),
    "suggested_label": pl.String(),
    "confidence": pl.Float64(),
    "label_quality": pl.Float64(),
    "is_issue": pl.Boolean(),
}


"""The label-issue verdict of every item, after ``item_id`` (`factory.core.labeling._label_issues`)."""


@dataclass(frozen=True)
class ReviewPolicy:
    """How `select_review_queue` splits its budget (module docstring).

    ``quotas``: share of the budget reserved per reason (a reason left out gets none): ``label_conflict``'s
    share is taken first, the others (summing to at most 1) share what is left.
    ``weights``: weight of each reason's component in the combined score. ``agreement_below``: annotator
    agreement under which an item counts as disputed (1.0: any disagreement). ``confidence_below``: model
    confidence under which an item counts as uncertain. ``rare_share``: share of the class counts under
    which a class counts as rare.
    """

    quotas: Mapping[str, float] = field(default_factory=lambda: dict(_DEFAULT_SHARES))
    weights: Mapping[str, float] = field(default_factory=lambda: dict(_DEFAULT_SHARES))
    agreement_below: float = 1.0
    confidence_below: float = 0.5
    rare_share: float = 0.05

    def __post_init__(self) -> None:
        problems = []
        for name, shares in (("quotas", self.quotas), ("weights", self.weights)):
            unknown = sorted(set(shares) - set(REVIEW_REASONS))
            if unknown:
                problems.append(f"{name} name unknown reasons {unknown}; reasons are {list(REVIEW_REASONS)}")
            if any(not math.isfinite(value) or value < 0 for value in shares.values()):
                problems.append(f"{name} must be finite and non-negative")
        shared = sum(share for reason, share in self.quotas.items() if reason != CONFLICT)
        if shared > 1 + 1e-9 or self.quotas.get(CONFLICT, 0.0) > 1:
            problems.append(f"quotas add up to {shared:.3f} besides {CONFLICT}, more than the whole budget")
        if not 0 <= self.rare_share <= 1:
            problems.append("rare_share must be between 0 and 1")
        if problems:
            raise ValueError("inconsistent review policy: " + "; ".join(problems))
        object.__setattr__(self, "quotas", MappingProxyType(dict(self.quotas)))
        object.__setattr__(self, "weights", MappingProxyType(dict(self.weights)))


def require_unique_item_ids(frame: pl.DataFrame, name: str) -> None:
    ids = frame.get_column("item_id")
    if ids.null_count():
        raise ValueError(f"{name} has a null item_id")
    repeated = ids.filter(ids.is_duplicated()).unique().sort()
    if repeated.len():
        raise ValueError(f"{name} lists {repeated.len()} item(s) twice, e.g. {repeated.head(5).to_list()}")


def review_candidates(issues: pl.DataFrame, votes: pl.DataFrame | None = None) -> pl.DataFrame:
    """The input of `select_review_queue` from `find_label_issues` and, optionally, the labels of `aggregate`.

    Returns `CANDIDATE_COLUMNS`: ``model_label`` is the suggested label, ``agreement`` the annotator
    agreement from `votes` (null without votes, for items absent from them, and below two annotations).
    """
    require_columns(issues, ("item_id", *ISSUE_SCHEMA), "issues")
    candidates = issues.select(
        "item_id",
        "label",
        "confidence",
        pl.col("suggested_label").alias("model_label"),
        "is_issue",
        "label_quality",
    )
    if votes is None:
        agreement = pl.DataFrame(schema={"item_id": issues.schema["item_id"], "agreement": pl.Float64})
    else:
        require_columns(votes, ("item_id", "agreement"), "votes")
        agreement = votes.select(pl.col("item_id").cast(issues.schema["item_id"]), "agreement")
    return candidates.join(agreement, on="item_id", how="left").select(CANDIDATE_COLUMNS)


def _apportion(budget: int, quotas: Mapping[str, float]) -> dict[str, int]:
    """Slots per reason but ``label_conflict``: floor of each share of the budget, then the largest remainders
    (ties: reason order).

    When the reserved slots allow it, every reason with a positive quota gets at least one, taken from the
    reason holding the most slots, so a small budget still covers every reason.
    """
    exact = {reason: quotas.get(reason, 0.0) * budget for reason in _SHARED}
    slots = {reason: math.floor(value + 1e-9) for reason, value in exact.items()}
    total = min(budget, math.floor(sum(exact.values()) + 1e-9))
    by_remainder = sorted(_SHARED, key=lambda reason: -round(exact[reason] - slots[reason], 9))
    for reason in by_remainder[: max(0, total - sum(slots.values()))]:
        slots[reason] += 1
    wanted = [reason for reason in _SHARED if quotas.get(reason, 0.0) > 0]
    if total >= len(wanted):
        for reason in wanted:
            if slots[reason] == 0:
                richest = max(_SHARED, key=lambda name: slots[name])
                slots[richest] -= 1
                slots[reason] += 1
    return slots


def _class_counts(candidates: pl.DataFrame, class_counts: Mapping[str, int] | None) -> pl.DataFrame:
    """``class, count`` from `class_counts`, or from the candidates' labels when it is None."""
    if class_counts is None:
        counted = candidates.group_by("label").agg(pl.len().cast(pl.Int64).alias("count"))
        return counted.rename({"label": "class"})
    if any(count < 0 for count in class_counts.values()):
        raise ValueError("class counts must be non-negative")
    return pl.DataFrame(
        {"class": list(class_counts), "count": list(class_counts.values())},
        schema={"class": pl.String, "count": pl.Int64},
    )


def _scored(candidates: pl.DataFrame, policy: ReviewPolicy, counts: pl.DataFrame) -> pl.DataFrame:
    """Candidates with ``rarer_class``, ``rarer_class_count``, per-reason flags (``is_<reason>``) and ``score``."""
    per_class = counts.get_column("count").to_numpy()
    total = max(int(per_class.sum()), 1)
    most = max(int(per_class.max(initial=0)), 1)
    lookup = counts.select(pl.col("class"), pl.col("count"))
    frame = (
        candidates.with_columns(pl.col("label").cast(pl.String), pl.col("model_label").cast(pl.String))
        .join(lookup.rename({"class": "label", "count": "_label_count"}), on="label", how="left")
        .join(lookup.rename({"class": "model_label", "count": "_model_count"}), on="model_label", how="left")
        .with_columns(
            pl.col("_label_count").fill_null(0),
            pl.when(pl.col("model_label").is_null())
            .then(pl.col("_label_count").fill_null(0))
            .otherwise(pl.col("_model_count").fill_null(0))
            .alias("_model_count"),
        )
        .with_columns(
            pl.when(pl.col("_model_count") < pl.col("_label_count"))
            .then(pl.col("model_label"))
            .otherwise(pl.col("label"))
            .alias("rarer_class"),
            pl.min_horizontal("_label_count", "_model_count").alias("rarer_class_count"),
        )
    )
    issue = pl.col("is_issue").fill_null(False)
    conflict = pl.col(CONFLICT).fill_null(False) if CONFLICT in frame.columns else pl.lit(False)
    flags = {
        CONFLICT: conflict,
        "label_error": issue,
        "disagreement": (pl.col("agreement") < policy.agreement_below).fill_null(False),
        "low_confidence": (pl.col("confidence") < policy.confidence_below).fill_null(False),
        "rare_class": pl.col("rarer_class_count") < policy.rare_share * total,
    }
    components = {
        CONFLICT: conflict.cast(pl.Float64),
        "label_error": 0.5 * issue.cast(pl.Float64) + 0.5 * (1 - pl.col("label_quality").fill_null(1.0)),
        "disagreement": 1 - pl.col("agreement").fill_null(1.0),
        "low_confidence": 1 - pl.col("confidence").fill_null(1.0),
        "rare_class": 1 - pl.col("rarer_class_count") / most,
    }
    score = pl.sum_horizontal(
        [policy.weights.get(reason, 0.0) * components[reason].clip(0.0, 1.0) for reason in REVIEW_REASONS]
    )
    return frame.with_columns(
        *(flag.alias(f"is_{reason}") for reason, flag in flags.items()),
        score.cast(pl.Float64).alias("score"),
    ).drop("_label_count", "_model_count")


def _ranked(frame: pl.DataFrame, reason: str) -> list[Any]:
    """Item ids eligible for `reason`, most deserving first (module docstring), ties by item id."""
    eligible = frame.filter(pl.col(f"is_{reason}"))
    if reason == "label_error":
        order = eligible.sort(["label_quality", "item_id"], nulls_last=True)
    elif reason == CONFLICT:
        order = eligible.sort(["confidence", "item_id"], nulls_last=True)
    elif reason == "disagreement":
        order = eligible.sort(["agreement", "item_id"], nulls_last=True)
    elif reason == "low_confidence":
        order = eligible.sort(["confidence", "item_id"], nulls_last=True)
    else:
        order = (
            eligible.sort(["confidence", "item_id"], nulls_last=True)
            .with_columns(pl.int_range(pl.len()).over("rarer_class").alias("_turn"))
            .sort(["_turn", "rarer_class_count", "rarer_class", "item_id"], nulls_last=True)
        )
    return order.get_column("item_id").to_list()


def select_review_queue(
    candidates: pl.DataFrame,
    budget: int,
    policy: ReviewPolicy | None = None,
    class_counts: Mapping[str, int] | None = None,
) -> pl.DataFrame:
    """At most `budget` distinct candidates to review, by reserved quotas then combined score (module docstring).

    `candidates` needs `CANDIDATE_COLUMNS` (nulls allowed except in ``item_id``, one row per item) and may have
    a boolean ``label_conflict`` (the item's labels in the data disagree; read as the reason's flag, not
    carried to the queue); other columns are carried along. `class_counts` (class -> number of labeled items,
    e.g. over the training set) decides which classes are rare; by default the candidates' own labels are counted.

    Returns the chosen candidates, ordered by ``priority`` (1 first), with ``reasons`` (every reason the item
    qualifies for, in `REVIEW_REASONS` order, possibly empty), ``selected_for`` (the reason whose quota took
    it, or ``"score"``), ``rarer_class`` and ``rarer_class_count`` (the rarer of its label and model label, and
    its count), ``score`` and
    ``priority``. A budget of 0 gives an empty queue; a budget at least the number of candidates takes them all.
    """
    if budget < 0:
        raise ValueError(f"budget must be non-negative, got {budget}")
    policy = policy or ReviewPolicy()
    require_columns(candidates, CANDIDATE_COLUMNS, "candidates")
    require_unique_item_ids(candidates, "candidates")
    frame = _scored(candidates, policy, _class_counts(candidates, class_counts))
    budget = min(budget, frame.height)
    share = policy.quotas.get(CONFLICT, 0.0)
    conflict_slots = max(math.floor(share * budget + 1e-9), 1 if share > 0 and budget else 0)
    chosen: dict[Any, str] = dict.fromkeys(_ranked(frame, CONFLICT)[:conflict_slots], CONFLICT)
    for reason, slots in _apportion(budget - len(chosen), policy.quotas).items():
        picks = [item for item in _ranked(frame, reason) if item not in chosen][:slots]
        chosen.update(dict.fromkeys(picks, reason))
    rest = frame.filter(~pl.col("item_id").is_in(list(chosen))).sort(["score", "item_id"], descending=[True, False])
    chosen.update(dict.fromkeys(rest.get_column("item_id").head(budget - len(chosen)).to_list(), "score"))
    selected = pl.DataFrame(
        {"item_id": list(chosen), "selected_for": list(chosen.values())},
        schema={"item_id": frame.schema["item_id"], "selected_for": pl.String},
    )
    reasons = pl.concat_list(
        [pl.when(pl.col(f"is_{reason}")).then(pl.lit(reason)).otherwise(None) for reason in REVIEW_REASONS]
    ).list.drop_nulls()
    return (
        frame.join(selected, on="item_id", how="inner")
        .with_columns(reasons.alias("reasons"))
        .drop(*(f"is_{reason}" for reason in REVIEW_REASONS), CONFLICT, strict=False)
        .sort(["score", "item_id"], descending=[True, False])
        .with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("priority"))
    )


def review_tasks(
    queue: pl.DataFrame,
    items: pl.DataFrame,
    text_column: str,
    model_version: str,
    item_key: str = "item_id",
    custom_pii: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Label Studio tasks for a review queue, in priority order, pre-annotated with the model's label.

    `items` are the prepared items (``item_key`` and the scrubbed `text_column`); every queued item must be
    among them. Task data holds the item id, the text, ``priority``, ``reasons`` (comma separated) and
    ``current_label`` (the label under review). The PII guard of `label_studio_tasks` applies: a text with a
    PII residue raises `factory.core.labeling.PIIResidueError`.
    """
    require_columns(queue, ("item_id", "label", "model_label", "confidence", "reasons", "priority"), "queue")
    require_columns(items, (item_key, text_column), "items")
    keyed = queue.sort("priority").select(
        pl.col("item_id").alias(item_key), "priority", "reasons", "label", "model_label", "confidence"
    )
    texts = items.select(pl.col(item_key).cast(keyed.schema[item_key]), pl.col(text_column).alias("_text"))
    joined = keyed.join(texts, on=item_key, how="left", maintain_order="left")
    missing = joined.filter(pl.col("_text").is_null()).get_column(item_key)
    if missing.len():
        raise ValueError(f"{missing.len()} queued item(s) have no prepared text, e.g. {missing.head(5).to_list()}")
    tasks_frame = joined.select(
        item_key,
        pl.col("_text").alias("text"),
        "priority",
        pl.col("reasons").list.join(", ").alias("reasons"),
        pl.col("label").alias("current_label"),
    )
    predictions = joined.filter(pl.col("model_label").is_not_null()).select(
        item_key, pl.col("model_label").alias("label"), pl.col("confidence").alias("score")
    )
    return label_studio_tasks(
        tasks_frame,
        "text",
        predictions,
        model_version,
        item_key,
        data_columns=("priority", "reasons", "current_label"),
        custom_pii=custom_pii,
    )
