"""Sample files for trying the bring-your-own-data road: a pre-labeled text CSV and a tabular CSV, generated
deterministically, shaped like what a user brings rather than like the demo's streams.

- `text_csv`: two columns only, ``text`` and ``label`` (no id, no timestamp, no group), any number of classes.
  The first class names carry the characters systems choke on (``?``, ``/``, spaces, accents, emoji); the rest
  are ``topic 000``-style names. Each class has its own small vocabulary mixed with words shared by every class,
  so a bag-of-words model can learn it but not perfectly; a share of the labels is wrong (a real label column is
  never clean), and a share of the rows repeats an earlier row (some with another label).
- `tabular_csv`: an id, a date, numeric and categorical features, a short optional note and an imbalanced label
  that is a noisy function of the features.

Used by the end-to-end tests of ``factory new-usecase`` / ``run`` / ``predict`` and by ``bench/byo.py``.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

__all__ = ["ODD_CLASS_NAMES", "class_names", "tabular_csv", "text_csv"]

ODD_CLASS_NAMES = (
    "is it broken?",
    "refund / return",
    "account access",
    "café & crème",
    "Überweisung fehlgeschlagen",
    "🚀 launch",
    "a,b;c",
    '"quoted" name',
)
"""Class names that must survive every layer (CSV quoting, MLflow keys, lakeFS refs, markdown, file names)."""

_WORDS_PER_CLASS = 10
_SHARED_WORDS = 400


def class_names(count: int) -> list[str]:
    """``count`` distinct class names, the odd ones first."""
    if count < 2:
        raise ValueError("need at least two classes")
    names = list(ODD_CLASS_NAMES[:count])
    names += [f"topic {k:03d}" for k in range(count - len(names))]
    return names


def _texts(codes: np.ndarray, n_classes: int, rng: np.random.Generator) -> list[str]:
    texts = []
    for code in codes:
        own = rng.integers(0, _WORDS_PER_CLASS, size=rng.integers(3, 8))
        words = [f"k{code}x{w}" for w in own]
        words += [f"w{w}" for w in rng.integers(0, _SHARED_WORDS, size=rng.integers(5, 14))]
        if rng.random() < 0.15:
            other = rng.integers(0, n_classes)
            words += [f"k{other}x{w}" for w in rng.integers(0, _WORDS_PER_CLASS, size=2)]
        rng.shuffle(words)
        texts.append(" ".join(words))
    return texts


def text_csv(
    path: Path, *, rows: int, classes: int, seed: int = 7, noise: float = 0.03, repeats: float = 0.01
) -> list[str]:
    """Write a ``text,label`` CSV of ``rows`` rows over ``classes`` classes; returns the class names.

    ``noise`` is the share of rows whose label is another class; ``repeats`` the share that copies an earlier
    row's text (a third of those with another label: a conflict the factory must record, not lose)."""
    rng = np.random.default_rng(seed)
    names = class_names(classes)
    codes = rng.integers(0, classes, size=rows)
    texts = _texts(codes, classes, rng)
    labels = [names[c] for c in codes]
    for i in np.flatnonzero(rng.random(rows) < noise):
        labels[i] = names[rng.integers(0, classes)]
    for i in np.flatnonzero(rng.random(rows) < repeats):
        if i == 0:
            continue
        source = int(rng.integers(0, i))
        texts[i] = texts[source]
        labels[i] = names[rng.integers(0, classes)] if rng.random() < 1 / 3 else labels[source]
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({"text": texts, "label": labels}).write_csv(path)
    return names


_SEGMENTS = ("retail", "smb", "enterprise", "public")
_REGIONS = ("north", "south", "east", "west", "islands")
_LABELS = ("approve", "review", "reject")


def tabular_csv(path: Path, *, rows: int, start: date, days: int = 3, seed: int = 11) -> list[str]:
    """Write a tabular CSV: ``application_id, submitted_on`` (a date within ``days`` days from ``start``),
    ``amount`` and ``tenure_months`` (numeric), ``segment`` and ``region`` (categorical), ``note`` (short, often
    empty) and ``decision`` (``approve`` ~70%, ``review`` ~20%, ``reject`` ~10%). Returns the label names."""
    rng = np.random.default_rng(seed)
    amount = np.round(rng.lognormal(7.0, 1.0, size=rows), 2)
    tenure = rng.integers(0, 120, size=rows)
    segment = rng.choice(len(_SEGMENTS), size=rows, p=[0.5, 0.3, 0.15, 0.05])
    region = rng.choice(len(_REGIONS), size=rows)
    risk = np.log(amount) / 3.0 - tenure / 60.0 + (segment == 0) * 0.4 + (region == 4) * 0.6
    risk += rng.normal(0.0, 0.35, size=rows)
    decision = np.where(risk > 2.72, 2, np.where(risk > 2.11, 1, 0))
    notes = np.where(rng.random(rows) < 0.3, np.where(decision == 2, "urgent resubmission", "routine"), "")
    frame = pl.DataFrame(
        {
            "application_id": [f"APP-{i:07d}" for i in range(rows)],
            "submitted_on": [(start + timedelta(days=int(d))).isoformat() for d in rng.integers(0, days, size=rows)],
            "amount": amount,
            "tenure_months": tenure,
            "segment": [_SEGMENTS[s] for s in segment],
            "region": [_REGIONS[r] for r in region],
            "note": notes,
            "decision": [_LABELS[d] for d in decision],
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(path)
    return list(_LABELS)
