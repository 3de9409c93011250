"""Deterministic demo data for the shipped use cases.

Two streams (`generators`): a company's support tickets for ``ticket_triage`` (``tickets``, free text) and
insurance claims for ``claims_review`` (``claims``, numeric and categorical features and a short note). On
either stream's hidden truth: simulated annotators and a gold set (``annotators``) and agent corrections of
production predictions (``feedback``). Everything is a pure function of ``(day, DemoConfig)``. No Dagster
import here: `factory.demo.plugin` registers the streams as source kinds, and ``core`` and ``defs`` never
import this package.
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
