"""argparse value checkers shared by every sub-command: a bad value is one clear line."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def seconds(maximum: float) -> Callable[[str], float]:
    """A number of seconds in (0, maximum]."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds") from None
        if not 0 < value <= maximum:
            raise argparse.ArgumentTypeError(f"'{text}' must be more than 0 and at most {maximum:g} seconds")
        return value

    return parse


def whole(minimum: int, maximum: int, unit: str = "") -> Callable[[str], int]:
    """A whole number in [minimum, maximum]; `unit` names it in messages ("days")."""
    named = f"whole number of {unit}" if unit else "whole number"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not a {named}") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"'{text}' must be between {minimum} and {maximum}")
        return value

    return parse
