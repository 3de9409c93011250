"""What the spec checker knows about the runtime: the column names the factory adds to a use case's tables, the
identifiers the SQL layer accepts, the regex engine that runs custom PII patterns, YAML without repeated keys,
and the folders input paths may point into. Used by `factory.spec`; each check raises ``ValueError`` with a
message a person can act on.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping
from typing import Any

import yaml
from yaml.constructor import ConstructorError

from factory.paths import confine
from factory.resources.sql import is_identifier

__all__ = [
    "LABEL_COLUMN_NAME",
    "RESERVED_COLUMNS",
    "RESERVED_ID_COLUMNS",
    "UniqueKeyLoader",
    "check_columns",
    "check_custom_pii",
    "check_input_path",
]

RESERVED_COLUMNS = frozenset(
    {
        "partition_key",  # the day every partitioned table is keyed by
        "source",  # raw/prepared/quarantine: the source that delivered the row
        "source_file",
        "source_line",
        "content_hash",  # prepared, signatures
        "predicted_label",  # monitoring joins predictions onto prepared rows
        "label",  # a dataset version: prepared columns plus the label and its provenance
        "label_confidence",
        "label_source",
        "source_partition",
        "split",
    }
)
"""Column names the factory adds next to a use case's declared columns (the table registry, preparation and the
dataset rows): a declared column of that name would be overwritten or collide. Every name that starts with an
underscore is reserved as well (``_file``, ``_line``, ``_reject_reason``, ``_payload`` and preparation's
working columns)."""

RESERVED_ID_COLUMNS = frozenset(
    {
        "reason",  # quarantine: id, reason, detail, payload
        "detail",
        "payload",
        "duplicate_of",  # duplicates
        "kind",
        "similarity",
        "signature",  # signatures
        "confidence",  # predictions
        "model_version",
        "corrected_label",  # feedback
        "corrected_at",
        "reviewer",
    }
)
"""Column names of tables that carry only the id column of a use case (quarantine, duplicates, signatures,
predictions, feedback): the id column may not take one of them."""


LABEL_COLUMN_NAME = "label"
"""The one reserved name a declared column may take: as the column of a ``column`` annotation source (the data's
own label, which never reaches a dataset version's columns), checked by the use case (`factory.spec`)."""


def check_columns(
    names: Iterable[str], keys: Mapping[str, str], truncated: Iterable[str], *, exempt: Collection[str] = ()
) -> None:
    """Declared column names against the runtime: no reserved name (compared as DuckDB does, ignoring case; the
    folded names in ``exempt`` excepted), no two names equal but for case, no ``<column>_truncated`` clash, and
    key columns (``keys``: role -> column) that the SQL layer accepts as identifiers."""
    names = list(names)
    problems: list[str] = []
    for name in names:
        folded = name.casefold()
        if not name or "\0" in name:
            problems.append(f"column name {name!r} is empty or holds a NUL character")
        elif folded.startswith("_"):
            problems.append(f"column '{name}': names starting with '_' are reserved for the factory's own columns")
        elif folded in RESERVED_COLUMNS and folded not in exempt:
            problems.append(f"column '{name}' is a name the factory adds to the use case's tables; rename it")
    by_fold: dict[str, list[str]] = {}
    for name in names:
        by_fold.setdefault(name.casefold(), []).append(name)
    clashes = sorted(group for group in by_fold.values() if len(group) > 1)
    if clashes:
        problems.append(f"columns equal but for case (the warehouse ignores case in column names): {clashes}")
    for column in truncated:
        flag = f"{column}_truncated"
        if flag.casefold() in by_fold:
            problems.append(f"column '{flag}' collides with the flag preparation adds for '{column}' (max_length)")
    for role, column in keys.items():
        if not is_identifier(column):
            problems.append(
                f"schema.{role} column '{column}' must be lower-case letters, digits and underscores, starting with "
                "a letter, at most 63 characters (it is used as an SQL identifier)"
            )
    if keys.get("id", "").casefold() in RESERVED_ID_COLUMNS:
        problems.append(f"schema.id column '{keys['id']}' is a name of a column the factory keeps next to the id")
    if problems:
        raise ValueError("; ".join(problems))


def check_custom_pii(patterns: Mapping[str, str]) -> None:
    """Compile the custom PII patterns with the engine that runs them (Polars' Rust regex, through preparation's
    own validation): no look-around, no back-references, no pattern matching the empty string."""
    if not patterns:
        return
    import polars as pl

    from factory.core.preparation import scrub

    try:
        scrub(pl.Series([], dtype=pl.String), patterns)
    except ValueError as error:
        message = str(error).split("\n\nThis error occurred", 1)[0].replace("regex:", "regular expression:")
        raise ValueError(
            f"{message}\n(custom PII patterns run on Polars' Rust regex engine: no look-ahead or look-behind, no "
            "back-references, and a pattern must not match the empty string)"
        ) from None


def check_input_path(where: str, path: str | None, allow_outside: bool) -> None:
    """An input path must lie under ``FACTORY_HOME`` or the data root unless ``allow_outside`` is set."""
    if path is None or allow_outside:
        return
    try:
        confine(path)
    except ValueError as error:
        raise ValueError(f"{where}: {error}; set `allow_outside: true` on it to read it anyway") from None


class UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a mapping that repeats a key (plain YAML keeps the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: dict[Hashable, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, Hashable) and key in seen:
                first = seen[key].start_mark.line + 1
                raise ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found the key {key!r} a second time (first on line {first})",
                    key_node.start_mark,
                )
            if isinstance(key, Hashable):
                seen[key] = key_node
        return super().construct_mapping(node, deep=deep)
