"""The labeling layer's memory budget: the dense arrays that remain are sized and checked before allocation.

Everything in the layer is linear in the annotations except what a model needs densely: Dawid-Skene holds one
``classes x classes`` confusion matrix per annotator and an ``items x classes`` posterior, and the review
queue's out-of-fold model an ``items x classes`` probability table. `require_within_budget` compares the bytes
such arrays would take with the budget and raises a ValueError naming the limit and how to change it, so a
hostile input (10,000 classes, say) fails in a millisecond with a sentence instead of asking the allocator
for gigabytes. The budget is `DEFAULT_MEMORY_BUDGET_MB` mebibytes, or ``FACTORY_LABELING_MEMORY_MB`` in the
environment, or the ``memory_budget`` argument (bytes) of the functions that take one.
"""

from __future__ import annotations

import os

__all__ = ["BUDGET_VARIABLE", "DEFAULT_MEMORY_BUDGET_MB", "memory_budget", "require_within_budget"]

BUDGET_VARIABLE = "FACTORY_LABELING_MEMORY_MB"
"""The environment variable that sets the labeling memory budget, in mebibytes."""

DEFAULT_MEMORY_BUDGET_MB = 1024
"""The default labeling memory budget in mebibytes: the dense arrays of one aggregation stay below it."""

_MB = 1024 * 1024


def memory_budget(budget: int | None = None) -> int:
    """The budget in bytes: ``budget`` when given, else ``FACTORY_LABELING_MEMORY_MB``, else the default."""
    if budget is not None:
        if budget <= 0:
            raise ValueError(f"the labeling memory budget must be positive, got {budget} bytes")
        return budget
    text = os.environ.get(BUDGET_VARIABLE, "").strip()
    if not text:
        return DEFAULT_MEMORY_BUDGET_MB * _MB
    try:
        megabytes = int(text)
    except ValueError:
        raise ValueError(f"{BUDGET_VARIABLE} must be a whole number of mebibytes, got {text!r}") from None
    if megabytes <= 0:
        raise ValueError(f"{BUDGET_VARIABLE} must be positive, got {megabytes}")
    return megabytes * _MB


def require_within_budget(needed: int, budget: int, what: str, remedy: str) -> None:
    """Raise a ValueError when ``needed`` bytes exceed ``budget``; ``what`` says which arrays, ``remedy`` what to do.

    The message names the estimate, the budget and both ways out: the ``remedy`` and raising
    ``FACTORY_LABELING_MEMORY_MB``.
    """
    if needed > budget:
        raise ValueError(
            f"{what} would need about {_size(needed)}, over the labeling memory budget of {_size(budget)}; "
            f"{remedy}, or raise the budget with {BUDGET_VARIABLE}=<mebibytes> (or memory_budget=<bytes>) if the "
            "machine has the memory"
        )


def _size(n: int) -> str:
    """Bytes as a short human figure."""
    if n >= 1024 * _MB:
        return f"{n / (1024 * _MB):.1f} GiB"
    return f"{n / _MB:.0f} MiB"
