"""Load and validate role profiles and site files.

Every problem becomes a ConfigError naming the file, the line and the key, so the
CLI can print one line and exit 2. Nothing here touches the network.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from netcheck import values
from netcheck.catalogue import CATALOGUE, LOCAL_LISTENER, KindInfo, OptionSpec
from netcheck.errors import UsageError
from netcheck.inputs import CAP_PROFILE, CAP_SITE
from netcheck.model import Direction, Port, PortRange
from netcheck.yamldoc import PathKey, YamlDoc, load_yaml

STANDARD_PEERS: tuple[str, ...] = (
    "console", "ha_console", "sensors", "clients", "ntp", "dns", "smtp",
    "syslog", "ldap", "snmp", "wmi", "crl", "proxy",
    "siem", "backup", "bmc", "api_clients",  # rows of the current documentation a site switches on
)
# The cloud endpoints: hosts from the site file's top-level `endpoints:` list, settings under settings.cloud.
CLOUD_PEER = "cloud"
# Documentation generations of the built-in profiles: profiles/*.yaml is the seed's 2021 table
# (the default; names as before), profiles/current/*.yaml today's pages (cloud sensors, no console).
GENERATIONS: tuple[str, ...] = ("2021", "current")
DEFAULT_GENERATION = "2021"
DOC_RELEASES = ("2021", "later", "current")
URL_PEERS = frozenset({"crl", "proxy"})
URL_DEFAULT_PORTS = {"http": 80, "https": 443}
PROXY_DEFAULT_PORT = 3128
# Matched whole (fullmatch): with `$` a trailing newline would pass.
FLOW_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
PEER_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
# Free text (descriptions, notes) may span lines; no other control characters anywhere.
TEXT_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
# Option names that would hold a secret: the site file may only name an environment variable.
SECRET_WORDS = ("password", "passwd", "community", "passphrase", "secret", "auth_key", "priv_key", "token")

# Settings every peer accepts whatever probes its flows use: how the peer is tested, not a probe option.
PEER_SETTINGS: Mapping[str, OptionSpec] = {
    "listener": OptionSpec(bool, "the peer runs `netcheck listen`: test its flows with tokens (confirmed/blocked)"),
}

PROFILE_EXPECTED = "a profile: name, role, description, flows"
INBOUND_EXPECTED = (f"probe: {LOCAL_LISTENER} (an inbound row is tested on this host; its far side with "
                    "`netcheck listen` here and a scan from the peer)")
SITE_EXPECTED = "a site file: name, peers"


@dataclass(frozen=True)
class FlowSpec:
    """One row of a profile: a documented flow seen from the profile's role."""

    id: str
    purpose: str
    protocol: str
    transport: str
    port: Port
    direction: Direction
    peer: str
    probe: str
    required: bool = True
    source: str = ""
    destination: str = ""
    note: str = ""
    doc: str = "2021"
    options: Mapping[str, Any] = field(default_factory=dict)
    switch: bool = False  # planned only when the site names the peer (a row the site switches on)


@dataclass(frozen=True)
class Profile:
    name: str
    role: str
    description: str
    flows: tuple[FlowSpec, ...]
    path: str
    generation: str = DEFAULT_GENERATION


@dataclass(frozen=True)
class Site:
    """Which real hosts play each peer at one site.

    peers     peer key -> hosts as written (IPs, names, or URLs for crl/proxy)
    ports     flow id -> port override
    settings  peer key -> probe options (secrets only as *_env variable names)
    extra     the other sections (certificates, ...) as parsed, for the modules that own them
    """

    name: str
    description: str
    peers: Mapping[str, tuple[str, ...]]
    ports: Mapping[str, Port]
    settings: Mapping[str, Mapping[str, Any]]
    extra: Mapping[str, Any]
    path: str


# ---------------------------------------------------------------- locating files

def data_dir(name: str) -> Path:
    """A shipped data folder: the source checkout's, else the installed copy."""
    checkout = Path(__file__).resolve().parent.parent / name
    if checkout.is_dir():
        return checkout
    return Path(sys.prefix) / "share" / "netcheck" / name


def builtin_profiles(generation: str | None = None) -> dict[str, Path]:
    """Built-in profiles by name: the 2021 ones by their plain name (sensor, console, client),
    the current ones as current/<name>; `generation` picks one generation."""
    found: dict[str, Path] = {}
    if generation in (None, "2021"):
        found.update({path.stem: path for path in sorted(data_dir("profiles").glob("*.yaml"))})
    if generation in (None, "current"):
        found.update({f"current/{path.stem}": path for path in sorted(data_dir("profiles").glob("current/*.yaml"))})
    return found


def generation_of(path: Path | str) -> str:
    """The documentation generation of a profile file: current when it lives in profiles/current/."""
    return "current" if Path(path).parent.name == "current" else DEFAULT_GENERATION


def resolve_profile(name_or_path: str, generation: str = DEFAULT_GENERATION) -> Path:
    """A built-in profile name (sensor, console, client; current/sensor, sensor-cloud, ...) or a
    path to a YAML file. A plain name is looked up in `generation` first, then in the other."""
    builtins = builtin_profiles()
    if generation != DEFAULT_GENERATION and f"{generation}/{name_or_path}" in builtins:
        return builtins[f"{generation}/{name_or_path}"]
    if name_or_path in builtins:
        return builtins[name_or_path]
    if f"current/{name_or_path}" in builtins:  # names only the current generation has (sensor-cloud)
        return builtins[f"current/{name_or_path}"]
    if name_or_path.startswith("2021/") and name_or_path[5:] in builtins:
        return builtins[name_or_path[5:]]
    if "/" in name_or_path or name_or_path.endswith((".yaml", ".yml")) or _exists(name_or_path):
        return Path(name_or_path)
    raise UsageError(
        f"unknown profile '{name_or_path}'",
        hint=f"built-in profiles: {', '.join(builtins) or 'none found'}; or give a path to a YAML file",
    )


def _exists(name: str) -> bool:
    try:
        return Path(name).exists()
    except (OSError, ValueError):  # a name too long for the file system, or holding NUL: not a file
        return False


# ---------------------------------------------------------------- shared checks

def _require_mapping(doc: YamlDoc, path: PathKey, value: Any, expected: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise doc.error(path, f"is {_kind(value)}", expected=expected)
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def _check_keys(
    doc: YamlDoc, path: PathKey, mapping: Mapping[str, Any], allowed: tuple[str, ...], required: tuple[str, ...]
) -> None:
    for key in mapping:
        if key not in allowed:
            raise doc.error((*path, key), "unknown key", expected="one of " + ", ".join(allowed))
    for key in required:
        if key not in mapping:
            where = f"{path[-1]!s}" if path else "top level"
            raise doc.error(path, f"missing key '{key}' at {where}", expected="one of " + ", ".join(required))


def _string(doc: YamlDoc, path: PathKey, value: Any, *, pattern: re.Pattern[str] | None = None,
            expected: str = "a non-empty string") -> str:
    if not isinstance(value, str) or not value.strip():
        raise doc.error(path, f"is {_kind(value)}", expected=expected)
    if pattern and not pattern.fullmatch(value):
        raise doc.error(path, f"{values.describe(value)} is not valid", expected=expected)
    if values.has_control(value):
        raise doc.error(path, f"{values.describe(value)} holds a control character", expected=expected)
    return value


def _free_text(doc: YamlDoc, path: PathKey, value: Any) -> str:
    """A description or note: any text (several lines allowed), but no other control characters."""
    if not isinstance(value, str):
        raise doc.error(path, f"is {_kind(value)}", expected="a string")
    if TEXT_CONTROL.search(value):
        raise doc.error(path, "holds a control character", expected="text (line breaks allowed)")
    return value


def parse_port(doc: YamlDoc, path: PathKey, value: Any, *, allow_range: bool = True) -> Port:
    expected = "a port 1-65535" + (" or a range such as 1025-65535" if allow_range else "")
    if isinstance(value, bool):
        raise doc.error(path, f"is {_kind(value)}", expected=expected)
    if isinstance(value, int):
        if not 1 <= value <= 65535:
            raise doc.error(path, f"port {value} is out of range", expected=expected)
        return value
    if isinstance(value, str) and allow_range:
        match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", value)
        if match:
            first, last = int(match.group(1)), int(match.group(2))
            if 1 <= first <= last <= 65535:
                return PortRange(first, last)
        raise doc.error(path, f"{value!r} is not a valid port range", expected=expected)
    raise doc.error(path, f"is {_kind(value)}", expected=expected)


def is_valid_host(text: str) -> bool:
    """An IP address or an RFC 1123 host name (whose last label is not all digits), in ASCII."""
    return values.is_host(text)


def _check_options(
    doc: YamlDoc, path: PathKey, options: Any, accepted: Mapping[str, OptionSpec], owner: str
) -> dict[str, Any]:
    mapping = _require_mapping(doc, path, options, f"a mapping of options for {owner}")
    for key, value in mapping.items():
        lowered = key.lower()
        if any(word in lowered for word in SECRET_WORDS) and not lowered.endswith("_env"):
            raise doc.error(
                (*path, key), "secrets are not allowed in this file",
                expected=f"'{key}_env: VARIABLE' naming an environment variable that holds it",
            )
        if key not in accepted:
            names = ", ".join(sorted(accepted)) or "none"
            raise doc.error((*path, key), f"unknown option for {owner}", expected=f"one of: {names}")
        spec = accepted[key]
        types = spec.type if isinstance(spec.type, tuple) else (spec.type,)
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if not ok:
            wanted = " or ".join(t.__name__ for t in types)
            raise doc.error((*path, key), f"is {_kind(value)}", expected=f"{wanted}: {spec.help}")
        if spec.secret_env or lowered.endswith("_env"):
            problem = values.env_name(value)
        elif spec.check is not None:
            problem = spec.check(value)
        elif isinstance(value, str) and values.has_control(value):
            problem = f"{values.describe(value)} holds a control character"
        else:
            problem = None
        if problem:
            raise doc.error((*path, key), problem, expected=spec.help)
    return mapping


def _options_of(kinds: list[KindInfo]) -> dict[str, OptionSpec]:
    merged: dict[str, OptionSpec] = {}
    for kind in kinds:
        merged.update(kind.options)
    return merged


# ---------------------------------------------------------------- profiles

FLOW_KEYS = ("id", "purpose", "protocol", "transport", "port", "direction", "peer", "probe",
             "required", "source", "destination", "note", "doc", "options", "switch")
FLOW_REQUIRED = ("id", "purpose", "protocol", "transport", "port", "direction", "peer", "probe")


def load_profile(name_or_path: str, generation: str = DEFAULT_GENERATION) -> Profile:
    """A built-in profile by name (parsed once per process), or a profile file (parsed each time)."""
    path = resolve_profile(name_or_path, generation)
    if path in builtin_profiles().values():
        return _builtin_profile(path, path.stat().st_mtime_ns)
    profile = profile_from_doc(load_yaml(path, PROFILE_EXPECTED, CAP_PROFILE))
    return replace(profile, generation=generation_of(path))


def profile_from_doc(doc: YamlDoc) -> Profile:
    top = _require_mapping(doc, (), doc.data, PROFILE_EXPECTED)
    _check_keys(doc, (), top, ("name", "role", "description", "flows"), ("name", "role", "flows"))
    name = _string(doc, ("name",), top["name"])
    role = _string(doc, ("role",), top["role"], pattern=PEER_KEY, expected="a role such as sensor")
    description = _free_text(doc, ("description",), top.get("description") or "")
    raw_flows = top["flows"]
    if not isinstance(raw_flows, list) or not raw_flows:
        raise doc.error(("flows",), f"is {_kind(raw_flows)}", expected="a non-empty list of flows")
    flows: list[FlowSpec] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_flows):
        flow = _flow_spec(doc, ("flows", index), raw)
        if flow.id in seen:
            raise doc.error(("flows", index, "id"), f"duplicate flow id '{flow.id}'", expected="unique ids")
        seen.add(flow.id)
        flows.append(flow)
    return Profile(name, role, description.strip(), tuple(flows), doc.source)


_FLOW_KEY_SET, _FLOW_REQUIRED_SET = frozenset(FLOW_KEYS), frozenset(FLOW_REQUIRED)
_DIRECTIONS = {"in": Direction.IN, "out": Direction.OUT}


def _flow_spec(doc: YamlDoc, path: PathKey, raw: Any) -> FlowSpec:
    """One profile row. The common row (no options, a single port, every value well formed) is
    checked here in one expression; any other row, and every mistake, goes through
    _checked_flow_spec, which names the first problem. Both build the same FlowSpec."""
    if type(raw) is not dict or "options" in raw or not _FLOW_REQUIRED_SET <= raw.keys() <= _FLOW_KEY_SET:
        return _checked_flow_spec(doc, path, raw)
    get = raw.get
    flow_id, transport, direction, probe, port, peer = (
        raw["id"], raw["transport"], raw["direction"], raw["probe"], raw["port"], raw["peer"])
    purpose, protocol = raw["purpose"], raw["protocol"]
    source, destination, note = get("source", ""), get("destination", ""), get("note", "")
    required, switch, doc_release = get("required", True), get("switch", False), str(get("doc", "2021"))
    kind = CATALOGUE.get(probe) if type(probe) is str else None
    well_formed = (
        kind is not None and type(transport) is str and transport in kind.transports
        and type(direction) is str and direction in _DIRECTIONS and kind.inbound == (direction == "in")
        and type(flow_id) is str and FLOW_ID.fullmatch(flow_id) is not None
        and type(peer) is str and PEER_KEY.fullmatch(peer) is not None
        and type(port) is int and 1 <= port <= 65535
        and type(required) is bool and type(switch) is bool and doc_release in DOC_RELEASES
        and type(purpose) is str and type(protocol) is str and purpose.strip() != "" and protocol.strip() != ""
        and values.CONTROL.search(purpose) is None and values.CONTROL.search(protocol) is None
        and type(source) is str and type(destination) is str and type(note) is str
        and TEXT_CONTROL.search(source) is None and TEXT_CONTROL.search(destination) is None
        and TEXT_CONTROL.search(note) is None
    )
    if not well_formed:
        return _checked_flow_spec(doc, path, raw)
    return FlowSpec(
        id=flow_id, purpose=purpose.strip(), protocol=protocol.strip(), transport=transport, port=port,
        direction=_DIRECTIONS[direction], peer=peer, probe=probe, required=required, source=source.strip(),
        destination=destination.strip(), note=note.strip(), doc=doc_release, options={}, switch=switch,
    )


def _checked_flow_spec(doc: YamlDoc, path: PathKey, raw: Any) -> FlowSpec:
    entry = _require_mapping(doc, path, raw, "a flow mapping with id, purpose, protocol, transport, port, ...")
    _check_keys(doc, path, entry, FLOW_KEYS, FLOW_REQUIRED)
    flow_id = _string(doc, (*path, "id"), entry["id"], pattern=FLOW_ID,
                      expected="lower-case letters, digits and dashes")
    transport = entry["transport"]
    if transport not in ("tcp", "udp"):
        raise doc.error((*path, "transport"), f"is {_kind(transport)}", expected="tcp or udp")
    direction = entry["direction"]
    if direction not in ("in", "out"):
        raise doc.error((*path, "direction"), f"is {_kind(direction)}",
                        expected="in (this host must accept) or out (this host initiates)")
    probe = _string(doc, (*path, "probe"), entry["probe"])
    kind = CATALOGUE.get(probe)
    if kind is None:
        raise doc.error((*path, "probe"), f"unknown probe kind '{probe}'",
                        expected="one of " + ", ".join(sorted(CATALOGUE)))
    if kind.inbound != (direction == "in"):
        which = "inbound" if direction == "in" else "outbound"
        raise doc.error((*path, "probe"), f"probe '{probe}' cannot test {which} rows",
                        expected=INBOUND_EXPECTED if direction == "in" else "a probe of outbound flows")
    if transport not in kind.transports:
        raise doc.error((*path, "transport"), f"probe '{probe}' cannot test {transport}",
                        expected=" or ".join(sorted(kind.transports)))
    required = entry.get("required", True)
    if not isinstance(required, bool):
        raise doc.error((*path, "required"), f"is {_kind(required)}", expected="true or false")
    doc_release = str(entry.get("doc", "2021"))
    if doc_release not in DOC_RELEASES:
        raise doc.error((*path, "doc"), f"is {doc_release!r}",
                        expected="2021 (the original table), later (2022-2023 pages) or current (2024-2025 pages)")
    switch = entry.get("switch", False)
    if not isinstance(switch, bool):
        raise doc.error((*path, "switch"), f"is {_kind(switch)}",
                        expected="true (tested only when the site names the peer) or false")
    texts = {}
    for key in ("purpose", "protocol", "source", "destination", "note"):
        value = entry.get(key, "")
        if key in FLOW_REQUIRED:
            _string(doc, (*path, key), value)
        else:
            _free_text(doc, (*path, key), value)
        texts[key] = value.strip()
    options = _check_options(doc, (*path, "options"), entry.get("options", {}), kind.options, f"probe {probe}")
    return FlowSpec(
        id=flow_id,
        purpose=texts["purpose"],
        protocol=texts["protocol"],
        transport=transport,
        port=parse_port(doc, (*path, "port"), entry["port"]),
        direction=Direction(direction),
        peer=_string(doc, (*path, "peer"), entry["peer"], pattern=PEER_KEY,
                     expected="a site-file peer key such as console"),
        probe=probe,
        required=required,
        source=texts["source"],
        destination=texts["destination"],
        note=texts["note"],
        doc=doc_release,
        options=options,
        switch=switch,
    )


# ---------------------------------------------------------------- site files

SITE_KEYS = ("name", "description", "peers", "ports", "settings", "certificates", "endpoints")


def load_site(path: str | os.PathLike[str], profile: Profile | None = None) -> Site:
    """A site file, validated against `profile` when given."""
    return site_from_doc(load_yaml(Path(path), SITE_EXPECTED, CAP_SITE), profile)


def site_from_doc(doc: YamlDoc, profile: Profile | None = None) -> Site:
    """Validate a site file, against `profile` when given (its peers, flow ids and probes)."""
    top = _require_mapping(doc, (), doc.data, SITE_EXPECTED)
    _check_keys(doc, (), top, SITE_KEYS, ("name", "peers"))
    name = _string(doc, ("name",), top["name"])
    description = _free_text(doc, ("description",), top.get("description") or "")

    known_peers = list(STANDARD_PEERS)
    if profile:
        known_peers += [f.peer for f in profile.flows if f.peer not in known_peers]
    raw_peers = _require_mapping(doc, ("peers",), top["peers"], "a mapping of peer key -> host(s)")
    peers: dict[str, tuple[str, ...]] = {}
    for key, value in raw_peers.items():
        if key == CLOUD_PEER:
            raise doc.error(("peers", key), "cloud endpoints are not a peer",
                            expected="a top-level 'endpoints:' list of name or name:port entries")
        if key not in known_peers:
            raise doc.error(("peers", key), "unknown peer", expected="one of " + ", ".join(known_peers))
        peers[key] = _peer_hosts(doc, ("peers", key), key, value)
    if "endpoints" in top:
        peers[CLOUD_PEER] = _endpoints(doc, top["endpoints"])
    if CLOUD_PEER not in known_peers:
        known_peers.append(CLOUD_PEER)

    # One site file serves every role, so overrides and settings may name flows and peers of any
    # built-in profile; anything else is a typo.
    raw_ports = top.get("ports") or {}
    raw_settings = top.get("settings") or {}
    known_flows = _known_flows(profile) if raw_ports or raw_settings else _FlowIndex()
    ports: dict[str, Port] = {}
    for flow_id, value in _require_mapping(doc, ("ports",), raw_ports, "flow id -> port").items():
        if flow_id not in known_flows:
            raise doc.error(("ports", flow_id), f"no flow '{flow_id}' in the profiles",
                            expected="a flow id such as " + ", ".join(sorted(known_flows)[:12]) + ", ...")
        ports[flow_id] = parse_port(doc, ("ports", flow_id), value)

    settings: dict[str, dict[str, Any]] = {}
    for peer, options in _require_mapping(doc, ("settings",), raw_settings, "peer key -> options").items():
        if peer not in known_peers:
            raise doc.error(("settings", peer), "unknown peer", expected="one of " + ", ".join(known_peers))
        kinds = [CATALOGUE[kind] for kind in sorted(known_flows.values_for_peer(peer)) if kind in CATALOGUE]
        if not kinds:
            kinds = list(CATALOGUE.values())
        settings[peer] = _check_options(doc, ("settings", peer), options,
                                         {**_options_of(kinds), **PEER_SETTINGS}, f"peer {peer}")

    for index, hop in enumerate(settings.get(CLOUD_PEER, {}).get("proxy_chain") or []):
        if not isinstance(hop, str) or "@" in hop:  # the report repeats options: no credentials in them
            raise doc.error(("settings", CLOUD_PEER, "proxy_chain", index), "is not a proxy URL without credentials",
                            expected="http://host:port")
    extra = {key: top[key] for key in top
             if key not in ("name", "description", "peers", "ports", "settings", "endpoints")}
    if "certificates" in extra:  # checked now, so that `validate` refuses what `scan` would
        from netcheck.certs.site import parse_certificates_section

        parse_certificates_section(extra["certificates"], Path(doc.source))
    return Site(name, description.strip(), peers, ports, settings, extra, doc.source)


class _FlowIndex(dict[str, str]):
    """flow id -> probe kind over several profiles, plus which kinds each peer uses."""

    def __init__(self) -> None:
        super().__init__()
        self.peer_kinds: dict[str, set[str]] = {}

    def add(self, profile: Profile) -> None:
        for flow in profile.flows:
            self[flow.id] = flow.probe
            self.peer_kinds.setdefault(flow.peer, set()).add(flow.probe)

    def values_for_peer(self, peer: str) -> set[str]:
        return self.peer_kinds.get(peer, set())


@functools.lru_cache(maxsize=None)
def _builtin_profile(path: Path, mtime_ns: int) -> Profile:
    """A built-in profile, parsed once per process (and again only if the file changes)."""
    return replace(profile_from_doc(load_yaml(path, PROFILE_EXPECTED, CAP_PROFILE)), generation=generation_of(path))


def _known_flows(profile: Profile | None) -> _FlowIndex:
    index = _FlowIndex()
    for path in builtin_profiles().values():
        if profile is None or Path(profile.path).resolve() != path.resolve():
            index.add(_builtin_profile(path, path.stat().st_mtime_ns))
    if profile:
        index.add(profile)
    return index


def _peer_hosts(doc: YamlDoc, path: PathKey, peer: str, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    hosts: list[str] = []
    for index, item in enumerate(items):
        item_path = (*path, index) if isinstance(value, list) else path
        if peer in URL_PEERS:
            hosts.append(_peer_url(doc, item_path, peer, item))
            continue
        if not isinstance(item, str) or not is_valid_host(item.strip()):
            shown = item if isinstance(item, str) else _kind(item)
            raise doc.error(item_path, f"'{shown}' is not a valid IP address or host name",
                            expected="an IP address, a host name, or a list of them")
        hosts.append(item.strip())
    return tuple(hosts)


def _endpoints(doc: YamlDoc, value: Any) -> tuple[str, ...]:
    """The cloud endpoints as 'name' or 'name:port' (443 written out only when it differs)."""
    from netcheck.cloud.endpoints import EXPECTED_ENTRY, EntryError, parse_entry

    if value is None:
        return ()
    if not isinstance(value, list):
        raise doc.error(("endpoints",), f"is {_kind(value)}", expected=f"a list of entries: {EXPECTED_ENTRY}")
    found: list[str] = []
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise doc.error(("endpoints", index), f"is {_kind(item)}", expected=EXPECTED_ENTRY)
        try:
            found.append(str(parse_entry(item)))
        except EntryError as exc:
            raise doc.error(("endpoints", index), str(exc), expected=EXPECTED_ENTRY) from None
    return tuple(dict.fromkeys(found))


def _peer_url(doc: YamlDoc, path: PathKey, peer: str, item: Any) -> str:
    example = "http://crl.example.com/root.crl" if peer == "crl" else "http://proxy.example.com:3128"
    if not isinstance(item, str):
        raise doc.error(path, f"is {_kind(item)}", expected=f"a URL such as {example}")
    if values.WIRE_TEXT.fullmatch(item.strip()) is None or " " in item.strip():
        raise doc.error(path, f"{values.describe(item)} is not a valid URL",
                        expected=f"printable ASCII without spaces (percent-encode the rest), such as {example}")
    parts = urlsplit(item.strip())
    try:
        port = parts.port
    except ValueError:
        raise doc.error(path, f"'{item}' has an invalid port", expected="a port 1-65535") from None
    if parts.scheme not in URL_DEFAULT_PORTS or not parts.hostname or not is_valid_host(parts.hostname):
        raise doc.error(path, f"'{item}' is not a valid URL", expected=f"a URL such as {example}")
    if peer == "crl" and parts.scheme != "http":
        raise doc.error(path, f"'{item}' is not an http:// URL",
                        expected="an http:// URL: CRLs are fetched over plain HTTP, as the appliance does")
    if port == 0:
        raise doc.error(path, f"'{item}' has an invalid port", expected="a port 1-65535")
    if peer == "proxy" and (parts.username or parts.password):
        raise doc.error(path, "credentials are not allowed in the proxy URL",
                        expected="settings.proxy.user and settings.proxy.password_env")
    return item.strip()


def url_port(url: str, peer: str) -> int:
    """The TCP port a crl or proxy URL points at."""
    parts = urlsplit(url)
    if parts.port:
        return parts.port
    if peer == "proxy":
        return PROXY_DEFAULT_PORT
    return URL_DEFAULT_PORTS.get(parts.scheme, 80)


def load_any(path: Path) -> Profile | Site:
    """`netcheck validate`: decide by content whether `path` is a profile or a site file."""
    doc = load_yaml(path, f"{PROFILE_EXPECTED}, or {SITE_EXPECTED}", max(CAP_PROFILE, CAP_SITE))
    _require_mapping(doc, (), doc.data, f"{PROFILE_EXPECTED}, or {SITE_EXPECTED}")
    if isinstance(doc.data, dict) and "flows" in doc.data:
        return profile_from_doc(doc)
    if isinstance(doc.data, dict) and "peers" in doc.data:
        return site_from_doc(doc)
    raise doc.error((), "is neither a profile (no 'flows') nor a site file (no 'peers')",
                    expected=f"{PROFILE_EXPECTED}, or {SITE_EXPECTED}")
