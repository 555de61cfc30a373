"""Hypothesis strategies for hostile inputs: mutated YAML and JSON files, hostile scalars, and
site files built from the probes' own option tables (valid values mixed with hostile ones)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st

from netcheck.probes import OptionSpec, load_all
from netcheck.profiles import PEER_SETTINGS, STANDARD_PEERS, builtin_profiles, load_profile
from netcheck.serialize import dumps
from tests.render.sample import hostile_report, sample_report

ROOT = Path(__file__).resolve().parents[2]


def scaled(fraction: float, minimum: int = 5) -> int:
    """A share of the active profile's budget (dev and ci about 60 examples, long 2000)."""
    return max(minimum, int((settings.default.max_examples or 60) * fraction))


# Text that has broken parsers, validators, renderers or the wire before.
HOSTILE_SNIPPETS = [
    "!!int abc", "!!bool maybe", "!!timestamp 2024-99-99", "!!binary aGk=", "!custom x", "!!python/name:os.system",
    "&a [*a]", "*a", "*nope", "<<: {a: 1}", "<<: *a", "\x00", "\r\n", "\r", "\x1b[2J", "\x1b]0;pwned\x07",
    "\u202e", "\u2028", "\x85", "[/]", "[bold]", "{", "[", "]", "}", ": ", "- ", "? ", "'", '"', "\\", "%", "@",
    "`", "|", ">", "\t", "9" * 60, "-9" * 30, "0x" + "f" * 40, ".nan", ".inf", "-.inf", "1e999", "~", "null",
    "yes", "no", "on", "0o777", "1:30", "=", "--- ", "...", "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "#", "😀",
    "é", "\ufeff", "\uffff", "a" * 300, "http://127.0.0.1/x", "https://127.0.0.1/", "127.0.0.1", "::1",
    "fe80::1%eth0", "evil\n.example", "x\r\nMAIL FROM:<a@b.example>\r\nDATA", "hunter2 P@ss!",
]
HOSTILE_BYTES = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xef\xbb\xbf", b"\x00\x00", b"\xfe\xff"]


def _seed_texts(*names: str) -> list[bytes]:
    return [(ROOT / name).read_bytes() for name in names]


YAML_SEEDS = _seed_texts("examples/site.yaml", "examples/loopback.yaml") + [
    b"name: t\npeers:\n  console: 127.0.0.1\nsettings:\n  smtp: {ehlo_name: host.example}\n  ntp: {max_offset_s: 1}\n",
    b"name: p\nrole: sensor\nflows:\n  - {id: a, purpose: p, protocol: TCP, transport: tcp, port: 1, "
    b"direction: out, peer: console, probe: tcp}\n",
]


@st.composite
def mutated_bytes(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed file with a few edits: hostile snippets or bytes inserted, slices dropped or repeated."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["snippet", "bytes", "drop", "repeat", "text"]))
        if action == "snippet":
            data[where:where] = draw(st.sampled_from(HOSTILE_SNIPPETS)).encode("utf-8")
        elif action == "bytes":
            data[where:where] = draw(st.sampled_from(HOSTILE_BYTES))
        elif action == "drop":
            del data[where:where + draw(st.integers(1, 40))]
        elif action == "repeat":
            data[where:where] = data[where:where + draw(st.integers(1, 60))] * draw(st.integers(1, 20))
        else:
            data[where:where] = draw(st.text(max_size=12)).encode("utf-8", "surrogatepass")
    return bytes(data)


def hostile_text() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(HOSTILE_SNIPPETS), st.text(max_size=40),
                     st.text(alphabet=st.characters(max_codepoint=0x9f), max_size=20))


# ---------------------------------------------------------------- JSON

JSON_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False, allow_infinity=False),
    hostile_text(),
)
JSON_VALUES = st.recursive(JSON_LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(hostile_text(), inner, max_size=4)), max_leaves=12)


def report_seeds() -> list[dict[str, Any]]:
    return [json.loads(dumps(sample_report())), json.loads(dumps(hostile_report()))]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


@st.composite
def mutated_json(draw: st.DrawFn, seeds: list[dict[str, Any]]) -> str:
    """A seed document with values replaced, keys dropped or added, or the text itself damaged."""
    data = json.loads(json.dumps(draw(st.sampled_from(seeds))))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(data)
        path = draw(st.sampled_from(paths[1:] or paths))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        if not path:
            continue
        action = draw(st.sampled_from(["replace", "drop", "add", "deepen"]))
        if action == "replace":
            parent[path[-1]] = draw(JSON_VALUES)
        elif action == "drop":
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(hostile_text())] = draw(JSON_VALUES)
        else:
            parent[path[-1]] = _nested(draw(st.integers(1, 300)))
    text = json.dumps(data, ensure_ascii=draw(st.booleans()))
    if draw(st.integers(0, 9)) == 0:  # damage the text itself now and then
        where = draw(st.integers(0, len(text)))
        text = text[:where] + draw(st.sampled_from(["NaN", "1e999", "9" * 500, "\\ud800", "{", "]", ",", ""])) \
            + text[where + draw(st.integers(0, 5)):]
    return text


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


# ---------------------------------------------------------------- site files from the option tables

GOOD_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "ehlo_name": st.sampled_from(["netcheck.invalid", "host-1.example", "a.b.c.example."]),
    "server_name": st.sampled_from(["console.example", "localhost"]),
    "expect_names": st.lists(st.sampled_from(["console.example", "*.example", "127.0.0.1", "::1"]), max_size=3),
    "expected_issuer": st.sampled_from(["CN=Root CA", "Plant CA"]),
    "ca_file": st.sampled_from(["/nonexistent/ca.pem", "/dev/null", "/etc/hostname", "/proc/self/status", "/tmp"]),
    "names": st.lists(st.sampled_from(["a.invalid", "_ldap._tcp.x.invalid", "console.invalid."]), max_size=3),
    "reverse": st.lists(st.sampled_from(["127.0.0.1", "::1", "198.51.100.7"]), max_size=3),
    "max_offset_s": st.one_of(st.floats(0, 86_400), st.integers(0, 86_400)),
    "max_bytes": st.integers(1, 1 << 20),
    "sample": st.integers(1, 16),
    "dynamic_sample": st.integers(0, 8),
    "transport": st.sampled_from(["udp", "tcp", "TCP"]),
    "version": st.sampled_from(["2c", "3", "v3"]),
    "user": st.sampled_from(["netcheck", "ops-user"]),
    "bind_dn": st.sampled_from(["cn=reader,dc=example,dc=org", "uid=x\\c3\\bc,dc=example"]),
    "auth_protocol": st.sampled_from(["SHA", "md5", "SHA512"]),
    "priv_protocol": st.sampled_from(["AES", "des", "AES256"]),
    "security_level": st.sampled_from(["noAuthNoPriv", "authNoPriv", "authPriv"]),
    "connect_targets": st.lists(st.sampled_from(["127.0.0.1:443", "console:443", "[::1]:8443"]), max_size=2),
}


def option_value(name: str, spec: OptionSpec, hostile: bool) -> st.SearchStrategy[Any]:
    if hostile:
        return st.one_of(hostile_text(), JSON_VALUES, st.sampled_from([float("nan"), float("inf"), 2**80, -1, 0]))
    if name in GOOD_VALUES:
        return GOOD_VALUES[name]
    if spec.secret_env or name.endswith("_env"):
        return st.sampled_from(["NETCHECK_FUZZ_UNSET", "HOME", "_X1"])
    types = spec.type if isinstance(spec.type, tuple) else (spec.type,)
    if bool in types:
        return st.booleans()
    return st.integers(1, 8) if int in types else st.text(alphabet="abcxyz", min_size=1, max_size=8)


def _peer_options() -> dict[str, dict[str, OptionSpec]]:
    """peer -> the options a site file may set for it (those of the probes its flows use)."""
    registry = load_all()
    kinds: dict[str, set[str]] = {}
    for path in builtin_profiles().values():
        for flow in load_profile(str(path)).flows:
            kinds.setdefault(flow.peer, set()).add(flow.probe)
    table: dict[str, dict[str, OptionSpec]] = {}
    for peer in STANDARD_PEERS:
        merged: dict[str, OptionSpec] = {}
        for kind in sorted(kinds.get(peer, set())):
            merged.update(registry[kind].options)
        table[peer] = {**merged, **PEER_SETTINGS}
    return table


PEER_OPTIONS = _peer_options()
LOOPBACK_PEERS = {peer: "127.0.0.1" for peer in STANDARD_PEERS if peer not in ("crl", "proxy")}


@st.composite
def site_documents(draw: st.DrawFn, hostile_share: float = 0.3) -> dict[str, Any]:
    """A site file as data: every peer on 127.0.0.1 (URL peers too), settings from the option
    tables, each value valid or (with probability `hostile_share`) hostile."""
    peers: dict[str, Any] = dict(LOOPBACK_PEERS)
    peers["crl"] = draw(st.sampled_from(["http://127.0.0.1/crl/root.crl", "http://127.0.0.1:8080/a%20b.crl"]))
    peers["proxy"] = "http://127.0.0.1:3128"
    settings_: dict[str, dict[str, Any]] = {}
    for peer in draw(st.lists(st.sampled_from(STANDARD_PEERS), max_size=4, unique=True)):
        accepted = PEER_OPTIONS[peer]
        options = draw(st.lists(st.sampled_from(sorted(accepted)), max_size=3, unique=True))
        settings_[peer] = {
            name: draw(option_value(name, accepted[name], draw(st.floats(0, 1)) < hostile_share))
            for name in options
        }
    document: dict[str, Any] = {"name": draw(st.sampled_from(["fuzz", "plant-north", "Site 1"])), "peers": peers}
    if settings_:
        document["settings"] = settings_
    return document


# ---------------------------------------------------------------- reports that follow the schema

# Objects the schema leaves open: evidence, options, and a certificate verdict's facts and CRL evidence.
FREE_FORM = ("evidence", "options", "certificate", "chain", "crl")
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def _schema_valid_value(draw: st.DrawFn, path: tuple[Any, ...], current: Any) -> Any:
    """A replacement for the value at `path` that the report schema still accepts."""
    from netcheck.model import Reason, Status

    name = path[-1]
    if any(part in FREE_FORM for part in path[:-1]):
        return draw(JSON_VALUES)
    if name == "latency_ms":
        return draw(st.one_of(st.none(), st.floats(0, 86_400_000), st.integers(0, 86_400_000)))
    if name == "status":
        return draw(st.sampled_from([s.value for s in Status]))
    if name == "reason":
        return draw(st.sampled_from([r.value for r in Reason]))
    if name == "port":
        return draw(st.one_of(st.integers(0, 65535), st.builds("{}-{}".format, st.integers(0, 99999),
                                                                 st.integers(0, 99999))))
    if name == "address":
        return draw(st.one_of(st.none(), hostile_text()))
    if name in ("started", "finished", "schema", "mode", "severity", "transport", "direction", "verdict") or \
            not isinstance(current, str):
        return current
    if path[0] == "run" or (path[0] == "results" and name == "flow"):  # names: no control characters
        return CONTROL.sub("", draw(hostile_text()))
    return draw(hostile_text())


@st.composite
def schema_valid_reports(draw: st.DrawFn) -> str:
    """A saved report that still follows schema/report.schema.json, with hostile text, odd numbers
    and arbitrary evidence where the schema allows them: what reaches the renderers."""
    data = draw(st.sampled_from(report_seeds()))
    data = json.loads(json.dumps(data))
    leaves = [path for path in _paths(data) if path and not isinstance(_at(data, path), (dict, list))]
    leaves += [(*path, "x") for path in _paths(data) if path and path[-1] in ("evidence", "options")]
    for path in draw(st.lists(st.sampled_from(leaves), min_size=1, max_size=8)):
        parent = _at(data, path[:-1])
        if isinstance(parent, dict):
            parent[path[-1]] = _schema_valid_value(draw, path, parent.get(path[-1]))
        elif isinstance(parent, list):
            parent[path[-1]] = _schema_valid_value(draw, path, parent[path[-1]])
    return json.dumps(data, ensure_ascii=draw(st.booleans()))


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


# ---------------------------------------------------------------- profiles from the registry

@st.composite
def profile_documents(draw: st.DrawFn, hostile_share: float = 0.15) -> dict[str, Any]:
    """A profile of one to four flows of any registered probe kind, any standard peer, options from
    the kind's table (valid or, with probability `hostile_share`, hostile), ports on loopback only
    (the site that goes with it names 127.0.0.1 for every peer)."""
    registry = {name: kind for name, kind in load_all().items() if kind.observe.__module__.startswith("netcheck.")}
    flows = []
    for index in range(draw(st.integers(1, 4))):
        probe = draw(st.sampled_from(sorted(registry)))
        kind = registry[probe]
        transport = draw(st.sampled_from(sorted(kind.transports)))
        port: Any = draw(st.one_of(st.integers(1, 65535), st.sampled_from(["1025-1030", "40000-40003"])))
        options = {name: draw(option_value(name, spec, draw(st.floats(0, 1)) < hostile_share))
                   for name, spec in kind.options.items() if draw(st.booleans())}
        flows.append({"id": f"f{index}", "purpose": "fuzz", "protocol": probe.upper(), "transport": transport,
                      "port": port, "direction": draw(st.sampled_from(["out", "out", "in"])),
                      "peer": draw(st.sampled_from(STANDARD_PEERS)), "probe": probe,
                      "required": draw(st.booleans()), **({"options": options} if options else {})})
    return {"name": "fuzz profile", "role": "sensor", "flows": flows}
