"""The probe registry: the code of each probe kind, keyed by the profile's `probe:` value.

What a kind is (transports, options, the module that implements it) lives in
netcheck.catalogue; get(name) imports that module on first use, and the module registers its
observe function with @register(name). The observe function records raw facts (an
Observation); the kind's judge turns those into a status. Probe modules must import heavy
libraries (pysnmp, ldap3, dnspython, scapy, cryptography) inside functions so that start-up
stays fast.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping

from netcheck.catalogue import CATALOGUE, KindInfo, OptionSpec
from netcheck.judges import Verdict
from netcheck.model import Flow, Observation, Reason, Status

if TYPE_CHECKING:
    from netcheck.certs.downloads import CrlDownloads

# Default verdict for each reason; a probe's judge may refine it (e.g. NTP offsets).
DEFAULT_STATUS: Mapping[Reason, Status] = {
    Reason.OPEN: Status.PASS,
    Reason.ANSWERED: Status.PASS,
    Reason.CONFIRMED: Status.PASS,
    Reason.LISTENING: Status.PASS,
    Reason.REACHABLE: Status.PASS,
    Reason.UNCONFIRMED: Status.WARN,
    Reason.CERT_WARNING: Status.WARN,
    Reason.INTERCEPTED: Status.WARN,
    Reason.NXDOMAIN: Status.WARN,
    Reason.STALE: Status.WARN,
    Reason.UNSYNCHRONISED: Status.WARN,
    Reason.CLOCK_OFFSET: Status.WARN,
    Reason.NOT_LISTENING: Status.WARN,
    Reason.SATISFIED_ELSEWHERE: Status.SKIP,  # set by a run-level judge (netcheck.judges), never by a probe
    Reason.NOT_CONFIGURED: Status.SKIP,
    Reason.NOT_APPLICABLE: Status.SKIP,
    Reason.INTERNAL_ERROR: Status.ERROR,
    Reason.NO_PRIVILEGE: Status.ERROR,
    Reason.RUN_DEADLINE: Status.ERROR,
    Reason.INTERRUPTED: Status.ERROR,
}


def default_judge(flow: Flow, observation: Observation) -> Status:
    """Status from the reason alone: anything not listed above is a failure."""
    return DEFAULT_STATUS.get(observation.reason, Status.FAIL)


@dataclass(frozen=True)
class ProbeContext:
    """What every probe may use besides its flow.

    timeout     the per-probe deadline in seconds (the engine enforces it too)
    run_id      this run's unique id (syslog test messages, listener tokens)
    udp_tries   how many datagrams a UDP probe sends before calling it silence
    env         where *_env options are looked up (os.environ in real runs)
    settings    site-wide settings (e.g. dns names to query), read-only
    crl_downloads  the run's shared CRL downloads (one GET per URL and path, also read by the
                certificate check); None outside a scan: the probe then fetches on its own
    """

    timeout: float
    run_id: str
    udp_tries: int = 3
    env: Mapping[str, str] = field(default_factory=dict)
    settings: Mapping[str, Any] = field(default_factory=dict)
    crl_downloads: CrlDownloads | None = None

    def secret(self, flow: Flow, option: str) -> str | None:
        """The value of the environment variable named by `flow.options[option]`, or None."""
        name = flow.options.get(option)
        return self.env.get(name) if isinstance(name, str) else None


# address is the resolved IP of flow.host, or None for flows that need none (inbound).
ObserveFunc = Callable[[Flow, "str | None", ProbeContext], Awaitable[Observation]]
# A judge returns a bare Status, or a Verdict that also names the rule applied and what was found.
JudgeFunc = Callable[[Flow, Observation], "Status | Verdict"]


@dataclass(frozen=True)
class ProbeKind:
    """A loaded probe: its catalogue entry (netcheck.catalogue.KindInfo) plus the code that runs it."""

    info: KindInfo
    observe: ObserveFunc
    judge: JudgeFunc

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def transports(self) -> frozenset[str]:
        return self.info.transports

    @property
    def options(self) -> Mapping[str, OptionSpec]:
        return self.info.options

    @property
    def on_timeout(self) -> Reason:
        return self.info.on_timeout

    @property
    def resolve(self) -> bool:
        return self.info.resolve

    @property
    def summary(self) -> str:
        return self.info.summary

    @property
    def imports(self) -> tuple[str, ...]:
        return self.info.imports


# The kinds loaded so far: a catalogue kind appears once its module is imported (get() does that).
REGISTRY: dict[str, ProbeKind] = {}


def register(
    name: str,
    *,
    judge: JudgeFunc = default_judge,
    transports: tuple[str, ...] | None = None,
    summary: str = "",
    options: Mapping[str, OptionSpec] | None = None,
    on_timeout: Reason = Reason.TIMEOUT,
    resolve: bool = True,
    imports: tuple[str, ...] = (),
) -> Callable[[ObserveFunc], ObserveFunc]:
    """Register `observe` as the code of probe kind `name`.

    A catalogue kind takes everything but its judge from netcheck.catalogue and must be
    registered by the module the catalogue names. A kind outside the catalogue (a test's
    throw-away kind) describes itself here: `transports` is then required.
    """

    def decorate(observe: ObserveFunc) -> ObserveFunc:
        if name in REGISTRY:
            raise RuntimeError(f"probe kind {name!r} registered twice")
        listed = CATALOGUE.get(name)
        if transports is None:
            if listed is None:
                raise RuntimeError(f"probe kind {name!r} is not in netcheck.catalogue (give its transports)")
            if listed.module != observe.__module__:
                raise RuntimeError(f"probe kind {name!r} belongs to {listed.module}, not {observe.__module__}")
            info = listed
        else:
            if listed is not None:
                raise RuntimeError(f"probe kind {name!r} is in netcheck.catalogue: register it by name only")
            info = KindInfo(name, observe.__module__, frozenset(transports), summary, dict(options or {}),
                            on_timeout, resolve, imports)
        REGISTRY[name] = ProbeKind(info, _refusing_unsafe_settings(observe), judge)
        return observe

    return decorate


def _refusing_unsafe_settings(observe: ObserveFunc) -> ObserveFunc:
    """A probe that met a setting it must not send (values.wire_text) ends as an error result
    naming the setting, never as a crash and never with the bytes on the wire."""
    from netcheck.values import UnsafeForWire

    @functools.wraps(observe)
    async def guarded(flow: Flow, address: str | None, ctx: ProbeContext) -> Observation:
        try:
            return await observe(flow, address, ctx)
        except UnsafeForWire as refusal:
            return Observation(Reason.INTERNAL_ERROR, str(refusal), {"refused_setting": True})

    return guarded


def get(name: str) -> ProbeKind:
    """The loaded kind `name`, importing its implementing module on first use (KeyError: no such kind)."""
    kind = REGISTRY.get(name)
    if kind is None:
        importlib.import_module(CATALOGUE[name].module)
        kind = REGISTRY[name]
    return kind


def load_all() -> Mapping[str, ProbeKind]:
    """Every catalogue kind loaded (imports every probe module: tests and tools, not scans)."""
    for name in CATALOGUE:
        get(name)
    return REGISTRY
