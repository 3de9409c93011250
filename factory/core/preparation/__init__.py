"""Preparation: one batch of raw rows in, prepared rows out: schema enforced, text normalized, PII scrubbed,
exact and near duplicates found, bad rows quarantined with a reason."""

from __future__ import annotations

from factory.core.preparation._dedup import (
    EMPTY_BIN,
    MinHashConfig,
    Signatures,
    exact_duplicates,
    minhash_signatures,
    near_duplicates,
    signatures_from_series,
    signatures_to_series,
)
from factory.core.preparation._keys import (
    MIN_KEY_BYTES,
    PSEUDONYM_PREFIX,
    looks_personal,
    pseudonym,
    pseudonymize,
)
from factory.core.preparation._minhash_kernel import (
    signatures,
)
from factory.core.preparation._normalize import (
    CONTENT_SEPARATOR,
    content_hash,
    content_text,
    digest,
    join_content,
    normalize_series,
    normalize_text,
)
from factory.core.preparation._pii import (
    PII_TYPES,
    ScrubResult,
    placeholder,
    residue,
    scrub,
)
from factory.core.preparation._prepare import (
    LINE,
    REASONS,
    ColumnRule,
    PreparedBatch,
    PrepareRules,
    prepare_batch,
)
from factory.core.preparation._profile import CATEGORICAL_MAX_VALUES, ColumnProfile, Role, profile_columns

__all__ = [
    "CATEGORICAL_MAX_VALUES",
    "CONTENT_SEPARATOR",
    "EMPTY_BIN",
    "LINE",
    "MIN_KEY_BYTES",
    "PII_TYPES",
    "PSEUDONYM_PREFIX",
    "REASONS",
    "ColumnProfile",
    "ColumnRule",
    "MinHashConfig",
    "PrepareRules",
    "PreparedBatch",
    "Role",
    "ScrubResult",
    "Signatures",
    "content_hash",
    "content_text",
    "digest",
    "exact_duplicates",
    "join_content",
    "looks_personal",
    "minhash_signatures",
    "near_duplicates",
    "normalize_series",
    "normalize_text",
    "placeholder",
    "prepare_batch",
    "profile_columns",
    "pseudonym",
    "pseudonymize",
    "residue",
    "scrub",
    "signatures",
    "signatures_from_series",
    "signatures_to_series",
]
