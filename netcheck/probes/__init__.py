"""The probe registry: one entry per probe kind, keyed by the profile's `probe:` value.

A probe module registers its observe function once with @register. The observe
function records raw facts (an Observation); the entry's judge turns those into a
status. Probe modules must import heavy libraries (pysnmp, ldap3, dnspython, scapy,
cryptography) inside functions so that start-up stays fast.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Mapping

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
class OptionSpec:
    """One option a probe accepts from a profile flow's `options` or the site's `settings`.

    type        the YAML types accepted
    help        what the option means (error messages, the JSON Schema)
    secret_env  the value names an environment variable holding a secret (checked as such a name)
    check       content rule beyond the type (netcheck.values): None when fine, else what is wrong
    """

    type: type | tuple[type, ...]
    help: str
    secret_env: bool = False
    check: Callable[[Any], str | None] | None = None


@dataclass(frozen=True)
class ProbeKind:
    """A registered probe.

    transports   which transports it can test
    options      the option keys it accepts (validated before any probing)
    on_timeout   the reason recorded when the engine's deadline ends the probe
    resolve      whether the engine resolves flow.host to an address first
    imports      heavy modules the probe imports lazily; the engine loads them before any
                 probe's clock starts, so an import never stalls other probes' timings
    """

    name: str
    observe: ObserveFunc
    judge: JudgeFunc
    transports: frozenset[str]
    options: Mapping[str, OptionSpec]
    on_timeout: Reason
    resolve: bool
    summary: str
    imports: tuple[str, ...] = ()


REGISTRY: dict[str, ProbeKind] = {}


def register(
    name: str,
    *,
    transports: tuple[str, ...],
    summary: str,
    options: Mapping[str, OptionSpec] | None = None,
    judge: JudgeFunc = default_judge,
    on_timeout: Reason = Reason.TIMEOUT,
    resolve: bool = True,
    imports: tuple[str, ...] = (),
) -> Callable[[ObserveFunc], ObserveFunc]:
    """Register `observe` as the probe for `name` (the profile's `probe:` value)."""

    def decorate(observe: ObserveFunc) -> ObserveFunc:
        if name in REGISTRY:
            raise RuntimeError(f"probe kind {name!r} registered twice")
        REGISTRY[name] = ProbeKind(
            name=name,
            observe=_refusing_unsafe_settings(observe),
            judge=judge,
            transports=frozenset(transports),
            options=dict(options or {}),
            on_timeout=on_timeout,
            resolve=resolve,
            summary=summary,
            imports=imports,
        )
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


_loaded = False


def load_all() -> Mapping[str, ProbeKind]:
    """Import every probe module once so that each registers itself."""
    global _loaded
    if not _loaded:
        for module in pkgutil.iter_modules(__path__):
            if not module.name.startswith("_"):
                importlib.import_module(f"{__name__}.{module.name}")
        _loaded = True
    return REGISTRY


def get(name: str) -> ProbeKind:
    return load_all()[name]
