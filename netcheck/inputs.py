"""The one gate every input file passes before it is parsed.

`read_file` accepts only a regular file (never a FIFO, device, socket or directory: a FIFO
without a writer would block for ever, /dev/zero would never end), and reads at most
`cap + 1` bytes, so the cap holds whatever `stat` claims (files in /proc report size 0).
`read_text` adds strict UTF-8 decoding. Each refusal is a ConfigError: one line, exit 2.
The parsers for each kind (YAML, JSON, certificates) build on these.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from netcheck.errors import ConfigError

KIB = 1024
MIB = 1024 * KIB
# Caps per kind of file: generous for real use, far below what would hurt the host.
CAP_SITE = 1 * MIB
CAP_PROFILE = 1 * MIB
CAP_REPORT = 256 * MIB  # a 50,000-flow fleet report is about 40 MiB
CAP_RECEIPT = 64 * MIB
CAP_CERTIFICATE = 1 * MIB
CAP_ENDPOINTS = 8 * MIB


def _size_text(cap: int) -> str:
    return f"{cap // MIB} MiB" if cap >= MIB else f"{cap // KIB} KiB"


def read_file(path: Path | str, what: str, cap: int) -> bytes:
    """At most `cap` bytes of a regular file, or a ConfigError naming the file and the problem."""
    path = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO with no writer returns at once instead of blocking.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ConfigError(path, "no such file", expected=what) from None
    except IsADirectoryError:
        raise ConfigError(path, "is a directory", expected=what) from None
    except OSError as exc:
        problem = "is a directory" if exc.errno == errno.EISDIR else f"cannot open: {exc.strerror}"
        raise ConfigError(path, problem, expected=what) from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise ConfigError(path, "is a directory", expected=what)
        if not stat.S_ISREG(mode):
            raise ConfigError(path, f"is not a regular file ({_file_kind(mode)})", expected=what)
        os.set_blocking(fd, True)
        chunks: list[bytes] = []
        size = 0
        while size <= cap:
            chunk = os.read(fd, min(cap + 1 - size, MIB))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise ConfigError(path, f"cannot read: {exc.strerror}", expected=what) from None
    finally:
        os.close(fd)
    if size > cap:
        raise ConfigError(path, f"larger than {_size_text(cap)}", expected=what)
    return b"".join(chunks)


def decode_utf8(data: bytes, source: Path | str, what: str) -> str:
    """Strict UTF-8 (a BOM is tolerated), or a ConfigError naming the first bad byte."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(source, f"not UTF-8 text (byte {exc.start})", expected=what) from None
    return text.removeprefix("\ufeff")


def read_text(path: Path | str, what: str, cap: int) -> str:
    """A regular file of at most `cap` bytes, decoded as strict UTF-8."""
    return decode_utf8(read_file(path, what, cap), path, what)


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a plain file"
