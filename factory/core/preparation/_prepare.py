"""One batch of raw rows in, prepared rows out, and nothing lost on the way.

`prepare_batch` runs the preparation layer in a fixed order:

1. type check: every declared column is parsed from its raw string (timestamps: ISO 8601, offsets
   converted to UTC, no offset read as UTC; integers and floats after stripping; NaN and infinities are
   not numbers); a row with a problem goes to the quarantine with the first reason in `REASONS` order, a
   readable detail listing every problem (column names, never raw text values), and its raw payload as JSON
   (the quarantine lives inside the preparation layer, so PII is allowed there). The id and timestamp
   columns are always required. ``empty_text`` quarantines a row whose text columns are all empty
   when text is the only model input (with feature columns, a text is optional unless ``required``);
2. normalize (`normalize_text`) every string column but the id, which is kept exactly as received; a
   value empty after normalization is null. Allowed values are compared after normalization;
3. keys: an id or group value (string columns) in which the PII detector finds anything is replaced as
   a whole by its keyed pseudonym (`factory.core.preparation.pseudonym`, ``PrepareRules.pseudonym_key``),
   so joins and group splits still hold and no key carries PII; without a pseudonym key such a row is
   quarantined ``pii_residue``. Then scrub PII from every other string column but the enumerations
   (columns with allowed values), truncate to ``max_length`` characters (flagged in ``<name>_truncated``)
   and scrub the truncated values again. Scrubbing the whole value first means no cut-off fragment of PII
   (half an email address) survives; scrubbing the cut value means a cut cannot re-create a match (a
   custom pattern for four-digit codes matching the cut-off start of a longer number). A placeholder put
   in by the second scrub may make a value a few characters longer than ``max_length``;
4. a row that still holds PII after the scrubber's last pass (adversarial input, see
   `factory.core.preparation.scrub`) goes to the quarantine as ``pii_residue``, naming its columns, so
   the rest of the day goes on and the prepared rows hold none;
5. content hash over the content columns (`PrepareRules.content_columns`: the text, or text and
   features when the text is optional or absent); an id seen earlier with a different hash (in this
   batch, or in the prior index) is quarantined ``duplicate_id``; the same id with the same content is a
   duplicate;
6. exact duplicates (same content hash as an earlier row of the batch or a prior row);
7. near duplicates (MinHash/LSH against kept rows of the batch and the prior index), when the content
   is text (`PrepareRules.text_is_content`). A duplicate row keeps its values of the label columns
   (``PrepareRules.label_columns``, pre-labeled data), so the label it carried can still count for the row
   kept.

Steps 1-5 only look at one row at a time; they run on slices of the batch, two slices at once (Polars and
NumPy release the GIL), which also bounds the temporary memory. Outputs are ordered by ``_line``, and
the same input gives identical frames.

Invariant 1 of the design, checked here on every call: each input ``_line`` ends in exactly one of
`prepared`, `quarantine` and `duplicates`, so ``rows_in == prepared + quarantined + duplicates``; a
violation raises RuntimeError.

Schema errors of the whole batch (a declared column missing, a column that is not String, a missing or
repeated ``_line``, a prior index without its columns) raise ValueError naming the problem: there is no
row-level answer to them. Columns not declared in the rules are carried in the quarantine payload and
otherwise dropped. In `quarantine` the id is the raw string as received; in `duplicates` and
`signatures` it has the id column's declared type.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import polars as pl

from factory.core.preparation._clean import clean_rows
from factory.core.preparation._dedup import (
    Signatures,
    exact_duplicates,
    minhash_signatures,
    near_duplicates,
    signatures_from_series,
    signatures_to_series,
)
from factory.core.preparation._normalize import digest, join_content, normalize_series
from factory.core.preparation._rules import DTYPES, LINE, ColumnRule, PrepareRules

__all__ = ["LINE", "REASONS", "ColumnRule", "PrepareRules", "PreparedBatch", "prepare_batch"]

REASONS: tuple[str, ...] = (
    "missing_required",
    "bad_timestamp",
    "future_timestamp",
    "bad_integer",
    "bad_float",
    "value_not_allowed",
    "empty_text",
    "pii_residue",
    "duplicate_id",
)
"""Quarantine reason codes, in priority order: a row with several problems gets the first."""

_FINGERPRINT_ROWS = 1 << 16  # rows whose content text exists at once while hashing
_SLICE_ROWS = 1 << 17  # rows per slice of the row-local steps
_THREADS = 2  # slices prepared at once: the target machine has two cores
# ISO 8601 as written in practice. The primary form is tried on every row; the others only on the rows it
# rejects, after "Z" becomes "+00:00" and a space between date and time becomes "T". Forms without an
# offset are read as UTC; a date alone is midnight UTC.
_PRIMARY_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%#z"
_AWARE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z")
_NAIVE_FORMATS = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%d")


@dataclass(frozen=True)
class PreparedBatch:
    """The three destinations of a batch, the prior index entries it adds, PII counts and reconciliation."""

    prepared: pl.DataFrame
    quarantine: pl.DataFrame
    duplicates: pl.DataFrame
    signatures: pl.DataFrame
    pii_counts: dict[str, int]
    stats: dict[str, int]


# --- input validation ----------------------------------------------------------------------------------


def _check_raw(raw: pl.DataFrame, rules: PrepareRules) -> pl.DataFrame:
    """Sort by ``_line`` and cast all-null columns to String; ValueError on batch-level schema errors."""
    declared = [rule.name for rule in rules.columns]
    missing = [name for name in (LINE, *declared) if name not in raw.columns]
    if missing:
        raise ValueError(f"raw batch lacks declared columns {missing}; present: {raw.columns}")
    if not raw.schema[LINE].is_integer():
        raise ValueError(f"{LINE} must be an integer column, got {raw.schema[LINE]}")
    if raw[LINE].null_count() or raw[LINE].n_unique() != raw.height:
        raise ValueError(f"{LINE} must be unique and non-null: it is how every row is accounted for")
    raw = raw.with_columns(
        pl.col(name).cast(pl.String) for name, dtype in raw.schema.items() if dtype == pl.Null
    ).with_columns(pl.col(LINE).cast(pl.Int64))
    wrong = {name: str(raw.schema[name]) for name in declared if raw.schema[name] != pl.String}
    if wrong:
        raise ValueError(f"raw columns must be String (raw text as received); got {wrong}")
    return raw if raw[LINE].is_sorted() else raw.sort(LINE)


def _check_prior(prior: pl.DataFrame, rules: PrepareRules, id_dtype: pl.DataType) -> pl.DataFrame:
    columns = (rules.id_column, "content_hash", "signature")
    if not prior.columns:
        return pl.DataFrame(
            schema={rules.id_column: id_dtype, "content_hash": pl.String, "signature": pl.List(pl.UInt32)}
        )
    missing = [name for name in columns if name not in prior.columns]
    if missing:
        raise ValueError(f"prior index lacks columns {missing}; it needs {list(columns)}")
    try:
        return prior.select(pl.col(rules.id_column).cast(id_dtype), "content_hash", "signature")
    except pl.exceptions.InvalidOperationError as error:
        raise ValueError(f"prior ids do not convert to the id column's type {id_dtype}: {error}") from error


# --- type checks ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Problem:
    reason: str
    when: pl.Expr
    detail: pl.Expr


def _blank(name: str) -> pl.Expr:
    return pl.col(name).is_null() | (pl.col(name).str.strip_chars() == "")


def _parse_timestamps(texts: pl.Series) -> pl.Series:
    """ISO-8601 strings to UTC datetimes; null where a value does not parse.

    The common form (``2026-01-03T10:00:00Z``, offsets, fractions) is parsed for all rows in one pass; only
    the rows it rejects are tried against the other accepted forms.
    """
    stripped = texts.cast(pl.String).str.strip_chars()
    parsed = stripped.str.to_datetime(_PRIMARY_FORMAT, time_unit="us", time_zone="UTC", strict=False)
    retry = (parsed.is_null() & stripped.is_not_null()).arg_true()
    if retry.len() == 0:
        return parsed
    text = stripped.gather(retry).str.replace(r"[zZ]$", "+00:00").str.replace(r"^(\d{4}-\d{2}-\d{2})[ tT]", "${1}T")
    aware = [text.str.to_datetime(fmt, time_unit="us", time_zone="UTC", strict=False) for fmt in _AWARE_FORMATS]
    naive = [
        text.str.to_datetime(fmt, time_unit="us", strict=False).dt.replace_time_zone("UTC") for fmt in _NAIVE_FORMATS
    ]
    fallback = pl.select(pl.coalesce([pl.lit(series) for series in (*aware, *naive)])).to_series()
    return parsed.clone().scatter(retry, fallback)


def _string_value(texts: pl.Series) -> pl.Series:
    """A normalized string, null where it is empty after normalization."""
    normalized = normalize_series(texts)
    empty = normalized == ""
    return normalized.set(empty, None) if empty.any() else normalized


def _typed(rule: ColumnRule, rules: PrepareRules) -> pl.Expr:
    """The typed value of a column; null where the raw value is blank or does not parse."""
    raw = pl.col(rule.name)
    if rule.type == "string" and rule.name != rules.id_column:
        return raw.map_batches(_string_value, return_dtype=pl.String, is_elementwise=True)
    if rule.type == "timestamp":
        value = raw.map_batches(_parse_timestamps, return_dtype=DTYPES["timestamp"], is_elementwise=True)
    elif rule.type == "integer":
        value = raw.str.strip_chars().str.to_integer(strict=False).cast(pl.Int64)
    elif rule.type == "float":
        value = raw.str.strip_chars().cast(pl.Float64, strict=False)
    else:
        value = raw
    return pl.when(_blank(rule.name)).then(None).otherwise(value)


def _problems(rule: ColumnRule, rules: PrepareRules) -> list[_Problem]:
    """Row conditions (on raw column `name` and typed column ``<name>__typed``) that quarantine a row."""
    name = rule.name
    typed = pl.col(f"{name}__typed")
    free_text = rule.type == "string" and name != rules.id_column
    blank = typed.is_null() if free_text else _blank(name)
    label = f"column {name!r}"
    problems = []
    if rule.required or name in (rules.id_column, rules.timestamp_column):
        problems.append(_Problem("missing_required", blank, pl.lit(f"required {label} is null or blank")))
    parse_failed = ~blank & typed.is_null()
    if rule.type == "timestamp":
        problems.append(_Problem("bad_timestamp", parse_failed, pl.lit(f"{label} is not an ISO-8601 timestamp")))
    if name == rules.timestamp_column:
        limit = rules.partition_end + rules.future_tolerance
        detail = pl.format(
            "{} = {} is later than the partition end plus tolerance ({})",
            pl.lit(label),
            typed.dt.to_string("%Y-%m-%dT%H:%M:%S%.fZ"),
            pl.lit(limit.strftime("%Y-%m-%dT%H:%M:%SZ")),
        )
        problems.append(_Problem("future_timestamp", typed > pl.lit(limit), detail))
    if rule.type == "integer":
        problems.append(_Problem("bad_integer", parse_failed, pl.lit(f"{label} is not an integer")))
    if rule.type == "float":
        not_finite = parse_failed | typed.is_nan() | typed.is_infinite()
        problems.append(_Problem("bad_float", not_finite, pl.lit(f"{label} is not a finite number")))
    if rule.values is not None:
        allowed = ", ".join(rule.values)
        outside = typed.is_not_null() & ~typed.is_in(list(rule.values))
        problems.append(_Problem("value_not_allowed", outside, pl.lit(f"{label} is not one of: {allowed}")))
    return problems


def _type_check(raw: pl.DataFrame, rules: PrepareRules) -> pl.DataFrame:
    """Raw columns plus ``<name>__typed`` columns, ``reason`` (null when the row is fine) and ``detail``."""
    typed = raw.with_columns(_typed(rule, rules).alias(f"{rule.name}__typed") for rule in rules.columns)
    problems = [problem for rule in rules.columns for problem in _problems(rule, rules)]
    if rules.text_columns and not rules.feature_columns:
        no_text = pl.all_horizontal(pl.col(f"{name}__typed").is_null() for name in rules.text_columns)
        problems.append(_Problem("empty_text", no_text, pl.lit("every text column is empty after normalization")))
    ordered = sorted(problems, key=lambda problem: REASONS.index(problem.reason))
    flags = [f"_problem_{index}" for index in range(len(ordered))]
    flagged = typed.with_columns(p.when.fill_null(False).alias(flag) for p, flag in zip(ordered, flags, strict=True))
    checked = flagged.with_columns(
        reason=pl.coalesce([pl.when(flag).then(pl.lit(p.reason)) for p, flag in zip(ordered, flags, strict=True)])
    )
    # The detail is only written for the rows that fail (a few), not formatted for every row.
    failed = checked["reason"].is_not_null().arg_true()
    detail = pl.Series("detail", [None] * checked.height, dtype=pl.String)
    if failed.len():
        parts = [pl.when(flag).then(p.detail) for p, flag in zip(ordered, flags, strict=True)]
        written = checked[failed].select(pl.concat_str(parts, separator="; ", ignore_nulls=True)).to_series()
        detail = detail.scatter(failed, written)
    return checked.with_columns(detail).drop(flags)


# --- fingerprints ---------------------------------------------------------------------------------------


def _fingerprints(clean: pl.DataFrame, rules: PrepareRules) -> tuple[pl.Series, Signatures]:
    """Content hash and MinHash signature of every row, computed a slice of rows at a time.

    The content text (normalized, lower-cased, joined content columns) exists only one slice at a time:
    on a million rows that saves allocating, and faulting in, gigabytes of temporary memory. When the
    content is not text alone there are no words to sign: the signatures are zeros, and near duplicates
    are not looked for.
    """
    with_text = rules.text_is_content
    signatures = (np.empty if with_text else np.zeros)((clean.height, rules.minhash.num_perm), dtype=np.uint32)
    hashes = [digest(pl.Series([], dtype=pl.String))]
    for start in range(0, clean.height, _FINGERPRINT_ROWS):
        content = join_content(clean.slice(start, _FINGERPRINT_ROWS), rules.content_columns, normalized=True)
        hashes.append(digest(content))
        if with_text:
            signatures[start : start + content.len()] = minhash_signatures(content, rules.minhash)
    return pl.concat(hashes), signatures


# --- duplicates ----------------------------------------------------------------------------------------


def _duplicate_ids(keys: pl.DataFrame, prior: pl.DataFrame, id_column: str) -> pl.DataFrame:
    """``_line``, ``reason``, ``detail`` of the rows whose id was seen earlier with other content.

    `keys` rows are in line order, so the first row of an id is its earliest line.
    """
    joined = keys.with_columns(
        pl.col("content_hash").first().over(id_column).alias("_batch_hash"),
        pl.col(LINE).first().over(id_column).alias("_first_line"),
    )
    if prior.is_empty():
        joined = joined.with_columns(pl.lit(None, dtype=pl.String).alias("_prior_hash"))
    else:
        in_prior = prior.group_by(id_column).agg(pl.col("content_hash").first().alias("_prior_hash"))
        joined = joined.join(in_prior, on=id_column, how="left", maintain_order="left")
    conflict_prior = pl.col("_prior_hash").is_not_null() & (pl.col("content_hash") != pl.col("_prior_hash"))
    conflict_batch = pl.col("_prior_hash").is_null() & (pl.col("content_hash") != pl.col("_batch_hash"))
    detail = (
        pl.when(conflict_prior)
        .then(pl.lit("id already prepared in an earlier partition with different content"))
        .otherwise(pl.format("id first seen at line {} with different content", pl.col("_first_line")))
    )
    conflicts = joined.filter(conflict_prior | conflict_batch)
    return conflicts.select(LINE, reason=pl.lit("duplicate_id"), detail=detail).sort(LINE)


def _near(keys: pl.DataFrame, signatures: Signatures, prior: pl.DataFrame, rules: PrepareRules) -> pl.DataFrame:
    """Near duplicates among `keys` rows (``_line``, id, ``_row``: their row in `signatures`)."""
    found = near_duplicates(
        keys[rules.id_column],
        signatures,
        prior_ids=prior[rules.id_column],
        prior_signatures=signatures_from_series(prior["signature"], rules.minhash.num_perm),
        config=rules.minhash,
        rows=keys["_row"].to_numpy(),
    )
    return found.join(keys.select(rules.id_column, LINE), on=rules.id_column, how="left")


def _deduplicate(
    keys: pl.DataFrame, signatures: Signatures, prior: pl.DataFrame, rules: PrepareRules
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Id conflicts (quarantine rows) and duplicates (exact, then near) among `keys` (``_line``, id, hash).

    `keys` rows are in line order and `signatures` is aligned with them.
    """
    conflicts = _duplicate_ids(keys, prior, rules.id_column)
    # Filters, not anti-joins: a join does not promise to keep the line order the greedy steps rely on.
    remaining = keys.with_row_index("_row").filter(~pl.col(LINE).is_in(conflicts[LINE].implode()))
    exact = exact_duplicates(
        remaining, id_col=rules.id_column, hash_col="content_hash", prior=prior, keep=(LINE,)
    ).with_columns(similarity=pl.lit(1.0, dtype=pl.Float64))
    columns = [LINE, rules.id_column, "duplicate_of", "kind", "similarity"]
    if not rules.text_is_content:
        return conflicts, exact.select(columns).sort(LINE)
    remaining = remaining.filter(~pl.col(LINE).is_in(exact[LINE].implode()))
    near = _near(remaining, signatures, prior, rules)
    return conflicts, pl.concat([exact.select(columns), near.select(columns)]).sort(LINE)


# --- output --------------------------------------------------------------------------------------------


def _quarantine(rows: pl.DataFrame, raw_columns: Sequence[str], id_column: str) -> pl.DataFrame:
    payload = pl.struct(list(raw_columns)).struct.json_encode() if raw_columns else pl.lit("{}")
    return rows.select(
        LINE,
        pl.col(id_column).cast(pl.String),
        pl.col("reason").cast(pl.String),
        pl.col("detail").cast(pl.String),
        payload.alias("payload"),
    )


def _stats(rows_in: int, prepared: int, quarantine: pl.DataFrame, duplicates: pl.DataFrame) -> dict[str, int]:
    stats = {
        "rows_in": rows_in,
        "prepared": prepared,
        "quarantined": quarantine.height,
        "duplicates": duplicates.height,
        "duplicates.exact": int((duplicates["kind"] == "exact").sum()),
        "duplicates.near": int((duplicates["kind"] == "near").sum()),
    }
    by_reason = dict(quarantine.group_by("reason").len().iter_rows())
    stats.update({f"quarantine.{reason}": int(by_reason.get(reason, 0)) for reason in REASONS})
    return stats


def _reconcile(raw: pl.DataFrame, batch: PreparedBatch) -> None:
    """Raise RuntimeError unless every input line is in exactly one output (design invariant 1)."""
    stats = batch.stats
    outputs = (batch.prepared[LINE], batch.quarantine[LINE], batch.duplicates[LINE])
    placed = pl.concat([series.cast(pl.Int64) for series in outputs])
    balanced = stats["rows_in"] == stats["prepared"] + stats["quarantined"] + stats["duplicates"]
    same_lines = placed.len() == raw.height and placed.sort().equals(raw[LINE].sort(), check_names=False)
    if not (balanced and same_lines):
        raise RuntimeError(
            f"preparation lost or repeated rows: {stats['rows_in']} in, {stats['prepared']} prepared, "
            f"{stats['quarantined']} quarantined, {stats['duplicates']} duplicates"
        )


@dataclass(frozen=True)
class _Rows:
    """What the row-local steps (type check, cleaning, fingerprints) make of a slice of the batch."""

    clean: pl.DataFrame  # rows that passed the type check: typed, scrubbed, with ``content_hash``
    quarantine: pl.DataFrame  # rows that failed it, in the quarantine layout
    signatures: Signatures  # aligned with `clean`
    pii_counts: dict[str, int]
    pseudonymized: int  # key values replaced by their pseudonym


def _prepare_rows(raw: pl.DataFrame, rules: PrepareRules, raw_columns: Sequence[str]) -> _Rows:
    checked = _type_check(raw, rules)
    failed = checked["reason"].is_not_null()
    valid = checked.filter(~failed) if failed.any() else checked
    cleaned = clean_rows(valid, rules)
    clean, quarantine = cleaned.frame, _quarantine(checked.filter(failed), raw_columns, rules.id_column)
    leaking = cleaned.residue_detail.is_not_null()
    if leaking.any():
        residue_rows = valid.filter(leaking).with_columns(
            reason=pl.lit("pii_residue"), detail=cleaned.residue_detail.filter(leaking)
        )
        quarantine = pl.concat([quarantine, _quarantine(residue_rows, raw_columns, rules.id_column)]).sort(LINE)
        clean = clean.filter(~leaking)
    hashes, signatures = _fingerprints(clean, rules)
    return _Rows(clean.with_columns(hashes), quarantine, signatures, cleaned.counts, cleaned.pseudonymized)


def _prepare_slices(raw: pl.DataFrame, rules: PrepareRules, raw_columns: Sequence[str]) -> _Rows:
    """The row-local steps on slices of the batch, two at a time (Polars and NumPy release the GIL)."""
    slices = [raw.slice(start, _SLICE_ROWS) for start in range(0, max(raw.height, 1), _SLICE_ROWS)]
    with ThreadPoolExecutor(max_workers=_THREADS) as pool:
        parts = list(pool.map(lambda part: _prepare_rows(part, rules, raw_columns), slices))
    return _Rows(
        clean=pl.concat([part.clean for part in parts]),
        quarantine=pl.concat([part.quarantine for part in parts]),
        signatures=np.concatenate([part.signatures for part in parts]),
        pii_counts={name: sum(part.pii_counts[name] for part in parts) for name in parts[0].pii_counts},
        pseudonymized=sum(part.pseudonymized for part in parts),
    )


def prepare_batch(raw: pl.DataFrame, rules: PrepareRules, prior: pl.DataFrame) -> PreparedBatch:
    """Type-check, clean, scrub and deduplicate one batch; see the module docstring for the order.

    `raw` holds String columns (at least every declared one) and ``_line`` (unique integers). `prior` is
    the signature index of everything prepared before (``<id>``, ``content_hash``, ``signature``), possibly
    empty. Raises ValueError on batch-level schema errors and RuntimeError if rows fail to reconcile.
    """
    raw = _check_raw(raw, rules)
    id_dtype = DTYPES[rules.rule(rules.id_column).type]
    prior = _check_prior(prior, rules, id_dtype)
    raw_columns = [name for name in raw.columns if name != LINE]

    rows = _prepare_slices(raw, rules, raw_columns)
    keys = rows.clean.select(LINE, rules.id_column, "content_hash")
    conflicts, duplicates = _deduplicate(keys, rows.signatures, prior, rules)

    dropped = pl.concat([conflicts[LINE], duplicates[LINE]])
    # A duplicate keeps the values of the label columns (cleaned like the kept rows'): its label is not lost.
    labeled = rows.clean.select(LINE, *rules.label_columns)
    duplicates = duplicates.join(labeled, on=LINE, how="left", maintain_order="left")
    keep = ~rows.clean[LINE].is_in(dropped.implode()).to_numpy()
    signatures = rows.signatures[keep] if not keep.all() else rows.signatures
    kept = rows.clean.filter(keep).with_columns(signature=signatures_to_series("signature", signatures))
    conflicting = _quarantine(conflicts.join(raw, on=LINE, how="left"), raw_columns, rules.id_column)
    quarantine = pl.concat([rows.quarantine, conflicting]).sort(LINE)
    output_columns = [
        *(rule.name for rule in rules.columns),
        *(f"{rule.name}_truncated" for rule in rules.columns if rule.max_length is not None),
        "content_hash",
        LINE,
    ]
    batch = PreparedBatch(
        prepared=kept.select(output_columns),
        quarantine=quarantine,
        duplicates=duplicates,
        signatures=kept.select(rules.id_column, "content_hash", "signature"),
        pii_counts=rows.pii_counts,
        stats={**_stats(raw.height, kept.height, quarantine, duplicates), "keys_pseudonymized": rows.pseudonymized},
    )
    _reconcile(raw, batch)
    return batch
