"""Deterministic demo data for the ``ticket_triage`` use case.

A company's support-ticket stream (``tickets``), simulated annotators and a gold set (``annotators``) and
agent corrections of production predictions (``feedback``). Everything is a pure function of
``(day, DemoConfig)``. No Dagster import here: the ``defs`` layer wires these functions into assets.
"""

from factory.demo.annotators import ANNOTATORS, AnnotatorProfile, annotate, gold_labels
from factory.demo.feedback import corrections
from factory.demo.tickets import CATEGORIES, CHANNELS, DemoConfig, TicketBatch, generate_day, truth_for

__all__ = [
    "ANNOTATORS",
    "CATEGORIES",
    "CHANNELS",
    "AnnotatorProfile",
    "DemoConfig",
    "TicketBatch",
    "annotate",
    "corrections",
    "generate_day",
    "gold_labels",
    "truth_for",
]
