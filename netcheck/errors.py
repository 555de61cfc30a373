"""Typed exceptions that carry evidence; the CLI turns them into one line and an exit code
(cli.exit_code: UsageError and ConfigError 2, any other NetcheckError 3)."""

from __future__ import annotations

from pathlib import Path

# C0, DEL, C1 and the Unicode line separators: shown as escapes so that a message stays one line.
_CONTROLS = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))}
_CONTROLS.update({0x2028: "\\u2028", 0x2029: "\\u2029"})


def one_line(text: str) -> str:
    """`text` with control characters and line breaks escaped (\\x0a), so it prints as one line."""
    return text.translate(_CONTROLS)


class NetcheckError(Exception):
    """Base of netcheck's own errors: netcheck itself could not do its job."""

    def one_line(self) -> str:
        return str(self)


class UsageError(NetcheckError):
    """A bad argument or unusable input."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        return one_line(f"{self.message} ({self.hint})" if self.hint else self.message)


class ConfigError(UsageError):
    """A malformed profile, site file or certificate file.

    `source` is the file, `line` its 1-based line when known, `key` the dotted
    path of the offending key (e.g. ``flows[3].port``), `expected` what would be valid.
    """

    def __init__(
        self,
        source: str | Path,
        problem: str,
        *,
        key: str | None = None,
        line: int | None = None,
        expected: str | None = None,
    ) -> None:
        self.source = str(source)
        self.problem = problem
        self.key = key
        self.line = line
        self.expected = expected
        super().__init__(self._format())

    def _format(self) -> str:
        where = self.source if self.line is None else f"{self.source}:{self.line}"
        text = f"{where}: "
        if self.key:
            text += f"{self.key}: "
        text += self.problem
        if self.expected:
            text += f" (expected {self.expected})"
        return one_line(text)
