"""Deterministic support-ticket stream for the ``ticket_triage`` demo.

Every value is a pure function of ``(day, config)``: random draws come from NumPy generators seeded by a
digest of ``(seed, day ordinal, purpose)``, never from Python's ``hash()`` or global random state.

One day is laid out in *layout rows*, then sorted by ``created_at``:

* content rows: ``base`` clean tickets, then ``malformed`` tickets built the same way and then damaged;
* exact duplicate rows, then near duplicate rows: copies of a clean ticket of the same day (sent earlier)
  or of the previous day, with a new ticket id and timestamp.

Ticket numbers follow the time order, so ids look sequential. The ``injected`` ledger says what was put
where: PII values, hard negatives (values that look sensitive and are not), duplicates and defects.
Order numbers and app versions that templates write as ordinary slot values are not PII either, but the
ledger only records the deliberately injected values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from string import Formatter

import numpy as np
import numpy.typing as npt
import polars as pl

from factory.demo import _layout
from factory.demo import vocabulary as vocab
from factory.demo._layout import Sizes, Skeleton, Sources, day_rng, normalized

__all__ = [
    "CATEGORIES",
    "CHANNELS",
    "HARD_NEGATIVE_RATE",
    "MALFORMED_KINDS",
    "PII_KINDS",
    "DemoConfig",
    "TicketBatch",
    "day_rng",
    "generate_day",
    "stable_uniform",
    "truth_for",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
U64Array = npt.NDArray[np.uint64]

CATEGORIES: tuple[str, ...] = (
    "billing",
    "refund",
    "account_access",
    "password_reset",
    "shipping_delay",
    "damaged_item",
    "product_question",
    "bug_report",
    "feature_request",
    "cancellation",
    "subscription_change",
    "security_concern",
    "outage",
)
CHANNELS: tuple[str, ...] = ("email", "chat", "phone", "web")
PII_KINDS: tuple[str, ...] = ("pii_email", "pii_phone", "pii_card")
MALFORMED_KINDS: tuple[str, ...] = (
    "malformed_null_ticket_id",
    "malformed_empty_body",
    "malformed_unparseable_created_at",
    "malformed_future_created_at",
    "malformed_unknown_channel",
    "malformed_duplicate_ticket_id",
)
HARD_NEGATIVE_RATE = 0.06
"""Share of tickets carrying one injected hard negative (order number, non-Luhn 16 digits, version)."""

_CUSTOMERS = 20_000
_CUSTOMER_ZIPF_OFFSET = 50.0
_CUSTOMER_ZIPF_EXPONENT = 1.1
_CHANNEL_WEIGHTS = (0.38, 0.27, 0.10, 0.25)
_DRIFT_CHANNEL_WEIGHTS = (0.22, 0.50, 0.08, 0.20)
_HOURLY_WEIGHTS = (1, 1, 1, 1, 1, 2, 3, 5, 8, 10, 10, 10, 9, 9, 9, 9, 8, 7, 6, 5, 4, 3, 2, 1)
_PREVIOUS_DAY_SHARE = 0.3
_VAGUE_SHARE = 0.3
_OWN_SUBJECT_SHARE = 0.85
_OWN_DETAIL_SHARE = 0.65
_PARTNER_DETAIL_SHARE = 0.15
_SECOND_DETAIL_SHARE = 0.45
_GENERIC_SENTENCE_SHARE = 0.75
_SECOND_GENERIC_SHARE = 0.25
_CLOSING_SHARE = 0.5
_DRIFT_SENTENCE_SHARE = 0.4
_NEW_PRODUCT_SHARE = 0.5
_TYPO_SHARE = 0.08
_LOWERCASE_SHARE = 0.03
_CHAT_LOWERCASE_SHARE = 0.3
_UPPER_SUBJECT_SHARE = 0.02
_TWO_PII_SHARE = 0.25
_SUBJECT_PII_SHARE = 0.15
_CHOICES = 8
_DIGITS = 16
_UNPARSEABLE_TIMES = ("yesterday", "{year}-13-45T99:00:00Z", "N/A", "31/{month}/{year} 25:61", "")
_UNKNOWN_CHANNELS = ("fax", "sms", "letter", "whatsapp")


@dataclass(frozen=True)
class DemoConfig:
    """Knobs of the demo stream. Rates are shares of the day's rows."""

    seed: int = 7
    rows_per_day: int = 2000
    drift_start: date | None = None
    pii_rate: float = 0.08
    exact_duplicate_rate: float = 0.03
    near_duplicate_rate: float = 0.03
    malformed_rate: float = 0.01
    gold_share: float = 0.05
    annotations_per_item: int = 3
    correction_share: float = 0.10

    def __post_init__(self) -> None:
        if self.rows_per_day < 1:
            raise ValueError(f"rows_per_day must be at least 1, got {self.rows_per_day}")
        if self.annotations_per_item < 1:
            raise ValueError(f"annotations_per_item must be at least 1, got {self.annotations_per_item}")
        for name in ("pii_rate", "exact_duplicate_rate", "near_duplicate_rate", "malformed_rate"):
            _check_share(name, getattr(self, name))
        for name in ("gold_share", "correction_share"):
            _check_share(name, getattr(self, name))
        damaged = self.exact_duplicate_rate + self.near_duplicate_rate + self.malformed_rate
        if damaged > 0.5:
            raise ValueError(f"duplicate and malformed rates add up to {damaged:.2f}; at most 0.5 is allowed")


@dataclass(frozen=True)
class TicketBatch:
    """One day of the stream: the raw rows, their hidden categories and a ledger of what was injected."""

    raw: pl.DataFrame
    truth: pl.DataFrame
    injected: pl.DataFrame


def _check_share(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be between 0 and 1, got {value}")


# Seeding and stable hashing --------------------------------------------------------------------------


def _fnv1a(keys: pl.Series) -> U64Array:
    """64-bit FNV-1a of each key's UTF-8 bytes, vectorized over keys."""
    if keys.null_count():
        raise ValueError(f"{keys.name or 'keys'} has {keys.null_count()} null values; every key needs a value")
    encoded = np.array([key.encode() for key in keys.cast(pl.String).to_list()], dtype=np.bytes_)
    matrix = encoded.view(np.uint8).reshape(len(encoded), encoded.dtype.itemsize)
    hashes = np.full(len(encoded), 0xCBF29CE484222325, dtype=np.uint64)
    prime = np.full(len(encoded), 0x100000001B3, dtype=np.uint64)
    for column in matrix.T:
        mixed = (hashes ^ column.astype(np.uint64)) * prime
        hashes = np.where(column != 0, mixed, hashes)
    return hashes


def _splitmix64(values: U64Array) -> U64Array:
    z = values + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def stable_uniform(keys: pl.Series, seed: int, purpose: str, streams: int = 1) -> FloatArray:
    """Uniform [0, 1) draws, shape ``(len(keys), streams)``, that depend only on each key, seed and purpose.

    Unlike a generator, a key gets the same draws whatever other keys are in the batch.
    """
    digest = hashlib.blake2b(f"{seed}|{purpose}".encode(), digest_size=8).digest()
    salted = _fnv1a(keys) ^ np.uint64(int.from_bytes(digest, "little"))
    base = _splitmix64(salted)
    columns = [_splitmix64(base + np.uint64(stream)) for stream in range(streams)]
    bits = np.stack(columns, axis=1) if columns else np.empty((len(keys), 0), dtype=np.uint64)
    return (bits >> np.uint64(11)).astype(np.float64) * (2.0**-53)


# Template bank -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Pool:
    """Where a group of templates sits in the bank, one entry per category or channel."""

    offset: IntArray
    size: IntArray

    def pick(self, which: IntArray, uniform: FloatArray) -> IntArray:
        return self.offset[which] + (uniform * self.size[which]).astype(np.int64)


@dataclass(frozen=True)
class _Bank:
    """Templates split into literal pieces and slot fields, so rendering is a few column gathers."""

    literals: tuple[pl.Series, ...]
    fields: IntArray


@dataclass(frozen=True)
class _Pools:
    subject: _Pool
    generic_subject: _Pool
    opener: _Pool
    shared: _Pool
    detail: _Pool
    generic: _Pool
    closing: _Pool
    drift: _Pool
    greeting: _Pool
    signoff: _Pool


def _compile(templates: Sequence[str]) -> _Bank:
    parsed = [list(Formatter().parse(template)) for template in templates]
    width = max(sum(1 for _, field, _, _ in parts if field is not None) for parts in parsed)
    none = len(vocab.SLOT_NAMES)
    literals = [["" for _ in templates] for _ in range(width + 1)]
    fields = np.full((width, len(templates)), none, dtype=np.int64)
    for index, parts in enumerate(parsed):
        slot = 0
        for literal, field, _, _ in parts:
            literals[slot][index] += literal
            if field is not None:
                if field not in vocab.SLOT_NAMES:
                    raise ValueError(f"template {templates[index]!r} uses unknown slot {field!r}")
                fields[slot, index] = vocab.SLOT_NAMES.index(field)
                slot += 1
    return _Bank(tuple(pl.Series(column, dtype=pl.String) for column in literals), fields)


def _build_bank() -> tuple[_Bank, _Pools]:
    templates: list[str] = [""]

    def add(groups: Sequence[Sequence[str]]) -> _Pool:
        offsets, sizes = [], []
        for group in groups:
            offsets.append(len(templates))
            sizes.append(len(group))
            templates.extend(group)
        return _Pool(np.array(offsets, dtype=np.int64), np.array(sizes, dtype=np.int64))

    pools = _Pools(
        subject=add([vocab.SUBJECTS[name] for name in CATEGORIES]),
        generic_subject=add([vocab.GENERIC_SUBJECTS]),
        opener=add([vocab.OPENERS[name] for name in CATEGORIES]),
        shared=add([vocab.SHARED_OPENERS[name] for name in CATEGORIES]),
        detail=add([vocab.DETAILS[name] for name in CATEGORIES]),
        generic=add([vocab.GENERIC_SENTENCES]),
        closing=add([vocab.CLOSINGS]),
        drift=add([vocab.DRIFT_SENTENCES]),
        greeting=add([vocab.GREETINGS[name] for name in CHANNELS]),
        signoff=add([vocab.SIGNOFFS[name] for name in CHANNELS]),
    )
    return _compile(templates), pools


_BANK, _POOLS = _build_bank()
_PARTNER = np.array([CATEGORIES.index(vocab.PARTNER[name]) for name in CATEGORIES], dtype=np.int64)


def _render_templates(template_ids: IntArray, slot_values: pl.Series) -> pl.Series:
    """Fill each row's template with that row's slot values (``slot_values`` is slot-major, flattened)."""
    rows = len(template_ids)
    row_index = np.arange(rows, dtype=np.int64)
    pieces: list[pl.Series] = []
    for slot, literal in enumerate(_BANK.literals):
        pieces.append(literal.gather(template_ids).alias(f"l{slot}"))
        if slot < len(_BANK.fields):
            flat_index = _BANK.fields[slot][template_ids] * rows + row_index
            pieces.append(slot_values.gather(flat_index).alias(f"v{slot}"))
    return pl.DataFrame(pieces).select(pl.concat_str(pl.all()).alias("text")).to_series()


# Day skeleton: sizes, times, categories, duplicate sources, defects -------------------------------------


def _sizes(config: DemoConfig) -> Sizes:
    rows = config.rows_per_day
    exact = round(rows * config.exact_duplicate_rate)
    near = round(rows * config.near_duplicate_rate)
    malformed = round(rows * config.malformed_rate)
    base = rows - exact - near - malformed
    if base < 1:
        raise ValueError(f"rows_per_day={rows} leaves no clean ticket after duplicates and defects")
    return Sizes(base=base, malformed=malformed, exact=exact, near=near)


def _drifted(day: date, config: DemoConfig) -> bool:
    return config.drift_start is not None and day >= config.drift_start


def _skeleton(day: date, config: DemoConfig) -> Skeleton:
    return _layout.skeleton(day, config.seed, _sizes(config), _HOURLY_WEIGHTS)


def _categories(day: date, config: DemoConfig, size: int) -> IntArray:
    weights = vocab.DRIFT_CATEGORY_WEIGHTS if _drifted(day, config) else vocab.CATEGORY_WEIGHTS
    probabilities = normalized([weights[name] for name in CATEGORIES])
    rng = day_rng(config.seed, day, "category")
    return rng.choice(len(CATEGORIES), size=size, p=probabilities).astype(np.int64)


def _duplicate_sources(day: date, config: DemoConfig, layout: Skeleton) -> Sources:
    """For each duplicate row, the clean ticket it copies: an earlier one of the day or one of yesterday."""
    return _layout.duplicate_sources(day, config.seed, layout, _PREVIOUS_DAY_SHARE)


@dataclass(frozen=True)
class _Defects:
    kind: IntArray
    pick: IntArray
    target: IntArray


def _defects(day: date, config: DemoConfig, sizes: Sizes) -> _Defects:
    """Which defect each malformed row gets: every kind appears once there are enough malformed rows."""
    rng = day_rng(config.seed, day, "malformed")
    kinds = rng.permutation(np.arange(sizes.malformed, dtype=np.int64) % len(MALFORMED_KINDS))
    pick = rng.integers(0, 1 << 30, size=sizes.malformed)
    target = rng.integers(0, sizes.base, size=sizes.malformed)
    return _Defects(kind=kinds.astype(np.int64), pick=pick.astype(np.int64), target=target.astype(np.int64))


def _ticket_ids(day: date, numbers: IntArray) -> pl.Series:
    return _layout.numbered_ids("ticket_id", f"TCK-{day:%Y%m%d}-", numbers, 6)


@dataclass(frozen=True)
class _Plan:
    """Everything about a day except its text: enough for the truth table."""

    day: date
    skeleton: Skeleton
    categories: IntArray
    previous_categories: IntArray
    sources: Sources
    source_ids: pl.Series
    defects: _Defects
    ticket_ids: pl.Series
    owns_id: BoolArray
    layout_category: IntArray


def _plan(day: date, config: DemoConfig) -> _Plan:
    skeleton = _skeleton(day, config)
    sizes = skeleton.sizes
    categories = _categories(day, config, sizes.content)
    yesterday = day - timedelta(days=1)
    previous_categories = _categories(yesterday, config, sizes.content)
    sources = _duplicate_sources(day, config, skeleton)
    clean_ids = _ticket_ids(day, skeleton.position + 1)
    previous_ids = _ticket_ids(yesterday, _skeleton(yesterday, config).position[sources.row] + 1)
    source_ids = pl.select(
        pl.when(pl.Series(sources.previous))
        .then(previous_ids)
        .otherwise(clean_ids.gather(sources.row))
        .alias("source_id")
    ).to_series()
    defects = _defects(day, config, sizes)
    ticket_ids, owns_id = _damage_ids(clean_ids, defects, sizes)
    dup_category = np.where(sources.previous, previous_categories[sources.row], categories[sources.row])
    return _Plan(
        day=day,
        skeleton=skeleton,
        categories=categories,
        previous_categories=previous_categories,
        sources=sources,
        source_ids=source_ids,
        defects=defects,
        ticket_ids=ticket_ids,
        owns_id=owns_id,
        layout_category=np.concatenate([categories, dup_category]),
    )


def _damage_ids(clean_ids: pl.Series, defects: _Defects, sizes: Sizes) -> tuple[pl.Series, BoolArray]:
    """Null out or reuse ticket ids of the malformed rows that get an id defect."""
    ids = clean_ids.clone()
    owns_id = np.ones(len(ids), dtype=np.bool_)
    malformed_rows = sizes.base + np.arange(sizes.malformed, dtype=np.int64)
    null_rows = malformed_rows[defects.kind == MALFORMED_KINDS.index("malformed_null_ticket_id")]
    reusing = defects.kind == MALFORMED_KINDS.index("malformed_duplicate_ticket_id")
    ids.scatter(null_rows, None)
    ids.scatter(malformed_rows[reusing], clean_ids.gather(defects.target[reusing]))
    owns_id[null_rows] = False
    owns_id[malformed_rows[reusing]] = False
    return ids, owns_id


def _truth(plan: _Plan) -> pl.DataFrame:
    order = plan.skeleton.order
    keep = order[plan.owns_id[order]]
    return pl.DataFrame(
        {
            "ticket_id": plan.ticket_ids.gather(keep),
            "category": pl.Series(CATEGORIES, dtype=pl.String).gather(plan.layout_category[keep]),
        }
    )


# Content draws: every random choice behind a ticket's text --------------------------------------------


@dataclass(frozen=True)
class _Content:
    day: date
    customer: IntArray
    channel: IntArray
    subject: IntArray
    greeting: IntArray
    signoff: IntArray
    sentences: IntArray
    slots: Mapping[str, IntArray]
    typo: IntArray
    lowercase: BoolArray
    upper_subject: BoolArray
    pii_rows: IntArray
    pii_codes: IntArray
    negative_rows: IntArray
    negative_codes: IntArray


@lru_cache(maxsize=8)
def _customer_pool(seed: int) -> tuple[IntArray, FloatArray]:
    """Customer numbers by activity rank, and the Zipf-like probability of each rank writing in."""
    rng = day_rng(seed, None, "customers")
    numbers = rng.choice(np.arange(1, 60_000, dtype=np.int64), size=_CUSTOMERS, replace=False)
    ranks = np.arange(1, _CUSTOMERS + 1, dtype=np.float64)
    weights: FloatArray = (ranks + _CUSTOMER_ZIPF_OFFSET) ** -_CUSTOMER_ZIPF_EXPONENT
    return numbers.astype(np.int64), normalized(weights)


def _draw_slots(rng: np.random.Generator, size: int, drifted: bool) -> dict[str, IntArray]:
    old = rng.integers(0, len(vocab.PRODUCTS), size=size)
    new = len(vocab.PRODUCTS) + rng.integers(0, len(vocab.NEW_PRODUCTS), size=size)
    use_new = (rng.random(size) < _NEW_PRODUCT_SHARE) & drifted
    plan = rng.integers(0, len(vocab.PLANS), size=size)
    draws = {
        "product": np.where(use_new, new, old),
        "plan": plan,
        "new_plan": (plan + 1 + rng.integers(0, len(vocab.PLANS) - 1, size=size)) % len(vocab.PLANS),
        "order": rng.integers(10_000_000, 100_000_000, size=size),
        "cents": np.round(np.exp(rng.normal(3.6, 0.9, size=size)) * 100).astype(np.int64) + 99,
        "currency": rng.integers(0, 3, size=size),
        "days_back": rng.integers(1, 31, size=size),
        "date_style": rng.integers(0, 3, size=size),
        "major": rng.integers(3, 6, size=size),
        "minor": rng.integers(0, 13, size=size),
        "patch": rng.integers(0, 21, size=size),
        "city": rng.integers(0, len(vocab.CITIES), size=size),
        "days": rng.integers(2, 22, size=size),
        "device": rng.integers(0, len(vocab.DEVICES), size=size),
        "feature": rng.integers(0, len(vocab.FEATURES), size=size),
        "name": rng.integers(0, len(vocab.FIRST_NAMES), size=size),
        "carrier": rng.integers(0, len(vocab.CARRIERS), size=size),
        "error": rng.integers(0, len(vocab.ERROR_CODES), size=size),
    }
    return {name: values.astype(np.int64) for name, values in draws.items()}


def _draw_sentences(rng: np.random.Generator, category: IntArray, drifted: bool) -> tuple[IntArray, IntArray]:
    """Subject template and body sentence templates per row (0 is the empty template).

    Body sentences, in order: opener, detail, second detail, generic, second generic, drift, closing.
    A vague ticket opens with a sentence shared by its related pair and takes each other sentence from
    its own or its partner's vocabulary at random, so its text cannot tell the two categories apart.
    """
    size = len(category)
    u = rng.random((size, 20))
    zeros = np.zeros(size, dtype=np.int64)
    vague = u[:, 16] < _VAGUE_SHARE

    def voice(column: int) -> IntArray:
        return np.where(vague & (u[:, column] < 0.5), _PARTNER[category], category)

    own_subject = _POOLS.subject.pick(voice(17), u[:, 1])
    subject = np.where(u[:, 0] < _OWN_SUBJECT_SHARE, own_subject, _POOLS.generic_subject.pick(zeros, u[:, 1]))
    opener = np.where(vague, _POOLS.shared.pick(category, u[:, 3]), _POOLS.opener.pick(category, u[:, 3]))
    partner_detail = (u[:, 4] >= _OWN_DETAIL_SHARE) & (u[:, 4] < _OWN_DETAIL_SHARE + _PARTNER_DETAIL_SHARE)
    detail = np.where(
        partner_detail,
        _POOLS.detail.pick(_PARTNER[category], u[:, 5]),
        np.where(
            u[:, 4] < _OWN_DETAIL_SHARE,
            _POOLS.detail.pick(voice(18), u[:, 5]),
            _POOLS.generic.pick(zeros, u[:, 5]),
        ),
    )
    second_detail = np.where(u[:, 6] < _SECOND_DETAIL_SHARE, _POOLS.detail.pick(voice(19), u[:, 7]), 0)
    generic = np.where(u[:, 8] < _GENERIC_SENTENCE_SHARE, _POOLS.generic.pick(zeros, u[:, 9]), 0)
    second_generic = np.where(u[:, 10] < _SECOND_GENERIC_SHARE, _POOLS.generic.pick(zeros, u[:, 11]), 0)
    drift = np.where((u[:, 12] < _DRIFT_SENTENCE_SHARE) & drifted, _POOLS.drift.pick(zeros, u[:, 13]), 0)
    closing = np.where(u[:, 14] < _CLOSING_SHARE, _POOLS.closing.pick(zeros, u[:, 15]), 0)
    sentences = np.stack([opener, detail, second_detail, generic, second_generic, drift, closing], axis=1)
    return subject.astype(np.int64), _drop_repeats(sentences.astype(np.int64))


def _drop_repeats(sentences: IntArray) -> IntArray:
    """Blank out a sentence that already appeared earlier in the same ticket."""
    result = sentences.copy()
    for later in range(1, sentences.shape[1]):
        repeated = (sentences[:, :later] == sentences[:, later : later + 1]).any(axis=1)
        result[repeated, later] = 0
    return result


def _draw_content(day: date, config: DemoConfig, category: IntArray) -> _Content:
    size = len(category)
    drifted = _drifted(day, config)
    rng = day_rng(config.seed, day, "content")
    channel_weights = _DRIFT_CHANNEL_WEIGHTS if drifted else _CHANNEL_WEIGHTS
    channel = rng.choice(len(CHANNELS), size=size, p=normalized(channel_weights)).astype(np.int64)
    numbers, probabilities = _customer_pool(config.seed)
    customer = numbers[rng.choice(_CUSTOMERS, size=size, p=probabilities)]
    subject, sentences = _draw_sentences(rng, category, drifted)
    u = rng.random((size, 6))
    typo = np.where(u[:, 0] < _TYPO_SHARE, (u[:, 1] * len(vocab.MISSPELLINGS)).astype(np.int64), -1)
    chat = channel == CHANNELS.index("chat")
    lowercase = (u[:, 2] < _LOWERCASE_SHARE) | (chat & (u[:, 3] < _CHAT_LOWERCASE_SHARE))
    pii_rows = np.flatnonzero(rng.random(size) < config.pii_rate).astype(np.int64)
    negative_rows = np.flatnonzero(rng.random(size) < HARD_NEGATIVE_RATE).astype(np.int64)
    return _Content(
        day=day,
        customer=customer.astype(np.int64),
        channel=channel,
        subject=subject,
        greeting=_POOLS.greeting.pick(channel, u[:, 4]),
        signoff=_POOLS.signoff.pick(channel, u[:, 5]),
        sentences=sentences.astype(np.int64),
        slots=_draw_slots(rng, size, drifted),
        typo=typo.astype(np.int64),
        lowercase=lowercase,
        upper_subject=rng.random(size) < _UPPER_SUBJECT_SHARE,
        pii_rows=pii_rows,
        pii_codes=rng.integers(0, 1 << 30, size=(len(pii_rows), 2, _CHOICES + _DIGITS)).astype(np.int64),
        negative_rows=negative_rows,
        negative_codes=rng.integers(0, 1 << 30, size=(len(negative_rows), _CHOICES + _DIGITS)).astype(np.int64),
    )


# Rendering ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Texts:
    """Rendered rows: identity columns, text, and ledger entries whose ``row`` indexes these rows."""

    customer_id: pl.Series
    channel: pl.Series
    subject: pl.Series
    body: pl.Series
    ledger: pl.DataFrame


def _words(words: Sequence[str], index: IntArray) -> pl.Series:
    return pl.Series(words, dtype=pl.String).gather(index)


def _digits(values: IntArray, width: int = 1) -> pl.Series:
    return pl.Series(values, dtype=pl.Int64).cast(pl.String).str.zfill(width)


def _slot_values(day: date, slots: Mapping[str, IntArray]) -> pl.Series:
    """All slot values of the rows, slot-major in SLOT_NAMES order, then one block of empty strings."""
    dates = pl.Series(np.datetime64(day, "D") - slots["days_back"].astype("timedelta64[D]"))
    date_text = pl.select(
        pl.when(pl.Series(slots["date_style"]) == 0)
        .then(dates.dt.strftime("%Y-%m-%d"))
        .otherwise(dates.dt.strftime("%B %-d"))
    ).to_series()
    amount = (
        _words(("$", "€", "£"), slots["currency"])
        + _digits(slots["cents"] // 100)
        + "."
        + _digits(slots["cents"] % 100, 2)
    )
    values = {
        "product": _words(vocab.PRODUCTS + vocab.NEW_PRODUCTS, slots["product"]),
        "plan": _words(vocab.PLANS, slots["plan"]),
        "new_plan": _words(vocab.PLANS, slots["new_plan"]),
        "order": "ORD-" + _digits(slots["order"]),
        "amount": amount,
        "date": date_text,
        "version": _digits(slots["major"]) + "." + _digits(slots["minor"]) + "." + _digits(slots["patch"]),
        "city": _words(vocab.CITIES, slots["city"]),
        "days": _digits(slots["days"]),
        "device": _words(vocab.DEVICES, slots["device"]),
        "feature": _words(vocab.FEATURES, slots["feature"]),
        "name": _words(vocab.FIRST_NAMES, slots["name"]),
        "carrier": _words(vocab.CARRIERS, slots["carrier"]),
        "error": _words(vocab.ERROR_CODES, slots["error"]),
    }
    empty = pl.Series([""], dtype=pl.String).gather(np.zeros(len(dates), dtype=np.int64))
    return pl.concat([values[name].cast(pl.String) for name in vocab.SLOT_NAMES] + [empty])


def _join_sentences(sentences: Sequence[pl.Series]) -> pl.Series:
    first, *rest = sentences
    spaced = [pl.when(part != "").then(" " + part).otherwise(pl.lit("")) for part in rest]
    return pl.select(pl.concat_str([pl.lit(first), *spaced]).alias("text")).to_series()


def _misspell(text: pl.Series, typo: IntArray) -> pl.Series:
    """Swap one common word for its usual misspelling in the rows whose ``typo`` is not -1."""
    rows = np.flatnonzero(typo >= 0)
    if len(rows) == 0:
        return text
    subset = pl.DataFrame({"text": text.gather(rows), "typo": typo[rows]})
    expression: pl.Expr = pl.col("text")
    for index, (word, wrong) in reversed(list(enumerate(vocab.MISSPELLINGS))):
        replaced = pl.col("text").str.replace(word, wrong, literal=True)
        expression = pl.when(pl.col("typo") == index).then(replaced).otherwise(expression)
    changed = subset.select(expression.alias("text")).to_series()
    return text.clone().scatter(rows, changed)


def _luhn_digit(payload: str) -> str:
    total = 0
    for index, char in enumerate(reversed(payload)):
        digit = int(char) * (2 if index % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    return str((10 - total % 10) % 10)


def _digit_text(codes: IntArray) -> list[str]:
    """The last axis of ``codes`` as strings of decimal digits (each code modulo 10), vectorized."""
    width = codes.shape[-1]
    digits = np.ascontiguousarray((codes % 10 + ord("0")).astype(np.uint8)).reshape(-1, width)
    return [value.decode() for value in digits.view(f"S{width}").ravel().tolist()]


def _email(codes: Sequence[int], digits: str) -> str:
    first = vocab.FIRST_NAMES[codes[4] % len(vocab.FIRST_NAMES)]
    last = vocab.LAST_NAMES[codes[5] % len(vocab.LAST_NAMES)]
    domain = vocab.EMAIL_DOMAINS[codes[6] % len(vocab.EMAIL_DOMAINS)]
    styles = (
        f"{first.lower()}.{last}@{domain}",
        f"{first.lower()}{last}{digits[:2]}@{domain}",
        f"{first[0].lower()}.{last}@{domain}",
        f"{first.lower()}_{digits[:3]}@{domain}",
        f"{first}.{last.capitalize()}@{domain}",
    )
    return styles[codes[1] % len(styles)]


def _phone(codes: Sequence[int], digits: str) -> str:
    area = 201 + codes[7] % 780
    styles = (
        f"+44 20 {digits[:4]} {digits[4:8]}",
        f"({area}) 555-{digits[:4]}",
        f"+49 30 {digits[:6]}",
        f"06{digits[:8]}",
        f"+33 6 {digits[:2]} {digits[2:4]} {digits[4:6]} {digits[6:8]}",
        f"+1 {area}-555-{digits[:4]}",
        f"+44 7700 {digits[:6]}",
    )
    return styles[codes[1] % len(styles)]


def _card(codes: Sequence[int], digits: str) -> str:
    """A Luhn-valid Visa, Mastercard or Amex number, grouped with spaces, dashes or nothing."""
    brand = codes[7] % 10
    if brand == 0:
        number = ("34", "37")[codes[6] % 2] + digits[:12]
        number += _luhn_digit(number)
        groups = [number[:4], number[4:10], number[10:]]
    else:
        prefix = "4" if brand < 6 else f"5{1 + codes[6] % 5}"
        number = prefix + digits[: 15 - len(prefix)]
        number += _luhn_digit(number)
        groups = [number[i : i + 4] for i in range(0, 16, 4)]
    return (" ", "-", "", " ")[codes[1] % 4].join(groups)


def _pii(codes: Sequence[int], digits: str) -> tuple[str, str]:
    """A PII value and its ledger kind, from a row of random codes and digits."""
    roll = codes[0] % 100
    if roll < 40:
        return "pii_email", _email(codes, digits)
    if roll < 75:
        return "pii_phone", _phone(codes, digits)
    return "pii_card", _card(codes, digits)


def _hard_negative(codes: Sequence[int], digits: str) -> tuple[str, str]:
    """A value that looks sensitive but is not PII, and the kind of sentence that carries it."""
    kind = ("order", "number16", "version")[codes[0] % 3]
    if kind == "order":
        return kind, f"ORD-{1 + codes[4] % 9}{digits[:7]}"
    if kind == "version":
        return kind, f"{1 + codes[4] % 12}.{codes[5] % 10}.{codes[6] % 21}.{codes[7] % 100}"
    number = f"{1 + codes[4] % 9}{digits[:14]}"
    number += str((int(_luhn_digit(number)) + 1 + codes[5] % 9) % 10)
    if codes[1] % 2:
        return kind, " ".join(number[i : i + 4] for i in range(0, 16, 4))
    return kind, number


@dataclass(frozen=True)
class _Extras:
    subject_suffix: list[str]
    body_suffix: list[str]
    ledger: list[tuple[int, str, str]]


def _pii_extras(content: _Content, position: IntArray, extras: _Extras) -> None:
    present = position[content.pii_rows] >= 0
    rows = position[content.pii_rows[present]].tolist()
    codes = content.pii_codes[present]
    digits = _digit_text(codes[:, :, _CHOICES:])
    for row, row_codes, index in zip(rows, codes[:, :, :_CHOICES].tolist(), range(len(rows)), strict=True):
        count = 2 if (row_codes[0][0] // 100) % 100 < _TWO_PII_SHARE * 100 else 1
        for value_index in range(count):
            value_codes = row_codes[value_index]
            kind, value = _pii(value_codes, digits[2 * index + value_index])
            extras.ledger.append((row, kind, value))
            if value_index == 0 and value_codes[3] % 100 < _SUBJECT_PII_SHARE * 100:
                extras.subject_suffix[row] = (" ({})", " - contact {}")[value_codes[2] % 2].format(value)
                continue
            sentences = vocab.PII_SENTENCES[kind]
            extras.body_suffix[row] += " " + sentences[value_codes[2] % len(sentences)].format(value=value)


def _negative_extras(content: _Content, position: IntArray, extras: _Extras) -> None:
    present = position[content.negative_rows] >= 0
    rows = position[content.negative_rows[present]].tolist()
    codes = content.negative_codes[present]
    digits = _digit_text(codes[:, _CHOICES:])
    for row, row_codes, row_digits in zip(rows, codes[:, :_CHOICES].tolist(), digits, strict=True):
        kind, value = _hard_negative(row_codes, row_digits)
        extras.ledger.append((row, "hard_negative", value))
        sentences = vocab.HARD_NEGATIVE_SENTENCES[kind]
        extras.body_suffix[row] += " " + sentences[row_codes[2] % len(sentences)].format(value=value)


def _extras(content: _Content, position: IntArray, rows: int) -> _Extras:
    """PII and hard-negative sentences for rendered rows; ``position`` maps content rows to rendered rows."""
    extras = _Extras(subject_suffix=[""] * rows, body_suffix=[""] * rows, ledger=[])
    _pii_extras(content, position, extras)
    _negative_extras(content, position, extras)
    return extras


def _compose(frame: pl.DataFrame) -> pl.DataFrame:
    """Subject and body from their rendered parts; greeting and sign-off get the channel's separator."""
    greeting, signoff, sep = pl.col("greeting"), pl.col("signoff"), pl.col("sep")
    return frame.select(
        pl.concat_str(
            [
                pl.when(greeting != "").then(greeting + sep).otherwise(pl.lit("")),
                pl.col("main"),
                pl.col("extra"),
                pl.when(signoff != "").then(sep + signoff).otherwise(pl.lit("")),
            ]
        ).alias("body"),
        pl.concat_str(
            [
                pl.when(pl.col("upper")).then(pl.col("subject").str.to_uppercase()).otherwise("subject"),
                pl.col("subject_extra"),
            ]
        ).alias("subject"),
    )


def _render(content: _Content, rows: IntArray) -> _Texts:
    """Subject and body of the given content rows (sorted, unique), with their PII ledger."""
    position = np.full(len(content.customer), -1, dtype=np.int64)
    position[rows] = np.arange(len(rows), dtype=np.int64)
    slot_values = _slot_values(content.day, {name: values[rows] for name, values in content.slots.items()})
    sentences = [_render_templates(content.sentences[rows, j], slot_values) for j in range(content.sentences.shape[1])]
    main = _misspell(_join_sentences(sentences), content.typo[rows])
    lowercase = pl.Series(content.lowercase[rows])
    subject = _render_templates(content.subject[rows], slot_values)
    extras = _extras(content, position, len(rows))
    channel = content.channel[rows]
    frame = pl.DataFrame(
        {
            "greeting": _render_templates(content.greeting[rows], slot_values),
            "main": pl.select(pl.when(lowercase).then(main.str.to_lowercase()).otherwise(main)).to_series(),
            "extra": pl.Series(extras.body_suffix, dtype=pl.String),
            "signoff": _render_templates(content.signoff[rows], slot_values),
            "sep": _words(("\n\n", " ", " ", " "), channel),
            "subject": subject,
            "upper": content.upper_subject[rows],
            "subject_extra": pl.Series(extras.subject_suffix, dtype=pl.String),
        }
    )
    texts = _compose(frame)
    return _Texts(
        customer_id="C" + _digits(content.customer[rows], 6),
        channel=_words(CHANNELS, channel),
        subject=texts["subject"],
        body=texts["body"],
        ledger=_layout.ledger(extras.ledger),
    )


# Duplicates and defects --------------------------------------------------------------------------------


def _gather_texts(texts: _Texts, index: IntArray) -> _Texts:
    """Rows ``index`` of ``texts``, ledger entries following their rows."""
    mapping = pl.DataFrame({"source": index, "row": np.arange(len(index), dtype=np.int64)})
    ledger = (
        texts.ledger.rename({"row": "source"}).join(mapping, on="source", how="inner").select("row", "kind", "detail")
    )
    return _Texts(
        customer_id=texts.customer_id.gather(index),
        channel=texts.channel.gather(index),
        subject=texts.subject.gather(index),
        body=texts.body.gather(index),
        ledger=ledger,
    )


def _concat_texts(parts: Sequence[_Texts]) -> _Texts:
    offsets = np.cumsum([0] + [len(part.body) for part in parts])
    return _Texts(
        customer_id=pl.concat([part.customer_id for part in parts]),
        channel=pl.concat([part.channel for part in parts]),
        subject=pl.concat([part.subject for part in parts]),
        body=pl.concat([part.body for part in parts]),
        ledger=pl.concat(
            [
                part.ledger.with_columns(pl.col("row") + int(offset))
                for part, offset in zip(parts, offsets, strict=False)
            ]
        ),
    )


def _drop_letter(text: str, code: int) -> str:
    """Drop one inner letter of an alphabetic word (never touches emails, numbers or codes)."""
    words = text.split(" ")
    candidates = [index for index, word in enumerate(words) if word.isalpha() and len(word) >= 5]
    if not candidates:
        return text
    index = candidates[code % len(candidates)]
    word = words[index]
    cut = 1 + (code // 7) % (len(word) - 2)
    words[index] = word[:cut] + word[cut + 1 :]
    return " ".join(words)


def _near_edit(subject: str, body: str, codes: Sequence[int]) -> tuple[str, str]:
    """A resend with small edits: a prefix or a suffix, sometimes a typo or a ``Re:`` subject."""
    if codes[0] % 2:
        body = vocab.NEAR_DUPLICATE_PREFIXES[codes[1] % len(vocab.NEAR_DUPLICATE_PREFIXES)] + body
    else:
        body += vocab.NEAR_DUPLICATE_SUFFIXES[codes[1] % len(vocab.NEAR_DUPLICATE_SUFFIXES)]
    if codes[2] % 2:
        body = _drop_letter(body, codes[3])
    if codes[4] % 3 == 0:
        subject = "Re: " + subject
    return subject, body


def _edit_rows(texts: _Texts, rows: IntArray, codes: IntArray) -> tuple[pl.Series, pl.Series]:
    """Subjects and bodies of ``texts`` with rows ``rows`` turned into near duplicates."""
    edited = [
        _near_edit(subject, body, row_codes)
        for subject, body, row_codes in zip(
            texts.subject.gather(rows).to_list(),
            texts.body.gather(rows).to_list(),
            codes.tolist(),
            strict=True,
        )
    ]
    new_subjects = pl.Series([pair[0] for pair in edited], dtype=pl.String)
    new_bodies = pl.Series([pair[1] for pair in edited], dtype=pl.String)
    return texts.subject.clone().scatter(rows, new_subjects), texts.body.clone().scatter(rows, new_bodies)


def _duplicate_texts(config: DemoConfig, plan: _Plan, content_texts: _Texts) -> _Texts:
    """Texts of the duplicate rows: exact copies, then near copies with small edits."""
    sources = plan.sources
    sizes = plan.skeleton.sizes
    yesterday = plan.day - timedelta(days=1)
    previous_rows = np.unique(sources.row[sources.previous])
    previous_content = _draw_content(yesterday, config, plan.previous_categories)
    pool = _concat_texts([content_texts, _render(previous_content, previous_rows)])
    index = np.where(sources.previous, sizes.content + np.searchsorted(previous_rows, sources.row), sources.row).astype(
        np.int64
    )
    copies = _gather_texts(pool, index)
    near_rows = np.arange(sizes.exact, sizes.duplicates, dtype=np.int64)
    codes = day_rng(config.seed, plan.day, "near").integers(0, 1 << 30, size=(sizes.near, 5))
    subjects, bodies = _edit_rows(copies, near_rows, codes)
    kinds = ["exact_duplicate"] * sizes.exact + ["near_duplicate"] * sizes.near
    marks = pl.DataFrame(
        {"row": np.arange(sizes.duplicates, dtype=np.int64), "kind": kinds, "detail": plan.source_ids},
        schema={"row": pl.Int64, "kind": pl.String, "detail": pl.String},
    )
    return _Texts(
        customer_id=copies.customer_id,
        channel=copies.channel,
        subject=subjects,
        body=bodies,
        ledger=pl.concat([copies.ledger, marks]),
    )


def _created_at(day: date, seconds: IntArray) -> pl.Series:
    stamps = (np.datetime64(day, "D") + seconds.astype("timedelta64[s]")).astype("datetime64[ms]")
    return pl.Series("created_at", stamps).dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _defect_value(kind: str, pick: int, day: date, created_at: str) -> str:
    if kind == "malformed_unparseable_created_at":
        template = _UNPARSEABLE_TIMES[pick % len(_UNPARSEABLE_TIMES)]
        return template.format(year=day.year, month=f"{day.month:02d}")
    if kind == "malformed_future_created_at":
        month_day = "02-28" if created_at[5:10] == "02-29" else created_at[5:10]
        return f"2099-{month_day}{created_at[10:]}"
    if kind == "malformed_unknown_channel":
        return _UNKNOWN_CHANNELS[pick % len(_UNKNOWN_CHANNELS)]
    if kind == "malformed_empty_body":
        return ("null", "empty")[pick % 2]
    return "null"


def _apply_defects(plan: _Plan, frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Damage the malformed rows of a layout-ordered frame; returns the frame and the defect ledger."""
    rows = plan.skeleton.sizes.base + np.arange(len(plan.defects.kind), dtype=np.int64)
    created_at = frame["created_at"].gather(rows).to_list()
    columns: dict[str, list[str | None]] = {
        "created_at": list(created_at),
        "channel": frame["channel"].gather(rows).to_list(),
        "body": frame["body"].gather(rows).to_list(),
    }
    entries: list[tuple[int, str, str]] = []
    for offset, (kind_index, pick) in enumerate(
        zip(plan.defects.kind.tolist(), plan.defects.pick.tolist(), strict=True)
    ):
        kind = MALFORMED_KINDS[kind_index]
        value = _defect_value(kind, pick, plan.day, str(created_at[offset]))
        if kind == "malformed_duplicate_ticket_id":
            value = str(plan.ticket_ids[int(rows[offset])])
        elif kind in ("malformed_unparseable_created_at", "malformed_future_created_at"):
            columns["created_at"][offset] = value
        elif kind == "malformed_unknown_channel":
            columns["channel"][offset] = value
        elif kind == "malformed_empty_body":
            columns["body"][offset] = None if value == "null" else ""
        entries.append((int(rows[offset]), kind, value))
    damaged = frame.with_columns(
        frame[name].clone().scatter(rows, pl.Series(values, dtype=pl.String)) for name, values in columns.items()
    )
    return damaged, _layout.ledger(entries)


def _drop_erased(ledger: pl.DataFrame, frame: pl.DataFrame) -> pl.DataFrame:
    """Forget injected values whose text was erased by an empty-body defect."""
    texts = frame.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("row"),
        pl.concat_str([pl.col("subject"), pl.col("body")], separator="\n", ignore_nulls=True).alias("text"),
    )
    valued = pl.col("kind").is_in([*PII_KINDS, "hard_negative"])
    present = pl.col("text").str.contains(pl.col("detail"), literal=True)
    return ledger.join(texts, on="row", how="left").filter(~valued | present).drop("text")


# Public entry points -----------------------------------------------------------------------------------


def generate_day(day: date, config: DemoConfig) -> TicketBatch:
    """The day's raw tickets (sorted by time), their true categories and the ledger of injected values."""
    plan = _plan(day, config)
    sizes = plan.skeleton.sizes
    content = _draw_content(day, config, plan.categories)
    content_texts = _render(content, np.arange(sizes.content, dtype=np.int64))
    texts = _concat_texts([content_texts, _duplicate_texts(config, plan, content_texts)])
    layout = pl.DataFrame(
        {
            "ticket_id": plan.ticket_ids,
            "created_at": _created_at(day, plan.skeleton.seconds),
            "customer_id": texts.customer_id,
            "channel": texts.channel,
            "subject": texts.subject,
            "body": texts.body,
        }
    )
    layout, defects = _apply_defects(plan, layout)
    ledger = _drop_erased(pl.concat([texts.ledger, defects]), layout)
    final_row = plan.skeleton.position[ledger["row"].to_numpy()]
    injected = (
        ledger.with_columns(pl.Series("row", final_row, dtype=pl.UInt32))
        .sort("row", "kind", "detail")
        .select("row", "kind", "detail")
    )
    raw = layout.select(pl.all().gather(plan.skeleton.order))
    return TicketBatch(raw=raw, truth=_truth(plan), injected=injected)


@lru_cache(maxsize=64)
def _cached_truth(day: date, config: DemoConfig) -> pl.DataFrame:
    return _truth(_plan(day, config))


def truth_for(day: date, config: DemoConfig) -> pl.DataFrame:
    """The day's true categories, ``ticket_id`` and ``category``; equal to ``generate_day(...).truth``.

    Computed without rendering any text, and cached.
    """
    return _cached_truth(day, config).clone()
