"""A labeled PII evaluation set: support-ticket strings with typed PII values and hard negatives.

`build_eval_set` generates, deterministically from a seed (no network, no files), short support tickets
made of sentences. Some sentences carry one PII value each (0-3 per ticket), in the formats people really
type: emails with plus-addressing and subdomains; phone numbers of eight countries in international and
national formats; Luhn-valid card numbers of four brands; mod-97-valid IBANs of twelve countries; SSNs in
the issued ranges; IPv4 and IPv6 addresses; URLs carrying credentials or tokens. Other sentences carry hard
negatives: values shaped like PII that are not PII (order numbers shaped like phone numbers, 16-digit
numbers failing Luhn, version strings shaped like IPv4 addresses, IBANs with a wrong checksum, SSNs in
never-issued ranges, ISBNs, tracking numbers, ...), and plain sentences carry neither.

A hard negative comes with the context a person would use to tell it from PII when its shape alone cannot
(``version 10.2.3.4``, ``build 1.2.3.4``, ``ISBN 0306406152``, ``order ORD-0612345678``): a bare
``10.2.3.4`` is an address and a bare ``0306406152`` a phone number, for a person as for a detector.

Every example lists its PII as ``(type, value)`` pairs, where the value is an exact substring of the text
and the type is one of `PII_KINDS` (the names ``factory.core.preparation`` uses for its placeholders), and its
hard negatives as ``(family, value)`` pairs. The labels come from how a value was generated, never from a
detector, and the generator checks its own checksums (Luhn, mod-97, ISBN) so a label cannot be wrong by
accident. Python's `random.Random` with a fixed seed makes the set reproducible: `digest` pins it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import random
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "NEGATIVE_FAMILIES",
    "PII_KINDS",
    "EvalExample",
    "build_eval_set",
    "digest",
    "iban_valid",
    "isbn_valid",
    "luhn_valid",
    "ssn_issuable",
]

PII_KINDS: tuple[str, ...] = ("EMAIL", "PHONE", "CARD", "IBAN", "SSN", "IPV4", "IPV6", "URL_SECRET")

NEGATIVE_FAMILIES: tuple[str, ...] = (
    "order_number",  # ORD-58213907, ORD-0612345678, PO-415-555-0132: shaped like phone numbers
    "invoice_number",  # invoice 2024-000123
    "tracking_number",  # 1Z999AA10123456784, USPS 22 digits, FedEx 12 digits, Royal Mail
    "luhn_invalid_16",  # 16 digits with a card's prefix and grouping that fail Luhn
    "version_string",  # version 10.2.3.4, v4.2.10, build 1.2.3.4: shaped like IPv4 addresses
    "date",
    "amount",
    "time",
    "percentage",
    "isbn",
    "plain_url",  # URLs without credentials or secret query parameters
    "sku",
    "zip_code",  # postal codes of several countries
    "nine_digit_number",  # 9 digits not shaped like an SSN (case 123456789, 123-456-789, EIN 12-3456789)
    "invalid_iban",  # IBAN-shaped, known country and length, wrong mod-97 checksum
    "invalid_ssn",  # SSN-shaped in never-issued ranges: 999-99-9999, 000-12-3456, 666-..., 9xx, group 00
)


@dataclass(frozen=True)
class EvalExample:
    """One string of the set: its PII as ``(type, exact substring)`` pairs, and its hard negatives."""

    text: str
    entities: tuple[tuple[str, str], ...]
    negatives: tuple[tuple[str, str], ...] = ()


# --- checksums (also used by the tests to verify the labels) -------------------------------------------


def luhn_valid(digits: str) -> bool:
    """Luhn check of a digit string."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _luhn_check_digit(partial: str) -> str:
    return next(str(digit) for digit in range(10) if luhn_valid(partial + str(digit)))


def _iban_numeric(text: str) -> int:
    return int("".join(str(int(char, 36)) for char in text.upper()))


def iban_valid(iban: str) -> bool:
    """Mod-97 check of an IBAN (spaces ignored)."""
    compact = iban.replace(" ", "")
    return _iban_numeric(compact[4:] + compact[:4]) % 97 == 1


def _iban_check_digits(country: str, bban: str) -> str:
    return f"{98 - _iban_numeric(bban + country + '00') % 97:02d}"


def isbn_valid(isbn: str) -> bool:
    """ISBN-10 (mod 11) or ISBN-13 (weights 1, 3) check; hyphens ignored."""
    compact = isbn.replace("-", "")
    if len(compact) == 10:
        values = [10 if char in "Xx" else int(char) for char in compact]
        return sum((10 - index) * value for index, value in enumerate(values)) % 11 == 0
    return sum(int(char) * (1 if index % 2 == 0 else 3) for index, char in enumerate(compact)) % 10 == 0


def ssn_issuable(ssn: str) -> bool:
    """An SSN outside the never-issued ranges: area 000, 666, 9xx; group 00; serial 0000."""
    compact = ssn.replace("-", "").replace(" ", "")
    area, group, serial = compact[:3], compact[3:5], compact[5:]
    return area not in ("000", "666") and not area.startswith("9") and group != "00" and serial != "0000"


# --- small random helpers ------------------------------------------------------------------------------


def _digits(rng: random.Random, count: int, first: str = "0123456789") -> str:
    return rng.choice(first) + "".join(rng.choice(string.digits) for _ in range(count - 1))


def _alnum(rng: random.Random, count: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(rng.choice(alphabet) for _ in range(count))


def _grouped(text: str, size: int, separator: str) -> str:
    return separator.join(text[index : index + size] for index in range(0, len(text), size))


def _weighted(rng: random.Random, options: Sequence[tuple[int, Callable[[], str]]]) -> str:
    """Call one of the option builders, chosen with the given integer weights."""
    weights = [weight for weight, _ in options]
    return rng.choices([build for _, build in options], weights=weights)[0]()


# --- names, domains, words -----------------------------------------------------------------------------

_FIRST = (
    "james", "mary", "john", "patricia", "robert", "jennifer", "michael", "linda", "david", "elizabeth", "william",
    "susan", "richard", "jessica", "joseph", "sarah", "thomas", "karen", "priya", "rahul", "ananya", "arjun",
    "sofia", "lukas", "emma", "noah", "lea", "paul", "chloe", "hugo", "ines", "daan", "julia", "sem", "fleur",
    "lucas", "ana", "gabriel", "beatriz", "yuki", "haruto", "sakura", "ren", "oliver", "amelia", "george", "isla",
    "mohammed", "fatima", "chen", "wei", "olga", "ivan"
)  # fmt: skip
_LAST = (
    "smith", "johnson", "williams", "brown", "jones", "garcia", "miller", "davis", "wilson", "taylor", "anderson",
    "thomas", "moore", "martin", "sharma", "patel", "gupta", "iyer", "mueller", "schmidt", "schneider", "fischer",
    "weber", "dubois", "moreau", "laurent", "lefebvre", "devries", "jansen", "bakker", "visser", "silva", "santos",
    "oliveira", "souza", "tanaka", "suzuki", "sato", "watanabe", "evans", "walsh", "obrien", "nguyen", "kim",
    "novak"
)  # fmt: skip
_MAIL_DOMAINS = (
    "gmail.com", "outlook.com", "yahoo.com", "hotmail.co.uk", "icloud.com", "proton.me", "web.de", "gmx.de",
    "orange.fr", "free.fr", "kpnmail.nl", "ziggo.nl", "rediffmail.com", "yahoo.co.in", "uol.com.br", "bol.com.br",
    "docomo.ne.jp", "yahoo.co.jp", "example.com", "example.org", "acme-corp.com", "globex.io", "initech.co.uk",
    "umbrella-group.de", "contoso.onmicrosoft.com"
)  # fmt: skip
_SUBDOMAINS = ("mail", "eu", "us", "corp", "support", "billing", "dept", "students", "mx1", "ops")
_MAIL_TAGS = ("support", "tickets", "billing", "orders", "2024", "shop", "newsletter", "work", "amazon", "x")
_HOSTS = (
    "example.com", "example.org", "acme-corp.com", "globex.io", "initech.co.uk", "shop.example.net",
    "api.example.io", "portal.contoso.com", "app.umbrella-group.de", "internal.acme.local"
)  # fmt: skip
_PATHS = ("orders", "v1/items", "export/report.csv", "api/v2/customers", "files/invoice.pdf", "admin", "download")


def _name_pair(rng: random.Random) -> tuple[str, str]:
    return rng.choice(_FIRST), rng.choice(_LAST)


# --- PII values ----------------------------------------------------------------------------------------


def _email(rng: random.Random) -> str:
    first, last = _name_pair(rng)
    local = _weighted(
        rng,
        [
            (5, lambda: f"{first}.{last}"),
            (2, lambda: f"{first[0]}{last}"),
            (2, lambda: f"{first}_{last}"),
            (3, lambda: f"{first}.{last}+{rng.choice(_MAIL_TAGS)}"),
            (2, lambda: f"{first}{last}{rng.randrange(1, 100)}"),
            (1, lambda: f"{first[0]}.{last}-{rng.choice(('ext', 'admin', 'eu'))}"),
            (1, lambda: f"{first}+{rng.choice(_MAIL_TAGS)}"),
            (1, lambda: f"{first.capitalize()}.{last.capitalize()}"),
            (1, lambda: f"{first}.{last}".upper()),
        ],
    )
    domain = rng.choice(_MAIL_DOMAINS)
    if rng.random() < 0.25:
        domain = f"{rng.choice(_SUBDOMAINS)}.{domain}"
    if rng.random() < 0.05:
        domain = domain.upper()
    return f"{local}@{domain}"


_US_AREAS = (201, 206, 212, 213, 305, 312, 404, 415, 470, 503, 512, 602, 617, 646, 702, 713, 718, 818, 917, 972)


def _phone_us(rng: random.Random) -> str:
    area, exchange, line = str(rng.choice(_US_AREAS)), _digits(rng, 3, "23456789"), _digits(rng, 4)
    toll = rng.choice(("800", "888", "877", "866"))
    return _weighted(
        rng,
        [
            (4, lambda: f"({area}) {exchange}-{line}"),
            (4, lambda: f"{area}-{exchange}-{line}"),
            (2, lambda: f"{area}.{exchange}.{line}"),
            (1, lambda: f"{area} {exchange} {line}"),
            (3, lambda: f"+1 {area} {exchange} {line}"),
            (2, lambda: f"+1-{area}-{exchange}-{line}"),
            (2, lambda: f"+1 ({area}) {exchange}-{line}"),
            (2, lambda: f"+1{area}{exchange}{line}"),
            (1, lambda: f"1-{toll}-{exchange}-{line}"),
        ],
    )


def _phone_uk(rng: random.Random) -> str:
    london, mobile = (_digits(rng, 4, "378"), _digits(rng, 4)), (_digits(rng, 3, "45789"), _digits(rng, 6))
    city = rng.choice(("161", "121", "131", "113", "117"))
    city_local = (_digits(rng, 3, "2345789"), _digits(rng, 4))
    return _weighted(
        rng,
        [
            (3, lambda: f"020 {london[0]} {london[1]}"),
            (3, lambda: f"+44 20 {london[0]} {london[1]}"),
            (1, lambda: f"+44 (0)20 {london[0]} {london[1]}"),
            (3, lambda: f"07{mobile[0]} {mobile[1]}"),
            (3, lambda: f"+44 7{mobile[0]} {mobile[1]}"),
            (2, lambda: f"+447{mobile[0]}{mobile[1]}"),
            (2, lambda: f"0{city} {city_local[0]} {city_local[1]}"),
            (1, lambda: f"+44 {city} {city_local[0]} {city_local[1]}"),
        ],
    )


def _phone_de(rng: random.Random) -> str:
    city, local = rng.choice(("30", "40", "89", "69", "221", "211")), _digits(rng, rng.choice((7, 8)), "123456789")
    prefix, number = rng.choice(("151", "152", "160", "170", "171", "176")), _digits(rng, rng.choice((7, 8)))
    return _weighted(
        rng,
        [
            (3, lambda: f"0{city} {local}"),
            (1, lambda: f"0{city}-{local}"),
            (3, lambda: f"+49 {city} {local}"),
            (1, lambda: f"+49 (0){city} {local}"),
            (3, lambda: f"0{prefix} {number}"),
            (3, lambda: f"+49 {prefix} {number}"),
            (2, lambda: f"+49{prefix}{number}"),
            (1, lambda: f"+49 {city} {local[:4]} {local[4:]}"),
        ],
    )


def _phone_fr(rng: random.Random) -> str:
    lead = rng.choice("1234566779")  # geographic 01-05, mobile 06/07 (twice as likely), 09
    pairs = [_digits(rng, 2) for _ in range(4)]
    return _weighted(
        rng,
        [
            (5, lambda: f"0{lead} " + " ".join(pairs)),
            (2, lambda: f"0{lead}." + ".".join(pairs)),
            (1, lambda: f"0{lead}-" + "-".join(pairs)),
            (2, lambda: f"0{lead}" + "".join(pairs)),
            (4, lambda: f"+33 {lead} " + " ".join(pairs)),
            (2, lambda: f"+33{lead}" + "".join(pairs)),
            (1, lambda: f"+33 (0){lead} " + " ".join(pairs)),
        ],
    )


def _phone_nl(rng: random.Random) -> str:
    mobile = _digits(rng, 8, "123456789")
    city, first, rest = rng.choice(("20", "10", "30", "70", "40")), _digits(rng, 3, "123456789"), _digits(rng, 4)
    return _weighted(
        rng,
        [
            (3, lambda: f"06 {mobile}"),
            (2, lambda: f"06-{mobile}"),
            (2, lambda: f"06{mobile}"),
            (3, lambda: f"+31 6 {mobile}"),
            (1, lambda: f"+316{mobile}"),
            (3, lambda: f"0{city} {first} {rest}"),
            (1, lambda: f"0{city}-{first}{rest}"),
            (2, lambda: f"+31 {city} {first} {rest}"),
        ],
    )


def _phone_in(rng: random.Random) -> str:
    mobile = _digits(rng, 10, "6789")
    landline = _digits(rng, 8, "23456")
    return _weighted(
        rng,
        [
            (4, lambda: f"+91 {mobile[:5]} {mobile[5:]}"),
            (2, lambda: f"+91-{mobile}"),
            (2, lambda: f"+91 {mobile}"),
            (1, lambda: f"+91{mobile}"),
            (2, lambda: f"{mobile[:5]} {mobile[5:]}"),
            (1, lambda: f"0{mobile}"),
            (2, lambda: f"011-{landline}"),
            (2, lambda: f"+91 22 {landline[:4]} {landline[4:]}"),
            (1, lambda: f"022 {landline[:4]} {landline[4:]}"),
        ],
    )


def _phone_br(rng: random.Random) -> str:
    area = rng.choice(("11", "21", "31", "41", "51", "61", "71", "81"))
    mobile, landline = "9" + _digits(rng, 8, "6789"), _digits(rng, 8, "2345")
    return _weighted(
        rng,
        [
            (4, lambda: f"+55 {area} {mobile[:5]}-{mobile[5:]}"),
            (2, lambda: f"+55 ({area}) {mobile[:5]}-{mobile[5:]}"),
            (2, lambda: f"+55{area}{mobile}"),
            (3, lambda: f"({area}) {mobile[:5]}-{mobile[5:]}"),
            (1, lambda: f"({area}) {landline[:4]}-{landline[4:]}"),
            (1, lambda: f"{area} {mobile[:5]}-{mobile[5:]}"),
            (2, lambda: f"+55 {area} {landline[:4]}-{landline[4:]}"),
        ],
    )


def _phone_jp(rng: random.Random) -> str:
    mobile_prefix, block = rng.choice(("90", "80", "70")), (_digits(rng, 4, "123456789"), _digits(rng, 4))
    city = rng.choice(("3", "6"))
    return _weighted(
        rng,
        [
            (3, lambda: f"0{mobile_prefix}-{block[0]}-{block[1]}"),
            (3, lambda: f"+81 {mobile_prefix}-{block[0]}-{block[1]}"),
            (2, lambda: f"+81-{mobile_prefix}-{block[0]}-{block[1]}"),
            (1, lambda: f"+81{mobile_prefix}{block[0]}{block[1]}"),
            (3, lambda: f"0{city}-{block[0]}-{block[1]}"),
            (2, lambda: f"+81 {city}-{block[0]}-{block[1]}"),
            (1, lambda: f"(0{city}) {block[0]}-{block[1]}"),
            (2, lambda: f"045-{block[0][:3]}-{block[1]}"),
        ],
    )


_PHONE_COUNTRIES: tuple[Callable[[random.Random], str], ...] = (
    _phone_us,
    _phone_uk,
    _phone_de,
    _phone_fr,
    _phone_nl,
    _phone_in,
    _phone_br,
    _phone_jp,
)


def _phone(rng: random.Random) -> str:
    return rng.choice(_PHONE_COUNTRIES)(rng)


def _card_digits(rng: random.Random) -> str:
    brands: list[tuple[Callable[[], str], int]] = [  # (first digits, length): Visa, Mastercard, Amex, Discover
        (lambda: "4", 16),
        (lambda: "4", 13),
        (lambda: str(rng.randrange(51, 56)), 16),
        (lambda: str(rng.randrange(2221, 2721)), 16),
        (lambda: rng.choice(("34", "37")), 15),
        (lambda: rng.choice(("6011", "65", str(rng.randrange(644, 650)))), 16),
    ]
    prefix, length = rng.choices(brands, weights=[10, 1, 6, 2, 5, 4])[0]
    head = prefix()
    body = head + _digits(rng, length - len(head) - 1)
    return body + _luhn_check_digit(body)


def _format_card(rng: random.Random, digits: str) -> str:
    separator = rng.choices(["", " ", "-"], weights=[3, 5, 2])[0]
    if not separator:
        return digits
    if len(digits) == 15:
        return separator.join((digits[:4], digits[4:10], digits[10:]))
    return _grouped(digits, 4, separator)


def _card(rng: random.Random) -> str:
    return _format_card(rng, _card_digits(rng))


def _upper_alnum(rng: random.Random, count: int, letter_share: float = 0.15) -> str:
    return "".join(
        rng.choice(string.ascii_uppercase) if rng.random() < letter_share else rng.choice(string.digits)
        for _ in range(count)
    )


_BANKS = {
    "GB": ("WEST", "BARC", "NWBK", "HBUK", "LOYD", "MIDL"),
    "NL": ("ABNA", "INGB", "RABO", "TRIO", "SNSB", "KNAB"),
    "IE": ("AIBK", "BOFI", "IPBS"),
}


def _bban(rng: random.Random, country: str) -> str:
    builders: dict[str, Callable[[], str]] = {
        "DE": lambda: _digits(rng, 18, "123456789"),
        "GB": lambda: rng.choice(_BANKS["GB"]) + _digits(rng, 14),
        "FR": lambda: _digits(rng, 10) + _upper_alnum(rng, 11) + _digits(rng, 2),
        "NL": lambda: rng.choice(_BANKS["NL"]) + _digits(rng, 10),
        "ES": lambda: _digits(rng, 20),
        "IT": lambda: rng.choice(string.ascii_uppercase) + _digits(rng, 10) + _upper_alnum(rng, 12),
        "BE": lambda: _digits(rng, 12),
        "CH": lambda: _digits(rng, 5) + _upper_alnum(rng, 12, 0.05),
        "AT": lambda: _digits(rng, 16),
        "PL": lambda: _digits(rng, 24),
        "PT": lambda: _digits(rng, 21),
        "IE": lambda: rng.choice(_BANKS["IE"]) + _digits(rng, 14),
    }
    return builders[country]()


_IBAN_COUNTRIES = ("DE", "GB", "FR", "NL", "ES", "IT", "BE", "CH", "AT", "PL", "PT", "IE")


def _format_iban(rng: random.Random, compact: str) -> str:
    return _grouped(compact, 4, " ") if rng.random() < 0.6 else compact


def _iban(rng: random.Random) -> str:
    country = rng.choice(_IBAN_COUNTRIES)
    bban = _bban(rng, country)
    return _format_iban(rng, country + _iban_check_digits(country, bban) + bban)


def _ssn(rng: random.Random) -> str:
    area = rng.choice([value for value in range(1, 900) if value != 666])
    group, serial = rng.randrange(1, 100), rng.randrange(1, 10000)
    separator = rng.choices(["-", " "], weights=[5, 1])[0]
    return f"{area:03d}{separator}{group:02d}{separator}{serial:04d}"


def _ipv4(rng: random.Random) -> str:
    def public() -> str:
        first = rng.choice([value for value in range(1, 224) if value not in (10, 127)])
        return f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"

    return _weighted(
        rng,
        [
            (3, lambda: f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"),
            (3, lambda: f"192.168.{rng.randrange(256)}.{rng.randrange(1, 255)}"),
            (2, lambda: f"172.{rng.randrange(16, 32)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"),
            (5, public),
            (1, lambda: f"{rng.choice(('203.0.113', '198.51.100', '192.0.2'))}.{rng.randrange(1, 255)}"),
        ],
    )


def _ipv6_groups(rng: random.Random) -> list[int]:
    kind = rng.choices(["global", "documentation", "link_local", "unique_local"], weights=[5, 2, 2, 1])[0]
    if kind == "link_local":
        return [0xFE80, 0, 0, 0, *(rng.randrange(1, 0x10000) for _ in range(4))]
    if kind == "documentation":
        head = [0x2001, 0xDB8]
    elif kind == "unique_local":
        head = [0xFD00 + rng.randrange(256), rng.randrange(0x10000)]
    else:
        head = [
            rng.choice((0x2001, 0x2400, 0x2600, 0x2604, 0x2607, 0x2A00, 0x2A01, 0x2A02, 0x2C0F)) + rng.randrange(16)
        ]
        head.append(rng.randrange(1, 0x10000))
    groups = head + [rng.randrange(0x10000) for _ in range(6)]
    if rng.random() < 0.7:  # a run of zero groups, which the compressed form writes as ::
        start = rng.randrange(2, 6)
        for index in range(start, min(8, start + rng.randrange(2, 5))):
            groups[index] = 0
    groups[7] = groups[7] or rng.randrange(1, 0x10000)  # a host address, never a bare prefix ending in ::
    return groups


def _ipv6(rng: random.Random) -> str:
    groups = _ipv6_groups(rng)
    address = ipaddress.IPv6Address(sum(group << (16 * (7 - index)) for index, group in enumerate(groups)))
    text = _weighted(
        rng,
        [
            (6, lambda: address.compressed),
            (2, lambda: address.exploded),
            (2, lambda: ":".join(f"{group:x}" for group in groups)),
        ],
    )
    return text.upper() if rng.random() < 0.1 else text


def _token(rng: random.Random) -> str:
    alphabet = string.ascii_letters + string.digits
    return _weighted(
        rng,
        [
            (3, lambda: _alnum(rng, rng.randrange(16, 41))),
            (2, lambda: _alnum(rng, 32, string.hexdigits[:16])),
            (1, lambda: "eyJ" + _alnum(rng, 20) + "." + _alnum(rng, 30) + "." + _alnum(rng, 22, alphabet + "-_") + "x"),
            (1, lambda: "sk_live_" + _alnum(rng, 24)),
            (1, lambda: _alnum(rng, 18, alphabet + "-_") + _alnum(rng, 2)),
        ],
    )


def _password(rng: random.Random) -> str:
    word = rng.choice(("hunter", "Summer", "Welcome", "s3cr3t", "P4ssw0rd", "letmein", "Admin", "qwerty"))
    return _weighted(
        rng,
        [
            (3, lambda: f"{word}{rng.randrange(1, 2025)}"),
            (2, lambda: _alnum(rng, rng.randrange(10, 21))),
            (1, lambda: f"{word}%21{rng.randrange(10, 100)}"),
        ],
    )


def _url_secret(rng: random.Random) -> str:
    first, last = _name_pair(rng)
    user = rng.choice((first, f"{first}.{last}", "admin", "svc_etl", "deploy", "root", "backup"))
    host, path = rng.choice(_HOSTS), rng.choice(_PATHS)
    token, password = _token(rng), _password(rng)
    key = rng.choice(("token", "api_key", "access_token", "sig", "password", "apikey", "key", "client_secret"))
    return _weighted(
        rng,
        [
            (4, lambda: f"https://{user}:{password}@{host}/{path}"),
            (1, lambda: f"http://{user}:{password}@{host}:8080/{path}"),
            (1, lambda: f"ftp://{user}:{password}@ftp.{rng.choice(_HOSTS)}/{rng.choice(('in', 'out'))}/data.csv"),
            (2, lambda: f"postgres://{user}:{password}@db.{host}:5432/{rng.choice(('app', 'orders', 'crm'))}"),
            (1, lambda: f"mysql://{user}:{password}@10.{rng.randrange(256)}.0.{rng.randrange(1, 255)}:3306/shop"),
            (1, lambda: f"mongodb+srv://{user}:{password}@cluster0.{_alnum(rng, 5).lower()}.mongodb.net/prod"),
            (1, lambda: f"redis://:{password}@cache.{host}:6379/0"),
            (6, lambda: f"https://{host}/{path}?{key}={token}"),
            (3, lambda: f"https://{host}/{path}?page={rng.randrange(1, 9)}&{key}={token}"),
            (
                2,
                lambda: (
                    f"https://{rng.choice(('acme', 'globex', 'files'))}.blob.core.windows.net/exports/report.pdf"
                    f"?sv=2022-11-02&sp=r&se=2025-01-31T23%3A59%3A59Z&sig={token}"
                ),
            ),
            (1, lambda: f"https://{host}/reset?email_hint=1&password={password}"),
            (1, lambda: f"wss://{host}/socket?access_token={token}"),
        ],
    )


_PII_VALUES: dict[str, Callable[[random.Random], str]] = {
    "EMAIL": _email,
    "PHONE": _phone,
    "CARD": _card,
    "IBAN": _iban,
    "SSN": _ssn,
    "IPV4": _ipv4,
    "IPV6": _ipv6,
    "URL_SECRET": _url_secret,
}

# --- hard negatives ------------------------------------------------------------------------------------


def _order_number(rng: random.Random) -> str:
    area, exchange, line = str(rng.choice(_US_AREAS)), _digits(rng, 3, "23456789"), _digits(rng, 4)
    return _weighted(
        rng,
        [
            (4, lambda: f"ORD-{_digits(rng, 8, '123456789')}"),
            (2, lambda: f"ORD-0{_digits(rng, 9, '123456789')}"),
            (2, lambda: f"PO-{area}-{exchange}-{line}"),
            (1, lambda: f"SO-{area}{exchange}{line}"),
            (2, lambda: f"#{_digits(rng, 8, '123456789')}"),
            (2, lambda: f"{_digits(rng, 3, '123')}-{_digits(rng, 7)}-{_digits(rng, 7)}"),
            (1, lambda: f"ORD{_digits(rng, 10)}"),
        ],
    )


def _invoice_number(rng: random.Random) -> str:
    year = rng.randrange(2019, 2027)
    return _weighted(
        rng,
        [
            (3, lambda: f"{year}-{rng.randrange(1, 100000):06d}"),
            (2, lambda: f"INV-{year}-{rng.randrange(1, 100000):06d}"),
            (1, lambda: f"{year}/{rng.randrange(1, 10000):06d}"),
            (1, lambda: f"INV{year}{rng.randrange(1, 13):02d}-{rng.randrange(1, 1000):04d}"),
        ],
    )


def _tracking_number(rng: random.Random) -> str:
    usps = "94" + _digits(rng, 20)
    return _weighted(
        rng,
        [
            (4, lambda: f"1Z{_upper_alnum(rng, 6, 0.5)}{_digits(rng, 10)}"),
            (2, lambda: usps),
            (1, lambda: _grouped(usps, 4, " ")),
            (2, lambda: _digits(rng, 12, "7")),
            (1, lambda: f"{rng.choice(string.ascii_uppercase)}{rng.choice('BCDLMR')}{_digits(rng, 9)}GB"),
        ],
    )


def _luhn_invalid_16(rng: random.Random) -> str:
    body = rng.choice(("4", "5", "6", "3")) + _digits(rng, 14)
    valid = _luhn_check_digit(body)
    digits = body + rng.choice([digit for digit in string.digits if digit != valid])
    separator = rng.choice(["", " ", "-"])
    return _grouped(digits, 4, separator) if separator else digits


def _version_string(rng: random.Random) -> str:
    four = ".".join(
        str(part) for part in (rng.randrange(1, 21), rng.randrange(10), rng.randrange(20), rng.randrange(1, 200))
    )
    three = f"{rng.randrange(1, 13)}.{rng.randrange(10)}.{rng.randrange(30)}"
    return _weighted(
        rng,
        [
            (3, lambda: f"version {four}"),
            (1, lambda: f"Version: {four}"),
            (2, lambda: f"v{four}"),
            (2, lambda: f"v{three}"),
            (3, lambda: f"build {four}"),
            (1, lambda: f"Build #{four}"),
            (1, lambda: f"firmware {four}"),
            (1, lambda: f"release {four}"),
            (1, lambda: f"ver. {four}"),
            (1, lambda: f"{rng.choice(('acme-sdk', 'client', 'agent'))}=={four}"),
            (1, lambda: f"version {three}"),
        ],
    )


_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
    "December"
)  # fmt: skip


def _date(rng: random.Random) -> str:
    year, month, day = rng.randrange(2019, 2027), rng.randrange(1, 13), rng.randrange(1, 29)
    return _weighted(
        rng,
        [
            (3, lambda: f"{year}-{month:02d}-{day:02d}"),
            (2, lambda: f"{day:02d}/{month:02d}/{year}"),
            (2, lambda: f"{month:02d}/{day:02d}/{year}"),
            (2, lambda: f"{day:02d}.{month:02d}.{year}"),
            (2, lambda: f"{_MONTHS[month - 1][:3]} {day}, {year}"),
            (1, lambda: f"{day} {_MONTHS[month - 1]} {year}"),
            (1, lambda: f"{year}-{month:02d}-{day:02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z"),
        ],
    )


def _amount(rng: random.Random) -> str:
    units, cents = rng.randrange(1, 100000), rng.randrange(100)
    us = f"{units:,}.{cents:02d}"
    eu = f"{units:,}".replace(",", ".") + f",{cents:02d}"
    return _weighted(
        rng,
        [
            (3, lambda: f"${us}"),
            (2, lambda: f"€{eu}"),
            (1, lambda: f"{units:,}".replace(",", " ") + f",{cents:02d} €"),
            (2, lambda: f"USD {us}"),
            (1, lambda: f"£{units % 1000}.{cents:02d}"),
            (1, lambda: f"EUR {eu}"),
            (1, lambda: f"R$ {eu}"),
        ],
    )


def _time(rng: random.Random) -> str:
    hour, minute, second = rng.randrange(24), rng.randrange(60), rng.randrange(60)
    return _weighted(
        rng,
        [
            (3, lambda: f"{hour:02d}:{minute:02d}"),
            (2, lambda: f"{hour:02d}:{minute:02d}:{second:02d}"),
            (2, lambda: f"{hour % 12 + 1}:{minute:02d} {rng.choice(('AM', 'PM', 'am', 'pm'))}"),
            (1, lambda: f"{hour:02d}:{minute:02d}:{second:02d}.{rng.randrange(1000):03d}"),
            (1, lambda: f"{hour:02d}:{minute:02d} {rng.choice(('UTC', 'CET', 'IST', 'JST', 'EST'))}"),
        ],
    )


def _percentage(rng: random.Random) -> str:
    return _weighted(
        rng,
        [
            (3, lambda: f"{rng.randrange(1, 101)}%"),
            (2, lambda: f"{rng.randrange(100)}.{rng.randrange(1, 100):02d}%"),
            (1, lambda: f"{rng.randrange(100)}.{rng.randrange(10)} %"),
        ],
    )


def _isbn(rng: random.Random) -> str:
    if rng.random() < 0.6:
        body = rng.choice(("978", "979")) + _digits(rng, 9)
        check = next(str(digit) for digit in range(10) if isbn_valid(body + str(digit)))
        if rng.random() < 0.5:
            return f"{body[:3]}-{body[3]}-{body[4:6]}-{body[6:]}-{check}"
        return body + check
    body = rng.choice("0123") + _digits(rng, 8)
    check = next(char for char in "0123456789X" if isbn_valid(body + char))
    if rng.random() < 0.5:
        return f"{body[0]}-{body[1:4]}-{body[4:]}-{check}"
    return body + check


def _plain_url(rng: random.Random) -> str:
    host = rng.choice(_HOSTS)
    return _weighted(
        rng,
        [
            (2, lambda: f"https://{host}/help/{rng.choice(('returns', 'shipping', 'billing', 'account'))}"),
            (2, lambda: f"https://{host}/search?q={rng.choice(('shoes', 'api+key', 'reset', 'refund'))}&page=2"),
            (1, lambda: f"http://status.{host}/incidents/{rng.randrange(100, 10000)}"),
            (1, lambda: f"https://docs.{host}/api/v2/auth#tokens"),
            (1, lambda: f"https://{host}/reset-password"),
            (1, lambda: f"https://{host}/account?tab=security&lang=en"),
            (1, lambda: f"https://{host}/orders/{rng.randrange(10**6, 10**7)}?utm_source=email&utm_medium=receipt"),
        ],
    )


def _sku(rng: random.Random) -> str:
    return _weighted(
        rng,
        [
            (
                2,
                lambda: (
                    f"{_alnum(rng, 2, string.ascii_uppercase)}-{_digits(rng, 4)}-{rng.choice(('BLK', 'WHT', 'RED'))}"
                ),
            ),
            (2, lambda: f"{_digits(rng, 5, '123456789')}-{_digits(rng, 3)}"),
            (1, lambda: f"{_digits(rng, 4)}-{rng.choice(('BLU', 'GRN'))}-{rng.choice('SMLX')}"),
            (1, lambda: f"{_alnum(rng, 2, string.ascii_uppercase)}-{_digits(rng, 5)}-XL"),
            (1, lambda: f"WH-{rng.randrange(1000, 10000)}XM{rng.randrange(1, 6)}"),
        ],
    )


def _zip_code(rng: random.Random) -> str:
    return _weighted(
        rng,
        [
            (2, lambda: _digits(rng, 5, "123456789")),
            (1, lambda: f"{_digits(rng, 5, '123456789')}-{_digits(rng, 4)}"),
            (1, lambda: f"SW{rng.randrange(1, 20)}A {rng.randrange(1, 10)}AA"),
            (1, lambda: f"{rng.randrange(1000, 9999)} {_alnum(rng, 2, 'ABCDEFGHJKLMNPRSTVWXZ')}"),
            (1, lambda: _digits(rng, 6, "123456789")),
            (1, lambda: f"0{_digits(rng, 4)}-{_digits(rng, 3)}"),
            (1, lambda: f"{_digits(rng, 3, '123456789')}-{_digits(rng, 4)}"),
        ],
    )


def _nine_digit_number(rng: random.Random) -> str:
    digits = _digits(rng, 9)
    return _weighted(
        rng,
        [
            (3, lambda: digits),
            (2, lambda: f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"),
            (1, lambda: f"{digits[:2]}-{digits[2:]}"),
            (1, lambda: f"{digits[:3]} {digits[3:6]} {digits[6:]}"),
        ],
    )


def _invalid_iban(rng: random.Random) -> str:
    country = rng.choice(_IBAN_COUNTRIES)
    bban = _bban(rng, country)
    valid = _iban_check_digits(country, bban)
    wrong = rng.choice([f"{value:02d}" for value in range(2, 99) if f"{value:02d}" != valid])
    return _format_iban(rng, country + wrong + bban)


def _invalid_ssn(rng: random.Random) -> str:
    area, group, serial = (
        f"{rng.randrange(1, 900):03d}",
        f"{rng.randrange(1, 100):02d}",
        f"{rng.randrange(1, 10000):04d}",
    )
    area = area if area != "666" else "665"
    return _weighted(
        rng,
        [
            (2, lambda: "999-99-9999"),
            (1, lambda: "000-00-0000"),
            (2, lambda: f"000-{group}-{serial}"),
            (2, lambda: f"666-{group}-{serial}"),
            (2, lambda: f"9{rng.randrange(100):02d}-{group}-{serial}"),
            (2, lambda: f"{area}-00-{serial}"),
            (2, lambda: f"{area}-{group}-0000"),
        ],
    )


_NEGATIVE_VALUES: dict[str, Callable[[random.Random], str]] = {
    "order_number": _order_number,
    "invoice_number": _invoice_number,
    "tracking_number": _tracking_number,
    "luhn_invalid_16": _luhn_invalid_16,
    "version_string": _version_string,
    "date": _date,
    "amount": _amount,
    "time": _time,
    "percentage": _percentage,
    "isbn": _isbn,
    "plain_url": _plain_url,
    "sku": _sku,
    "zip_code": _zip_code,
    "nine_digit_number": _nine_digit_number,
    "invalid_iban": _invalid_iban,
    "invalid_ssn": _invalid_ssn,
}

# --- sentence templates ({v} is the value) -------------------------------------------------------------

_PII_TEMPLATES: dict[str, tuple[str, ...]] = {
    "EMAIL": (
        "You can reach me at {v}.",
        "Please send the replacement label to {v}",
        "My account email is {v} but I can't log in.",
        "cc: {v}",
        "The confirmation went to {v}, not to my work address.",
        "Reply-To: {name} <{v}>",
        "user_email={v} status=locked",
        '{{"customer": {{"email": "{v}", "tier": "gold"}}}}',
        "Contact {v} (my manager) if I'm out.",
        "Email:{v}",
        "mailto:{v}",
        "I changed my address from {v} last week.",
    ),
    "PHONE": (
        "Please call me back on {v}.",
        "My number is {v}, best after 5pm.",
        "Tel: {v}",
        "phone={v} country={country}",
        "Call {v} and ask for {name}.",
        "You can text me at {v}",
        "(mobile: {v})",
        "The courier tried {v} twice but nobody answered.",
        "Contact number {v}; alt email below.",
        '"phone": "{v}"',
        "Reached the hotline from {v} yesterday.",
        "WhatsApp {v} if urgent",
    ),
    "CARD": (
        "I was charged twice on card {v}.",
        "Card number: {v}",
        "The payment with {v} was declined.",
        "Please refund to card {v}, exp 08/27.",
        "pan={v} status=DECLINED",
        "Used my card {v} for the order.",
        "Could you remove {v} from my saved cards?",
        "CC# {v}",
        "My Amex/Visa is {v} (the old one expired).",
    ),
    "IBAN": (
        "Please wire the refund to IBAN {v}.",
        "IBAN: {v}",
        "My bank account is {v} at the same bank.",
        "Refund to {v} please, not the card.",
        "iban={v} bic=DEUTDEFF",
        "The SEPA debit from {v} failed twice.",
        "Update my payout account to {v}",
        "Account {v} (holder {name})",
    ),
    "SSN": (
        "My SSN is {v} for the tax form.",
        "SSN: {v}",
        "social security number {v}, please update the W-9.",
        "The verification asked for {v} and then failed.",
        "ssn={v} verified=false",
        "Applicant {name}, SSN {v}",
        "I typed {v} in the form by mistake.",
    ),
    "IPV4": (
        "Login attempts came from {v} overnight.",
        "client_ip={v} status=403",
        "The VPN gateway at {v} drops my connection.",
        "IP address: {v}",
        "Please whitelist {v} for the API.",
        "Ping to {v}:8080 times out.",
        "Our office subnet is {v}/24.",
        "[{ts}] WARN auth failed from {v}",
        "My public IP is {v}, if that helps.",
        "Blocked by the firewall ({v}).",
    ),
    "IPV6": (
        "Login attempts came from {v} overnight.",
        "client_ip={v} status=403",
        "My IPv6 address is {v}.",
        "Please whitelist {v} for the API.",
        "curl to [{v}]:443 times out.",
        "[{ts}] WARN auth failed from {v}",
        "Router shows {v} as the WAN address",
        "IPv6: {v}",
    ),
    "URL_SECRET": (
        "The export link {v} gives me a 403.",
        "Here is the connection string: {v}",
        "I pasted {v} in the settings and it failed.",
        "webhook url = {v}",
        "Can you check {v}?",
        "DATABASE_URL={v}",
        "The download ({v}) expired.",
        "Redirected to {v} after login.",
    ),
}

_NEGATIVE_TEMPLATES: dict[str, tuple[str, ...]] = {
    "order_number": (
        "Order {v} hasn't arrived yet.",
        "Regarding order {v}:",
        "ref {v}",
        "My order number is {v}.",
        "I returned order {v} two weeks ago.",
    ),
    "invoice_number": (
        "Invoice {v} shows the wrong VAT.",
        "invoice no. {v} is attached.",
        "Please resend invoice {v}.",
        "The amount on {v} is wrong.",
    ),
    "tracking_number": (
        "Tracking number {v} hasn't moved in days.",
        "tracking: {v}",
        "The parcel ({v}) is stuck at customs.",
        "Shipment {v} was marked delivered but isn't here.",
    ),
    "luhn_invalid_16": (
        "Reference {v} from the bank statement.",
        "Transaction ID {v}",
        "The voucher code {v} is rejected.",
        "Member number {v} does not work.",
        "I entered {v} as the card number but it says invalid.",
    ),
    "version_string": (
        "The app crashes on {v}.",
        "I'm on {v} of the desktop client.",
        "After updating to {v} sync stopped.",
        "Installed {v} yesterday.",
        "Still broken in {v}.",
    ),
    "date": (
        "It happened on {v}.",
        "Delivery was promised for {v}.",
        "My subscription renewed on {v} without notice.",
        "since {v}",
    ),
    "amount": (
        "I was charged {v} instead of the quoted price.",
        "The refund of {v} never arrived.",
        "Total: {v}",
        "They billed {v} twice.",
    ),
    "time": (
        "The outage started at {v}.",
        "I called at {v} and waited an hour.",
        "Logs stop at {v}.",
        "Between {v} and midnight nothing loaded.",
    ),
    "percentage": (
        "The discount was {v} but only half applied.",
        "Battery drops {v} per hour.",
        "Upload stalls at {v}.",
        "Error rate went up {v} after the update.",
    ),
    "isbn": (
        "The book with ISBN {v} arrived damaged.",
        "ISBN: {v}",
        "I ordered the paperback (ISBN {v}) and got the hardcover.",
        "isbn={v}",
    ),
    "plain_url": (
        "The page {v} shows a 500 error.",
        "See {v} for the steps I followed.",
        "Link: {v}",
        "The button on {v} does nothing.",
    ),
    "sku": (
        "SKU {v} is out of stock again.",
        "I got item {v} in the wrong size.",
        "Product code: {v}",
        "Part no. {v} doesn't fit.",
    ),
    "zip_code": (
        "I moved, the new postal code is {v}.",
        "Delivery to {v} isn't offered.",
        "ZIP {v}",
        "Shipping to postcode {v} costs extra?",
    ),
    "nine_digit_number": (
        "My case number is {v}.",
        "Customer ID {v}",
        "Routing number {v} is on the form.",
        "Ticket {v} was closed without an answer.",
        "Our company tax ID is {v}.",
    ),
    "invalid_iban": (
        "The form rejects IBAN {v} as invalid.",
        "I typed {v} but the check failed, let me find the right one.",
        "IBAN: {v} (this one bounces)",
    ),
    "invalid_ssn": (
        "The sample form prefills {v} as the SSN.",
        "Test SSN {v} is in your docs.",
        "SSN field shows {v} after the update.",
        "Placeholder {v} was submitted instead of mine.",
    ),
}

_FILLER = (
    "Hi team,",
    "Hello,",
    "Good morning.",
    "I have a problem with my account.",
    "The app keeps logging me out.",
    "This is the third time I'm writing about this.",
    "Nobody replied to my last ticket.",
    "The parcel arrived damaged and the box was open.",
    "I'd like to cancel my subscription.",
    "Please escalate this, it's urgent.",
    "The checkout page freezes when I click pay.",
    "I can't reset my password, the link never arrives.",
    "Your chat bot didn't help at all.",
    "Everything worked fine until last week.",
    "Screenshots attached.",
    "Thanks in advance!",
    "Kind regards,",
    "Cheers",
    "Best,",
    "Is there any update?",
    "I was told someone would call me back.",
    "The item in the photo is different from what I received.",
    "Can you merge my two accounts?",
    "The export to CSV is empty.",
    "My colleague has the same issue.",
    "I'm travelling so email is better than phone.",
    "Sorry for the long message.",
    "The invoice address is wrong.",
    "Two-factor codes arrive late.",
    "Please delete my data as per GDPR.",
)


def _fill(rng: random.Random, template: str, value: str) -> str:
    first, last = _name_pair(rng)
    month, day, hour, minute, second = (
        rng.randrange(1, 13),
        rng.randrange(1, 29),
        rng.randrange(24),
        *divmod(rng.randrange(3600), 60),
    )
    return template.format(
        v=value,
        name=f"{first.capitalize()} {last.capitalize()}",
        country=rng.choice(("US", "GB", "DE", "FR", "NL", "IN", "BR", "JP")),
        ts=f"2024-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}",
    )


def _example(rng: random.Random) -> EvalExample:
    has_pii = rng.random() < 0.58
    pii_count = rng.choices([1, 2, 3], weights=[5, 3, 2])[0] if has_pii else 0
    negative_count = rng.choices([0, 1, 2], weights=[4, 4, 2] if has_pii else [15, 50, 35])[0]
    entities = [(kind, _PII_VALUES[kind](rng)) for kind in rng.choices(PII_KINDS, k=pii_count)]
    negatives = [(family, _NEGATIVE_VALUES[family](rng)) for family in rng.choices(NEGATIVE_FAMILIES, k=negative_count)]
    sentences = [_fill(rng, rng.choice(_PII_TEMPLATES[kind]), value) for kind, value in entities]
    sentences += [_fill(rng, rng.choice(_NEGATIVE_TEMPLATES[family]), value) for family, value in negatives]
    sentences += rng.sample(_FILLER, rng.choices([0, 1, 2, 3], weights=[2, 4, 3, 1])[0])
    if not sentences:
        sentences = [rng.choice(_FILLER)]
    rng.shuffle(sentences)
    text = rng.choice([" ", " ", " ", "\n"]).join(sentences)
    return EvalExample(text=text, entities=tuple(entities), negatives=tuple(negatives))


def build_eval_set(n: int = 6000, seed: int = 20261122) -> list[EvalExample]:
    """`n` labeled strings generated from `seed`: the same arguments give the same list."""
    rng = random.Random(seed)
    return [_example(rng) for _ in range(n)]


def digest(examples: Sequence[EvalExample]) -> str:
    """SHA-256 of the canonical JSON of `examples` (text, entities and negatives, in order)."""
    payload = [[example.text, example.entities, example.negatives] for example in examples]
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()).hexdigest()
