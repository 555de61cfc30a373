"""Every file netcheck writes goes through here: checked before the work starts, written atomically.

- `check_target` refuses (exit 2, one line) a path that cannot be written - a folder that cannot
  be created, /proc, a device, a read-only mount - before a scan or a listener spends its time;
- `write_atomic` writes a temporary file in the target's folder, syncs it and renames it over
  the target (os.replace), so a crash or a signal never leaves half a report;
- `ReportOutputs` is the one writer of a scan's formats (scan, demo, report); `write_text_file`
  serves the files of diff, merge, the demo and listen's receipt (cert outputs use `write_atomic`);
- whatever goes to stdout passes the terminal sanitiser (`stdout_text`; the table's renderer
  sanitises each text itself);
- `signals_deferred` lets a late Ctrl-C or SIGTERM wait until finished reports are written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import signal
import stat
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from netcheck.errors import UsageError
from netcheck.escape import json_visible, terminal_text
from netcheck.messages import say

if TYPE_CHECKING:
    from netcheck.model import Report

DEFAULT_REPORTS_DIR = Path("reports")
_TEMP_PREFIX_MAX = 64  # keeps ".<name>.<random>.tmp" under NAME_MAX for long target names


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM wait until the block is done, then take effect (exit 130 / 143 as usual):
    the reports of a scan that has finished are written whole, not lost to a late signal."""
    caught: list[int] = []

    def remember(signum: int, frame: object) -> None:
        caught.append(signum)

    try:
        previous = {signum: signal.signal(signum, remember) for signum in (signal.SIGINT, signal.SIGTERM)}
    except ValueError:  # not the main thread: signals are not ours to handle
        previous = {}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if caught:
            signal.raise_signal(caught[0])


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _default_mode() -> int:
    """The mode open() would give a new file: 0666 minus the umask (mkstemp's temp files are 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _create_temp(folder: Path, prefix: str) -> tuple[int, Path]:
    """A new 0600 file in `folder`, named relative to it (tempfile.mkstemp makes the path absolute,
    which fails where a parent folder may not be searched, e.g. after dropping privileges)."""
    for _attempt in range(100):
        path = folder / f"{prefix}{secrets.token_hex(6)}.tmp"
        try:
            return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), path
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {folder}")


def is_folder(path: str | Path) -> bool:
    """Whether `path` names an existing folder; a name the system cannot even look up (too long,
    NUL) is not one, and check_target then refuses it in one line."""
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def check_target(target: Path, label: str, *, exclusive: bool = False) -> None:
    """Refuse, before any work, a file target that cannot be written.

    The folder is created when missing, and must take a new file (tested by creating and removing one); an
    existing target must be a regular file (never a device, FIFO or folder), and with
    `exclusive` must not exist at all.
    """
    where = f"cannot write the {label} to {target}"
    try:
        info = os.stat(target)
    except FileNotFoundError:
        info = None
    except ValueError:  # an embedded NUL
        raise UsageError(f"{where}: not a usable file name", hint="choose another output") from None
    except OSError as exc:
        raise UsageError(f"{where}: {_reason(exc)}", hint="choose another output") from None
    if info is not None:
        if stat.S_ISDIR(info.st_mode):
            raise UsageError(f"{where}: it is a folder", hint="name a file, or end the path with '/'")
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"{where}: not a regular file", hint="use '-' for stdout")
        if exclusive:
            raise UsageError(f"{target}: already exists", hint="use --force to overwrite")
    folder = target.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)  # as before: a new ticket folder is made for the report
    except OSError as exc:
        raise UsageError(f"{where}: cannot create the folder {folder}: {_reason(exc)}",
                         hint="choose another output") from None
    try:
        fd, probe = _create_temp(folder, ".netcheck-check-")
    except OSError as exc:
        raise UsageError(f"{where}: {_reason(exc)}", hint="choose another output") from None
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(probe)


def check_folder(folder: Path, label: str) -> None:
    """A folder outputs go into: created when missing, then tested like a file target's folder."""
    check_target(folder / ".netcheck-probe", label)


def write_atomic(target: Path, data: bytes, *, secret: bool = False, exclusive: bool = False) -> None:
    """Write `data` to `target` all or nothing: a temp file in the same folder, fsync, rename.

    secret: the file is 0600 from its first byte (private keys); otherwise 0666 minus umask.
    exclusive: never replace an existing file (FileExistsError), decided atomically by link().
    Raises OSError; callers turn it into their one-line message.
    """
    fd, temp = _create_temp(target.parent, f".{target.name[:_TEMP_PREFIX_MAX]}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if not secret:
            os.chmod(temp, _default_mode())
        if exclusive:
            if _link_new(temp, target):
                os.unlink(temp)
        else:
            os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _link_new(temp: Path, target: Path) -> bool:
    """Give `temp` the name `target` only if that name is free. True: linked (link() decides
    atomically; `temp` remains to be removed); False: renamed, on a file system without hard links."""
    try:
        os.link(temp, target)  # FileExistsError instead of replacing
        return True
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EMLINK):
            raise
    if os.path.lexists(target):  # vfat, some network shares: check, then rename
        raise FileExistsError(errno.EEXIST, "File exists", str(target))
    os.replace(temp, target)
    return False


def write_text_file(target: Path, text: str, label: str) -> None:
    """`write_atomic` for UTF-8 text, with a one-line exit-2 refusal naming the target."""
    try:
        write_atomic(target, text.encode("utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot write the {label} to {target}: {_reason(exc)}",
                         hint="choose another output") from None


def stdout_text(text: str) -> str:
    """Text for stdout: line breaks (LF, CR LF) kept, every other control and bidi character escaped."""
    *lines, last = text.split("\n")
    shown = [terminal_text(line[:-1]) + "\r" if line.endswith("\r") else terminal_text(line) for line in lines]
    return "\n".join([*shown, terminal_text(last)])  # a CR is kept only as the first half of CR LF


def json_stdout_text(text: str) -> str:
    """JSON for stdout: the characters a terminal would obey become \\u escapes (still the same JSON)."""
    return json_visible(text)


def write_stdout(text: str) -> None:
    sys.stdout.write(stdout_text(text))


def nagios_on_stdout(formats: Sequence[str], output: str | None) -> bool:
    """The nagios line owns stdout unless the table is there too, or -o names a file for it alone."""
    return "nagios" in formats and "table" not in formats and (output in (None, "-") or len(formats) > 1)


def _file_name_part(text: str) -> str:
    """Letters, digits, '-', '_' and '.' only, short enough for any file system's name limit."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:80]


@dataclass(frozen=True)
class ReportOutputs:
    """Where a scan's formats go: `table` to stdout, the file formats to `output` (a file for one
    format, a folder, or '-' for stdout) or the default reports/ folder.

    `check()` refuses unwritable targets before the scan; `write(report)` writes every format.
    """

    formats: tuple[str, ...]
    output: str | None
    vendor: str | None = None  # firewall-request as rules in this vendor's syntax instead of CSV
    table_view: str | None = None  # "all", "summary", or None: chosen by the report's size (table_cli)
    no_color: bool = False  # --no-color

    @property
    def nagios_on_stdout(self) -> bool:
        return nagios_on_stdout(self.formats, self.output)

    @property
    def file_formats(self) -> list[str]:
        nagios = self.nagios_on_stdout
        return [name for name in self.formats if name != "table" and not (nagios and name == "nagios")]

    @property
    def single_file(self) -> Path | None:
        """The one file named by --output, or None when outputs go into a folder (or stdout)."""
        output = self.output
        if not output or output == "-" or len(self.file_formats) != 1:
            return None
        if output.endswith("/") or is_folder(output):
            return None
        return Path(output)

    @property
    def folder(self) -> Path:
        return Path(self.output) if self.output and self.output != "-" else DEFAULT_REPORTS_DIR

    def check(self) -> None:
        if not self.file_formats or self.output == "-":
            return
        single = self.single_file
        if single is not None:
            check_target(single, f"{self.file_formats[0]} report")
        else:
            check_folder(self.folder, "reports")

    def target(self, report: Report, extension: str) -> Path:
        if self.single_file is not None:
            return self.single_file
        info = report.info
        stamp = info.started.replace(":", "").replace("-", "")[:15]
        safe = _file_name_part(f"{info.site}-{info.host_name}")
        return self.folder / f"netcheck-{safe}-{_file_name_part(info.profile)}-{stamp}.{extension}"

    def write(self, report: Report) -> bool:
        """table to stdout, then every file format; the summary on stderr when no table was shown.

        Returns whether the nagios line went to stdout: the caller then exits with the plugin's codes."""
        from netcheck.render import FIREWALL_VENDORS, FORMATS
        from netcheck.render.terminal import summary_line

        if "table" in self.formats:
            # The renderer passes every text of the report through terminal_text itself (fuzzed in
            # tests/fuzz/test_fuzz_table_layout.py); its only escape sequences are its own colours.
            from netcheck.table_cli import write_table

            write_table(report, self.table_view, self.no_color)
        for name in self.file_formats:
            fmt = FIREWALL_VENDORS[self.vendor] if self.vendor and name == "firewall-request" else FORMATS[name]
            text = fmt.renderer()(report)
            if self.output == "-":
                sys.stdout.write(json_stdout_text(text) if fmt.extension == "json" else stdout_text(text))
                continue
            target = self.target(report, fmt.extension)
            write_text_file(target, text, f"{name} report")
            say(f"wrote {name} report: {target}")
        if self.nagios_on_stdout:  # last, so a file that cannot be written is answered by UNKNOWN alone
            sys.stdout.write(stdout_text(FORMATS["nagios"].renderer()(report)))
        elif "table" not in self.formats:
            say(summary_line(report))
        return self.nagios_on_stdout
