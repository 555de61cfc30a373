"""A listening session: open the role's endpoints, report probes as they arrive, write the receipt.
The `listen` command line (printing, exit codes) is listen/cli.py."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netcheck import tokens
from netcheck.errors import UsageError
from netcheck.listen.endpoints import check_addresses, default_addresses, role_endpoints
from netcheck.listen.receipt import receipt_dict, write_receipt
from netcheck.listen.server import Listener, ProbeRecord
from netcheck.messages import ignore
from netcheck.outputs import DEFAULT_REPORTS_DIR, check_folder, check_target, signals_deferred

Notice = Callable[[str], None]


def probe_line(record: ProbeRecord, flows: tuple[str, ...]) -> str:
    """One printed line per probe: when, from where, to which socket, which token, answered or not."""
    fate = "echoed" if record.answered else "rate-limited, not answered"
    names = f" ({', '.join(flows)})" if flows else ""
    source = f"[{record.source}]" if ":" in record.source else record.source
    return (f"{record.last_seen}  {source}:{record.source_port} -> {record.address} "
            f"{record.transport}/{record.port}  token {record.token}{names}  {fate}")


@dataclass(frozen=True)
class ListenOutcome:
    """A finished listening session: the receipt written, and whether any socket listened at all."""

    receipt_path: Path
    receipt: dict[str, Any]
    listening: bool


def run_listener(profile_name: str, site_path: Path | None = None, *, bind: Sequence[str] = (),
                 family: int | None = None, duration: float, receipt: Path | None = None, env: Mapping[str, str],
                 on_probe: Callable[[str], None] | None = None, notice: Notice = ignore,
                 stop_on_signals: bool = True) -> ListenOutcome:
    """Open the role's inbound endpoints for `duration` seconds (SIGINT/SIGTERM end it earlier)
    on `bind` (else the site file's addresses for the role; `family` 4 or 6 keeps that family's),
    pass each new probe's line to `on_probe`, and write the receipt (to `receipt`, or reports/).
    Bad input raises UsageError/ConfigError before anything listens."""
    from netcheck.hostinfo import host_name, local_addresses
    from netcheck.profiles import load_profile, load_site
    from netcheck.timeutil import utc_now_iso

    profile = load_profile(profile_name)
    site = load_site(site_path, profile) if site_path else None
    key = tokens.key_from_env(env)
    plan = role_endpoints(profile, site)
    if not plan.endpoints:
        raise UsageError(f"profile {profile.name} has no inbound flows to listen for",
                         hint="listen with the profile of the host you run on (e.g. console)")
    addresses = check_addresses(list(bind)) if bind else default_addresses(profile.role, site, local_addresses())
    addresses = _of_family(addresses, family)
    flows_at = {(e.transport, e.port): e.flows for e in plan.endpoints}

    def show(record: ProbeRecord, first: bool) -> None:
        if first and on_probe is not None:
            on_probe(probe_line(record, flows_at.get((record.transport, record.port), ())))

    stamp = utc_now_iso().replace(":", "").replace("-", "")[:15]
    path = receipt or DEFAULT_REPORTS_DIR / f"netcheck-receipt-{_safe(host_name())}-{stamp}.json"
    if receipt:
        check_target(path, "receipt")  # refused now, not after the whole duration
    else:
        check_folder(DEFAULT_REPORTS_DIR, "receipt")
    listener = Listener(plan.endpoints, addresses, key=key, on_probe=show)
    for note in plan.notes:
        notice(note)
    asyncio.run(_serve(listener, duration, notice, stop_on_signals))
    with signals_deferred():  # listening is over: a late signal waits until the receipt is written
        data = receipt_dict(listener, listener_id=secrets.token_hex(8), host=host_name(), profile=profile.name,
                            role=profile.role, site=site.name if site else "", duration_s=duration,
                            notes=plan.notes)
        write_receipt(path, data)
    return ListenOutcome(path, data, bool(listener.listening))


async def _serve(listener: Listener, duration: float, notice: Notice, stop_on_signals: bool) -> None:
    await listener.open()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM) if stop_on_signals else ()
    previous = {sig: signal.getsignal(sig) for sig in signals}
    for sig in previous:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
    try:
        for line in bind_lines(listener.outcomes):
            notice(line)
        if listener.listening:
            notice(f"listening for {duration:g} s (Ctrl-C stops earlier and writes the receipt)")
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


def bind_lines(outcomes: list[Any]) -> list[str]:
    """Which ports listen, and clearly which could not be bound and why."""
    listening = [o for o in outcomes if o.state == "listening"]
    failed = [o for o in outcomes if o.state != "listening"]
    lines = [f"listening on {len(listening)} of {len(outcomes)} sockets: "
             + (", ".join(f"{o.address} {o.transport}/{o.port}" for o in listening) or "none")]
    lines.extend(f"could not bind {outcome.address} {outcome.detail}" for outcome in failed)
    return lines


def summary_line(data: dict[str, Any]) -> str:
    probes = data["probes"]
    sources = {p["source"] for p in probes}
    ignored = sum(data["ignored"]["rejected"].values())
    return (f"{len(probes)} distinct probes from {len(sources)} source(s); ignored {ignored} malformed or "
            f"unverifiable datagrams/connections, {data['ignored']['handshakes_without_token']} bare handshakes")


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)
