"""Dagster wiring by layer. ``build_definitions`` assembles every use case found in the use-case directory."""

from __future__ import annotations

import logging

import dagster as dg

from factory.core.safe_text import markdown_code
from factory.defs.automation import build_automation
from factory.defs.health import build_health
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
from factory.resources.runs import install_atomic_slot_claim, install_slot_wait
from factory.resources.tables import declare_use_case
from factory.spec import SpecError, UseCaseSpec, check_specs

__all__ = ["UseCase", "build_definitions", "build_use_case"]

_log = logging.getLogger(__name__)


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
        blocking = [check.key for a in assets for check in a.check_specs if check.blocking]
        assets += build_health(uc, blocking)
        jobs, schedules, sensors = build_automation(uc)
    except PluginError as error:
        raise SpecError(f"{spec.name}: {error}") from None
    return dg.Definitions(assets=assets, jobs=jobs, schedules=schedules, sensors=sensors)


def build_definitions(specs: list[UseCaseSpec] | None = None) -> dg.Definitions:
    """The whole factory: every use case, the shared resources, and the in-process executor.

    The in-process executor runs a run's steps one after another, so a run never holds two DuckDB writers;
    across runs, the ``warehouse`` pool (``dagster.yaml``) admits one writer at a time, and a run waiting for
    the pool sleeps between checks, stops on SIGINT/SIGTERM and frees the slots of dead runs, and a slot is
    taken by compare and set, so two runs never both hold it (``factory.resources.runs``).

    Read from the use-case directory (``specs`` None), a use case whose spec is invalid or cannot be built (a
    source kind no plug-in implements) is left out and the others load: each is logged as a warning and listed
    with its problems in the code location's metadata (``invalid_use_cases``). Specs given explicitly must all
    build (``SpecError`` otherwise).
    """
    install_slot_wait()
    install_atomic_slot_claim()
    invalid: dict[str, str] = {}
    if specs is None:
        loaded = check_specs(usecases_dir())
        chosen = loaded.specs
        invalid.update({path.name: message for path, message in loaded.invalid.items()})
    else:
        chosen = specs
    built: list[dg.Definitions] = []
    for spec in chosen:
        try:
            built.append(build_use_case(spec))
        except SpecError as error:
            if specs is not None:
                raise
            invalid[f"{spec.name}.yaml"] = str(error)
    for message in invalid.values():
        _log.warning("use case disabled, its spec is invalid: %s", message)
    metadata = {"invalid_use_cases": dg.MetadataValue.md(_invalid_markdown(invalid))} if invalid else None
    return dg.Definitions.merge(
        *built,
        dg.Definitions(resources=build_resources(), executor=dg.in_process_executor, metadata=metadata),
    )


def _invalid_markdown(invalid: dict[str, str]) -> str:
    """The disabled use cases as markdown: file name, then its problems as an indented code block, which
    markdown shows verbatim whatever it holds."""
    parts = ["Use cases left out because their spec is invalid (run `factory check-spec` on the directory):", ""]
    for name, message in sorted(invalid.items()):
        parts += [f"- {markdown_code(name)}", ""]
        parts += [f"        {line}" for line in message.splitlines()]
        parts.append("")
    return "\n".join(parts)
