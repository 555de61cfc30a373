"""Cloud endpoint lists: the site file's `endpoints:` entries, and the lists users download
from the cloud portal ("Download endpoint details"), whose format is not documented.

`parse_entry` reads one `name` or `name:port` entry (port 443 by default). `parse_list`
takes a downloaded file in the shapes such files come in (a JSON list of names or URLs,
objects with an endpoint/host/url-like key, an object wrapping such a list; CSV with or
without a header; one name per line) and refuses anything else with one ConfigError line.
Pure: no network, no file access beyond the one read gate.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from netcheck.errors import ConfigError

DEFAULT_PORT = 443
EXPECTED_ENTRY = "a host name or host:port, such as iothub.example.net or iothub.example.net:443"
EXPECTED_FILE = "a JSON list, CSV or one endpoint name per line"
# Keys and CSV columns that name the endpoint or its port in downloaded lists, lower case.
NAME_KEYS = ("endpoint", "endpoints", "host", "hostname", "host_name", "fqdn", "domain", "name", "url", "uri",
             "address", "destination", "target")
PORT_KEYS = ("port", "ports", "destination_port", "tcp_port")
LIST_KEYS = ("endpoints", "values", "items", "value", "data", "urls", "hosts", "destinations", "targets")
MAX_ENDPOINTS = 10_000


@dataclass(frozen=True)
class Endpoint:
    name: str
    port: int = DEFAULT_PORT

    def __str__(self) -> str:
        host = f"[{self.name}]" if ":" in self.name else self.name
        return host if self.port == DEFAULT_PORT else f"{host}:{self.port}"


class EntryError(ValueError):
    """One entry is not an endpoint; the message says why."""


def parse_entry(text: str) -> Endpoint:
    """'name', 'name:port', '[v6]:port' or a URL (https://name[:port]/path) -> Endpoint."""
    from netcheck.profiles import is_valid_host

    raw = text.strip()
    if not raw:
        raise EntryError("is empty")
    return _parse(raw, _shown(raw), is_valid_host)


def _shown(text: str, limit: int = 80) -> str:
    """Text from a downloaded file, safe to quote in a one-line error on a terminal."""
    from netcheck.escape import terminal_text

    return terminal_text(text[:limit]) + ("..." if len(text) > limit else "")


def _parse(raw: str, shown: str, is_valid_host: Any) -> Endpoint:
    if "://" in raw:
        parts = urlsplit(raw)
        if parts.scheme.lower() not in ("https", "http", "wss", "amqps", "mqtts", "tcp"):
            raise EntryError(f"'{shown}' has an unsupported scheme")
        try:
            port = parts.port
        except ValueError:
            raise EntryError(f"'{shown}' has an invalid port") from None
        host = parts.hostname or ""
        return _checked(host, port or DEFAULT_PORT, shown, is_valid_host)
    if raw.startswith("["):
        host, _, rest = raw[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else rest
        return _checked(host, _port(port_text, shown) if port_text else DEFAULT_PORT, shown, is_valid_host)
    host, sep, port_text = raw.rpartition(":")
    if not sep or ":" in host:  # no port, or a bare IPv6 address
        return _checked(raw, DEFAULT_PORT, shown, is_valid_host)
    return _checked(host, _port(port_text, shown), shown, is_valid_host)


def _port(text: str, raw: str) -> int:
    digits = text.strip()
    if not (digits.isascii() and digits.isdigit()) or not 1 <= int(digits) <= 65535:
        raise EntryError(f"'{raw}' has an invalid port (1-65535)")
    return int(digits)


def _checked(host: str, port: int, raw: str, is_valid_host: Any) -> Endpoint:
    host = host.strip().rstrip(".").lower()
    if "*" in host:
        raise EntryError(f"'{raw}' is a wildcard: name each endpoint (the portal's endpoint list has no wildcards)")
    if not host or not is_valid_host(host):
        raise EntryError(f"'{raw}' is not a valid host name")
    if "." not in host and ":" not in host:
        raise EntryError(f"'{raw}' is not a fully qualified name (cloud endpoints are, e.g. hub.example.net)")
    return Endpoint(host, port)


def unique(endpoints: Iterable[Endpoint]) -> list[Endpoint]:
    return list(dict.fromkeys(endpoints))


# ---------------------------------------------------------------- downloaded lists

def parse_list(text: str, source: str | Path) -> list[Endpoint]:
    """Every endpoint of a downloaded list, in file order without duplicates; ConfigError otherwise."""
    body = text.strip()
    if not body:
        raise ConfigError(source, "is empty", expected=EXPECTED_FILE)
    if body[0] in "[{":
        found = _from_json(body, source)
    else:
        first = body.splitlines()[0]
        found = _from_csv(body, source) if any(sep in first for sep in ",;\t") else _from_lines(body, source)
    if not found:
        raise ConfigError(source, "names no endpoint", expected=EXPECTED_FILE)
    if len(found) > MAX_ENDPOINTS:
        raise ConfigError(source, f"names more than {MAX_ENDPOINTS} endpoints", expected=EXPECTED_FILE)
    return unique(found)


def _entry(value: str, source: str | Path, where: str, line: int | None = None) -> Endpoint:
    try:
        return parse_entry(value)
    except EntryError as exc:
        raise ConfigError(source, str(exc), key=where, line=line, expected=EXPECTED_ENTRY) from None


def _from_lines(body: str, source: str | Path) -> list[Endpoint]:
    found = []
    for number, line in enumerate(body.splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if text:
            if len(text.split()) > 1:
                raise ConfigError(source, f"'{_shown(text, 60)}' is more than one word", line=number,
                                  expected="one endpoint name per line")
            found.append(_entry(text, source, "", number))
    return found


def _from_csv(body: str, source: str | Path) -> list[Endpoint]:
    first = body.splitlines()[0]
    delimiter = next(sep for sep in ",;\t" if sep in first)
    try:
        rows = [row for row in csv.reader(io.StringIO(body), delimiter=delimiter) if any(c.strip() for c in row)]
    except csv.Error as exc:
        raise ConfigError(source, f"not readable as CSV: {exc}", expected=EXPECTED_FILE) from None
    if not rows:
        return []
    header = [cell.strip().lower().replace(" ", "_") for cell in rows[0]]
    name_col = next((header.index(key) for key in NAME_KEYS if key in header), None)
    port_col = next((header.index(key) for key in PORT_KEYS if key in header), None)
    data = rows[1:]
    first_line = 2
    if name_col is None:
        # No known header: a header-less list whose first column holds the names.
        try:
            parse_entry(rows[0][0])
        except EntryError:
            raise ConfigError(source, f"no column names the endpoints (header: {_shown(', '.join(header))})", line=1,
                              expected="a column such as endpoint, host, fqdn or url") from None
        name_col, data, first_line = 0, rows, 1
        if len(rows[0]) > 1 and rows[0][1].strip().isdigit():
            port_col = 1  # name, port
    found = []
    for offset, row in enumerate(data):
        number = first_line + offset
        if name_col >= len(row) or not row[name_col].strip():
            raise ConfigError(source, "the endpoint column is empty", line=number, expected=EXPECTED_ENTRY)
        cell = row[name_col].strip()
        ports = row[port_col].strip() if port_col is not None and port_col < len(row) else ""
        found += _with_ports(cell, ports, source, f"row {number}", number)
    return found


def _with_ports(name: str, ports: str, source: str | Path, where: str, line: int | None) -> list[Endpoint]:
    """An entry plus an optional port column that may list several ports ('443, 5671')."""
    endpoint = _entry(name, source, where, line)
    numbers = [p for p in ports.replace(";", ",").replace(" ", ",").split(",") if p.strip()]
    if not numbers:
        return [endpoint]
    result = []
    for number in numbers:
        try:
            result.append(Endpoint(endpoint.name, _port(number, _shown(f"{name} port {number}"))))
        except EntryError as exc:
            raise ConfigError(source, str(exc), key=where, line=line, expected="ports 1-65535") from None
    return result


def _from_json(body: str, source: str | Path) -> list[Endpoint]:
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ConfigError(source, f"invalid JSON: {exc.msg}", line=exc.lineno, expected=EXPECTED_FILE) from None
    items = _json_items(data, source)
    found: list[Endpoint] = []
    for index, item in enumerate(items):
        where = f"[{index}]"
        if isinstance(item, str):
            found.append(_entry(item, source, where))
        elif isinstance(item, dict):
            found += _json_object(item, source, where)
        else:
            raise ConfigError(source, f"entry is {type(item).__name__}", key=where,
                              expected="a name, a URL or an object with an endpoint key")
    return found


def _json_items(data: Any, source: str | Path) -> list[Any]:
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        lowered = {str(key).lower(): value for key, value in data.items()}
        for key in LIST_KEYS:
            if isinstance(lowered.get(key), list):
                return list(lowered[key])
        if any(key in lowered for key in NAME_KEYS):
            return [data]  # a single endpoint object
        keys = _shown(", ".join(list(lowered)[:8]))
        raise ConfigError(source, f"no endpoint list in this JSON object (keys: {keys})",
                          expected="a list, or an object with an endpoints/values/items list")
    raise ConfigError(source, f"JSON {type(data).__name__} is not an endpoint list", expected=EXPECTED_FILE)


def _json_object(item: dict[str, Any], source: str | Path, where: str) -> list[Endpoint]:
    lowered = {str(key).lower(): value for key, value in item.items()}
    name_key = next((key for key in NAME_KEYS if isinstance(lowered.get(key), str)), None)
    if name_key is None:
        # e.g. {"properties": {"endpoint": ...}}: one level of nesting is common enough.
        nested = next((value for value in lowered.values() if isinstance(value, dict)), None)
        if nested is not None and any(isinstance(nested.get(k), str) for k in NAME_KEYS):
            return _json_object(nested, source, where)
        keys = _shown(", ".join(list(lowered)[:8]))
        raise ConfigError(source, f"object has no endpoint key (keys: {keys})", key=where,
                          expected="a key such as endpoint, host, fqdn or url")
    port_key = next((key for key in PORT_KEYS if key in lowered), None)
    ports = lowered.get(port_key) if port_key else None
    if isinstance(ports, list):
        port_text = ",".join(str(p) for p in ports)
    elif isinstance(ports, (int, str)) and not isinstance(ports, bool):
        port_text = str(ports)
    elif ports is None:
        port_text = ""
    else:
        raise ConfigError(source, f"port is {type(ports).__name__}", key=f"{where}.{port_key}",
                          expected="a port or a list of ports")
    return _with_ports(lowered[name_key], port_text, source, f"{where}.{name_key}", None)


# ---------------------------------------------------------------- the site file's section

def yaml_section(endpoints: list[Endpoint], source: str) -> str:
    """The site file's `endpoints:` section for these endpoints."""
    lines = [f"# imported by netcheck endpoints import from {Path(source).name}", "endpoints:"]
    lines += [f"  - {json.dumps(str(endpoint))}" for endpoint in endpoints]
    return "\n".join(lines) + "\n"


def replace_section(site_text: str, section: str) -> str:
    """The site file's text with its top-level `endpoints:` block (and the import comment just
    above it) replaced by `section`, or `section` appended when there is none."""
    lines = site_text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.startswith("endpoints:")), None)
    if start is None:
        body = site_text if site_text.endswith("\n") or not site_text else site_text + "\n"
        return body + section
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][0] in " \t-#"):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1  # keep the blank lines before the next section
    if start > 0 and lines[start - 1].startswith("# imported by netcheck endpoints import"):
        start -= 1
    return "".join(lines[:start]) + section + "".join(lines[end:])
