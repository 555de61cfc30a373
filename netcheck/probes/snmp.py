"""SNMP 161/udp: GET sysDescr.0 and sysUpTime.0 with v2c or v3 credentials (pysnmp asyncio).

An agent answers nothing to a wrong community, so silence cannot be told apart from a
firewall or a stopped agent; the detail says so. To keep ICMP refused/prohibited
precise anyway, one empty datagram travels beside the request on an ICMP-aware
socket: agents discard it (it only counts as an ASN.1 parse error), while a closed or
blocked port answers it with ICMP, and something that answers it is not an agent.
pysnmp imports slowly, so it is imported inside the probe. Secrets never reach the
evidence or the detail.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

from netcheck import values
from netcheck.catalogue import SNMP_SECURITY_LEVELS as SECURITY_LEVELS
from netcheck.egress import current as current_egress
from netcheck.judges import Verdict
from netcheck.model import Facts, Flow, Observation, PortRange, Reason, Status
from netcheck.net.sockets import elapsed_ms
from netcheck.probes import ProbeContext, default_judge, register
from netcheck.probes.udp import exchange

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
MARGIN_S = 0.15
AUTH_PROTOCOLS = {
    "NONE": "USM_AUTH_NONE", "MD5": "USM_AUTH_HMAC96_MD5", "SHA": "USM_AUTH_HMAC96_SHA",
    "SHA1": "USM_AUTH_HMAC96_SHA", "SHA224": "USM_AUTH_HMAC128_SHA224", "SHA256": "USM_AUTH_HMAC192_SHA256",
    "SHA384": "USM_AUTH_HMAC256_SHA384", "SHA512": "USM_AUTH_HMAC384_SHA512",
}
PRIV_PROTOCOLS = {
    "NONE": "USM_PRIV_NONE", "DES": "USM_PRIV_CBC56_DES", "3DES": "USM_PRIV_CBC168_3DES",
    "AES": "USM_PRIV_CFB128_AES", "AES128": "USM_PRIV_CFB128_AES", "AES192": "USM_PRIV_CFB192_AES",
    "AES256": "USM_PRIV_CFB256_AES",
}
# pysnmp error indications that mean "the agent rejected these v3 credentials".
AUTH_INDICATIONS = frozenset({
    "UnknownUserName", "WrongDigest", "AuthenticationFailure", "AuthenticationError", "DecryptionError",
    "UnknownSecurityName", "UnsupportedSecurityLevel", "NotInTimeWindow", "UnknownEngineID",
    "UnknownCommunityName", "NoAuthentication", "NoEncryption",
})
# error-status values of a response PDU that mean access control said no.
ACCESS_STATUSES = frozenset({"authorizationError", "noAccess"})
SILENCE_NOTE = ("a firewall dropping UDP {port}, a stopped agent and wrong credentials (community, "
                "v3 user or privacy key) look the same on the wire")


class ConfigProblem(Exception):
    """The site's SNMP settings cannot make a request (the message names the setting)."""


@dataclass
class Credentials:
    """The credentials the request uses; `secrets` are scrubbed from every text we report."""

    version: str
    auth_data: Any
    described: dict[str, Any]
    secrets: list[str] = field(default_factory=list, repr=False)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret:
                text = text.replace(secret, "***")
        return text


@dataclass(frozen=True)
class SnmpFacts(Facts):
    """An agent's answer to the site's credentials.

    credentials  the version and (v3) user, level and protocols the site asks for, never a secret
    answer       what the agent said: "sysDescr '...'", or the error it sent (authorizationError, ...)
    """

    credentials: str
    answer: str


def credentials_text(described: dict[str, Any]) -> str:
    if described.get("version") != "3":
        return f"v{described.get('version')} community"
    return (f"v3 user {described.get('user')} {described.get('security_level')} "
            f"({described.get('auth_protocol')}/{described.get('priv_protocol')})")


def judge_snmp(flow: Flow, observation: Observation) -> Status | Verdict:
    """The agent must answer the site's credentials; without an answer the reason decides alone."""
    status = default_judge(flow, observation)
    facts = observation.facts
    if not isinstance(facts, SnmpFacts):
        return status
    return Verdict(status, f"GET sysDescr.0 answered with {facts.credentials}", facts.answer)


@register("snmp", judge=judge_snmp)
async def observe_snmp(flow: Flow, address: str | None, ctx: ProbeContext) -> Observation:
    assert address is not None
    if isinstance(flow.port, PortRange):
        return Observation(Reason.NOT_APPLICABLE, "SNMP is tested on a single port, not a range")
    try:
        credentials = build_credentials(flow, ctx)
    except ConfigProblem as problem:
        return Observation(Reason.NOT_CONFIGURED, f"SNMP {flow.port}: {problem}")
    started = time.monotonic()
    budget = max(0.2, ctx.timeout - MARGIN_S)
    tries = max(1, ctx.udp_tries)
    request = asyncio.ensure_future(_get(address, flow.port, credentials, budget, tries))
    watch = asyncio.ensure_future(
        exchange(address, flow.port, b"", dataclasses.replace(ctx, udp_tries=1, timeout=budget)))
    try:
        async with asyncio.timeout(budget + 0.1):
            await asyncio.wait({request, watch}, return_when=asyncio.FIRST_COMPLETED)
            if not request.done() and watch.result().reason in (Reason.REFUSED, Reason.PROHIBITED,
                                                                 Reason.UNREACHABLE):
                return _icmp_failure(watch.result(), credentials)
            await asyncio.wait({request})
    except TimeoutError:
        # pysnmp's own timers run a little late; its silence is ours.
        observation = Observation(Reason.NO_RESPONSE,
                                  f"SNMP {flow.port}: no answer to {tries} requests in {ctx.timeout:g} s; "
                                  + SILENCE_NOTE.format(port=flow.port),
                                  {"snmp": credentials.described, "tries": tries})
    else:
        observation = read_result(request, credentials, flow.port, tries, budget, elapsed_ms(started))
    finally:
        for task in (request, watch):
            task.cancel()
        await asyncio.gather(request, watch, return_exceptions=True)
    if observation.reason is Reason.NO_RESPONSE and watch.done() and not watch.cancelled():
        return _explain_silence(observation, watch.result(), credentials, flow.port)
    return observation


def build_credentials(flow: Flow, ctx: ProbeContext) -> Credentials:
    from pysnmp.hlapi.v3arch import asyncio as hlapi

    version = str(flow.options.get("version", "2c")).lower().lstrip("v")
    if version in ("2", "2c"):
        community = ctx.secret(flow, "community_env")
        if not community:
            raise ConfigProblem(_missing("community_env", flow, "the v2c community"))
        return Credentials("2c", hlapi.CommunityData(community, mpModel=1), {"version": "2c"}, [community])
    if version != "3":
        raise ConfigProblem(f"settings.snmp.version {flow.options.get('version')!r} is not \"2c\" or \"3\"")
    user = flow.options.get("user")
    if isinstance(user, str):
        values.wire_text(user, "the SNMPv3 user")
    if not user:
        raise ConfigProblem("SNMPv3 needs settings.snmp.user")
    auth_key = ctx.secret(flow, "auth_key_env")
    priv_key = ctx.secret(flow, "priv_key_env")
    # The level follows the options the site set, not which variables happen to be exported:
    # a missing privacy key must not quietly downgrade the request to authNoPriv.
    options = flow.options
    level = str(options.get("security_level") or
                ("authPriv" if options.get("priv_key_env") else
                 "authNoPriv" if options.get("auth_key_env") else "noAuthNoPriv"))
    if level not in SECURITY_LEVELS:
        raise ConfigProblem(f"settings.snmp.security_level {level!r} is not one of {', '.join(SECURITY_LEVELS)}")
    auth_name = str(flow.options.get("auth_protocol", "SHA" if level != "noAuthNoPriv" else "NONE")).upper()
    priv_name = str(flow.options.get("priv_protocol", "AES" if level == "authPriv" else "NONE")).upper()
    if auth_name not in AUTH_PROTOCOLS:
        raise ConfigProblem(f"settings.snmp.auth_protocol {auth_name!r} is not one of {', '.join(AUTH_PROTOCOLS)}")
    if priv_name not in PRIV_PROTOCOLS:
        raise ConfigProblem(f"settings.snmp.priv_protocol {priv_name!r} is not one of {', '.join(PRIV_PROTOCOLS)}")
    if level != "noAuthNoPriv" and not auth_key:
        raise ConfigProblem(_missing("auth_key_env", flow, f"the {level} authentication key"))
    if level == "authPriv" and not priv_key:
        raise ConfigProblem(_missing("priv_key_env", flow, "the authPriv privacy key"))
    if level == "noAuthNoPriv":
        auth_name, priv_name, auth_key, priv_key = "NONE", "NONE", None, None
    elif level == "authNoPriv":
        priv_name, priv_key = "NONE", None
    auth_data = hlapi.UsmUserData(
        str(user), authKey=auth_key, privKey=priv_key,
        authProtocol=getattr(hlapi, AUTH_PROTOCOLS[auth_name]), privProtocol=getattr(hlapi, PRIV_PROTOCOLS[priv_name]),
    )
    described = {"version": "3", "user": str(user), "security_level": level, "auth_protocol": auth_name,
                 "priv_protocol": priv_name}
    return Credentials("3", auth_data, described, [s for s in (auth_key, priv_key) if s])


def _missing(option: str, flow: Flow, what: str) -> str:
    name = flow.options.get(option)
    if name:
        return f"{what} is missing: environment variable {name} (settings.snmp.{option}) is not set"
    return f"{what} is missing: set settings.snmp.{option} to the name of an environment variable holding it"


async def _get(address: str, port: int, credentials: Credentials, budget: float, tries: int) -> Any:
    from pysnmp.hlapi.v3arch import asyncio as hlapi

    engine = hlapi.SnmpEngine()
    try:
        target = await hlapi.UdpTransportTarget.create((address, port), timeout=budget / tries, retries=tries - 1)
        source = current_egress().source_for(address)  # pysnmp binds an address, not a device
        if source:
            target.set_local_address((source, 0))
        return await hlapi.get_cmd(
            engine, credentials.auth_data, target, hlapi.ContextData(),
            hlapi.ObjectType(hlapi.ObjectIdentity(SYS_DESCR)), hlapi.ObjectType(hlapi.ObjectIdentity(SYS_UPTIME)),
            lookupMib=False,
        )
    finally:
        engine.close_dispatcher()


def read_result(request: asyncio.Future[Any], credentials: Credentials, port: int, tries: int, budget: float,
                latency: float) -> Observation:
    """Turn get_cmd's outcome (or its exception) into an observation, with typed facts when the agent answered."""
    observation = _read_result(request, credentials, port, tries, budget, latency)
    evidence = observation.evidence
    if observation.reason is Reason.ANSWERED:
        outside = evidence.get("not_in_view")
        answer = (f"answered; {', '.join(str(oid) for oid in outside)} outside its view"
                  if isinstance(outside, list) and outside else f"sysDescr '{evidence.get('sys_descr')}'")
    elif observation.reason is Reason.AUTH_FAILED:
        answer = f"rejected: {evidence.get('error_indication') or evidence.get('error_status')}"
    else:
        return observation
    return dataclasses.replace(observation, facts=SnmpFacts(credentials_text(credentials.described), answer))


def _read_result(request: asyncio.Future[Any], credentials: Credentials, port: int, tries: int, budget: float,
                 latency: float) -> Observation:
    evidence: dict[str, Any] = {"snmp": credentials.described}
    exc = request.exception() if not request.cancelled() else None
    if request.cancelled() or exc is not None:
        text = credentials.scrub(f"{type(exc).__name__}: {exc}" if exc else "cancelled")
        return Observation(Reason.PROTOCOL_ERROR, f"SNMP {port}: the request failed ({text})", evidence)
    indication, status, index, varbinds = request.result()
    if indication:
        name = type(indication).__name__
        text = credentials.scrub(str(indication))
        evidence["error_indication"] = name
        if name == "RequestTimedOut":
            return Observation(Reason.NO_RESPONSE,
                               f"SNMP {port}: no answer to {tries} requests in {budget:.1f} s; "
                               + SILENCE_NOTE.format(port=port), {**evidence, "tries": tries})
        if name in AUTH_INDICATIONS:
            return Observation(Reason.AUTH_FAILED, f"SNMP {port}: the agent rejected the v{credentials.version} "
                                                   f"credentials ({text})", evidence, latency)
        return Observation(Reason.PROTOCOL_ERROR, f"SNMP {port}: {text}", evidence, latency)
    if int(status):
        status_text = status.prettyPrint() if hasattr(status, "prettyPrint") else str(status)
        evidence["error_status"] = status_text
        evidence["error_index"] = int(index)
        reason = Reason.AUTH_FAILED if status_text in ACCESS_STATUSES else Reason.PROTOCOL_ERROR
        return Observation(reason, f"SNMP {port}: the agent answered error-status {status_text}", evidence, latency)
    values = {str(name): value for name, value in varbinds}
    descr = _text(values.get(SYS_DESCR))
    uptime = _ticks(values.get(SYS_UPTIME))
    evidence.update({"sys_descr": descr, "sys_uptime_ticks": uptime})
    missing = [oid for oid in (SYS_DESCR, SYS_UPTIME) if _is_missing(values.get(oid))]
    if missing:
        evidence["not_in_view"] = missing
        return Observation(Reason.ANSWERED, f"SNMP v{credentials.version} {port}: the agent answered, but "
                                            f"{', '.join(missing)} is outside its view", evidence, latency)
    shown_uptime = _uptime_text(uptime) if uptime is not None else "?"
    return Observation(Reason.ANSWERED, f"SNMP v{credentials.version} {port}: sysDescr '{descr}', "
                                        f"up {shown_uptime}", evidence, latency)


def _is_missing(value: Any) -> bool:
    # noSuchObject / noSuchInstance / endOfMibView come back as special value classes.
    return value is None or type(value).__name__ in ("NoSuchObject", "NoSuchInstance", "EndOfMibView")


def _text(value: Any) -> str | None:
    if _is_missing(value):
        return None
    raw = value.asOctets() if hasattr(value, "asOctets") else str(value).encode()
    return raw.decode("utf-8", errors="replace").strip()


def _ticks(value: Any) -> int | None:
    if _is_missing(value):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _uptime_text(ticks: int) -> str:
    seconds = ticks // 100
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    return (f"{days}d " if days else "") + f"{hours:02d}:{minutes:02d}:{seconds:02d}"


def _icmp_failure(watch: Observation, credentials: Credentials) -> Observation:
    return Observation(watch.reason, watch.detail, {**watch.evidence, "snmp": credentials.described},
                       watch.latency_ms)


def _explain_silence(silence: Observation, watch: Observation, credentials: Credentials, port: int) -> Observation:
    """The SNMP request timed out: did the empty datagram learn anything more?"""
    if watch.reason in (Reason.REFUSED, Reason.PROHIBITED, Reason.UNREACHABLE):
        return _icmp_failure(watch, credentials)
    if watch.reason is Reason.ANSWERED:
        return Observation(Reason.PROTOCOL_ERROR,
                           f"SNMP {port}: something answers on this port, but not as an SNMP agent "
                           "(it replied to an empty datagram and not to the SNMP request)",
                           {**silence.evidence, "reply": watch.evidence.get("reply", "")}, watch.latency_ms)
    return silence
