"""One scan from start to end: plan the flows, probe them, check the site's certificates
alongside, and build the Report. The CLI only parses arguments and writes outputs.

`scan_async` is the implementation and `scan` wraps it with asyncio.run; both are re-exported
as `netcheck.scan` / `netcheck.scan_async`. Options are typed keyword arguments (`ScanKeywords`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

from netcheck import __version__
from netcheck.certs.downloads import CrlDownloads
from netcheck.egress import DEFAULT as DEFAULT_EGRESS
from netcheck.egress import Egress, using
from netcheck.engine import Limits, Observer, ScanHook
from netcheck.engine import scan as probe_flows
from netcheck.errors import UsageError
from netcheck.hostinfo import host_name, local_addresses
from netcheck.model import Flow, Observation, Reason, Report, Result, RunInfo, Status
from netcheck.plan import plan
from netcheck.probes import ProbeContext
from netcheck.profiles import Profile, Site, data_dir, load_profile, load_site
from netcheck.timeutil import utc_now_iso

if TYPE_CHECKING:
    from netcheck.certs.run import CheckInput
    from netcheck.certs.verdicts import CertificateVerdicts
    from netcheck.httpfetch import Proxy

# The site scanned when none is given: every peer on 127.0.0.1.
LOOPBACK_SITE = ("examples", "loopback.yaml")
Notice = Callable[[str], None]


def loopback_site_path() -> Path:
    return data_dir(LOOPBACK_SITE[0]) / LOOPBACK_SITE[1]


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

    inputs: list[CheckInput]
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


def _certificate_proxy(site: Site, ctx: ProbeContext) -> Proxy | None:
    """The proxy the certificate check downloads CRLs through: the site's, when settings.crl.via_proxy,
    with the credentials of settings.proxy: the very proxy of the via_proxy http-crl flows, so both
    share one download of each CRL (netcheck.certs.downloads)."""
    proxies = site.peers.get("proxy", ())
    if not (site.settings.get("crl", {}).get("via_proxy") and proxies):
        return None
    from netcheck.probes.http_crl import crl_proxy

    proxy = crl_proxy(ctx)
    if not isinstance(proxy, Observation):
        return proxy
    # The proxy's credentials are unusable (the flows say why): the check still goes through the proxy.
    from netcheck.httpfetch import parse_proxy

    return parse_proxy(proxies[0])


async def _check_certificates(site: Site, certificates: SiteCertificates, ctx: ProbeContext
                              ) -> CertificateVerdicts:
    from netcheck.certs.run import check_site_async, site_verdicts
    from netcheck.probes.http_crl import crl_fetch_timeout

    # In this event loop, beside the probes, through the run's shared CRL downloads: a CRL the
    # http-crl flows fetch is not fetched again (the scan's one GET per URL and path).
    result = await check_site_async(site.name, certificates.inputs, proxy=_certificate_proxy(site, ctx),
                                    crl_timeout=crl_fetch_timeout(ctx), downloads=ctx.crl_downloads)
    return site_verdicts(result)


# Signals that stop a scan early but keep what it measured (the CLI exits with 128 + the number).
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
    certificates: CertificateVerdicts | None
    stopped_by: str | None = None  # "SIGINT" / "SIGTERM" when a signal ended the scan


async def _run(flows: list[Flow], ctx: ProbeContext, options: ScanOptions, observer: Observer | None,
               hooks: Sequence[ScanHook], site: Site, certificates: SiteCertificates | None,
               stop_on_signals: bool) -> _Outcome:
    """Probe (and check certificates) until done, or until SIGINT/SIGTERM (when `stop_on_signals`,
    the CLI's choice: a library caller's loop keeps its own signal handling): then keep what finished."""
    collector = Collector(observer)
    before = asyncio.all_tasks()
    probing = asyncio.ensure_future(probe_flows(flows, ctx, options.limits, collector, hooks))
    checking = (asyncio.ensure_future(_check_certificates(site, certificates, ctx))
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
    for signum in STOP_SIGNALS if stop_on_signals else ():
        previous = signal.getsignal(signum)
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread
            loop.add_signal_handler(signum, stop, signum)
            installed[signum] = previous
    try:
        await asyncio.wait(tasks)
        if stopped:
            await _cancel_the_rest()
    except asyncio.CancelledError:  # the caller cancelled the scan: leave no probe running in its loop
        await _cancel_scan(tasks, before)
        raise
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


def _runs_engine_code(task: asyncio.Task[Any]) -> bool:
    code = getattr(task.get_coro(), "cr_code", None)
    return code is not None and code.co_filename == probe_flows.__code__.co_filename


async def _cancel_scan(tasks: Sequence[asyncio.Future[Any]], before: set[asyncio.Task[Any]]) -> None:
    """Cancel this scan's tasks and the probes its engine started (tasks running engine code that
    did not exist before the scan; the application's own tasks are left alone)."""
    started = [task for task in asyncio.all_tasks() - before if not task.done() and _runs_engine_code(task)]
    rest: list[asyncio.Future[Any]] = [*tasks, *started]
    for task in rest:
        task.cancel()
    await asyncio.wait(rest, timeout=CANCEL_GRACE_S)


async def _cancel_the_rest() -> None:
    """Cancel the probes the cancelled engine left running and let them close their sockets."""
    current = asyncio.current_task()
    rest = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    for task in rest:
        task.cancel()
    if rest:
        await asyncio.wait(rest, timeout=CANCEL_GRACE_S)


async def run_scan_async(profile: Profile, site: Site, options: ScanOptions, *, env: Mapping[str, str],
                         observer: Observer | None = None, hooks: Sequence[ScanHook] = (),
                         site_file: str | None = None, stop_on_signals: bool = False) -> Report:
    """Plan, probe and build the Report, in the running event loop. With `stop_on_signals`, SIGINT
    or SIGTERM during the probing stops it early: the report then keeps the finished flows, marks
    the rest error/interrupted, and names the signal in `info.options["interrupted"]` (see `interrupted_by`)."""
    certificates = site_certificates(site, env)
    if certificates:
        site = with_crl_urls(site, certificates.crl_urls)
    flows = plan(profile, site)
    run_id = secrets.token_hex(8)
    downloads = CrlDownloads()  # one GET per CRL URL and path, for the http-crl flows and the certificates
    ctx = ProbeContext(timeout=options.limits.timeout, run_id=run_id, udp_tries=options.udp_tries, env=env,
                       settings={"peers": site.peers, "site": site}, crl_downloads=downloads)
    started = utc_now_iso()
    with using(options.egress):  # every socket of the run reads it (netcheck.egress); tasks copy the context
        try:
            outcome = await _run(flows, ctx, options, observer, hooks, site, certificates, stop_on_signals)
        finally:
            await downloads.aclose()
    run_options = options.as_dict()
    if outcome.stopped_by:
        run_options["interrupted"] = outcome.stopped_by
    info = RunInfo(
        version=__version__, run_id=run_id, host_name=host_name(), host_addresses=local_addresses(),
        profile=profile.name, role=profile.role, site=site.name, site_file=site_file or site.path,
        started=started, finished=utc_now_iso(), options=run_options,
    )
    return Report.build(info, outcome.results, outcome.certificates)


def run_scan(profile: Profile, site: Site, site_file: str, options: ScanOptions, *, env: Mapping[str, str],
             observer: Observer | None = None, hooks: Sequence[ScanHook] = ()) -> Report:
    """The command line's scan: its own event loop, and SIGINT/SIGTERM stop it keeping what finished."""
    return asyncio.run(run_scan_async(profile, site, options, env=env, observer=observer, hooks=hooks,
                                      site_file=site_file, stop_on_signals=True))


# ---------------------------------------------------------------- the public API


class ScanKeywords(TypedDict, total=False):
    """The keyword options of `scan` (and `scan_async`, which spells them out with their defaults)."""

    timeout: float
    deadline: float
    concurrency: int
    per_host: int
    udp_tries: int
    strict: bool
    listener_peers: Collection[str]
    raw: bool | None
    family: int | None
    source: str | None
    interface: str | None
    env: Mapping[str, str] | None
    observer: Observer | None
    hooks: Sequence[ScanHook]
    notice: Notice | None


def scan_hooks(site: Site, *, listener_peers: Collection[str] = (), raw: bool | None = None,
               env: Mapping[str, str], notice: Notice | None = None) -> list[ScanHook]:
    """The hooks of the typed options: the far-side listener for `listener_peers` (and the site's
    `listener: true` peers), and raw-packet diagnosis of failed flows (`raw`: True always, False
    never, None when this process may send raw packets)."""
    from netcheck.listen.scanning import listener_hooks

    hooks: list[ScanHook] = list(listener_hooks(site, listener_peers, env))
    if raw is None:
        from netcheck.raw.privilege import raw_unavailable, scapy_missing

        raw = not (raw_unavailable() or scapy_missing())
    if raw:
        from netcheck.raw.diagnose import RawDiagnosis

        hooks.append(RawDiagnosis(say=notice))
    return hooks


def _check_limits(**limits: float) -> None:
    """The numeric options, checked as the command line's argument types check them."""
    for name, value in limits.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value < float("inf"):
            raise UsageError(f"{name} must be a positive number, not {value!r}")


def _profile(profile: Profile | str) -> Profile:
    return load_profile(profile) if isinstance(profile, str) else profile


def _site(site: Site | str | os.PathLike[str] | None, profile: Profile) -> Site:
    if isinstance(site, Site):
        return site
    return load_site(Path(site) if site is not None else loopback_site_path(), profile)


async def scan_async(profile: Profile | str, site: Site | str | os.PathLike[str] | None = None, *,
                     timeout: float = 3.0, deadline: float = 120.0, concurrency: int = 256, per_host: int = 64,
                     udp_tries: int = 3, strict: bool = False, listener_peers: Collection[str] = (),
                     raw: bool | None = None, family: int | None = None, source: str | None = None,
                     interface: str | None = None, env: Mapping[str, str] | None = None,
                     observer: Observer | None = None, hooks: Sequence[ScanHook] = (),
                     notice: Notice | None = None) -> Report:
    """Scan `profile`'s flows against `site` (None: the built-in loopback sample site) and check
    the site's certificates alongside; awaitable from any running event loop.

    profile         a Profile, or a built-in name / YAML file for load_profile
    site            a Site, a site file, or None
    timeout         each probe's deadline (s); deadline: the whole run's (s)
    concurrency     probes in flight at once; per_host: to one address at once
    udp_tries       datagrams a UDP probe sends before calling it silence
    strict          warnings fail the run too (Report.verdict)
    listener_peers  peers running `netcheck listen` ("*": every peer), besides the site's `listener: true`
    raw             diagnose failed flows with raw packets: True, False, or None (when privileged)
    family          4 or 6: only that address family (default: IPv4 first, IPv6 where a peer has no other)
    source          send every probe from this local address; interface: through this interface (root)
    env             where *_env secrets are looked up (default os.environ)
    observer        progress (engine.Observer); hooks: extra engine.ScanHook objects
    notice          receives one-line notices (e.g. raw diagnosis unavailable); default: dropped

    Bad files or options raise ConfigError / UsageError (netcheck.errors).
    """
    _check_limits(timeout=timeout, deadline=deadline, concurrency=concurrency, per_host=per_host,
                  udp_tries=udp_tries)
    if family not in (None, 4, 6):
        raise UsageError(f"family must be 4, 6 or None, not {family!r}")
    environment = dict(os.environ) if env is None else env
    chosen = _profile(profile)
    where = _site(site, chosen)
    egress = DEFAULT_EGRESS
    if (family, source, interface) != (None, None, None):
        from netcheck.egress import choose

        egress = choose(family, source, interface, local_addresses())
    options = ScanOptions(limits=Limits(timeout=timeout, concurrency=concurrency, per_host=per_host,
                                        deadline=deadline),
                          udp_tries=udp_tries, strict=strict, egress=egress)
    all_hooks = [*scan_hooks(where, listener_peers=listener_peers, raw=raw, env=environment, notice=notice),
                 *hooks]
    return await run_scan_async(chosen, where, options, env=environment, observer=observer, hooks=all_hooks)


def scan(profile: Profile | str, site: Site | str | os.PathLike[str] | None = None,
         **options: Unpack[ScanKeywords]) -> Report:
    """`scan_async` in an event loop of its own (from a script; inside a running loop, await scan_async)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(scan_async(profile, site, **options))
    raise RuntimeError("netcheck.scan() cannot be called from a running event loop: await netcheck.scan_async()")


def interrupted_by(report: Report) -> signal.Signals | None:
    """The signal that stopped the scan early (SIGINT, SIGTERM), or None when it ran to the end."""
    name = report.info.options.get("interrupted")
    if name not in {signum.name for signum in STOP_SIGNALS}:
        return None
    return signal.Signals[str(name)]
