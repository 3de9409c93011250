"""Datasets: deterministic splits by group key, assembling a dataset version with its data card, and
order-independent content digests."""

from __future__ import annotations

from factory.core.dataset._assemble import (
    DatasetLayout,
    assemble,
    datacard,
)
from factory.core.dataset._digest import (
    frame_digest,
)
from factory.core.dataset._splits import (
    assign_split,
    hold_out_after,
)

__all__ = [
    "DatasetLayout",
    "assemble",
    "assign_split",
    "datacard",
    "frame_digest",
    "hold_out_after",
]
