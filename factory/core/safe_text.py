"""Names and values placed into documents people open: markdown (reports, cards, Dagster metadata) and CSV
(spreadsheets). Any name is data (annotators, classes, sources, ids may hold any character), so text from data
is escaped for the format it lands in.

Markdown: ``&``, ``<`` and ``>`` become HTML entities (no tag, script or autolink survives), the characters that
start links, images, emphasis and code spans (``[ ] * ` \\``) and a table cell's ``|`` are backslash-escaped,
and line breaks become spaces. A rendered name reads as typed; the raw file holds no markup from data.

CSV: a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula to a
spreadsheet; it is prefixed with a single quote (the OWASP rule for CSV injection).

Terminal: control characters (escape sequences that recolour, move the cursor or retitle the window, line
breaks that forge extra lines) are shown as Python escapes (``\\x1b``, ``\\n``).
"""

from __future__ import annotations

import unicodedata

import polars as pl

__all__ = ["FORMULA_PREFIXES", "csv_safe", "csv_safe_text", "markdown_code", "markdown_text", "terminal_text"]

_MARKDOWN = str.maketrans(
    {
        "\\": "\\\\",
        "`": "\\`",
        "*": "\\*",
        "[": "\\[",
        "]": "\\]",
        "|": "\\|",
        "&": "&amp;",
        "<": "&lt;",
        ">": "&gt;",
        "\n": " ",
        "\r": " ",
    }
)

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
"""Leading characters a spreadsheet reads as the start of a formula."""


def markdown_text(value: object) -> str:
    """``value`` as text that markdown (CommonMark with HTML, as Dagster renders it) shows verbatim, on one line,
    safe inside a table cell."""
    return str(value).translate(_MARKDOWN)


def markdown_code(value: object) -> str:
    """``value`` as an inline code span, on one line: the fence is longer than any run of backticks inside, so
    nothing in the value closes it (markdown shows a code span's content verbatim, HTML included)."""
    text = str(value).replace("\n", " ").replace("\r", " ")
    longest = run = 0
    for char in text:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def csv_safe_text(value: str) -> str:
    """A text cell a spreadsheet will not evaluate: prefixed with ``'`` when it starts like a formula."""
    return "'" + value if value.startswith(FORMULA_PREFIXES) else value


def csv_safe(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every text column's formula-like cells prefixed with ``'`` (`csv_safe_text`); other
    columns untouched. Column names are neutralized too."""
    pattern = "^[" + "".join("\\" + p if p in "-+" else p for p in FORMULA_PREFIXES) + "]"
    escaped = frame.with_columns(
        pl.when(pl.col(name).str.contains(pattern)).then(pl.lit("'") + pl.col(name)).otherwise(pl.col(name)).alias(name)
        for name, dtype in frame.schema.items()
        if dtype == pl.String
    )
    return escaped.rename({name: csv_safe_text(name) for name in frame.columns})


def terminal_text(value: object) -> str:
    """``value`` as one line a terminal prints verbatim: control and format characters become escapes such as
    ``\\x1b`` or ``\\n``; other characters, accents and scripts included, are kept."""
    return "".join(
        char.encode("unicode_escape").decode("ascii") if unicodedata.category(char) in ("Cc", "Cf") else char
        for char in str(value)
    )
