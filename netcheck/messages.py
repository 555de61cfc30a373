"""The one helper for operator messages: `netcheck: ...` as one sanitised line on stderr.

Library code does not print: it takes a `notice` callable (default: drop the text), and the
command line passes `say`. Text from files and servers is hostile, so it passes the terminal
sanitiser here.
"""

from __future__ import annotations

import sys

from netcheck.escape import terminal_text


def say(text: str, *, program: str = "netcheck") -> None:
    """One line on stderr, prefixed with the program name (e.g. 'netcheck demo')."""
    print(terminal_text(f"{program}: {text}"), file=sys.stderr, flush=True)


def ignore(text: str) -> None:
    """The default `notice` of library calls: nothing is printed."""
