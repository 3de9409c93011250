"""Dagster wiring by layer. ``build_definitions`` assembles every use case found in the use-case directory."""

from __future__ import annotations

import dagster as dg

from factory.defs.automation import build_automation
from factory.defs.labeling import build_labeling
from factory.defs.monitoring import build_monitoring
from factory.defs.preparation import build_preparation
from factory.defs.resources import build_resources
from factory.defs.sources import build_sources
from factory.defs.training import build_training
from factory.defs.usecase import UseCase
from factory.defs.versioning import build_versioning
from factory.paths import usecases_dir
from factory.plugins import PluginError
from factory.resources.runs import install_slot_wait
from factory.resources.tables import declare_use_case
from factory.spec import SpecError, UseCaseSpec, load_specs

__all__ = ["UseCase", "build_definitions", "build_use_case"]


def build_use_case(spec: UseCaseSpec) -> dg.Definitions:
    """Every asset, check, job, schedule and sensor of one use case, built from its spec; SpecError when the
    spec names a source kind no plug-in implements."""
    uc = UseCase(spec)
    declare_use_case(spec)  # the warehouse resolves this use case's table declarations by its schema name
    try:
        assets = [
            *build_sources(uc),
            *build_preparation(uc),
            *build_labeling(uc),
            *build_versioning(uc),
            *build_training(uc),
            *build_monitoring(uc),
        ]
        jobs, schedules, sensors = build_automation(uc)
    except PluginError as error:
        raise SpecError(f"{spec.name}: {error}") from None
    return dg.Definitions(assets=assets, jobs=jobs, schedules=schedules, sensors=sensors)


def build_definitions(specs: list[UseCaseSpec] | None = None) -> dg.Definitions:
    """The whole factory: every use case, the shared resources, and the in-process executor.

    The in-process executor runs a run's steps one after another, so a run never holds two DuckDB writers;
    across runs, the ``warehouse`` pool (``dagster.yaml``) admits one writer at a time, and a run waiting for
    the pool sleeps between checks, stops on SIGINT/SIGTERM and frees the slots of dead runs
    (``factory.resources.runs``).
    """
    install_slot_wait()
    chosen = specs if specs is not None else load_specs(usecases_dir())
    return dg.Definitions.merge(
        *(build_use_case(s) for s in chosen),
        dg.Definitions(resources=build_resources(), executor=dg.in_process_executor),
    )
