"""The demo streams a ``demo`` data source can generate (``generator`` in its spec), each with its hidden
truth and taxonomy, so the simulated crowd, gold set and agents work on any of them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date

import polars as pl

from factory.demo.annotators import TICKETS, Taxonomy
from factory.demo.claims import CLAIM_CLASSES, CLAIM_CONFUSABLE, claims_truth_for, generate_claims
from factory.demo.tickets import DemoConfig, generate_day, truth_for

__all__ = ["GENERATORS", "Generator", "generator"]


@dataclass(frozen=True)
class Generator:
    """A demo stream: its raw rows of a day (String columns), its truth of a day (the taxonomy's id and class
    columns) and its taxonomy."""

    raw: Callable[[date, DemoConfig], pl.DataFrame]
    truth: Callable[[date, DemoConfig], pl.DataFrame]
    taxonomy: Taxonomy


GENERATORS: Mapping[str, Generator] = {
    "tickets": Generator(
        raw=lambda day, config: generate_day(day, config).raw,
        truth=truth_for,
        taxonomy=TICKETS,
    ),
    "claims": Generator(
        raw=lambda day, config: generate_claims(day, config).raw,
        truth=claims_truth_for,
        taxonomy=Taxonomy(CLAIM_CLASSES, CLAIM_CONFUSABLE, id_column="claim_id", label_column="label"),
    ),
}
"""The streams by name: ``tickets`` (`factory.demo.tickets`) and ``claims`` (`factory.demo.claims`)."""


def generator(name: str) -> Generator:
    """The stream called ``name``; raises ``ValueError`` for an unknown one."""
    if name not in GENERATORS:
        raise ValueError(f"unknown demo generator {name!r}; one of {', '.join(GENERATORS)}")
    return GENERATORS[name]
