"""Neutralising text that came from the network before it goes into a file format.

Banners, certificate subjects, LDAP attributes and error strings are hostile: each
format gets the escaping it needs (HTML escaping is Jinja2's autoescape).
"""

from __future__ import annotations

import re

# Control characters other than tab, LF and CR, plus what XML 1.0 cannot carry at all.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_LINE_BREAKS = re.compile(r"\r\n|[\r\n\u2028\u2029\x85]")
# Characters that CommonMark/GFM (and GitHub's math) give a meaning to inside a table cell.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<|~&$])")
# A spreadsheet treats a cell starting with one of these as a formula (OWASP: CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def printable(text: str) -> str:
    """Drop control characters (ESC, NUL, ...) but keep tabs and line breaks."""
    return _CONTROL.sub("", text)


def one_line(text: str) -> str:
    """Printable text on a single line: line breaks become spaces."""
    return _LINE_BREAKS.sub(" ", printable(text))


def xml_text(text: str) -> str:
    """Text XML 1.0 can carry (ElementTree escapes markup but not invalid characters)."""
    return printable(text)


def markdown_cell(text: str) -> str:
    """One Markdown table cell: no line breaks, no pipes, no emphasis, links, code or raw HTML."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", one_line(text))


def csv_cell(text: str) -> str:
    """A CSV cell a spreadsheet shows as text, never evaluates (a leading quote defuses formulas)."""
    cleaned = one_line(text)
    if text.startswith(_FORMULA_START) or cleaned.startswith(_FORMULA_START):
        return "'" + cleaned
    return cleaned
