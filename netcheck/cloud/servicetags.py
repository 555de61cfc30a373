"""Service tags: the weekly published JSON of cloud address prefixes per tag (AzureIoTHub,
Storage, EventHub, ...), shaped `{"values": [{"name": ..., "properties": {"addressPrefixes":
[...]}}]}`. For each address a cloud endpoint resolved to, say which tag and prefix cover it,
so a firewall team writing IP rules sees an address outside the prefixes they opened."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netcheck.errors import ConfigError
from netcheck.inputs import MIB, read_text

CAP_SERVICE_TAGS = 64 * MIB  # the published file is about 4 MiB
EXPECTED = 'a service-tag JSON file: {"values": [{"name": ..., "properties": {"addressPrefixes": [...]}}]}'

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Coverage:
    tag: str
    prefix: str


@dataclass(frozen=True)
class ServiceTags:
    source: str
    prefixes: tuple[tuple[Network, str], ...]  # (prefix, tag), longest prefixes first

    def covering(self, address: str) -> list[Coverage]:
        """Every (tag, prefix) that contains `address`, most specific first."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return []
        return [Coverage(tag, str(net)) for net, tag in self.prefixes if ip.version == net.version and ip in net]


def load(path: Path | str) -> ServiceTags:
    text = read_text(path, EXPECTED, CAP_SERVICE_TAGS)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(path, f"invalid JSON: {exc.msg}", line=exc.lineno, expected=EXPECTED) from None
    return parse(data, str(path))


def parse(data: Any, source: str) -> ServiceTags:
    values = data.get("values") if isinstance(data, dict) else None
    if not isinstance(values, list):
        raise ConfigError(source, "no 'values' list", key="values", expected=EXPECTED)
    found: list[tuple[Network, str]] = []
    for index, item in enumerate(values):
        where = f"values[{index}]"
        if not isinstance(item, dict):
            raise ConfigError(source, "is not an object", key=where, expected=EXPECTED)
        tag = item.get("name") or item.get("id")
        properties = item.get("properties")
        prefixes = properties.get("addressPrefixes") if isinstance(properties, dict) else None
        if not isinstance(tag, str) or not isinstance(prefixes, list):
            raise ConfigError(source, "has no name or no properties.addressPrefixes list", key=where,
                              expected=EXPECTED)
        for number, prefix in enumerate(prefixes):
            try:
                found.append((ipaddress.ip_network(str(prefix), strict=False), tag))
            except ValueError:
                raise ConfigError(source, f"'{str(prefix)[:60]}' is not an address prefix",
                                  key=f"{where}.properties.addressPrefixes[{number}]",
                                  expected="a prefix such as 20.38.0.0/16") from None
    found.sort(key=lambda pair: -pair[0].prefixlen)
    return ServiceTags(source, tuple(found))


def annotate(addresses: Iterable[str], tags: ServiceTags) -> tuple[dict[str, Any], list[str], list[str]]:
    """(evidence, detail clauses, uncovered addresses) for the addresses of one endpoint."""
    evidence: dict[str, Any] = {}
    clauses: list[str] = []
    uncovered: list[str] = []
    for address in addresses:
        covering = tags.covering(address)
        evidence[address] = [{"tag": c.tag, "prefix": c.prefix} for c in covering]
        if covering:
            names = ", ".join(dict.fromkeys(c.tag for c in covering))
            clauses.append(f"{address} is in {covering[0].prefix} ({names})")
        else:
            uncovered.append(address)
            clauses.append(f"{address} is in no service-tag prefix of {Path(tags.source).name}")
    return evidence, clauses, uncovered


def evidence_addresses(evidence: Mapping[str, Any]) -> list[str]:
    addresses = evidence.get("addresses")
    return [str(a) for a in addresses] if isinstance(addresses, list) else []
