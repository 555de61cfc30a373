"""`netcheck cert`: argument parsing only. Nothing heavy is imported until a handler runs,
so `netcheck --help` stays fast.

    netcheck cert [check] --crt FILE --key FILE [--chain FILE] ...   judge one certificate
    netcheck cert [check] --site site.yaml                           every appliance of a site
    netcheck cert convert INPUT --to pem|der|p12 ... | --split DIR    replace the openssl recipes
    netcheck cert csr --cn NAME --o ORG --ou UNIT --c CC ...          a key and a CSR
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from netcheck.argtypes import seconds, whole
from netcheck.errors import UsageError
from netcheck.escape import terminal_text

EXIT_ACCEPT, EXIT_REFUSE, EXIT_UNUSABLE = 0, 1, 2

DESCRIPTION = """\
Check an appliance certificate the way the appliance's upload does, before anyone stands
at the console: passphrase, key match, RSA size, SHA-256, validity, subject fields, names
against the planned hosts, chain order and root, and the CRL (http:// only, reachable
directly or through --proxy, signed by the issuer, current, serial not listed).

'netcheck cert --crt ...' and 'netcheck cert check --crt ...' are the same.
Exit codes: 0 the appliance would accept it, 1 it would refuse it, 2 unusable input.
"""

EPILOG = """\
sub-actions:
  netcheck cert convert --help   DER <-> PEM, PKCS#12 -> PEM (with/without keys), PEM -> PKCS#12
  netcheck cert csr --help       create an RSA key and a CSR with CN, O, OU, C and SANs
"""


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cert = subparsers.add_parser(
        "cert",
        help="pre-flight an appliance certificate (check, convert, csr)",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,  # else the csr's --c/--o read as abbreviations of --crt/--output here
    )
    _check_options(cert, suppress=False)
    cert.set_defaults(func=run_check)
    actions = cert.add_subparsers(title="sub-actions", dest="cert_action", metavar="{check,convert,csr}")
    # `check` repeats the options with SUPPRESS defaults so that it never overwrites values
    # given before the word `check` (argparse copies sub-parser defaults over the parent's).
    check = actions.add_parser(
        "check",
        help="check a certificate (the default)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=argparse.SUPPRESS,
        allow_abbrev=False,
    )
    _check_options(check, suppress=True)
    check.set_defaults(func=run_check)
    _convert_parser(actions)
    _csr_parser(actions)


def _check_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    files = parser.add_argument_group("certificate files (as for the appliance's import: --crt, --key, --chain)")
    files.add_argument(
        "--crt",
        type=Path,
        metavar="FILE",
        default=default(None),
        help="the server certificate: PEM or DER; or a PKCS#12 bundle (then key and chain come from it)",
    )
    files.add_argument("--key", type=Path, metavar="FILE", default=default(None), help="its private key (PEM or DER)")
    files.add_argument(
        "--chain",
        type=Path,
        metavar="FILE",
        default=default(None),
        help="the chain: the issuing CA first, then up to the root",
    )
    files.add_argument(
        "--root",
        type=Path,
        metavar="FILE",
        default=default(None),
        help="the root CA the chain must end at (default: the chain's own root)",
    )
    secret = files.add_mutually_exclusive_group()
    secret.add_argument(
        "--pass",
        dest="passphrase",
        metavar="PASSPHRASE",
        default=default(None),
        help="the key's (or bundle's) passphrase; prefer --pass-env, which stays out of `ps`",
    )
    secret.add_argument(
        "--pass-env",
        metavar="VAR",
        default=default(None),
        help="name of an environment variable holding the passphrase",
    )
    files.add_argument(
        "--site",
        type=Path,
        metavar="FILE",
        default=default(None),
        help="check every appliance in the site file's certificates: section instead",
    )
    plan = parser.add_argument_group("what to check against")
    plan.add_argument(
        "--host",
        dest="hosts",
        action="extend",
        nargs="+",
        metavar="NAME_OR_IP",
        default=default([]),
        help="the name(s) and address(es) planned for the appliance",
    )
    plan.add_argument(
        "--no-validate",
        dest="validate",
        action="store_false",
        default=default(True),
        help="mirror the console's 'disable certificate validation': validation errors become "
        "warnings (a key that does not open or match still fails)",
    )
    plan.add_argument(
        "--expiry-warn-days",
        type=whole(0, 3650, "days"),
        metavar="N",
        default=default(30),
        help="warn when the certificate expires within N days (default 30)",
    )
    crl = parser.add_argument_group("CRL download")
    crl.add_argument(
        "--proxy",
        metavar="URL",
        default=default(None),
        help="fetch the CRL through this HTTP proxy, as the appliance would: http://[user:pass@]host:port",
    )
    crl.add_argument(
        "--crl-timeout",
        type=seconds(600),
        metavar="S",
        default=default(10.0),
        help="overall deadline for the CRL download in seconds (default 10)",
    )
    out = parser.add_argument_group("output")
    out.add_argument(
        "--format",
        choices=("table", "json"),
        default=default("table"),
        help="terminal text (default) or JSON (schema netcheck.cert/1)",
    )
    out.add_argument(
        "--output",
        "-o",
        type=Path,
        metavar="FILE",
        default=default(None),
        help="write the report here instead of stdout",
    )
    parser.add_argument("--now", type=_moment, default=default(None), help=argparse.SUPPRESS)  # tests


def _convert_parser(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = actions.add_parser(
        "convert",
        allow_abbrev=False,
        help="convert certificate files (replaces the openssl recipes)",
        description="Convert certificate material, decided by content: DER <-> PEM, PKCS#12 -> PEM\n"
        "(with or without keys), PEM + key + chain -> PKCS#12, or --split a bundle into the\n"
        "appliance's .crt, .key and chain files. Never overwrites a file unless --force.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  netcheck cert convert cert.der --to pem -o cert.pem          # openssl x509 -inform der\n"
        "  netcheck cert convert cert.pem --to der -o cert.der          # openssl x509 -outform der\n"
        "  netcheck cert convert store.pfx --to pem -o all.pem --pass-env P   # openssl pkcs12 -nodes\n"
        "  netcheck cert convert store.pfx --to pem --no-keys -o certs.pem --pass-env P\n"
        "  netcheck cert convert cert.crt --key k.key --chain ca.pem --to p12 -o out.pfx --out-pass-env P\n"
        "  netcheck cert convert store.pfx --split out/ --pass-env P    # sensor.crt, sensor.key, sensor-chain.pem\n"
        "  netcheck cert convert enc.key --to pem -o plain.key --pass-env P   # remove a passphrase",
    )
    parser.add_argument("input", type=Path, help="PEM, DER, PKCS#7 or PKCS#12 file")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--to", choices=("pem", "der", "p12"), help="output format")
    target.add_argument("--split", type=Path, metavar="DIR", help="write NAME.crt, NAME.key and NAME-chain.pem here")
    parser.add_argument("--out", "-o", type=Path, metavar="FILE", help="output file (with --to)")
    parser.add_argument("--name", help="base name for --split files (default: the input's name)")
    parser.add_argument("--key", type=Path, metavar="FILE", help="private key to bundle (--to p12)")
    parser.add_argument("--chain", type=Path, metavar="FILE", help="CA certificates to bundle or append")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--no-keys", action="store_true", help="certificates only (openssl -nokeys)")
    which.add_argument("--no-certs", action="store_true", help="the private key only (openssl -nocerts)")
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument("--pass", dest="passphrase", metavar="PASSPHRASE", help="passphrase of the input")
    secret.add_argument("--pass-env", metavar="VAR", help="variable holding the input's passphrase")
    out_secret = parser.add_mutually_exclusive_group()
    out_secret.add_argument("--out-pass", metavar="PASSPHRASE", help="encrypt the written key / PKCS#12 with this")
    out_secret.add_argument("--out-pass-env", metavar="VAR", help="variable holding the output passphrase")
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    parser.set_defaults(func=run_convert)


def _csr_parser(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = actions.add_parser(
        "csr",
        allow_abbrev=False,
        help="create a private key and a certificate signing request",
        description="Create an RSA key (2048 or 4096 bits) and a SHA-256 CSR with the subject fields\n"
        "the appliance documentation requires (CN, O, OU, C) and subject alternative names.\n"
        "The CN and every --san go into the SAN extension. Optionally passphrase-protect the key.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  netcheck cert csr --cn sensor-1.plant.example --san 198.51.100.23 --o 'Contoso Inc.' --ou 'OT' --c US\n"
        "  netcheck cert csr --key existing.key --cn ...          # CSR for an existing key\n"
        "  netcheck cert csr --from-crt old.crt --key old.key     # CSR from an existing certificate",
    )
    parser.add_argument("--cn", help="subject CN: the appliance's name (FQDN)")
    parser.add_argument(
        "--san",
        action="extend",
        nargs="+",
        default=[],
        metavar="NAME_OR_IP",
        help="further DNS names / IP addresses (the CN is always included)",
    )
    parser.add_argument("--o", dest="org", metavar="ORG", help="subject O, e.g. 'Contoso Inc.'")
    parser.add_argument("--ou", dest="unit", metavar="UNIT", help="subject OU, e.g. 'Contoso Labs'")
    parser.add_argument("--c", dest="country", metavar="CC", help="subject C: two-letter country code")
    parser.add_argument("--st", dest="state", metavar="STATE", help="subject ST (optional)")
    parser.add_argument("--l", dest="locality", metavar="CITY", help="subject L (optional)")
    parser.add_argument("--bits", type=int, choices=(2048, 4096), default=2048, help="RSA key size (default 2048)")
    parser.add_argument("--key", type=Path, metavar="FILE", help="use this existing key instead of creating one")
    parser.add_argument("--from-crt", type=Path, metavar="FILE", help="copy subject and SANs from a certificate")
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument(
        "--pass", dest="passphrase", metavar="PASSPHRASE", help="passphrase to protect the new key (or to open --key)"
    )
    secret.add_argument("--pass-env", metavar="VAR", help="variable holding that passphrase")
    parser.add_argument("--key-out", type=Path, metavar="FILE", help="where to write the new key (default CN.key)")
    parser.add_argument("--csr-out", type=Path, metavar="FILE", help="where to write the CSR (default CN.csr)")
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    parser.set_defaults(func=run_csr)


def _moment(text: str) -> object:
    from datetime import UTC, datetime

    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an ISO 8601 time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def secret_from(args: argparse.Namespace, flag: str = "pass") -> str | None:
    """The passphrase from --pass or the variable named by --pass-env (never echoed)."""
    direct = getattr(args, "passphrase" if flag == "pass" else "out_pass", None)
    if direct is not None:
        return str(direct)
    variable = getattr(args, "pass_env" if flag == "pass" else "out_pass_env", None)
    if variable is None:
        return None
    value = os.environ.get(variable)
    if value is None:
        raise UsageError(f"--{flag}-env: environment variable {variable} is not set")
    return value


def _quiet(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Python warnings never reach the terminal: cryptography warns about odd certificates
    (a negative serial, a BER-encoded PKCS#7) and the checks turn those into findings."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return handler(args)

    return run


@_quiet
def run_check(args: argparse.Namespace) -> int:
    from netcheck.certs import render
    from netcheck.certs.run import CheckInput, check_one, check_site, inputs_from_site
    from netcheck.certs.site import load_site_certificates
    from netcheck.net.http import parse_proxy

    crt: Path | None = getattr(args, "crt", None)
    site: Path | None = getattr(args, "site", None)
    if site is not None and crt is not None:
        raise UsageError("give either --crt (one certificate) or --site (every appliance), not both")
    if site is None and crt is None:
        raise UsageError("nothing to check", hint="give --crt FILE --key FILE, or --site site.yaml")
    try:
        proxy = parse_proxy(args.proxy) if getattr(args, "proxy", None) else None
    except ValueError as exc:
        raise UsageError(f"--proxy: {exc}") from None
    common = {
        "proxy": proxy,
        "crl_timeout": getattr(args, "crl_timeout", 10.0),
        "validate": getattr(args, "validate", True),
        "expiry_warn_days": getattr(args, "expiry_warn_days", 30),
        "now": getattr(args, "now", None),
    }
    json_out = getattr(args, "format", "table") == "json"
    if getattr(args, "output", None) is not None:
        from netcheck.outputs import check_target

        check_target(args.output, "certificate report")  # before any CRL download
    if site is not None:
        items = inputs_from_site(load_site_certificates(site), os.environ)
        site_report = check_site(str(site), items, **common)  # type: ignore[arg-type]
        text = render.dumps(render.site_json(site_report)) if json_out else render.site_text(site_report)
        code = EXIT_UNUSABLE if site_report.unusable else EXIT_ACCEPT if site_report.ok else EXIT_REFUSE
        verdict = "accept" if site_report.ok else "refuse"
    else:
        assert crt is not None  # one of --crt/--site is given (checked above)
        item = CheckInput(
            crt=crt,
            key=getattr(args, "key", None),
            chain=getattr(args, "chain", None),
            root=getattr(args, "root", None),
            passphrase=secret_from(args),
            hosts=tuple(getattr(args, "hosts", [])),
        )
        report = check_one(item, **common)  # type: ignore[arg-type]
        text = render.dumps(render.single_json(report)) if json_out else render.single_text(report)
        code = EXIT_ACCEPT if report.ok else EXIT_REFUSE
        verdict = "accept" if report.ok else "refuse"
    _emit(text, getattr(args, "output", None), is_json=json_out)
    if getattr(args, "output", None) is not None:
        print(terminal_text(f"netcheck cert: the appliance would {verdict}; report written to {args.output}"),
              file=sys.stderr)
    return code


def _emit(text: str, output: Path | None, *, is_json: bool = False) -> None:
    """The report to stdout (sanitised: names in certificates are hostile) or atomically to a file."""
    from netcheck.outputs import json_stdout_text, write_atomic, write_stdout

    if output is None:
        if is_json:
            sys.stdout.write(json_stdout_text(text))
        else:
            write_stdout(text)
        return
    try:
        write_atomic(output, text.encode("utf-8"))
    except OSError as exc:
        raise UsageError(f"--output {output}: cannot write ({exc.strerror})") from None


@_quiet
def run_convert(args: argparse.Namespace) -> int:
    from netcheck.certs.convert import ConvertOptions, convert
    from netcheck.messages import say

    options = ConvertOptions(input=args.input, to=args.to, split=args.split, out=args.out, name=args.name,
                             key=args.key, chain=args.chain, no_keys=args.no_keys, no_certs=args.no_certs,
                             force=args.force)
    converted = convert(options, passphrase=secret_from(args), out_passphrase=secret_from(args, "out-pass"))
    for note in converted.notes:
        say(note, program="netcheck cert convert")
    return 0


@_quiet
def run_csr(args: argparse.Namespace) -> int:
    from netcheck.certs.csr import CsrOptions, create
    from netcheck.messages import say

    options = CsrOptions(cn=args.cn, sans=tuple(args.san), org=args.org, unit=args.unit, country=args.country,
                         state=args.state, locality=args.locality, bits=args.bits, key=args.key,
                         from_crt=args.from_crt, key_out=args.key_out, csr_out=args.csr_out, force=args.force)
    written = create(options, passphrase=secret_from(args))
    say(written.summary(), program="netcheck cert csr")
    for warning in written.warnings:
        say(f"warning: {warning}", program="netcheck cert csr")
    say("send the CSR to your CA; check what comes back with `netcheck cert --crt FILE --key KEY --chain CHAIN`",
        program="netcheck cert csr")
    return 0
