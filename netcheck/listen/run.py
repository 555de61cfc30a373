"""`netcheck listen`: open the role's endpoints, print probes as they arrive, write the receipt."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import signal
from typing import Any, TextIO

from netcheck.errors import UsageError
from netcheck.listen import tokens
from netcheck.listen.endpoints import check_addresses, default_addresses, role_endpoints
from netcheck.listen.receipt import receipt_dict, write_receipt
from netcheck.listen.server import Endpoint, Listener, ProbeRecord
from netcheck.outputs import DEFAULT_REPORTS_DIR, check_folder, check_target, signals_deferred
from netcheck.render.escape import terminal_text


def probe_line(record: ProbeRecord, flows: tuple[str, ...]) -> str:
    """One printed line per probe: when, from where, to which socket, which token, answered or not."""
    fate = "echoed" if record.answered else "rate-limited, not answered"
    names = f" ({', '.join(flows)})" if flows else ""
    source = f"[{record.source}]" if ":" in record.source else record.source
    return (f"{record.last_seen}  {source}:{record.source_port} -> {record.address} "
            f"{record.transport}/{record.port}  token {record.token}{names}  {fate}")


def run_listener(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from netcheck.hostinfo import host_name, local_addresses
    from netcheck.profiles import load_profile, load_site
    from netcheck.timeutil import utc_now_iso

    profile = load_profile(args.profile)
    site = load_site(args.site, profile) if args.site else None
    key = tokens.key_from_env(os.environ)
    plan = role_endpoints(profile, site)
    if not plan.endpoints:
        raise UsageError(f"profile {profile.name} has no inbound flows to listen for",
                         hint="listen with the profile of the host you run on (e.g. console)")
    addresses = check_addresses(args.bind) if args.bind else default_addresses(profile.role, site, local_addresses())
    addresses = _of_family(addresses, getattr(args, "family", None))
    flows_at = {(e.transport, e.port): e.flows for e in plan.endpoints}

    def show(record: ProbeRecord, first: bool) -> None:
        if first and not args.quiet:
            print(terminal_text(probe_line(record, flows_at.get((record.transport, record.port), ()))),
                  file=out, flush=True)

    stamp = utc_now_iso().replace(":", "").replace("-", "")[:15]
    path = args.receipt or DEFAULT_REPORTS_DIR / f"netcheck-receipt-{_safe(host_name())}-{stamp}.json"
    if args.receipt:
        check_target(path, "receipt")  # refused now, not after the whole --duration
    else:
        check_folder(DEFAULT_REPORTS_DIR, "receipt")
    listener = Listener(plan.endpoints, addresses, key=key, on_probe=show)
    for note in plan.notes:
        print(terminal_text(f"netcheck: {note}"), file=err)
    asyncio.run(_serve(listener, args.duration, err))
    with signals_deferred():  # listening is over: a late signal waits until the receipt is written
        data = receipt_dict(listener, listener_id=secrets.token_hex(8), host=host_name(), profile=profile.name,
                            role=profile.role, site=site.name if site else "", duration_s=args.duration,
                            notes=plan.notes)
        write_receipt(path, data)
    print(terminal_text(f"netcheck: {summary_line(data)}"), file=err)
    print(terminal_text(f"netcheck: wrote receipt: {path}"), file=err)
    if not listener.listening:
        raise UsageError("no port could be bound, so nothing listened",
                         hint="ports below 1024 need root; ports in use already have their real service")
    return 0


async def _serve(listener: Listener, duration: float, err: TextIO) -> None:
    await listener.open()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
    try:
        print(terminal_text(bind_report(listener.outcomes, listener.endpoints), keep_newlines=True),
              file=err, flush=True)
        if listener.listening:
            print(f"netcheck: listening for {duration:g} s (Ctrl-C stops earlier and writes the receipt)",
                  file=err, flush=True)
            await listener.serve(duration, stop)
    finally:
        await listener.close()
        for sig, handler in previous.items():
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(sig)
                signal.signal(sig, handler)  # not SIG_DFL: a late SIGTERM still ends in one line


def _of_family(addresses: list[str], family: int | None) -> list[str]:
    """-4 / -6: only the addresses of that family (0.0.0.0 and :: count as theirs)."""
    import ipaddress

    if family is None:
        return addresses
    kept = [address for address in addresses if ipaddress.ip_address(address).version == family]
    if not kept:
        raise UsageError(f"-{family}: none of the addresses to listen on ({', '.join(addresses)}) is IPv{family}",
                         hint=f"pass --bind with an IPv{family} address")
    return kept


def bind_report(outcomes: list[Any], endpoints: list[Endpoint]) -> str:
    """Which ports listen, and clearly which could not be bound and why."""
    listening = [o for o in outcomes if o.state == "listening"]
    failed = [o for o in outcomes if o.state != "listening"]
    lines = [f"netcheck: listening on {len(listening)} of {len(outcomes)} sockets: "
             + (", ".join(f"{o.address} {o.transport}/{o.port}" for o in listening) or "none")]
    for outcome in failed:
        lines.append(f"netcheck: could not bind {outcome.address} {outcome.detail}")
    return "\n".join(lines)


def summary_line(data: dict[str, Any]) -> str:
    probes = data["probes"]
    sources = {p["source"] for p in probes}
    ignored = sum(data["ignored"]["rejected"].values())
    return (f"{len(probes)} distinct probes from {len(sources)} source(s); ignored {ignored} malformed or "
            f"unverifiable datagrams/connections, {data['ignored']['handshakes_without_token']} bare handshakes")


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)
