"""PII detection and scrubbing with typed placeholders.

`scrub` replaces personal data in a String Series with placeholders such as ``<EMAIL>`` and counts the
replacements; `residue` counts, per row, what a scrub would still replace, and is what the blocking "no
PII residue" check runs on prepared data. Both run the same detectors, and a scrub repeats its pass on
the rows it changed until nothing more is found, so ``residue(scrub(x).text)`` is 0 (up to
`_MAX_PASSES` passes; placeholders themselves are never detected). A row that still holds PII after the
last pass (adversarial input: hundreds of values glued together) is reported in `ScrubResult.residue`, so
the caller can quarantine it instead of letting it through.

How it stays fast: one union regex finds the rows that could hold PII at all, and only those rows go
through the per-type passes, which are vectorized Polars regex replacements (Rust ``regex`` syntax: no
look-around, so a left boundary is a captured prefix ``(^|[^...])`` that the replacement puts back).
Only cards and IBANs need a checksum; the few rows with a candidate are handled in Python.

Precision rules (each one is a documented choice, covered by a test):

* CARD: 13-19 digits, Luhn-valid, not one repeated digit, not an ISBN-13 (978/979), not glued to a
  letter, optionally grouped by single spaces or dashes where every group but the last has 4-6 digits
  (4-4-4-4, 4-6-5, 4-4-4-4-3). A longer run of groups is searched for cards made of whole groups, except
  that a run of more than 19 digits in groups of one size is a single long number (a tracking number).
  A card-shaped number that is not a card (a Luhn-invalid 16-digit reference) is protected, so no phone
  or SSN detector claims a slice of it.
* IBAN: a known country code, exactly the registry length for that country, mod-97 == 1; spaces
  allowed. An IBAN-shaped string with a wrong checksum is protected the same way.
* PHONE: international (``+`` country code, optional ``(0)`` or bracketed area, then groups); North
  American (``(415) 555-0132``, ``415-555-0132``, ``415.555.0132``, ``+1``/``1-`` prefixes); national
  numbers with a trunk 0 and 10-11 digits (``0612345678``, ``06 12 34 56 78``, ``09.21.45.94.75``,
  ``020 7946 0958``, ``07700 900123``, ``030 12345678``, ``090-1234-5678``, ``(03) 1703-7314``); Brazil
  (``(41) 99522-1329``, ``21 98434-3797``) and Indian mobiles (``98765 43210``). A number glued to a
  letter, a dash, a slash or a dot (``ORD-58213907``, ``PO-415-555-0132``) or preceded by a currency
  sign is not a phone, nor is a number after ``ISBN``; nine-digit references (``016 847 418``), dates,
  times, amounts and postal codes fit none of the shapes. Recall and precision are measured on a
  labeled set by ``factory_tests/core/test_pii_eval.py``.
* IPV4: four dotted octets 0-255 without leading zeros, not preceded by a word character, a dot or a
  currency sign. Version strings are excluded by context: a dotted number right after ``v``, ``ver``,
  ``version``, ``release``, ``rel``, ``build``, ``firmware``, ``fw``, ``rev``, ``revision`` or ``patch``
  (optionally followed by ``.``, ``:``, ``=``, ``#``), or after ``==``, ``~=``, ``>=``, ``<=``, ``!=``,
  and any number of five or more dotted parts (``1.2.3.4.5``), is a version, not an address. Without
  such context an address-shaped number is an address (``The router reports 10.8.20.36`` is
  scrubbed): the safe side for privacy.
* IPV6: the full eight-group form, and the compressed form with groups on both sides of ``::`` that
  has three groups or more or starts with a group holding a digit (``fe80::1``, ``fd00:ab::1``);
  ``::1``, ``fe80::`` and words like ``a::b`` or ``dead::beef`` are left alone.
* SSN: US ``AAA-GG-SSSS`` (or space separated) outside the never-issued ranges (area 000, 666, 9xx;
  group 00; serial 0000).
* URL_SECRET: a URL with ``user:password@`` credentials (the user may be empty: ``redis://:pw@host``)
  or a query parameter named token, access_token, refresh_token, id_token, auth_token, key, api_key,
  apikey, secret, client_secret, password, passwd, pwd, sig or signature. The whole URL is replaced.

Order: custom patterns, URL_SECRET, EMAIL, IBAN, CARD, IPV6, IPV4, SSN, PHONE. Earlier types win, so an
address inside a secret URL counts once, as URL_SECRET. The character U+0000 is the internal protection
marker and is removed from scrubbed text (`normalize_text` removes it anyway).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt
import polars as pl

__all__ = ["PII_TYPES", "ScrubResult", "placeholder", "residue", "scrub"]

PII_TYPES: tuple[str, ...] = ("EMAIL", "PHONE", "CARD", "IBAN", "SSN", "IPV4", "IPV6", "URL_SECRET")

_MARK = "\x00"
_MAX_PASSES = 64  # a pass finds at least one more value in each row it revisits: bounds adversarial rows
_CUSTOM_NAME = re.compile(r"[A-Z][A-Z0-9_]*")


def placeholder(pii_type: str) -> str:
    """The text that replaces one match of `pii_type`, e.g. ``<EMAIL>``."""
    return f"<{pii_type}>"


@dataclass(frozen=True)
class ScrubResult:
    """Scrubbed text, the number of replacements per PII type (every type present, zeros included), and
    per row what one more pass would still replace (Int64 ``pii_residue``): nonzero only for a row that
    still holds PII after `_MAX_PASSES` passes."""

    text: pl.Series
    counts: dict[str, int]
    residue: pl.Series


@dataclass(frozen=True)
class _RegexRule:
    """One vectorized pass: replace every match of `pattern` by `replacement` (`name` empty: protection)."""

    name: str
    pattern: str
    replacement: str


# --- regex building blocks (Rust `regex` syntax) -------------------------------------------------------

_B = r"(?-u:\b)"  # ASCII word boundary: the lazy DFA supports it, the Unicode one is far slower
_CURRENCY = "$€£¥"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_HEX = r"[0-9A-Fa-f]{1,4}"
# A group of 1-4 hex characters holding a digit. A compressed IPv6 address of two groups must start with
# one (fe80::1), which keeps words such as a::b or dead::beef out.
_HEX_WITH_DIGIT = (
    r"(?:[0-9][0-9A-Fa-f]{0,3}|[A-Fa-f][0-9][0-9A-Fa-f]{0,2}|[A-Fa-f]{2}[0-9][0-9A-Fa-f]?|[A-Fa-f]{3}[0-9])"
)
_SENSITIVE_QUERY_KEYS = (
    "access_token|refresh_token|id_token|auth_token|token|api_key|apikey|key|client_secret|secret"
    "|password|passwd|pwd|signature|sig"
)
_URL_TAIL = r"""(?:[^\s<>"']*[^\s<>"'.,;:!?)\]])?"""

_URL_SECRET = (
    r"(?i)" + _B + r"[a-z][a-z0-9+.\-]*://"
    r"(?:"
    r"""[^\s/?#@<>"':]*:[^\s/?#@<>"']+@""" + _URL_TAIL + "|"
    r"""[^\s?#<>"']*\?(?:[^\s#<>"']*&)?(?:""" + _SENSITIVE_QUERY_KEYS + r")=" + _URL_TAIL + r")"
)
_EMAIL = r"[\w.%+\-]+@[\w\-]+(?:\.[\w\-]+)*\.[A-Za-z]{2,}" + _B

_IPV6_COMPRESSED = (
    # groups on both sides of "::"; either the first group holds a digit or there are three groups or more
    _HEX_WITH_DIGIT + r":(?:" + _HEX + r":){0,5}(?::" + _HEX + r"){1,6}"
    r"|" + _HEX + r":(?:" + _HEX + r":){1,5}(?::" + _HEX + r"){1,6}"
    r"|" + _HEX + r":(?::" + _HEX + r"){2,6}"
)
_IPV6 = r"(^|[^\w:.])((?:" + _HEX + r":){7}" + _HEX + r"|" + _IPV6_COMPRESSED + r")" + _B
_IPV4 = r"(^|[^\w.\x00" + _CURRENCY + r"])(" + _OCTET + r"(?:\." + _OCTET + r"){3})" + _B

_SSN_AREA = r"(?:00[1-9]|0[1-9][0-9]|[1-5][0-9]{2}|6[0-5][0-9]|66[0-57-9]|6[7-9][0-9]|[78][0-9]{2})"
_SSN_GROUP = r"(?:0[1-9]|[1-9][0-9])"
_SSN_SERIAL = r"(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
_SSN = (
    r"(^|[^\w\-.\x00"
    + _CURRENCY
    + r"])("
    + f"{_SSN_AREA}-{_SSN_GROUP}-{_SSN_SERIAL}|{_SSN_AREA} {_SSN_GROUP} {_SSN_SERIAL}"
    + ")"
    + _B
)

_PHONE_INTERNATIONAL = (
    r"\+[1-9][0-9]{0,2}[ .\-]?(?:\([0-9]{1,4}\)[ .\-]?)?[0-9]{1,4}(?:[ .\-]?[0-9]{2,5}){2,5}"
    r"|\+[1-9][0-9]{0,2}[ .\-]?\([0-9]{1,4}\)(?:[ .\-]?[0-9]{2,5}){2,5}"
)
_PHONE_NANP = r"(?:\+?1[ .\-]?)?(?:\([2-9][0-9]{2}\)[ \-]?|[2-9][0-9]{2}[ .\-])[2-9][0-9]{2}[ .\-][0-9]{4}"
# National numbers with a trunk 0 have 10-11 digits: bare, in pairs (FR), area + number (DE, NL, UK mobile,
# IN), area + two groups (UK, JP, NL, IN), or a bracketed area (JP). Nine-digit references such as
# 016 847 418 or 099-058-191 fall short of every shape.
_PHONE_NATIONAL = (
    r"0[1-9](?:[0-9]{8,9}|(?: [0-9]{2}){4}|(?:\.[0-9]{2}){4}|(?:-[0-9]{2}){4})"
    r"|0[1-9](?:[ \-][0-9]{8}|[0-9][ \-][0-9]{7,8}|[0-9]{2}[ \-][0-9]{6,8}|[0-9]{3}[ \-][0-9]{6})"
    r"|0[1-9](?:[ \-][0-9]{4}|[0-9]{1,3}[ \-][0-9]{3,4})[ \-][0-9]{4}"
    r"|\(0[1-9][0-9]{0,3}\) ?[0-9]{3,4}[ \-]?[0-9]{4}"
)
# Brazil: (41) 99522-1329, (51) 4174-9094, 21 98434-3797. India: mobile 98765 43210.
_PHONE_REGIONAL = r"\([1-9][0-9]\) ?9?[0-9]{4}-[0-9]{4}|[1-9][0-9] 9[0-9]{4}-[0-9]{4}|[6-9][0-9]{4} [0-9]{5}"
_PHONE = (
    r"(^|[^\w\-./\x00+"
    + _CURRENCY
    + r"])("
    + "|".join((_PHONE_INTERNATIONAL, _PHONE_NANP, _PHONE_NATIONAL, _PHONE_REGIONAL))
    + ")"
    + _B
)

# Protection: a marker before a number makes every numeric detector skip it (their prefix excludes it).
# Three alternatives: a dotted number in version context, a number of five or more dotted parts not
# starting with 0 (0X.XX.XX.XX.XX is a French phone number), and a number after "ISBN". A group that
# does not take part in the match is replaced by the empty string, so one template serves all three.
_VERSION_WORDS = r"(?:v|ver|version|release|rel|build|firmware|fw|rev|revision|patch)"
_PROTECT = (
    r"(?i)(" + _B + _VERSION_WORDS + r"\.?\s*[:=#]?\s*|[=~<>!]=\s*)([0-9]+\.[0-9])"
    r"|(^|[^0-9.])([1-9][0-9]*(?:\.[0-9]+){4,})"
    r"|(" + _B + r"isbn(?:-?1[03])?\s*[:=#]?\s*)([0-9])"
)

# Row filters for the checksum types (handled in Python on the few rows that match).
# Necessary for a card-shaped window (see `_card_shaped`): 13 digits in a row, or a group of 4-6 digits that
# starts a run or follows a separator, then either 7 more digits or another such group and a digit (13 digits
# in all need that much). Dates and ids such as TCK-20260105-000001 (8 + 6 digits) match neither.
_CARD_CANDIDATE = r"[0-9]{13}|(?:^|[^0-9])[0-9]{4,6}[ \-](?:[0-9]{7}|[0-9]{4,6}[ \-][0-9])"
_IBAN_CANDIDATE = r"(?i)" + _B + r"[a-z]{2}[0-9]{2}(?: ?[a-z0-9]){11}"

_BEFORE_CHECKSUM: tuple[_RegexRule, ...] = (
    _RegexRule("URL_SECRET", _URL_SECRET, placeholder("URL_SECRET")),
    _RegexRule("EMAIL", _EMAIL, placeholder("EMAIL")),
)
_AFTER_CHECKSUM: tuple[_RegexRule, ...] = (
    _RegexRule("", _PROTECT, "${1}${3}${5}" + _MARK + "${2}${4}${6}"),
    _RegexRule("IPV6", _IPV6, "${1}" + placeholder("IPV6")),
    _RegexRule("IPV4", _IPV4, "${1}" + placeholder("IPV4")),
    _RegexRule("SSN", _SSN, "${1}" + placeholder("SSN")),
    _RegexRule("PHONE", _PHONE, "${1}" + placeholder("PHONE")),
)

_BUILTIN_UNION = "|".join(
    f"(?:{pattern})"
    for pattern in (
        *(rule.pattern for rule in (*_BEFORE_CHECKSUM, *_AFTER_CHECKSUM) if rule.name),
        _CARD_CANDIDATE,
        _IBAN_CANDIDATE,
    )
)
"""Matches every row any built-in detector could match (a superset: protection is not applied)."""

# --- checksum types (Python, candidate rows only) ------------------------------------------------------

_IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
    "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
    "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}  # fmt: skip
_IBAN_START = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{2})[0-9]{2}")
# A run of digit groups; the look-ahead skips runs shorter than the shortest card (13 characters) early.
_CARD_RUN = re.compile(r"(?<![\w.,+\x00])(?=[0-9 \-]{13})[0-9]+(?:[ \-][0-9]+)*(?![\w]|[.,][0-9])")
_GROUP_SPLIT = re.compile(r"([ \-])")
_DIGIT_RUN = re.compile(r"[0-9]+")


@lru_cache(maxsize=64)
def _iban_body(length: int) -> re.Pattern[str]:
    """An IBAN printed solid or in groups of four: spaces only where the print format puts them, so a
    match never runs across neighbouring words."""
    groups, rest = divmod(length - 4, 4)
    grouped = r"(?: [A-Za-z0-9]{4}){" + str(groups) + "}" + (r" [A-Za-z0-9]{" + str(rest) + "}" if rest else "")
    solid = r"[A-Za-z0-9]{" + str(length - 4) + "}"
    return re.compile(r"[A-Za-z]{2}[0-9]{2}(?:" + solid + "|" + grouped + r")(?![A-Za-z0-9])")


def _iban_valid(candidate: str) -> bool:
    compact = candidate.replace(" ", "").upper()
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(char, 36)) for char in rearranged)) % 97 == 1


_LUHN_DOUBLED = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def _luhn_valid(digits: str) -> bool:
    values = [ord(char) - 48 for char in reversed(digits)]
    return (sum(values[0::2]) + sum(_LUHN_DOUBLED[value] for value in values[1::2])) % 10 == 0


def _card_shaped(lengths: list[int], start: int) -> list[int]:
    """Ends of the windows of whole groups from `start` shaped like a card number (given group lengths).

    Card-shaped: 13-19 digits, and every group but the last has 4-6 digits (4-4-4-4, 4-6-5, 4-4-4-4-3 and
    ungrouped numbers qualify; dates and lists of phone numbers never do).
    """
    ends = []
    total = 0
    for end in range(start, len(lengths)):
        if end > start and not 4 <= lengths[end - 1] <= 6:
            break
        total += lengths[end]
        if total > 19:
            break
        if total >= 13:
            ends.append(end + 1)
    return ends


def _is_card_number(digits: str) -> bool:
    """Luhn-valid, not one repeated digit, and not an ISBN-13 (978/979 and 13 digits; no card uses 97)."""
    if len(digits) == 13 and digits.startswith(("978", "979")):
        return False
    return digits.count(digits[0]) != len(digits) and _luhn_valid(digits)


def _card_windows(groups: list[str], shaped: list[list[int]]) -> dict[int, int]:
    """Cards in a run of digit groups, as start group -> end group.

    From each group, the longest card-shaped window that is a valid card number is a card, and the scan
    resumes after it. A run of more than 19 digits in groups of one size (a tracking number such as
    9400 1234 5678 9012 3456 78) is one long number: it holds cards only if cards tile it exactly.
    """
    cards: dict[int, int] = {}
    start = 0
    while start < len(groups):
        end = next((end for end in reversed(shaped[start]) if _is_card_number("".join(groups[start:end]))), None)
        if end is None:
            start += 1
        else:
            cards[start] = end
            start = end
    sizes = {len(group) for group in groups[:-1]}
    long_number = len(sizes) == 1 and len(groups[-1]) <= len(groups[0]) and sum(map(len, groups)) > 19
    tiled = sum(end - start for start, end in cards.items()) == len(groups)
    return {} if long_number and not tiled else cards


def _scrub_card_run(run: str) -> str:
    """Replace the cards in a run of digit groups; protect the card-shaped numbers that are not cards.

    From each group, the longest card-shaped window that is a valid card number is a card, and the scan
    resumes after it. A card-shaped window sharing no group with a card (a Luhn-invalid 16-digit number,
    say) is protected: its groups get the marker, so that no later detector (phone, SSN) claims a slice
    of it. Other groups are left to those detectors.
    """
    parts = _GROUP_SPLIT.split(run)
    groups, separators = parts[0::2], [*parts[1::2], ""]
    lengths = [len(group) for group in groups]
    shaped = [_card_shaped(lengths, start) for start in range(len(groups))]
    cards = _card_windows(groups, shaped)
    in_card = [False] * len(groups)
    for first, end in cards.items():
        in_card[first:end] = [True] * (end - first)
    protected = [False] * len(groups)
    for first, ends in enumerate(shaped):
        if ends and not any(in_card[first : ends[-1]]):
            protected[first : ends[-1]] = [True] * (ends[-1] - first)
    pieces: list[str] = []
    index = 0
    while index < len(groups):
        if index in cards:
            index = cards[index]
            pieces.append(placeholder("CARD") + separators[index - 1])
        else:
            pieces.append((_MARK if protected[index] else "") + groups[index] + separators[index])
            index += 1
    return "".join(pieces)


def _card_run_replacement(match: re.Match[str]) -> str:
    run = match.group()
    return _scrub_card_run(run) if len(run) >= 13 else run


def _scrub_cards(text: str) -> str:
    return _CARD_RUN.sub(_card_run_replacement, text)


def _scrub_ibans(text: str) -> str:
    pieces: list[str] = []
    position = 0
    for match in _IBAN_START.finditer(text):
        length = _IBAN_LENGTHS.get(match.group(1).upper())
        if match.start() < position or length is None:
            continue
        body = _iban_body(length).match(text, match.start())
        if body is None:
            continue
        # An IBAN-shaped string with a wrong checksum is not an IBAN; it is protected so that no card or
        # phone detector claims a slice of its digits.
        replacement = (
            placeholder("IBAN") if _iban_valid(body.group()) else _DIGIT_RUN.sub(_MARK + r"\g<0>", body.group())
        )
        pieces.append(text[position : match.start()] + replacement)
        position = body.end()
    pieces.append(text[position:])
    return "".join(pieces)


# --- custom patterns -----------------------------------------------------------------------------------


def _custom_rules(custom_patterns: Mapping[str, str] | None) -> tuple[_RegexRule, ...]:
    """Validate custom patterns and turn them into rules. Raises ValueError with the offending name."""
    if not custom_patterns:
        return ()
    placeholders = pl.Series([placeholder(name) for name in (*PII_TYPES, *custom_patterns)])
    rules = []
    for name, pattern in custom_patterns.items():
        if _CUSTOM_NAME.fullmatch(name) is None or name in PII_TYPES:
            raise ValueError(f"custom PII name {name!r} must be UPPER_SNAKE_CASE and not a built-in type")
        try:
            matches_empty = pl.Series([""]).str.contains(pattern).item()
            matches_placeholder = placeholders.str.contains(pattern).any()
        except pl.exceptions.ComputeError as error:
            raise ValueError(f"custom PII pattern {name!r} is not a valid regex: {error}") from error
        if matches_empty or matches_placeholder:
            raise ValueError(f"custom PII pattern {name!r} matches the empty string or a placeholder")
        rules.append(_RegexRule(name, pattern, placeholder(name)))
    return tuple(rules)


# --- the pipeline --------------------------------------------------------------------------------------


def _apply_rules(texts: pl.Series, rules: Iterable[_RegexRule]) -> pl.Series:
    for rule in rules:
        texts = texts.str.replace_all(rule.pattern, rule.replacement)
    return texts


def _apply_python(texts: pl.Series, candidate: str, scrubber: Callable[[str], str]) -> pl.Series:
    """Run `scrubber` on the rows matching the regex `candidate`; leave the other rows untouched."""
    rows = texts.str.contains(candidate).fill_null(False).arg_true()
    if rows.len() == 0:
        return texts
    return texts.scatter(rows, [scrubber(text) for text in texts.gather(rows).to_list()])


def _placeholder_pattern(names: Iterable[str]) -> str:
    return "<(?:" + "|".join(names) + ")>"


@dataclass(frozen=True)
class _Tally:
    """Replacements made: per row (all types together) and per type (all rows together)."""

    per_row: npt.NDArray[np.int64]
    per_type: dict[str, int]

    @staticmethod
    def of(texts: pl.Series, names: Sequence[str]) -> _Tally:
        """Placeholders in `texts`: one regex pass per row, one extraction if any row holds one."""
        pattern = _placeholder_pattern(names)
        per_row = texts.str.count_matches(pattern).fill_null(0).cast(pl.Int64).to_numpy()
        per_type = dict.fromkeys(names, 0)
        if per_row.any():
            found = texts.str.extract_all(pattern).explode().drop_nulls().value_counts()
            per_type.update({text[1:-1]: int(count) for text, count in found.iter_rows()})
        return _Tally(per_row, per_type)

    def __sub__(self, other: _Tally) -> _Tally:
        return _Tally(self.per_row - other.per_row, {k: v - other.per_type[k] for k, v in self.per_type.items()})


def _scrub_once(texts: pl.Series, custom: tuple[_RegexRule, ...]) -> tuple[pl.Series, _Tally]:
    """One pass of every detector, and the replacements it made, counted as placeholders added.

    Every placeholder is made of ``<``, ``>``, capitals and ``_``, characters no later rule consumes, so
    the placeholders in the output minus those already in the input is the number of replacements.
    """
    names = [*PII_TYPES, *(rule.name for rule in custom)]
    before = _Tally.of(texts, names)
    scrubbed = _apply_rules(texts, (*custom, *_BEFORE_CHECKSUM))
    scrubbed = _apply_python(scrubbed, _IBAN_CANDIDATE, _scrub_ibans)
    scrubbed = _apply_python(scrubbed, _CARD_CANDIDATE, _scrub_cards)
    scrubbed = _apply_rules(scrubbed, _AFTER_CHECKSUM).str.replace_all(_MARK, "", literal=True)
    return scrubbed, _Tally.of(scrubbed, names) - before


def _may_hold_pii(texts: pl.Series, custom: tuple[_RegexRule, ...]) -> npt.NDArray[np.bool_]:
    """Rows that any detector could match (a superset: protection is not applied)."""
    # Custom patterns are tested on their own: one of them with a Unicode word boundary would make the
    # whole union fall back from the lazy DFA to a ten times slower engine.
    masks = [texts.str.contains(_BUILTIN_UNION)] + [texts.str.contains(rule.pattern) for rule in custom]
    found: npt.NDArray[np.bool_] = pl.select(pl.any_horizontal(masks)).to_series().fill_null(False).to_numpy()
    return found


def _scrub_candidates(
    texts: pl.Series, custom: tuple[_RegexRule, ...]
) -> tuple[pl.Series, _Tally, npt.NDArray[np.int64]]:
    """Scrub rows that may hold PII, repeating the pass on rows it changed until nothing more is found.

    A regex match consumes the character before it (the look-behind Rust's regex lacks), so values glued
    together (``+33612345678+33612345678``) are found one more per pass. A row goes through another pass
    only if the last one changed it and a detector could still match it. Repeating until a pass replaces
    nothing is what makes ``residue(scrub(x).text)`` zero; `_MAX_PASSES` bounds adversarial input. The
    third value is, per row, what one more pass would still replace (nonzero only for rows that used up
    every pass).
    """
    scrubbed, tally = _scrub_once(texts, custom)
    per_row, per_type = tally.per_row.copy(), dict(tally.per_type)
    leftover = np.zeros(texts.len(), dtype=np.int64)
    active = np.flatnonzero(tally.per_row > 0)
    for attempt in range(_MAX_PASSES):
        active = active[_may_hold_pii(scrubbed.gather(active), custom)] if active.size else active
        if active.size == 0:
            break
        again, more = _scrub_once(scrubbed.gather(active), custom)
        if attempt == _MAX_PASSES - 1:  # out of passes: what this pass would replace is the residue
            leftover[active] = more.per_row
            break
        scrubbed = scrubbed.scatter(active, again)
        per_row[active] += more.per_row
        per_type = {name: count + more.per_type[name] for name, count in per_type.items()}
        active = active[more.per_row > 0]
    return scrubbed, _Tally(per_row, per_type), leftover


@dataclass(frozen=True)
class _Detection:
    text: pl.Series  # scrubbed, same length as the input
    rows: npt.NDArray[np.int64]  # positions of the rows that were scrubbed (every other row is unchanged)
    tally: _Tally  # replacements, per row of `rows` and per type
    leftover: npt.NDArray[np.int64]  # per row of `rows`: what one more pass would still replace


def _detect(texts: pl.Series, custom: tuple[_RegexRule, ...]) -> _Detection:
    """Scrub `texts`: only the rows the union of all detectors matches go through the per-type passes."""
    if texts.dtype not in (pl.String, pl.Null):
        raise TypeError(f"PII detection needs a String Series, got {texts.dtype}")
    source = texts.cast(pl.String)
    if source.str.contains(_MARK, literal=True).any():
        source = source.str.replace_all(_MARK, "", literal=True)
    rows = np.flatnonzero(_may_hold_pii(source, custom))
    scrubbed_rows, tally, leftover = _scrub_candidates(source.gather(rows), custom)
    scrubbed = source.clone().scatter(rows, scrubbed_rows) if rows.size else source
    return _Detection(scrubbed.alias(texts.name), rows, tally, leftover)


def scrub(texts: pl.Series, custom_patterns: Mapping[str, str] | None = None) -> ScrubResult:
    """Replace PII in `texts` by typed placeholders (``<EMAIL>``, ``<PHONE>``, ...) and count them.

    `custom_patterns` maps an UPPER_SNAKE_CASE name to a Rust-syntax regex; its matches become
    ``<NAME>`` and are counted under NAME. A pattern that is invalid, matches the empty string or matches
    a placeholder raises ValueError. Nulls stay null; the input Series is not modified.
    """
    found = _detect(texts, _custom_rules(custom_patterns))
    leftover = np.zeros(texts.len(), dtype=np.int64)
    leftover[found.rows] = found.leftover
    return ScrubResult(
        text=found.text, counts=found.tally.per_type, residue=pl.Series("pii_residue", leftover, dtype=pl.Int64)
    )


def residue(texts: pl.Series, custom_patterns: Mapping[str, str] | None = None) -> pl.Series:
    """Per-row number of PII matches `scrub` would replace (Int64 named ``pii_residue``; 0 when clean)."""
    found = _detect(texts, _custom_rules(custom_patterns))
    per_row = np.zeros(texts.len(), dtype=np.int64)
    per_row[found.rows] = found.tally.per_row
    return pl.Series("pii_residue", per_row, dtype=pl.Int64)
