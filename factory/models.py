"""Registered model versions outside Dagster: list, show, roll back the champion (`factory model ...`).

A use case's models are the versions of the MLflow registered model of the same name; the production model is
the version carrying the ``champion`` alias, which `factory predict` and the monitoring ``predictions`` asset
load. A rollback moves that alias to an earlier (or any named) version: no version is deleted or changed
except for the tags that record the move (``rollback.reason``, ``rollback.by``, ``rollback.at`` and
``champion.previous``, the version that held the alias before, on the new champion; ``rollback.demoted`` on the
old one, so that the ``champion`` asset does not promote it again when a retrain on unchanged data and code
reuses it; rolling back to a demoted version clears its mark). Without ``--to`` it goes back to the previous
champion recorded on the current one, else to the highest version below it.

Every value printed comes from the registry or the user and may hold any character: it is printed through
`terminal_text`, so no escape sequence reaches the terminal.
"""

from __future__ import annotations

import getpass
from datetime import UTC, datetime

from mlflow.exceptions import MlflowException

from factory.core.safe_text import terminal_text
from factory.predicting import PredictError, resolve_model
from factory.resources.blessings import DECISION_TAG, latest_blessing
from factory.resources.redteam import stored_result
from factory.resources.tracking import DEMOTED_TAG, PREVIOUS_CHAMPION_TAG, ModelRecord, Tracking

__all__ = ["ModelError", "list_lines", "rollback", "show"]

_LINEAGE = ("dataset.version", "dataset.commit", "dataset.digest", "dataset.uri", "code.version", "dagster.run_id")
_MODEL_CARD = "model_card.md"


class ModelError(Exception):
    """A request the registry cannot satisfy; the message says what to fix."""


def _metric(record: ModelRecord, key: str) -> str:
    value = record.metrics.get(key)
    return "-" if value is None or value != value else f"{value:.4f}"  # value != value: NaN


def _created(record: ModelRecord) -> str:
    return record.created.isoformat(timespec="seconds") if record.created else "-"


def _versions(tracking: Tracking, use_case: str) -> list[ModelRecord]:
    found = tracking.versions(use_case)
    if not found:
        raise ModelError(f"{terminal_text(use_case)} has no registered model version: train a model first")
    return found


def list_lines(tracking: Tracking, use_case: str) -> list[str]:
    """One line per registered version, oldest first: test macro F1 and accuracy, candidate, dataset version
    and commit, creation time, the latest promotion decision about it (``blessing``; ``-`` before any) and
    ``champion`` on the version holding the alias."""
    champion = tracking.champion(use_case)
    lines = []
    for record in _versions(tracking, use_case):
        tags = record.tags
        mark = "  champion" if champion is not None and champion.version == record.version else ""
        lines.append(
            terminal_text(
                f"v{record.version}  macro_f1 {_metric(record, 'test_macro_f1')}  "
                f"accuracy {_metric(record, 'test_accuracy')}  {tags.get('model.candidate', '-')}  "
                f"dataset {tags.get('dataset.version', '-')} {tags.get('dataset.commit', '-')[:12]}  "
                f"created {_created(record)}  blessing {tags.get(DECISION_TAG, '-')}{mark}"
            )
        )
    return lines


def _resolve(tracking: Tracking, use_case: str, which: str) -> ModelRecord:
    try:
        return resolve_model(tracking, use_case, which)
    except PredictError as error:
        raise ModelError(terminal_text(error)) from None


def show(tracking: Tracking, use_case: str, which: str = "champion") -> str:
    """A readable record of one version (``champion``, ``vN`` or ``N``): lineage first, then every tag, every
    metric, its red-team results, the checks of the latest promotion decision about it (its blessing record)
    and the model card logged with it, if any."""
    record = _resolve(tracking, use_case, which)
    champion = tracking.champion(use_case)
    is_champion = champion is not None and champion.version == record.version
    lines = [
        f"{use_case} v{record.version}{'  (champion)' if is_champion else ''}",
        f"  run id: {record.run_id}",
        f"  created: {_created(record)}",
        "lineage:",
        *(f"  {key}: {record.tags[key]}" for key in _LINEAGE if key in record.tags),
        "tags:",
        *(f"  {key}: {value}" for key, value in sorted(record.tags.items()) if key not in _LINEAGE),
        "metrics:",
        *(f"  {key}: {value:.4f}" for key, value in sorted(record.metrics.items())),
    ]
    out = [terminal_text(line) for line in lines] + _redteam_lines(tracking, record) + _blessing_lines(tracking, record)
    try:
        card = tracking.run_documents(record.run_id, _MODEL_CARD)
    except (MlflowException, OSError):  # a version logged without a card
        card = ""
    if card:
        out += ["model card:", *(terminal_text(line) for line in card.splitlines())]
    return "\n".join(out)


def _blessing_lines(tracking: Tracking, record: ModelRecord) -> list[str]:
    """The latest promotion decision about a version (its blessing record): decision, reason, then one line per
    check with its verdict, measured values and threshold; none before any decision."""
    blessing = latest_blessing(tracking, record)
    if blessing is None:
        return []
    champion = f"v{blessing.champion}" if blessing.champion else "none"
    lines = [
        f"blessing: {blessing.decision} at {blessing.decided_at} (champion then: {champion}, "
        f"dataset {blessing.dataset_version})",
        f"  reason: {blessing.reason}",
        *(
            f"  {c.verdict:<13} {c.kind} {c.name}: {c.detail}"
            + (f" (threshold {c.threshold})" if c.threshold is not None else "")
            for c in blessing.checks
        ),
    ]
    return [terminal_text(line) for line in lines]


def _redteam_lines(tracking: Tracking, record: ModelRecord) -> list[str]:
    """The version's red-team results: the summary, then one line per test and its failing examples' origins."""
    result = stored_result(tracking, record)
    if result is None:
        return ["red team: no results stored with this version"]
    lines = [f"red team: {result.summary()} ({result.seconds:.1f} s)"]
    for test in result.tests:
        lines.append(
            f"  {test.name} ({test.kind}): {test.cases} cases, {test.failures} failing ({test.failure_rate:.1%})"
        )
        lines += [f"    e.g. {example.get('origin', '-')}" for example in test.examples]
    return [terminal_text(line) for line in lines]


def _who() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name and no user entry (some containers)
        return "unknown"


def _default_target(tracking: Tracking, use_case: str, current: ModelRecord) -> ModelRecord:
    previous = current.tags.get(PREVIOUS_CHAMPION_TAG)
    if previous is not None:
        found = tracking.get_version(use_case, previous)
        if found is not None:
            return found
    below = [r for r in tracking.versions(use_case) if int(r.version) < int(current.version)]
    if not below:
        raise ModelError(
            f"v{current.version} is the first version of {terminal_text(use_case)}: nothing to roll back to"
        )
    return below[-1]


def rollback(tracking: Tracking, use_case: str, to: str | None, reason: str) -> str:
    """Move the ``champion`` alias to version ``to`` (default: the previous champion, else the highest version
    below the current one), record why, who and when on that version, and say what was done."""
    if not reason.strip():
        raise ModelError("--reason must say why")
    _versions(tracking, use_case)
    current = tracking.champion(use_case)
    if to is not None:
        target = _resolve(tracking, use_case, to)
    elif current is None:
        raise ModelError(f"{terminal_text(use_case)} has no champion: name the version with --to")
    else:
        target = _default_target(tracking, use_case, current)
    if current is not None and current.version == target.version:
        raise ModelError(f"v{target.version} is already the champion of {terminal_text(use_case)}")
    who, at = _who(), datetime.now(UTC).isoformat(timespec="seconds")
    if DEMOTED_TAG in target.tags:
        tracking.untag_version(use_case, target.version, DEMOTED_TAG)
    tracking.set_champion(use_case, target.version, {"rollback.reason": reason, "rollback.by": who, "rollback.at": at})
    if current is not None:
        tracking.tag_version(use_case, current.version, {DEMOTED_TAG: f"{at} by {who}: {reason}"})
    before = f"v{current.version}" if current is not None else "no champion"
    return terminal_text(f"champion of {use_case} moved from {before} to v{target.version}: {reason}")
