"""Neutralising text that came from the network before it goes into a file format.

Banners, certificate subjects, LDAP attributes, error strings and file contents are hostile: each
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


# C0 and C1 control characters, DEL, lone surrogates and the Unicode line and paragraph separators
# (str.splitlines and many log tools break lines there): shown as escapes on a terminal.
_TERMINAL_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029]")
# Bidirectional formatting characters (Trojan Source, CVE-2021-42574) and other invisible
# direction marks: they reorder what a reader sees, so they are shown, never obeyed.
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_BIDI = re.compile(f"[{BIDI_CONTROLS}]")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_text(text: str, *, keep_newlines: bool = False) -> str:
    """The one sanitiser for text shown on a terminal.

    Control characters (ESC, CR, BEL, C1 ...) and bidirectional overrides become visible
    escapes such as ``\\x1b`` and ``\\u202e``; with `keep_newlines`, LF stays a line break.
    Text handed to rich goes in as plain text (markup off): rich's markup escape cannot express
    every string (it reads any backslash-bracket as an escaped bracket).
    """
    if keep_newlines:
        return "\n".join(terminal_text(line) for line in text.split("\n"))
    return _BIDI.sub(_escape_char, _TERMINAL_CONTROL.sub(_escape_char, text))


def visible_bidi(text: str) -> str:
    """Bidirectional controls made visible (for HTML, where autoescape handles the rest)."""
    return _BIDI.sub(_escape_char, text)


# What json.dumps(ensure_ascii=False) leaves raw that a terminal or a page would obey:
# DEL, C1 controls, the Unicode line separators and the bidirectional controls.
_JSON_RAW = re.compile(f"[\x7f-\x9f\u2028\u2029{BIDI_CONTROLS}]")


def json_visible(text: str) -> str:
    """JSON text with those characters as \\u escapes: the same JSON value, nothing raw left."""
    if text.isascii() and "\x7f" not in text:  # DEL is the only ASCII one; isascii() is O(1)
        return text
    return _JSON_RAW.sub(lambda match: f"\\u{ord(match.group()):04x}", text)
