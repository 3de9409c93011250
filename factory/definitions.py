"""The Definitions object that ``dagster dev`` and ``dagster definitions validate`` load."""

from factory.defs import build_definitions

defs = build_definitions()
