"""What the `model` asset records about a selection: the MLflow metrics and params, the ``selection.json``
artifact, the selection table shown in the UI and the model card attached to the model version.

Metric keys on the run (class, column and slice names encoded by `encode_key` when they need it):

- ``test_<metric>``, ``test_accuracy`` and ``test_<metric>_low|_high|_se`` (``test_accuracy_low|...``): the
  refit model on the test split, with 95% bootstrap intervals;
- ``test_f1.<class>``, ``test_precision.<class>``, ``test_recall.<class>``, ``test_support.<class>``;
- ``test_slice.<column>.<value>.<metric>``, ``...accuracy``, ``...support`` for each value of each slice column;
- ``validation_<metric>``, ``validation_accuracy`` and ``validation_<metric>_se`` of the chosen candidate fit on
  train; ``selection.<candidate>.<metric>`` for every candidate;
- ``ece_before`` (when the candidate has probabilities of its own) and ``ece_after``: top-label expected
  calibration error on validation, uncalibrated and calibrated.
"""

from __future__ import annotations

from typing import Any

from factory.core.redteam import RedTeamResult
from factory.core.safe_text import markdown_code, markdown_text
from factory.core.training import Selection
from factory.defs.metadata import markdown_table
from factory.defs.usecase import UseCase

__all__ = ["CARD_LIMIT", "model_card", "run_metrics", "run_params", "selection_document", "selection_table"]

CARD_LIMIT = 5000
"""MLflow's registry keeps at most this many characters of a model version's description."""


def selection_table(rows: list[dict[str, Any]], metric: str) -> str:
    """The selection table (rows of `Selection.summary_rows`) as markdown for the UI and the card."""
    shown = [
        {
            "candidate": r["candidate"],
            metric: f"{r[f'validation_{metric}']:.4f} [{r['low']:.4f}, {r['high']:.4f}]",
            "SE": f"{r['se']:.4f}",
            "fit s": f"{r['fit_s']:.2f}",
            "ms / 1k rows": f"{r['ms_per_1k']:.1f}",
            "size KB": f"{r['size_kb']:.0f}",
            "params": ", ".join(f"{k}={v}" for k, v in r["params"].items()) or "-",
            "grid tried / skipped": f"{r['grid_tried']} / {r['grid_skipped']}",
            "chosen": "yes" if r["chosen"] else "",
        }
        for r in rows
    ]
    return markdown_table(shown)


def run_metrics(selection: Selection, slices: list[dict[str, Any]]) -> dict[str, float]:
    """The run's metrics (module docstring)."""
    metric = selection.metric
    chosen = selection.chosen
    out = {f"test_{k}": v for k, v in selection.test.items()}
    for name, interval in selection.test_intervals.items():
        out |= {f"test_{name}_low": interval.low, f"test_{name}_high": interval.high, f"test_{name}_se": interval.se}
    for row in selection.per_class:
        out |= {f"test_{k}.{row['class']}": float(row[k]) for k in ("precision", "recall", "support")}
    for row in slices:
        prefix = f"test_slice.{row['column']}.{row['value']}"
        out |= {f"{prefix}.{k}": float(row[k]) for k in (metric, "accuracy", "support")}
    out |= {f"validation_{k}": v for k, v in chosen.validation.items()}
    out[f"validation_{metric}_se"] = chosen.interval.se
    out |= {f"selection.{c.name}.{metric}": c.interval.value for c in selection.candidates}
    if selection.calibration is not None:
        if selection.calibration.ece_before is not None:
            out["ece_before"] = selection.calibration.ece_before
        out["ece_after"] = selection.calibration.ece_after
    return out


def run_params(selection: Selection, uc: UseCase) -> dict[str, Any]:
    """The run's params: the chosen candidate and configuration, how it was chosen, the split sizes."""
    chosen = selection.chosen
    rules = uc.spec.models.selection
    calibration = selection.calibration
    return {
        "candidate": chosen.name,
        "seed": uc.spec.models.seed,
        **{f"clf.{k}": v for k, v in chosen.params.items()},
        "selection.tolerance": rules.tolerance,
        "selection.cv_folds": rules.cv_folds,
        "selection.time_budget_seconds": rules.time_budget_seconds,
        "selection.bootstrap": rules.bootstrap,
        "selection.search_rows": selection.search_rows,
        "calibrated": bool(calibration and calibration.calibrated),
        **selection.sizes,
    }


def selection_document(selection: Selection, slices: list[dict[str, Any]]) -> dict[str, Any]:
    """``selection.json``: the ladder, the rule, the test figures, per class, per slice, calibration."""
    calibration = selection.calibration
    return {
        "metric": selection.metric,
        "rule": selection.rule,
        "tolerance": selection.tolerance,
        "best": selection.best.name,
        "chosen": selection.chosen.name,
        "summary": selection.summary_line(),
        "budget_exhausted": selection.budget_exhausted,
        "candidates": selection.summary_rows(),
        "refit_seconds": round(selection.refit_seconds, 2),
        "test": {name: interval.rounded() for name, interval in selection.test_intervals.items()},
        "per_class": selection.per_class,
        "slices": slices,
        "calibration": None if calibration is None else vars(calibration),
    }


def _limitations(selection: Selection, slices: list[dict[str, Any]], min_support: int) -> list[str]:
    notes = []
    small = [f"{r['column']}={r['value']} ({r['support']})" for r in slices if not r["gated"]]
    if small:
        notes.append(f"Slices under {min_support} test rows are reported, not gated: {', '.join(small)}.")
    rare = [f"{r['class']} ({r['support']})" for r in selection.per_class if r["support"] < min_support]
    if rare:
        notes.append(f"Classes with under {min_support} test rows have wide intervals: {', '.join(rare)}.")
    if selection.budget_exhausted:
        notes.append("The time budget ran out: some grid points were skipped (see the selection table).")
    if selection.calibration is not None and not selection.calibration.calibrated:
        notes.append("Temperature scaling did not lower the validation ECE: confidences are the model's own.")
    notes.append("Figures hold for data like the training data; drift reports say when that stops being so.")
    return notes


def model_card(
    uc: UseCase,
    selection: Selection,
    slices: list[dict[str, Any]],
    lineage: dict[str, str],
    redteam: RedTeamResult | None = None,
) -> str:
    """The model card: intended use, data, selection, test figures with intervals, per class, per slice,
    calibration, red-team results (once the suite has run on the registered version), known limitations,
    lineage."""
    metric = selection.metric
    calibration = selection.calibration
    tests = ", ".join(f"{name} {interval.text(4)}" for name, interval in selection.test_intervals.items())
    per_class = [{k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()} for row in selection.per_class]
    slice_rows = [{k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()} for row in slices]
    min_support = uc.spec.models.min_slice_support
    return "\n".join(
        [
            f"# Model card: {markdown_text(uc.model_name)} ({markdown_text(selection.chosen.name)})",
            "",
            f"**Intended use.** {markdown_text(uc.spec.description)}",
            "",
            f"**Training data.** Dataset {markdown_code(lineage.get('dataset.version', ''))}, digest "
            f"{markdown_code(lineage.get('dataset.digest', ''))}; split sizes "
            + ", ".join(f"{k} {v}" for k, v in selection.sizes.items())
            + ".",
            "",
            f"## Selection ({markdown_text(selection.summary_line())})",
            f"Validation {metric} with 95% bootstrap intervals; candidates cheapest first; the cheapest within "
            f"{selection.tolerance:.4f} of the best ({'one standard error' if selection.rule == 'one_se' else 'fixed'}"
            ") is chosen, refit on train + validation and scored once on test.",
            "",
            selection_table(selection.summary_rows(), metric),
            "",
            f"## Test split: {markdown_text(tests)}",
            markdown_table(per_class),
            "",
            f"## Slices (gated at {min_support} test rows or more)",
            markdown_table(slice_rows) if slice_rows else "_(no slice columns declared)_",
            "",
            "## Calibration",
            f"Top-label expected calibration error (15 bins) on validation: {calibration.text()}"
            if calibration is not None
            else "_(not measured)_",
            "",
            "## Red team",
            f"{markdown_text(redteam.summary())} (failure rate per test; suite stored as `redteam/cases.jsonl`)"
            if redteam is not None
            else "_(not run)_",
            markdown_table(redteam.rows()) if redteam is not None else "",
            "",
            "## Known limitations",
            *(f"- {markdown_text(note)}" for note in _limitations(selection, slices, min_support)),
            "",
            "## Lineage",
            *(f"- {markdown_text(k)}: {markdown_code(v)}" for k, v in sorted(lineage.items())),
            "",
        ]
    )
