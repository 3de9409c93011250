"""Deterministic insurance-claims stream for the ``claims_review`` demo: a tabular use case.

Each claim has numeric features (``claim_amount``, ``policy_age_days``, ``prior_claims``,
``days_to_report``, ``claimant_age``), categorical ones (``claim_type``, ``region``, ``channel``), a
policy (the group key) and, for most claims, a short adjuster's ``note``. Its hidden decision is one of
`CLAIM_CLASSES`, imbalanced (about 70% approve, 20% review, 7% deny, 3% fraud): the class with the
highest score, each score a function of the features (`decision_scores`) plus Gumbel noise, so a model
of the features can learn it but not perfectly.

What the preparation layer gets to do: about ``pii_rate`` of the notes carry the claimant's e-mail
address, phone number or payout IBAN (never a bare name, which no detector could tell from a word);
``exact_duplicate_rate`` of the rows are claims submitted twice (an earlier claim of the day or one of
yesterday, under a new claim id and a later time); ``malformed_rate`` of the rows carry one defect of
`MALFORMED_KINDS`. ``near_duplicate_rate`` is not used: a claim is resubmitted whole or not at all.

From ``drift_start`` on, storm season and a fraud ring (`DRIFT`): water and collision claims surge,
the south files more, the app channel grows, repair costs inflate by a third (the review rule follows the
inflated costs, so a model that learned the old amounts over-flags), notes speak of the storm, and
mid-sized glass and home-theft claims filed on the web in the east are now a fraud ring, a pattern the
model never saw labeled fraud.

Every value is a pure function of ``(day, config)`` (`factory.demo.tickets.day_rng`): no network, no
global random state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import polars as pl

from factory.demo import _layout
from factory.demo import vocabulary as vocab
from factory.demo._layout import Sizes, Skeleton, Sources, day_rng, normalized
from factory.demo.tickets import DemoConfig

__all__ = [
    "CLAIM_CHANNELS",
    "CLAIM_CLASSES",
    "CLAIM_COLUMNS",
    "CLAIM_CONFUSABLE",
    "CLAIM_TYPES",
    "DRIFT",
    "MALFORMED_KINDS",
    "PII_KINDS",
    "REGIONS",
    "ClaimBatch",
    "claims_truth_for",
    "decision_scores",
    "generate_claims",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

CLAIM_CLASSES: tuple[str, ...] = ("approve", "review", "deny", "fraud")
CLAIM_CONFUSABLE: dict[str, str] = {"approve": "review", "review": "approve", "deny": "review", "fraud": "deny"}
"""The decision an annotator most often picks by mistake."""

CLAIM_TYPES: tuple[str, ...] = (
    "auto_collision",
    "auto_glass",
    "auto_theft",
    "home_water",
    "home_fire",
    "home_theft",
    "travel",
    "liability",
)
REGIONS: tuple[str, ...] = ("north", "south", "east", "west", "central")
CLAIM_CHANNELS: tuple[str, ...] = ("agent", "web", "app", "phone")
CLAIM_COLUMNS: tuple[str, ...] = (
    "claim_id",
    "submitted_at",
    "policy_id",
    "claim_type",
    "region",
    "channel",
    "claim_amount",
    "policy_age_days",
    "prior_claims",
    "days_to_report",
    "claimant_age",
    "note",
)
_FEATURE_COLUMNS = CLAIM_COLUMNS[2:-1]
PII_KINDS: tuple[str, ...] = ("pii_email", "pii_phone", "pii_iban")
MALFORMED_KINDS: tuple[str, ...] = (
    "malformed_null_claim_id",
    "malformed_bad_amount",
    "malformed_bad_integer",
    "malformed_missing_claim_type",
    "malformed_unknown_region",
    "malformed_unparseable_submitted_at",
)


@dataclass(frozen=True)
class _Mix:
    """Category weights before and after the drift starts."""

    before: tuple[float, ...]
    after: tuple[float, ...]

    def weights(self, drifted: bool) -> tuple[float, ...]:
        return self.after if drifted else self.before


@dataclass(frozen=True)
class Drift:
    """What changes from ``drift_start`` on (module docstring)."""

    types: _Mix = _Mix(
        before=(0.30, 0.12, 0.04, 0.17, 0.03, 0.08, 0.16, 0.10),
        after=(0.36, 0.09, 0.03, 0.27, 0.03, 0.07, 0.08, 0.07),
    )
    regions: _Mix = _Mix(before=(0.22, 0.20, 0.20, 0.18, 0.20), after=(0.15, 0.38, 0.17, 0.14, 0.16))
    channels: _Mix = _Mix(before=(0.30, 0.32, 0.22, 0.16), after=(0.22, 0.30, 0.38, 0.10))
    inflation: float = 1.35
    storm_note_share: float = 0.6
    ring_types: tuple[str, ...] = ("auto_glass", "home_theft")
    ring_region: str = "east"
    ring_channel: str = "web"
    ring_share: float = 0.02


DRIFT = Drift()

_MEDIAN_AMOUNT: dict[str, float] = {
    "auto_collision": 2800.0,
    "auto_glass": 450.0,
    "auto_theft": 9500.0,
    "home_water": 3800.0,
    "home_fire": 22000.0,
    "home_theft": 2600.0,
    "travel": 850.0,
    "liability": 5200.0,
}
_RISKY_TYPES = ("auto_theft", "home_fire", "liability")
_THEFT_TYPES = ("auto_theft", "home_theft")
_AMOUNT_SIGMA = 0.65
_NEW_POLICY_SHARE = 0.08
_LATE_REPORT_SHARE = 0.05
_NOTE_SHARE = 0.8
_POLICIES = 120_000
_PREVIOUS_DAY_SHARE = 0.3
_NOISE = 0.5
_HOURLY_WEIGHTS = (1, 1, 1, 1, 1, 1, 2, 4, 7, 9, 10, 10, 9, 9, 9, 8, 8, 7, 6, 5, 4, 3, 2, 1)
_BAD_AMOUNTS = ("twelve hundred", "1.234,56", "NaN", "12O0.00", "inf", "$-")
_BAD_INTEGERS = ("3.5 years", "-", "about 40", "12.7", "n/a")
_UNKNOWN_REGIONS = ("atlantis", "n/a", "overseas", "unknown")
_UNPARSEABLE_TIMES = ("yesterday", "{year}-13-45T99:00:00Z", "N/A", "31/{month}/{year} 25:61")

_INCIDENTS: dict[str, tuple[str, ...]] = {
    "auto_collision": (
        "Rear-ended at {place}",
        "Hit a {object} while parking at {place}",
        "Side collision at a junction near {place}",
        "Scraped the {part} on a gate post",
    ),
    "auto_glass": (
        "Windscreen cracked by a stone on the {road}",
        "Side window smashed at {place}",
        "Chip in the windscreen spread overnight",
    ),
    "auto_theft": (
        "Car stolen from {place} overnight",
        "Vehicle taken from the driveway, one key missing",
        "Catalytic converter stolen at {place}",
    ),
    "home_water": (
        "Burst pipe under the {room} sink",
        "Water leak from the flat upstairs into the {room}",
        "Washing machine hose failed, {room} floor soaked",
        "Roof leak over the {room}",
    ),
    "home_fire": (
        "Kitchen fire, smoke damage to the {room}",
        "Electrical fire in the {room}",
        "Candle set the {room} curtains alight",
    ),
    "home_theft": (
        "Break-in, {item} and jewellery taken",
        "Bicycle stolen from the shed",
        "Burglary while away, {item} missing",
    ),
    "travel": (
        "Flight cancelled, hotel paid for two nights",
        "Luggage delayed three days, bought {item}",
        "Doctor visit abroad for a sprained ankle",
        "Lost {item} at the airport",
    ),
    "liability": (
        "Visitor slipped on the {room} stairs",
        "Dog bit a neighbour in the park",
        "Ball broke a neighbour's window",
        "Tree from the garden fell on a parked car",
    ),
}
_SLOTS: dict[str, tuple[str, ...]] = {
    "place": ("the supermarket", "a petrol station", "the office car park", "a roundabout", "the school gates"),
    "object": ("bollard", "lamp post", "parked van", "wall", "shopping trolley"),
    "part": ("rear bumper", "driver door", "wing mirror", "front wing"),
    "road": ("motorway", "ring road", "A-road", "bypass"),
    "room": ("kitchen", "bathroom", "living room", "hallway", "bedroom"),
    "item": ("a laptop", "a camera", "a phone", "a suit", "medication"),
}
_WHEN = ("on Monday", "last night", "this morning", "at the weekend", "yesterday evening", "on Friday", "")
_DETAILS = (
    "Photos attached.",
    "Police report filed.",
    "Repair quote to follow.",
    "Customer upset about the delay.",
    "Second call about this claim.",
    "Witness details on file.",
    "Receipts to follow.",
    "",
    "",
)
_STORM_TYPES = frozenset(CLAIM_TYPES.index(name) for name in ("auto_collision", "home_water"))
_STORM = ("Happened during the storm.", "Hail damage as well.", "Storm water came in.", "Damage from the storm.")
_PII_SENTENCES: dict[str, tuple[str, ...]] = {
    "pii_email": ("Contact {value}.", "Claimant prefers e-mail: {value}.", "Send documents to {value}."),
    "pii_phone": ("Call back on {value}.", "Claimant phone {value}.", "Reachable on {value} after 5pm."),
    "pii_iban": ("Pay out to {value}.", "Refund account {value}.", "Bank details: {value}."),
}
_IBAN_BANKS = ("WEST", "NWBK", "BARC", "MIDL", "LOYD")


@dataclass(frozen=True)
class ClaimBatch:
    """One day of the stream: the raw rows (all String), their hidden decisions (``claim_id``, ``label``)
    and a ledger (``row``, ``kind``, ``detail``) of injected PII, duplicates and defects."""

    raw: pl.DataFrame
    truth: pl.DataFrame
    injected: pl.DataFrame


# Sizes and layout -------------------------------------------------------------------------------------


def _sizes(config: DemoConfig) -> Sizes:
    rows = config.rows_per_day
    duplicates = round(rows * config.exact_duplicate_rate)
    malformed = round(rows * config.malformed_rate)
    base = rows - duplicates - malformed
    if base < 1:
        raise ValueError(f"rows_per_day={rows} leaves no clean claim after duplicates and defects")
    return Sizes(base=base, malformed=malformed, exact=duplicates, near=0)


def _drifted(day: date, config: DemoConfig) -> bool:
    return config.drift_start is not None and day >= config.drift_start


def _pick(rng: np.random.Generator, weights: Sequence[float], size: int) -> IntArray:
    return rng.choice(len(weights), size=size, p=normalized(weights)).astype(np.int64)


# Features and the hidden decision ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Features:
    """The content rows of a day (clean rows, then the rows that will be damaged), layout order."""

    claim_type: IntArray
    region: IntArray
    channel: IntArray
    claim_amount: FloatArray
    policy_age_days: IntArray
    prior_claims: IntArray
    days_to_report: IntArray
    claimant_age: IntArray
    policy: IntArray
    label: IntArray


def decision_scores(
    claim_type: Sequence[str],
    region: Sequence[str],
    channel: Sequence[str],
    claim_amount: FloatArray,
    policy_age_days: IntArray,
    prior_claims: IntArray,
    days_to_report: IntArray,
    drifted: bool,
) -> FloatArray:
    """Scores of review, deny and fraud against approve (0), one row per claim: the noiseless decision rule.

    Review: amounts high for the claim type's (current, after ``drifted``: inflated) typical cost, prior
    claims, the riskier claim types. Deny: late reports and claims on brand-new policies. Fraud: new
    policies with high amounts, theft, the app channel, several prior claims, and after the drift the fraud
    ring (module docstring).
    """
    kind = np.asarray(claim_type, dtype=object)
    where = np.asarray(region, dtype=object)
    via = np.asarray(channel, dtype=object)
    inflation = DRIFT.inflation if drifted else 1.0
    median = np.array([_MEDIAN_AMOUNT[k] for k in kind.tolist()], dtype=np.float64) * inflation
    ratio = np.log(np.maximum(claim_amount, 1.0) / median)
    new_policy = (policy_age_days < 60).astype(np.float64)
    very_new = (policy_age_days < 21).astype(np.float64)
    late = (days_to_report > 30).astype(np.float64)
    risky = np.isin(kind, _RISKY_TYPES).astype(np.float64)
    theft = np.isin(kind, _THEFT_TYPES).astype(np.float64)
    app = (via == "app").astype(np.float64)
    review = -1.9 + 2.6 * ratio + 0.8 * prior_claims + 0.9 * risky
    deny = -2.9 + 4.0 * late + 3.2 * very_new + 0.9 * (days_to_report > 10)
    fraud = -5.0 + 3.4 * new_policy + 2.4 * np.maximum(ratio, 0.0) + 2.0 * theft + 1.6 * app + 0.7 * prior_claims
    if drifted:
        ring = np.isin(kind, DRIFT.ring_types) & (where == DRIFT.ring_region) & (via == DRIFT.ring_channel)
        fraud = fraud + 7.0 * ring
    return np.stack([review, deny, fraud], axis=1)


def _features(day: date, config: DemoConfig, size: int) -> _Features:
    drifted = _drifted(day, config)
    rng = day_rng(config.seed, day, "claims")
    claim_type = _pick(rng, DRIFT.types.weights(drifted), size)
    region = _pick(rng, DRIFT.regions.weights(drifted), size)
    channel = _pick(rng, DRIFT.channels.weights(drifted), size)
    ring_draw = rng.random(size)
    ring = drifted & (ring_draw < DRIFT.ring_share)
    ring_type = np.array([CLAIM_TYPES.index(t) for t in DRIFT.ring_types], dtype=np.int64)
    claim_type = np.where(ring, ring_type[(ring_draw * 1e6).astype(np.int64) % len(ring_type)], claim_type)
    region = np.where(ring, REGIONS.index(DRIFT.ring_region), region)
    channel = np.where(ring, CLAIM_CHANNELS.index(DRIFT.ring_channel), channel)
    names = [CLAIM_TYPES[i] for i in claim_type.tolist()]
    inflation = DRIFT.inflation if drifted else 1.0
    median = np.array([_MEDIAN_AMOUNT[n] for n in names], dtype=np.float64) * inflation
    spread = np.where(ring, 0.25, _AMOUNT_SIGMA)
    amount = np.round(median * np.exp(spread * rng.standard_normal(size) + np.where(ring, 0.4, 0.0)), 2)
    new_policy = rng.random(size) < _NEW_POLICY_SHARE
    settled = np.clip(np.round(900 * np.exp(0.8 * rng.standard_normal(size))), 60, 9000)
    fresh = rng.integers(1, 60, size=size)
    policy_age = np.where(new_policy, fresh, settled).astype(np.int64)
    policy_age = np.where(ring, rng.integers(120, 400, size=size), policy_age)
    prior = np.minimum(rng.poisson(0.35, size=size), 9).astype(np.int64)
    late = rng.random(size) < _LATE_REPORT_SHARE
    prompt = np.minimum(rng.geometric(0.35, size=size) - 1, 29)
    report = np.where(late, rng.integers(31, 180, size=size), prompt).astype(np.int64)
    report = np.where(ring, rng.integers(0, 4, size=size), report)
    age = np.clip(np.round(46 + 14 * rng.standard_normal(size)), 18, 92).astype(np.int64)
    policy = rng.integers(1, _POLICIES, size=size).astype(np.int64)
    scores = decision_scores(
        names,
        [REGIONS[i] for i in region.tolist()],
        [CLAIM_CHANNELS[i] for i in channel.tolist()],
        amount,
        policy_age,
        prior,
        report,
        drifted,
    )
    noisy = np.concatenate([np.zeros((size, 1)), scores], axis=1) + _NOISE * rng.gumbel(size=(size, 4))
    return _Features(
        claim_type=claim_type,
        region=region,
        channel=channel,
        claim_amount=amount,
        policy_age_days=policy_age,
        prior_claims=prior,
        days_to_report=report,
        claimant_age=age,
        policy=policy,
        label=np.argmax(noisy, axis=1).astype(np.int64),
    )


# Notes --------------------------------------------------------------------------------------------------


def _iban(rng: np.random.Generator) -> str:
    """A checksum-valid UK IBAN (mod-97 == 1), written in groups of four."""
    bank = _IBAN_BANKS[int(rng.integers(len(_IBAN_BANKS)))]
    bban = bank + "".join(str(d) for d in rng.integers(0, 10, size=14).tolist())
    numeric = "".join(str(int(c, 36)) for c in bban + "GB00")
    check = 98 - int(numeric) % 97
    iban = f"GB{check:02d}{bban}"
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def _pii_value(kind: str, rng: np.random.Generator) -> str:
    if kind == "pii_iban":
        return _iban(rng)
    digits = "".join(str(d) for d in rng.integers(0, 10, size=8).tolist())
    if kind == "pii_email":
        first = vocab.FIRST_NAMES[int(rng.integers(len(vocab.FIRST_NAMES)))].lower()
        last = vocab.LAST_NAMES[int(rng.integers(len(vocab.LAST_NAMES)))].lower()
        domain = vocab.EMAIL_DOMAINS[int(rng.integers(len(vocab.EMAIL_DOMAINS)))]
        return (f"{first}.{last}@{domain}", f"{first}{last}{digits[:2]}@{domain}")[int(rng.integers(2))]
    styles = (f"+44 7700 {digits[:6]}", f"020 7946 {digits[:4]}", f"({201 + int(digits[:3]) % 700}) 555-{digits[4:]}")
    return styles[int(rng.integers(len(styles)))]


def _notes(day: date, config: DemoConfig, features: _Features) -> tuple[list[str | None], list[tuple[int, str, str]]]:
    """One note per content row (None for claims without one) and the ledger of the PII put in them."""
    rng = day_rng(config.seed, day, "notes")
    drifted = _drifted(day, config)
    notes: list[str | None] = []
    ledger: list[tuple[int, str, str]] = []
    for row, type_index in enumerate(features.claim_type.tolist()):
        draws = rng.random(5)
        incidents = _INCIDENTS[CLAIM_TYPES[type_index]]
        text = incidents[int(draws[0] * len(incidents))]
        for slot, values in _SLOTS.items():
            if "{" + slot + "}" in text:
                text = text.replace("{" + slot + "}", values[int(rng.integers(len(values)))])
        when = _WHEN[int(draws[1] * len(_WHEN))]
        parts = [f"{text} {when}." if when else f"{text}."]
        if drifted and type_index in _STORM_TYPES and draws[2] < DRIFT.storm_note_share:
            parts.append(_STORM[int(rng.integers(len(_STORM)))])
        detail = _DETAILS[int(draws[3] * len(_DETAILS))]
        if detail:
            parts.append(detail)
        if draws[4] < config.pii_rate:
            kind = PII_KINDS[int(rng.integers(len(PII_KINDS)))]
            value = _pii_value(kind, rng)
            sentences = _PII_SENTENCES[kind]
            parts.append(sentences[int(rng.integers(len(sentences)))].format(value=value))
            ledger.append((row, kind, value))
        notes.append(" ".join(parts))
    keep = rng.random(len(notes)) < _NOTE_SHARE
    has_pii = {row for row, _, _ in ledger}
    final = [note if keep[row] or row in has_pii else None for row, note in enumerate(notes)]
    return final, ledger


# The day ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Day:
    """A day's layout (content rows, then duplicates; `factory.demo._layout`), the content rows' features
    and every row's claim id (numbered in time order)."""

    day: date
    layout: Skeleton
    features: _Features
    ids: pl.Series

    @property
    def sizes(self) -> Sizes:
        return self.layout.sizes


@lru_cache(maxsize=16)
def _day(day: date, config: DemoConfig) -> _Day:
    layout = _layout.skeleton(day, config.seed, _sizes(config), _HOURLY_WEIGHTS)
    return _Day(
        day=day,
        layout=layout,
        features=_features(day, config, layout.sizes.content),
        ids=_layout.numbered_ids("claim_id", f"CLM-{day:%Y%m%d}-", layout.position + 1, 5),
    )


def _feature_frame(features: _Features, rows: IntArray) -> pl.DataFrame:
    """String columns of the feature values of ``rows``."""
    return pl.DataFrame(
        {
            "policy_id": [f"POL-{value:07d}" for value in features.policy[rows].tolist()],
            "claim_type": [CLAIM_TYPES[i] for i in features.claim_type[rows].tolist()],
            "region": [REGIONS[i] for i in features.region[rows].tolist()],
            "channel": [CLAIM_CHANNELS[i] for i in features.channel[rows].tolist()],
            "claim_amount": [f"{value:.2f}" for value in features.claim_amount[rows].tolist()],
            "policy_age_days": [str(value) for value in features.policy_age_days[rows].tolist()],
            "prior_claims": [str(value) for value in features.prior_claims[rows].tolist()],
            "days_to_report": [str(value) for value in features.days_to_report[rows].tolist()],
            "claimant_age": [str(value) for value in features.claimant_age[rows].tolist()],
        },
        schema=dict.fromkeys(_FEATURE_COLUMNS, pl.String),
    )


def _duplicate_sources(config: DemoConfig, plan: _Day) -> Sources:
    """For each duplicate row, the clean claim it repeats: an earlier one of the day or one of yesterday."""
    return _layout.duplicate_sources(plan.day, config.seed, plan.layout, _PREVIOUS_DAY_SHARE)


@dataclass(frozen=True)
class _Content:
    """String columns of some layout rows (no id, no time yet) and the ledger of the PII in their notes."""

    frame: pl.DataFrame
    ledger: list[tuple[int, str, str]]


@lru_cache(maxsize=16)
def _content(day: date, config: DemoConfig) -> _Content:
    """The content rows of a day, clean and to-be-damaged, with their notes."""
    plan = _day(day, config)
    notes, ledger = _notes(day, config, plan.features)
    rows = np.arange(plan.sizes.content, dtype=np.int64)
    frame = _feature_frame(plan.features, rows).with_columns(pl.Series("note", notes, dtype=pl.String))
    return _Content(frame=frame, ledger=ledger)


def _defect_value(kind: str, pick: int, day: date) -> str | None:
    if kind == "malformed_bad_amount":
        return _BAD_AMOUNTS[pick % len(_BAD_AMOUNTS)]
    if kind == "malformed_bad_integer":
        return _BAD_INTEGERS[pick % len(_BAD_INTEGERS)]
    if kind == "malformed_unknown_region":
        return _UNKNOWN_REGIONS[pick % len(_UNKNOWN_REGIONS)]
    if kind == "malformed_unparseable_submitted_at":
        return _UNPARSEABLE_TIMES[pick % len(_UNPARSEABLE_TIMES)].format(year=day.year, month=f"{day.month:02d}")
    return None


_DEFECT_COLUMNS = {
    "malformed_null_claim_id": "claim_id",
    "malformed_bad_amount": "claim_amount",
    "malformed_bad_integer": "policy_age_days",
    "malformed_missing_claim_type": "claim_type",
    "malformed_unknown_region": "region",
    "malformed_unparseable_submitted_at": "submitted_at",
}


def _defect_kinds(day: date, config: DemoConfig, sizes: Sizes) -> tuple[IntArray, IntArray]:
    """The defect of each malformed row (every kind appears once there are enough rows) and a pick for its
    value."""
    rng = day_rng(config.seed, day, "malformed")
    kinds = rng.permutation(np.arange(sizes.malformed, dtype=np.int64) % len(MALFORMED_KINDS))
    return kinds.astype(np.int64), rng.integers(0, 1 << 30, size=sizes.malformed).astype(np.int64)


def _apply_defects(
    day: date, config: DemoConfig, frame: pl.DataFrame, sizes: Sizes
) -> tuple[pl.DataFrame, list[tuple[int, str, str]]]:
    """Damage the malformed rows (layout rows ``base`` to ``content``) of a layout-ordered frame."""
    kinds, picks = _defect_kinds(day, config, sizes)
    columns = {name: frame[name].to_list() for name in sorted(set(_DEFECT_COLUMNS.values()))}
    ledger = []
    for offset, (kind_index, pick) in enumerate(zip(kinds.tolist(), picks.tolist(), strict=True)):
        row = sizes.base + offset
        kind = MALFORMED_KINDS[kind_index]
        value = _defect_value(kind, pick, day)
        columns[_DEFECT_COLUMNS[kind]][row] = value
        ledger.append((row, kind, "null" if value is None else value))
    return frame.with_columns(pl.Series(name, values, dtype=pl.String) for name, values in columns.items()), ledger


def _submitted_at(day: date, seconds: IntArray) -> pl.Series:
    stamps = (np.datetime64(day, "D") + seconds.astype("timedelta64[s]")).astype("datetime64[ms]")
    return pl.Series("submitted_at", stamps).dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _duplicate_rows(config: DemoConfig, plan: _Day, today: _Content, yesterday: _Content) -> _Content:
    """The repeated claims: copies of their sources' columns (note included), with the sources' PII ledger."""
    sources = _duplicate_sources(config, plan)
    content = plan.sizes.content
    pool = pl.concat([today.frame, yesterday.frame])
    index = np.where(sources.previous, content + sources.row, sources.row)
    frame = pool[index.tolist()]
    ledgers = {False: _ledger_by_row(today.ledger), True: _ledger_by_row(yesterday.ledger)}
    entries = [
        (content + offset, kind, value)
        for offset, (previous, row) in enumerate(zip(sources.previous.tolist(), sources.row.tolist(), strict=True))
        for kind, value in ledgers[previous].get(row, [])
    ]
    duplicate_entries = [
        (content + offset, "exact_duplicate", str(source_id))
        for offset, source_id in enumerate(_source_ids(plan, sources, config).to_list())
    ]
    return _Content(frame=frame, ledger=entries + duplicate_entries)


def _ledger_by_row(entries: Sequence[tuple[int, str, str]]) -> dict[int, list[tuple[str, str]]]:
    by_row: dict[int, list[tuple[str, str]]] = {}
    for row, kind, value in entries:
        by_row.setdefault(row, []).append((kind, value))
    return by_row


def _source_ids(plan: _Day, sources: Sources, config: DemoConfig) -> pl.Series:
    previous_ids = _day(plan.day - timedelta(days=1), config).ids
    return pl.select(
        pl.when(pl.Series(sources.previous))
        .then(previous_ids.gather(sources.row))
        .otherwise(plan.ids.gather(sources.row))
        .alias("source_id")
    ).to_series()


def _layout_labels(config: DemoConfig, plan: _Day) -> IntArray:
    """The decision of every layout row: content rows their own, duplicates their source's."""
    sources = _duplicate_sources(config, plan)
    previous = _day(plan.day - timedelta(days=1), config).features.label
    repeated = np.where(sources.previous, previous[sources.row], plan.features.label[sources.row])
    return np.concatenate([plan.features.label, repeated])


def _null_id_rows(config: DemoConfig, plan: _Day) -> IntArray:
    kinds, _ = _defect_kinds(plan.day, config, plan.sizes)
    return plan.sizes.base + np.flatnonzero(kinds == MALFORMED_KINDS.index("malformed_null_claim_id"))


def generate_claims(day: date, config: DemoConfig) -> ClaimBatch:
    """The day's raw claims (all String columns `CLAIM_COLUMNS`, sorted by time), their hidden decisions and
    the ledger of injected values."""
    plan = _day(day, config)
    today = _content(day, config)
    rows = _duplicate_rows(config, plan, today, _content(day - timedelta(days=1), config))
    frame = pl.concat([today.frame, rows.frame]).with_columns(plan.ids, _submitted_at(day, plan.layout.seconds))
    frame, defects = _apply_defects(day, config, frame, plan.sizes)
    ledger = _layout.ledger([*today.ledger, *rows.ledger, *defects])
    final_row = plan.layout.position[ledger["row"].to_numpy()]
    injected = ledger.with_columns(pl.Series("row", final_row, dtype=pl.UInt32)).sort("row", "kind", "detail")
    raw = frame.select(pl.col(name).gather(plan.layout.order) for name in CLAIM_COLUMNS)
    return ClaimBatch(raw=raw, truth=_truth(day, config), injected=injected)


@lru_cache(maxsize=64)
def _truth(day: date, config: DemoConfig) -> pl.DataFrame:
    plan = _day(day, config)
    owns_id = np.ones(plan.sizes.total, dtype=np.bool_)
    owns_id[_null_id_rows(config, plan)] = False
    keep = plan.layout.order[owns_id[plan.layout.order]]
    return pl.DataFrame(
        {
            "claim_id": plan.ids.gather(keep),
            "label": pl.Series(CLAIM_CLASSES, dtype=pl.String).gather(_layout_labels(config, plan)[keep]),
        }
    )


def claims_truth_for(day: date, config: DemoConfig) -> pl.DataFrame:
    """The day's hidden decisions, ``claim_id`` and ``label``; equal to ``generate_claims(...).truth``.

    Computed without writing any note, and cached.
    """
    return _truth(day, config).clone()
