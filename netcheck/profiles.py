"""Load and validate role profiles and site files.

Every problem becomes a ConfigError naming the file, the line and the key, so the
CLI can print one line and exit 2. Nothing here touches the network.
"""

from __future__ import annotations

import functools
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from netcheck.addresses import is_ip
from netcheck.errors import UsageError
from netcheck.model import Direction, Port, PortRange
from netcheck.probes import OptionSpec, ProbeKind, load_all
from netcheck.yamldoc import PathKey, YamlDoc, load_yaml

STANDARD_PEERS: tuple[str, ...] = (
    "console", "ha_console", "sensors", "clients", "ntp", "dns", "smtp",
    "syslog", "ldap", "snmp", "wmi", "crl", "proxy",
)
URL_PEERS = frozenset({"crl", "proxy"})
URL_DEFAULT_PORTS = {"http": 80, "https": 443}
PROXY_DEFAULT_PORT = 3128
FLOW_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
PEER_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
# Option names that would hold a secret: the site file may only name an environment variable.
SECRET_WORDS = ("password", "passwd", "community", "passphrase", "secret", "auth_key", "priv_key", "token")

# Settings every peer accepts whatever probes its flows use: how the peer is tested, not a probe option.
PEER_SETTINGS: Mapping[str, OptionSpec] = {
    "listener": OptionSpec(bool, "the peer runs `netcheck listen`: test its flows with tokens (confirmed/blocked)"),
}

PROFILE_EXPECTED = "a profile: name, role, description, flows"
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


@dataclass(frozen=True)
class Profile:
    name: str
    role: str
    description: str
    flows: tuple[FlowSpec, ...]
    path: str


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


def builtin_profiles() -> dict[str, Path]:
    return {path.stem: path for path in sorted(data_dir("profiles").glob("*.yaml"))}


def resolve_profile(name_or_path: str) -> Path:
    """A built-in profile name (sensor, console, client) or a path to a YAML file."""
    builtins = builtin_profiles()
    if name_or_path in builtins:
        return builtins[name_or_path]
    if "/" in name_or_path or name_or_path.endswith((".yaml", ".yml")) or Path(name_or_path).exists():
        return Path(name_or_path)
    raise UsageError(
        f"unknown profile '{name_or_path}'",
        hint=f"built-in profiles: {', '.join(builtins) or 'none found'}; or give a path to a YAML file",
    )


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
    if pattern and not pattern.match(value):
        raise doc.error(path, f"{value!r} is not valid", expected=expected)
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
    """An IP address or an RFC 1123 host name (whose last label is not all digits)."""
    if is_ip(text):
        return True
    name = text[:-1] if text.endswith(".") else text
    if not name or len(name) > 253:
        return False
    labels = name.split(".")
    return all(HOST_LABEL.match(label) for label in labels) and not labels[-1].isdigit()


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
    return mapping


def _options_of(kinds: list[ProbeKind]) -> dict[str, OptionSpec]:
    merged: dict[str, OptionSpec] = {}
    for kind in kinds:
        merged.update(kind.options)
    return merged


# ---------------------------------------------------------------- profiles

FLOW_KEYS = ("id", "purpose", "protocol", "transport", "port", "direction", "peer", "probe",
             "required", "source", "destination", "note", "doc", "options")
FLOW_REQUIRED = ("id", "purpose", "protocol", "transport", "port", "direction", "peer", "probe")


def load_profile(name_or_path: str) -> Profile:
    path = resolve_profile(name_or_path)
    return profile_from_doc(load_yaml(path, PROFILE_EXPECTED))


def profile_from_doc(doc: YamlDoc) -> Profile:
    registry = load_all()
    top = _require_mapping(doc, (), doc.data, PROFILE_EXPECTED)
    _check_keys(doc, (), top, ("name", "role", "description", "flows"), ("name", "role", "flows"))
    name = _string(doc, ("name",), top["name"])
    role = _string(doc, ("role",), top["role"], pattern=PEER_KEY, expected="a role such as sensor")
    description = top.get("description") or ""
    if not isinstance(description, str):
        raise doc.error(("description",), f"is {_kind(description)}", expected="a string")
    raw_flows = top["flows"]
    if not isinstance(raw_flows, list) or not raw_flows:
        raise doc.error(("flows",), f"is {_kind(raw_flows)}", expected="a non-empty list of flows")
    flows: list[FlowSpec] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_flows):
        flow = _flow_spec(doc, ("flows", index), raw, registry)
        if flow.id in seen:
            raise doc.error(("flows", index, "id"), f"duplicate flow id '{flow.id}'", expected="unique ids")
        seen.add(flow.id)
        flows.append(flow)
    return Profile(name, role, description.strip(), tuple(flows), doc.source)


def _flow_spec(doc: YamlDoc, path: PathKey, raw: Any, registry: Mapping[str, ProbeKind]) -> FlowSpec:
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
    if probe not in registry:
        raise doc.error((*path, "probe"), f"unknown probe kind '{probe}'",
                        expected="one of " + ", ".join(sorted(registry)))
    kind = registry[probe]
    if transport not in kind.transports:
        raise doc.error((*path, "transport"), f"probe '{probe}' cannot test {transport}",
                        expected=" or ".join(sorted(kind.transports)))
    required = entry.get("required", True)
    if not isinstance(required, bool):
        raise doc.error((*path, "required"), f"is {_kind(required)}", expected="true or false")
    doc_release = str(entry.get("doc", "2021"))
    if doc_release not in ("2021", "later"):
        raise doc.error((*path, "doc"), f"is {doc_release!r}",
                        expected="2021 (the original table) or later (added by later releases)")
    texts = {}
    for key in ("purpose", "protocol", "source", "destination", "note"):
        value = entry.get(key, "")
        if key in FLOW_REQUIRED:
            _string(doc, (*path, key), value)
        elif not isinstance(value, str):
            raise doc.error((*path, key), f"is {_kind(value)}", expected="a string")
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
    )


# ---------------------------------------------------------------- site files

SITE_KEYS = ("name", "description", "peers", "ports", "settings", "certificates")


def load_site(path: Path, profile: Profile | None = None) -> Site:
    return site_from_doc(load_yaml(path, SITE_EXPECTED), profile)


def site_from_doc(doc: YamlDoc, profile: Profile | None = None) -> Site:
    """Validate a site file, against `profile` when given (its peers, flow ids and probes)."""
    registry = load_all()
    top = _require_mapping(doc, (), doc.data, SITE_EXPECTED)
    _check_keys(doc, (), top, SITE_KEYS, ("name", "peers"))
    name = _string(doc, ("name",), top["name"])
    description = top.get("description") or ""
    if not isinstance(description, str):
        raise doc.error(("description",), f"is {_kind(description)}", expected="a string")

    known_peers = list(STANDARD_PEERS)
    if profile:
        known_peers += [f.peer for f in profile.flows if f.peer not in known_peers]
    raw_peers = _require_mapping(doc, ("peers",), top["peers"], "a mapping of peer key -> host(s)")
    peers: dict[str, tuple[str, ...]] = {}
    for key, value in raw_peers.items():
        if key not in known_peers:
            raise doc.error(("peers", key), "unknown peer", expected="one of " + ", ".join(known_peers))
        peers[key] = _peer_hosts(doc, ("peers", key), key, value)

    # One site file serves every role, so overrides and settings may name flows and peers of any
    # built-in profile; anything else is a typo.
    known_flows = _known_flows(profile)
    ports: dict[str, Port] = {}
    raw_ports = top.get("ports") or {}
    for flow_id, value in _require_mapping(doc, ("ports",), raw_ports, "flow id -> port").items():
        if flow_id not in known_flows:
            raise doc.error(("ports", flow_id), f"no flow '{flow_id}' in the profiles",
                            expected="a flow id such as " + ", ".join(sorted(known_flows)[:12]) + ", ...")
        ports[flow_id] = parse_port(doc, ("ports", flow_id), value)

    settings: dict[str, dict[str, Any]] = {}
    raw_settings = top.get("settings") or {}
    for peer, options in _require_mapping(doc, ("settings",), raw_settings, "peer key -> options").items():
        if peer not in known_peers:
            raise doc.error(("settings", peer), "unknown peer", expected="one of " + ", ".join(known_peers))
        kinds = [registry[kind] for kind in sorted(known_flows.values_for_peer(peer)) if kind in registry]
        if not kinds:
            kinds = list(registry.values())
        settings[peer] = _check_options(doc, ("settings", peer), options,
                                         {**_options_of(kinds), **PEER_SETTINGS}, f"peer {peer}")

    extra = {key: top[key] for key in top if key not in ("name", "description", "peers", "ports", "settings")}
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
    return profile_from_doc(load_yaml(path, PROFILE_EXPECTED))


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


def _peer_url(doc: YamlDoc, path: PathKey, peer: str, item: Any) -> str:
    example = "http://crl.example.com/root.crl" if peer == "crl" else "http://proxy.example.com:3128"
    if not isinstance(item, str):
        raise doc.error(path, f"is {_kind(item)}", expected=f"a URL such as {example}")
    parts = urlsplit(item.strip())
    try:
        port = parts.port
    except ValueError:
        raise doc.error(path, f"'{item}' has an invalid port", expected="a port 1-65535") from None
    if parts.scheme not in URL_DEFAULT_PORTS or not parts.hostname or not is_valid_host(parts.hostname):
        raise doc.error(path, f"'{item}' is not a valid URL", expected=f"a URL such as {example}")
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
    doc = load_yaml(path, f"{PROFILE_EXPECTED}, or {SITE_EXPECTED}")
    _require_mapping(doc, (), doc.data, f"{PROFILE_EXPECTED}, or {SITE_EXPECTED}")
    if isinstance(doc.data, dict) and "flows" in doc.data:
        return profile_from_doc(doc)
    if isinstance(doc.data, dict) and "peers" in doc.data:
        return site_from_doc(doc)
    raise doc.error((), "is neither a profile (no 'flows') nor a site file (no 'peers')",
                    expected=f"{PROFILE_EXPECTED}, or {SITE_EXPECTED}")
