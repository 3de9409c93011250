"""Label-preserving perturbations: each takes a value and a seeded generator and returns the changed value, or
None when it has nothing to change in it.

Text perturbations never touch a PII placeholder (``<EMAIL>``, ``<ACCOUNT_NUMBER>``, ...: what preparation left
where personal data was), never change digits (an order number or a version stays what it was, and no new number
can look like a phone or a card), and add no personal data: the names they swap in come from a fixed list of
first names, the amounts they write are amounts, and the sentences they append are fixed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "NAMES",
    "NEUTRAL_SENTENCES",
    "PLACEHOLDER",
    "casing",
    "contact_pair",
    "has_name_or_amount",
    "irrelevant_sentence",
    "jitter",
    "name_or_amount",
    "placeholder_swap",
    "punctuation",
    "typos",
    "whitespace",
]

PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*>")
"""A placeholder preparation wrote for a PII value (`factory.core.preparation.placeholder`)."""

NAMES: tuple[str, ...] = (
    "Anna", "James", "Sofia", "Liam", "Mia", "Noah", "Emma", "Lucas", "Olivia", "Mateo", "Chloe", "Arjun",
    "Fatima", "Kenji", "Ingrid", "Tomasz", "Priya", "Diego", "Hannah", "Omar", "Grace", "Lars", "Amelie", "Ravi",
    "Maria", "David", "Sarah", "Ahmed", "Yuki", "Elena", "Pedro", "Aisha", "Jonas", "Lena", "Marco", "Zoe",
)  # fmt: skip
"""First names the name swap recognizes and writes: common names, none tied to a real person."""

NEUTRAL_SENTENCES: tuple[str, ...] = (
    "I hope you are having a good week.",
    "Sent from my phone.",
    "The weather has been lovely lately.",
    "I am writing this during my lunch break.",
    "Have a nice day.",
    "Sorry for the long message.",
    "This note was typed in a hurry.",
    "Thank you for reading this.",
)
"""Sentences that say nothing about any class, appended by the irrelevant-sentence test unless the red-team file
gives its own."""

_WORD = re.compile(r"(?<![<\w])[A-Za-z]{4,}(?![\w>])")
_NAME = re.compile(r"\b(" + "|".join(NAMES) + r")\b")
_AMOUNT = re.compile(r"([$€£])\s?(\d{1,3}(?:,\d{3})+|\d+)(\.\d{1,2})?")
_SENTENCE_END = re.compile(r"[.,!?;:](?=\s|$)")
_KEYBOARD = {
    "a": "qsz", "b": "vn", "c": "xv", "d": "sf", "e": "wr", "f": "dg", "g": "fh", "h": "gj", "i": "uo", "j": "hk",
    "k": "jl", "l": "k", "m": "n", "n": "bm", "o": "ip", "p": "o", "q": "w", "r": "et", "s": "ad", "t": "ry",
    "u": "yi", "v": "cb", "w": "qe", "x": "zc", "y": "tu", "z": "x",
}  # fmt: skip
_CONTACT = ("You can reach me at {}.", "Contact: {}", "Please use {} for any questions.")


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _typo(word: str, rng: np.random.Generator) -> str:
    """One realistic typing error inside a word of four letters or more (its first letter kept)."""
    at = int(rng.integers(1, len(word) - 1))
    kind = int(rng.integers(4))
    if kind == 0:  # two neighbouring letters swapped
        return word[:at] + word[at + 1] + word[at] + word[at + 2 :]
    if kind == 1:  # a letter dropped
        return word[:at] + word[at + 1 :]
    if kind == 2:  # a letter doubled
        return word[: at + 1] + word[at] + word[at + 1 :]
    near = _KEYBOARD.get(word[at].lower(), word[at])  # a neighbouring key struck
    return word[:at] + _pick(rng, near) + word[at + 1 :]


def typos(text: str, rng: np.random.Generator) -> str | None:
    """One typing error (two in a text of ten words or more) in words of four letters or more."""
    words = list(_WORD.finditer(text))
    if not words:
        return None
    count = min(len(words), 2 if len(text.split()) >= 10 else 1)
    chosen = sorted(rng.choice(len(words), size=count, replace=False).tolist())
    out, last = [], 0
    for index in chosen:
        match = words[index]
        out += [text[last : match.start()], _typo(match.group(), rng)]
        last = match.end()
    changed = "".join([*out, text[last:]])
    return changed if changed != text else None


def _outside_placeholders(text: str, change: Callable[[str], str]) -> str:
    parts, last = [], 0
    for match in PLACEHOLDER.finditer(text):
        parts += [change(text[last : match.start()]), match.group()]
        last = match.end()
    return "".join([*parts, change(text[last:])])


def casing(text: str, rng: np.random.Generator) -> str | None:
    """The text all lower case, all upper case, or with its first letter's case flipped (placeholders kept)."""

    def first_flipped(part: str) -> str:
        return part[:1].swapcase() + part[1:]

    options = [_outside_placeholders(text, str.lower), _outside_placeholders(text, str.upper), first_flipped(text)]
    changed = [option for option in options if option != text]
    return _pick(rng, changed) if changed else None


def whitespace(text: str, rng: np.random.Generator) -> str | None:
    """Spaces doubled, a tab or a line break between some words, and spaces around the text."""
    words = text.split(" ")
    if not text.strip():
        return None
    gaps = [_pick(rng, ("  ", " \t", "\n", " ")) for _ in range(len(words) - 1)]
    body = "".join(word + gap for word, gap in zip(words, [*gaps, ""], strict=True))
    changed = _pick(rng, ("", " ", "  ")) + body + _pick(rng, (" ", "  ", "\n"))
    return changed if changed != text else None


def punctuation(text: str, rng: np.random.Generator) -> str | None:
    """Sentence punctuation removed, or an exclamation or question mark added at the end, or a comma after the
    first word (placeholders and numbers such as ``12.50`` untouched)."""
    stripped = text.rstrip()
    first_space = stripped.find(" ")
    options = [
        _SENTENCE_END.sub("", text),
        stripped + _pick(rng, ("!", "!!", " ?", "...")),
        stripped[:first_space] + "," + stripped[first_space:] if first_space > 0 else stripped,
    ]
    changed = [option for option in options if option != text and option.strip()]
    return _pick(rng, changed) if changed else None


def placeholder_swap(text: str, rng: np.random.Generator, kinds: Sequence[str]) -> str | None:
    """One PII placeholder of the text replaced by a placeholder of another kind (``<EMAIL>`` -> ``<PHONE>``);
    None when the text holds none of `kinds`."""
    found = [m for m in PLACEHOLDER.finditer(text) if m.group()[1:-1] in kinds]
    if not found or len(kinds) < 2:
        return None
    match = found[int(rng.integers(len(found)))]
    other = _pick(rng, [k for k in kinds if k != match.group()[1:-1]])
    return text[: match.start()] + f"<{other}>" + text[match.end() :]


def contact_pair(text: str, rng: np.random.Generator) -> tuple[str, str]:
    """For a text without a placeholder: the text with a contact sentence holding ``<EMAIL>``, and the same
    with ``<PHONE>``: which kind of contact a customer left says nothing about the class."""
    sentence = _pick(rng, _CONTACT)
    joined = text.rstrip() + " " if text.strip() else ""
    return joined + sentence.format("<EMAIL>"), joined + sentence.format("<PHONE>")


def _other_amount(match: re.Match[str], rng: np.random.Generator) -> str:
    currency, whole, cents = match.group(1), match.group(2).replace(",", ""), match.group(3) or ""
    value = float(whole + cents) * float(rng.uniform(0.5, 2.0))
    decimals = len(cents) - 1 if cents else 0
    written = f"{max(value, 1.0):,.{decimals}f}" if "," in match.group(2) else f"{max(value, 1.0):.{decimals}f}"
    return currency + written


def name_or_amount(text: str, rng: np.random.Generator) -> str | None:
    """One first name (of `NAMES`) replaced by another, or one amount (``$19.99``, ``€1,200``) by another of the
    same currency and precision; None when the text has neither."""
    found = [*_NAME.finditer(text), *_AMOUNT.finditer(text)]
    if not found:
        return None
    match = found[int(rng.integers(len(found)))]
    swapped = _pick(rng, [n for n in NAMES if n != match.group()]) if match.re is _NAME else _other_amount(match, rng)
    changed = text[: match.start()] + swapped + text[match.end() :]
    return changed if changed != text else None


def has_name_or_amount(text: str) -> bool:
    return bool(_NAME.search(text) or _AMOUNT.search(text))


def irrelevant_sentence(text: str, rng: np.random.Generator, sentences: Sequence[str]) -> str | None:
    """The text with one of `sentences` appended."""
    if not text.strip() or not sentences:
        return None
    return text.rstrip() + " " + _pick(rng, sentences)


def jitter(value: float, rng: np.random.Generator, relative: float) -> float:
    """`value` times ``1 + u``, ``u`` uniform in ``[-relative, relative]``, never exactly `value` (unless 0)."""
    factor = float(rng.uniform(-relative, relative)) or relative
    return value * (1.0 + factor)
