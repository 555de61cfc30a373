"""One scan from start to end: plan the flows, probe them, check the site's certificates
alongside, and build the Report. The CLI only parses arguments and writes outputs."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from netcheck import __version__
from netcheck.egress import DEFAULT as DEFAULT_EGRESS
from netcheck.egress import Egress, using
from netcheck.engine import Limits, Observer, ScanHook, scan
from netcheck.hostinfo import host_name, local_addresses
from netcheck.model import Flow, Reason, Report, Result, RunInfo, Status
from netcheck.plan import plan
from netcheck.probes import ProbeContext
from netcheck.profiles import Profile, Site
from netcheck.timeutil import utc_now_iso


@dataclass(frozen=True)
class ScanOptions:
    """The knobs of a run; `limits.timeout` is each probe's deadline."""

    limits: Limits
    udp_tries: int = 3
    strict: bool = False
    egress: Egress = DEFAULT_EGRESS  # -4 / -6 / --source / --interface

    def as_dict(self) -> dict[str, Any]:
        return {"timeout_s": self.limits.timeout, "deadline_s": self.limits.deadline,
                "concurrency": self.limits.concurrency, "per_host": self.limits.per_host,
                "udp_tries": self.udp_tries, "strict": self.strict, **self.egress.as_dict()}


@dataclass(frozen=True)
class SiteCertificates:
    """The appliance certificates a site file lists, ready to check (passphrases resolved)."""

    inputs: list[Any]  # netcheck.certs.run.CheckInput; typed loosely to keep cryptography out of start-up
    crl_urls: tuple[str, ...]


def site_certificates(site: Site, env: Mapping[str, str]) -> SiteCertificates | None:
    """Parse the site's `certificates:` section (exit 2 on bad entries), or None when it has none."""
    section = site.extra.get("certificates")
    if not section:
        return None
    from netcheck.certs.run import inputs_from_site
    from netcheck.certs.site import parse_certificates_section, site_crl_urls

    entries = parse_certificates_section(section, Path(site.path))
    return SiteCertificates(inputs_from_site(entries, env), tuple(site_crl_urls(entries)))


def with_crl_urls(site: Site, urls: Sequence[str]) -> Site:
    """The site with its certificates' CRL distribution points added to the crl peer, so the
    scan tests the firewall path to exactly the CRLs the appliances will fetch."""
    from netcheck.values import is_http_url

    # Only URLs the site file itself could name: `netcheck cert` reports the others (https, odd bytes).
    merged = tuple(dict.fromkeys([*site.peers.get("crl", ()), *(url for url in urls if is_http_url(url))]))
    return replace(site, peers={**site.peers, "crl": merged})


def _certificate_proxy(site: Site) -> Any:
    """The proxy the certificate check downloads CRLs through: the site's, when settings.crl.via_proxy."""
    proxies = site.peers.get("proxy", ())
    if not (site.settings.get("crl", {}).get("via_proxy") and proxies):
        return None
    from netcheck.httpfetch import parse_proxy

    return parse_proxy(proxies[0])


async def _check_certificates(site: Site, certificates: SiteCertificates, timeout: float) -> dict[str, Any]:
    from netcheck.certs.render import site_json
    from netcheck.certs.run import check_site

    # check_site runs its own event loop for the CRL downloads: give it a thread of its own.
    result = await asyncio.to_thread(
        check_site, site.name, certificates.inputs, proxy=_certificate_proxy(site), crl_timeout=timeout)
    return site_json(result)


# Signals that stop a scan early but keep what it measured; the exit code is 128 + the number.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# After a stop, probes still in flight get this long to release their sockets.
CANCEL_GRACE_S = 0.5


class Collector:
    """The progress observer in between: keeps every result as the engine streams it, so a stopped
    scan still has the flows that finished (the engine's own return value is lost on cancel)."""

    def __init__(self, inner: Observer | None) -> None:
        self.inner = inner
        self.results: list[Result] = []

    def start(self, total: int) -> None:
        if self.inner:
            self.inner.start(total)

    def advance(self, result: Result) -> None:
        self.results.append(result)
        if self.inner:
            self.inner.advance(result)


def _flow_identity(flow: Flow) -> tuple[str, str, str, str, str]:
    return (flow.peer, flow.id, flow.host, str(flow.port), flow.direction.value)


def interrupted_results(flows: Sequence[Flow], finished: Sequence[Result], signame: str,
                        elapsed: float) -> list[Result]:
    """The finished results plus error/interrupted for every planned flow without one."""
    done = Counter(_flow_identity(result.flow) for result in finished)
    results = list(finished)
    for flow in flows:
        identity = _flow_identity(flow)
        if done[identity]:
            done[identity] -= 1
            continue
        results.append(Result(flow=flow, status=Status.ERROR, reason=Reason.INTERRUPTED,
                              detail=f"not finished: {signame} stopped the scan after {elapsed:.1f} s",
                              evidence={"signal": signame}))
    return results


@dataclass
class _Outcome:
    results: list[Result]
    certificates: dict[str, Any] | None
    stopped_by: str | None = None  # "SIGINT" / "SIGTERM" when a signal ended the scan


async def _run(flows: list[Flow], ctx: ProbeContext, options: ScanOptions, observer: Observer | None,
               hooks: Sequence[ScanHook], site: Site, certificates: SiteCertificates | None) -> _Outcome:
    """Probe (and check certificates) until done, or until SIGINT/SIGTERM: then keep what finished."""
    collector = Collector(observer)
    probing = asyncio.ensure_future(scan(flows, ctx, options.limits, collector, hooks))
    checking = (asyncio.ensure_future(_check_certificates(site, certificates, options.limits.timeout))
                if certificates is not None else None)
    tasks = [task for task in (probing, checking) if task is not None]
    stopped: list[signal.Signals] = []
    started = time.monotonic()

    def stop(signum: signal.Signals) -> None:
        if not stopped:
            stopped.append(signum)
            for task in tasks:
                task.cancel()

    loop = asyncio.get_running_loop()
    installed: dict[signal.Signals, Any] = {}
    for signum in STOP_SIGNALS:
        previous = signal.getsignal(signum)
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread
            loop.add_signal_handler(signum, stop, signum)
            installed[signum] = previous
    try:
        await asyncio.wait(tasks)
        if stopped:
            await _cancel_the_rest()
    finally:
        for signum, previous in installed.items():
            loop.remove_signal_handler(signum)
            # remove_signal_handler leaves SIGTERM at its default (instant death): give back the CLI's
            signal.signal(signum, previous)
    verdicts = checking.result() if checking is not None and not checking.cancelled() else None
    if not stopped:
        return _Outcome(probing.result(), verdicts)
    name = stopped[0].name
    finished = collector.results if probing.cancelled() else probing.result()
    results = interrupted_results(flows, finished, name, time.monotonic() - started)
    return _Outcome(results, verdicts, name)


async def _cancel_the_rest() -> None:
    """Cancel the probes the cancelled engine left running and let them close their sockets."""
    current = asyncio.current_task()
    rest = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    for task in rest:
        task.cancel()
    if rest:
        await asyncio.wait(rest, timeout=CANCEL_GRACE_S)


def run_scan(profile: Profile, site: Site, site_file: str, options: ScanOptions, *, env: Mapping[str, str],
             observer: Observer | None = None, hooks: Sequence[ScanHook] = ()) -> Report:
    """Plan, probe and build the Report. SIGINT or SIGTERM during the probing stops it early: the
    report then keeps the finished flows, marks the rest error/interrupted, and names the signal
    in `info.options["interrupted"]` (see `interrupted_by`)."""
    certificates = site_certificates(site, env)
    if certificates:
        site = with_crl_urls(site, certificates.crl_urls)
    flows = plan(profile, site)
    run_id = secrets.token_hex(8)
    ctx = ProbeContext(timeout=options.limits.timeout, run_id=run_id, udp_tries=options.udp_tries, env=env,
                       settings={"peers": site.peers, "site": site})
    started = utc_now_iso()
    with using(options.egress):  # every socket of the run reads it (netcheck.egress)
        outcome = asyncio.run(_run(flows, ctx, options, observer, hooks, site, certificates))
    run_options = options.as_dict()
    if outcome.stopped_by:
        run_options["interrupted"] = outcome.stopped_by
    info = RunInfo(
        version=__version__, run_id=run_id, host_name=host_name(), host_addresses=local_addresses(),
        profile=profile.name, role=profile.role, site=site.name, site_file=site_file,
        started=started, finished=utc_now_iso(), options=run_options,
    )
    return Report.build(info, outcome.results, outcome.certificates)


def interrupted_by(report: Report) -> int | None:
    """The exit code of a scan a signal stopped (130 for SIGINT, 143 for SIGTERM), else None."""
    name = report.info.options.get("interrupted")
    if name not in {signum.name for signum in STOP_SIGNALS}:
        return None
    return 128 + int(signal.Signals[str(name)])
