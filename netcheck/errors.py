"""Typed exceptions that carry evidence; the CLI turns them into one line and an exit code
(cli.exit_code: UsageError and ConfigError 2, any other NetcheckError 3)."""

from __future__ import annotations

from pathlib import Path


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
        return f"{self.message} ({self.hint})" if self.hint else self.message


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
        return text
