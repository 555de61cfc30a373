"""The command line: parse arguments, call the library, map errors to one line and an exit code.

Exit codes: 0 every required flow passed (warnings allowed unless --strict), 1 a
required flow failed, 2 usage or configuration error, 3 netcheck's own failure.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from netcheck import __version__
from netcheck.argtypes import seconds, whole
from netcheck.errors import NetcheckError, UsageError

if TYPE_CHECKING:
    from netcheck.engine import ScanHook
    from netcheck.model import Report
    from netcheck.profiles import Site

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
DEFAULT_REPORTS_DIR = Path("reports")


class ArgumentParser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line, exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}", hint=f"see '{self.prog} --help'")


def _formats(text: str) -> list[str]:
    from netcheck.render import FORMATS

    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in FORMATS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown format '{','.join(unknown) or text}' (choose from {', '.join(FORMATS)})")
    return names


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="netcheck",
        description="Check that a site's firewalls pass the flows an OT security appliance needs, "
                    "by the protocol each flow really speaks.",
        epilog="Exit codes: 0 all required flows passed, 1 a required flow failed, "
               "2 usage or configuration error, 3 internal error.",
    )
    parser.add_argument("--version", action="version", version=f"netcheck {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)

    scan = commands.add_parser(
        "scan", help="probe every flow of a role profile against a site's hosts",
        description="Probe every flow of a role profile, concurrently, against the hosts a site file names. "
                    "Without --site, scans the built-in loopback sample site (127.0.0.1 only).",
    )
    scan.add_argument("--profile", "-p", default="sensor",
                      help="built-in profile (sensor, console, client) or a YAML file; default: sensor")
    scan.add_argument("--site", "-s", type=Path,
                      help="site file naming the hosts of each peer; default: the built-in loopback sample")
    scan.add_argument("--timeout", "-t", type=seconds(3600), default=3.0,
                      help="deadline of each probe in seconds (default 3)")
    scan.add_argument("--deadline", type=seconds(3600), default=120.0,
                      help="deadline of the whole run in seconds (default 120)")
    scan.add_argument("--concurrency", type=whole(1, 100_000), default=256,
                      help="probes in flight at once (default 256)")
    scan.add_argument("--per-host", type=whole(1, 100_000), default=64,
                      help="probes in flight to one address at once (default 64)")
    scan.add_argument("--udp-tries", type=whole(1, 100_000), default=3,
                      help="datagrams a UDP probe sends before calling it silence (default 3)")
    from netcheck.render import FORMATS

    scan.add_argument("--format", "-f", type=_formats, default=["table"],
                      help="comma-separated output formats: " + ", ".join(FORMATS)
                           + " (default: table, printed to stdout; the others are files)")
    scan.add_argument("--output", "-o",
                      help="file for a single file format, or a folder (default: reports/); '-' for stdout")
    scan.add_argument("--strict", action="store_true", help="warnings fail the run too")
    scan.add_argument("--no-progress", action="store_true", help="no live progress even on a terminal")
    scan.set_defaults(func=cmd_scan)

    profiles = commands.add_parser("profiles", help="list the built-in profiles and their flows",
                                   description="List the built-in role profiles, or the flows of one.")
    profiles.add_argument("name", nargs="?", help="show the flows of this profile (a name or a file)")
    profiles.set_defaults(func=cmd_profiles)

    validate = commands.add_parser("validate", help="check a profile or site file without probing",
                                   description="Check a profile or a site file without sending a packet. "
                                               "A site file is checked against --profile when given.")
    validate.add_argument("file", type=Path, nargs="+", help="profile or site YAML file(s)")
    validate.add_argument("--profile", "-p", help="validate site files against this profile")
    validate.set_defaults(func=cmd_validate)

    schema = commands.add_parser("schema", help="print the JSON Schema of profiles or site files",
                                 description="Print a JSON Schema for editors (e.g. the YAML language server).")
    schema.add_argument("kind", choices=["profile", "site"])
    schema.set_defaults(func=cmd_schema)

    for module in EXTENSIONS:
        extension = importlib.import_module(module)
        extension.add_parser(commands)
        if hasattr(extension, "add_scan_options"):
            extension.add_scan_options(scan)
    return parser


# Sub-commands that live with the code they drive. Each module has
# add_parser(commands) and may have add_scan_options(scan_parser); both must
# import nothing heavy (start-up stays under 0.3 s).
EXTENSIONS = [
    name for name in ("netcheck.certs.cli", "netcheck.reports_cli", "netcheck.listen.cli", "netcheck.demo_cli",
                      "netcheck.shell_cli")
    if importlib.util.find_spec(name.rsplit(".", 1)[0]) is not None
    and importlib.util.find_spec(name) is not None
]


# ---------------------------------------------------------------- commands

def cmd_scan(args: argparse.Namespace) -> int:
    from netcheck.engine import Limits
    from netcheck.model import Status
    from netcheck.profiles import data_dir, load_profile, load_site
    from netcheck.scan import ScanOptions, run_scan

    profile = load_profile(args.profile)
    site_path = args.site
    if site_path is None:
        site_path = data_dir("examples") / "loopback.yaml"
        _say("no --site given: scanning the built-in loopback sample site (127.0.0.1); "
             "pass --site FILE for a real site")
    site = load_site(site_path, profile)
    options = ScanOptions(
        limits=Limits(timeout=args.timeout, concurrency=args.concurrency, per_host=args.per_host,
                      deadline=args.deadline),
        udp_tries=args.udp_tries, strict=args.strict)
    observer = None
    if sys.stderr.isatty() and not args.no_progress:
        from netcheck.progress import TtyProgress
        observer = TtyProgress()
    try:
        report = run_scan(profile, site, str(site_path), options, env=dict(os.environ), observer=observer,
                          hooks=scan_hooks(args, site))
    finally:
        if observer:
            observer.stop()
    write_outputs(report, args.format, args.output)
    return {Status.PASS: EXIT_OK, Status.FAIL: EXIT_FAILED}.get(report.verdict(), EXIT_INTERNAL)


def scan_hooks(args: argparse.Namespace, site: Site) -> list[ScanHook]:
    """What extensions add to a scan from their scan options (e.g. the far-side listener, raw diagnosis)."""
    hooks: list[ScanHook] = []
    for module in EXTENSIONS:
        make = getattr(importlib.import_module(module), "scan_hooks", None)
        if make is not None:
            hooks.extend(make(args, site))
    return hooks


def write_outputs(report: Report, formats: list[str], output: str | None) -> None:
    """table goes to stdout; file formats to --output or reports/<site>-<host>-<time>.<ext>."""
    from netcheck.render import FORMATS
    from netcheck.render.terminal import render_terminal, summary_line

    file_formats = [name for name in formats if name != "table"]
    if "table" in formats:
        color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        width = max(120, _terminal_width())
        sys.stdout.write(render_terminal(report, color=color, width=width))
    for name in file_formats:
        fmt = FORMATS[name]
        text = fmt.renderer()(report)
        if output == "-":
            sys.stdout.write(text)
            continue
        target = _target_path(report, fmt.extension, output, single=len(file_formats) == 1)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write the {name} report to {target}: {exc.strerror or exc}",
                             hint="choose another --output") from None
        _say(f"wrote {name} report: {target}")
    if "table" not in formats:
        _say(summary_line(report))


def _target_path(report: Report, extension: str, output: str | None, single: bool) -> Path:
    if output and single and not Path(output).is_dir() and not output.endswith("/"):
        return Path(output)
    folder = Path(output) if output else DEFAULT_REPORTS_DIR
    stamp = report.info.started.replace(":", "").replace("-", "")[:15]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{report.info.site}-{report.info.host_name}")
    return folder / f"netcheck-{safe}-{report.info.profile}-{stamp}.{extension}"


def _terminal_width() -> int:
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns
    except OSError:
        return 160


def cmd_profiles(args: argparse.Namespace) -> int:
    from netcheck.profiles import builtin_profiles, load_profile

    if args.name:
        profile = load_profile(args.name)
        print(f"{profile.name} (role {profile.role}): {profile.description}")
        for flow in profile.flows:
            optional = "" if flow.required else " (optional)"
            print(f"  {flow.id:<18} {flow.direction.value:<3} {flow.transport}/{str(flow.port):<11} "
                  f"peer {flow.peer:<10} probe {flow.probe:<8} {flow.purpose}{optional}")
        return EXIT_OK
    for name, path in builtin_profiles().items():
        profile = load_profile(str(path))
        print(f"{name:<8} {len(profile.flows):>2} flows  {profile.description}")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    from netcheck.profiles import Profile, load_any, load_profile, load_site

    against = load_profile(args.profile) if args.profile else None
    for path in args.file:
        loaded = load_site(path, against) if against else load_any(path)
        if isinstance(loaded, Profile):
            print(f"{path}: valid profile '{loaded.name}' ({len(loaded.flows)} flows)")
        else:
            hosts = sum(len(h) for h in loaded.peers.values())
            print(f"{path}: valid site '{loaded.name}' ({len(loaded.peers)} peers, {hosts} hosts)")
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from netcheck.schema import schema_text

    sys.stdout.write(schema_text(args.kind))
    return EXIT_OK


# ---------------------------------------------------------------- entry point

def _say(text: str) -> None:
    print(f"netcheck: {text}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        code: int = args.func(args)
        return code
    except NetcheckError as exc:
        print(f"netcheck: error: {exc.one_line()}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("netcheck: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # the boundary: never a traceback unless asked for
        if debug:
            raise
        print(f"netcheck: internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)",
              file=sys.stderr)
        return EXIT_INTERNAL
