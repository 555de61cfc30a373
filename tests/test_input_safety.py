"""Issue 9's reproductions for YAML, JSON, site settings, saved reports and receipts: each is
refused with exit 2 and one stderr line (file, line or JSON path, what was expected), or,
for settings that used to reach the wire, never leaves netcheck."""

from __future__ import annotations

import asyncio
import json
import os
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from netcheck.errors import ConfigError
from netcheck.jsonload import parse_json
from netcheck.listen.receipt import SCHEMA as RECEIPT_SCHEMA
from netcheck.listen.receipt import load_receipt
from netcheck.model import Reason
from netcheck.probes import ProbeContext, get
from netcheck.serialize import dumps
from netcheck.yamldoc import parse_yaml
from tests.conftest import make_flow
from tests.fuzz.contract import assert_contract, assert_refused, run_cli, run_subprocess
from tests.render.sample import sample_report

SITE_HEAD = "name: t\npeers:\n  console: 127.0.0.1\n"


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


# ---------------------------------------------------------------- YAML

@pytest.mark.parametrize(("text", "words"), [
    ("name: !!int abc\npeers: {}\n", [":1:", "name", "not an integer"]),
    ("name: !!bool maybe\npeers: {}\n", [":1:", "name", "not true or false"]),
    ("name: !!timestamp 2024-99-99\npeers: {}\n", [":1:", "!!timestamp", "not allowed"]),
    ("name: !!binary aGk=\npeers: {}\n", [":1:", "!!binary", "not allowed"]),
    ("name: !custom x\npeers: {}\n", [":1:", "!custom", "not allowed"]),
    ("name: !!python/object:os.system x\npeers: {}\n", [":1:", "not allowed"]),
    ("name: x\nports: {ntp: " + "9" * 5000 + "}\npeers: {}\n", [":2:", "ports.ntp", "integer"]),
    ("name: x\nports: {ntp: 99999999999999999999}\npeers: {}\n", [":2:", "ports.ntp", "integer"]),
    ("name: x\npeers: &p {console: *p}\n", [":2:", "recursive alias"]),
    ("name: x\n<<: {description: y}\npeers: {}\n", [":2:", "merge keys"]),
    ("name: x\x00\npeers: {}\n", [":1:", "NUL"]),
    ('name: x\n"a\\r\\nb": 1\npeers: {}\n', [":2:", "a\\x0d\\x0ab", "unknown key"]),
    ("name: x\npeers: {}\n---\nname: y\n", [":3:", "more than one YAML document"]),
    ("[" * 100_000, ["nested deeper than 64"]),
    ("name: x\npeers:\n  console: 1.2.3.4\n  ntp: {a: .nan}\n", [":4:", "finite"]),
])
def test_hostile_yaml_is_one_line_exit_2(tmp_path: Path, text: str, words: list[str]) -> None:
    path = write(tmp_path, "t.yaml", text)
    line = assert_refused(run_cli("validate", str(path)), str(path), *words)
    assert "Traceback" not in line


def test_a_500_byte_alias_bomb_is_refused_in_under_a_second_and_100_mb(tmp_path: Path) -> None:
    rows = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        rows.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    text = "\n".join(rows) + "\npeers: {}\nname: x\n"
    assert len(text.encode()) <= 500
    outcome = run_cli("validate", str(write(tmp_path, "bomb.yaml", text)), memory=True)
    assert_refused(outcome, "aliases are expanded")
    assert outcome.seconds < 1.0 and outcome.peak_bytes < 100 * 1024 * 1024


def test_plain_dates_and_equals_stay_text() -> None:
    doc = parse_yaml("name: 2024-01-01\ndescription: =\npeers: {}\n", "t", "site")
    assert doc.data == {"name": "2024-01-01", "description": "=", "peers": {}}


def test_anchors_and_aliases_within_limits_still_work() -> None:
    doc = parse_yaml("base: &b {console: 127.0.0.1}\npeers: *b\nlist: [&x 1, *x]\n", "t", "site")
    assert doc.data["peers"] == {"console": "127.0.0.1"} and doc.data["list"] == [1, 1]
    assert doc.line(("peers",)) == 2


def test_dev_zero_is_refused_not_read(tmp_path: Path) -> None:
    assert_refused(run_cli("validate", "/dev/zero"), "/dev/zero", "not a regular file")


@pytest.mark.parametrize("command", [["validate"], ["report", "-f", "json", "-o", "-"], ["scan", "--site"]])
def test_a_fifo_without_writer_is_refused_at_once(tmp_path: Path, command: list[str]) -> None:
    fifo = tmp_path / "input.fifo"
    os.mkfifo(fifo)
    args = [*command, str(fifo)] if command[0] != "report" else ["report", str(fifo), *command[1:]]
    outcome = run_subprocess(*args, timeout=20)
    assert_refused(outcome, str(fifo), "FIFO")
    assert outcome.seconds < 10


def test_an_oversized_site_file_is_refused_by_reading_not_stat(tmp_path: Path) -> None:
    big = write(tmp_path, "big.yaml", SITE_HEAD + "description: " + "x" * (1024 * 1024) + "\n")
    assert_refused(run_cli("validate", str(big)), "larger than 1 MiB")


# ---------------------------------------------------------------- site settings

@pytest.mark.parametrize(("settings", "words"), [
    ('peers:\n  console: "evil\\n.example"\n', ["peers.console", "not a valid IP address or host name"]),
    ('peers:\n  console: "fe80::1%\\n"\n', ["peers.console"]),
    ("peers:\n  console: 127.0.0.1\n  crl: https://crl.example/root.crl\n", ["peers.crl", "http://"]),
    ('peers:\n  console: 127.0.0.1\n  crl: "http://crl.example/a\\r\\nX: y"\n', ["peers.crl", "not a valid URL"]),
    ('peers:\n  ldap: 127.0.0.1\nsettings:\n  ldap: {bind_dn: "cn=x", password_env: "hunter2 P@ss!"}\n',
     ["settings.ldap.password_env", "environment variable name"]),
    ("peers:\n  ntp: 127.0.0.1\nsettings:\n  ntp: {max_offset_s: .nan}\n", ["settings.ntp.max_offset_s", "finite"]),
    ("peers:\n  ntp: 127.0.0.1\nsettings:\n  ntp: {max_offset_s: -1}\n", ["settings.ntp.max_offset_s", "range"]),
    ("peers:\n  dns: 127.0.0.1\nsettings:\n  dns: {names: [{a: b}]}\n", ["settings.dns.names", "not a DNS name"]),
    ('peers:\n  dns: 127.0.0.1\nsettings:\n  dns: {names: ["a\\nb.example"]}\n', ["settings.dns.names"]),
    ('peers:\n  smtp: 127.0.0.1\nsettings:\n  smtp: {ehlo_name: "x\\r\\nMAIL FROM:<a@b.example>\\r\\nDATA"}\n',
     ["settings.smtp.ehlo_name", "host name"]),
    ('peers:\n  smtp: 127.0.0.1\nsettings:\n  smtp: {ehlo_name: "bücher.example"}\n',
     ["settings.smtp.ehlo_name", "host name"]),
    ('peers:\n  snmp: 127.0.0.1\nsettings:\n  snmp: {community_env: "public"}\n', []),
    ('peers:\n  snmp: 127.0.0.1\nsettings:\n  snmp: {community_env: "A\\nB"}\n', ["settings.snmp.community_env"]),
    ('peers:\n  console: 127.0.0.1\nsettings:\n  console: {server_name: "a\\r\\nb"}\n', ["server_name"]),
    ('peers:\n  proxy: http://127.0.0.1:3128\nsettings:\n  proxy: {connect_targets: ["x\\r\\n:443"]}\n',
     ["connect_targets"]),
    ("peers:\n  console: 127.0.0.1\nsettings:\n  console: {sample: 0}\n", ["sample"]),
    ('name2: x\npeers:\n  console: 127.0.0.1\n', ["unknown key"]),
])
def test_settings_are_validated_for_content(tmp_path: Path, settings: str, words: list[str]) -> None:
    text = settings if settings.startswith("name") else "name: t\n" + settings
    outcome = run_cli("validate", str(write(tmp_path, "site.yaml", text)))
    if not words:  # a plain upper-case word is a valid variable name: accepted
        assert outcome.code == 0, outcome.describe()
        return
    assert_refused(outcome, *words)


@pytest.mark.parametrize("name", ["evil\n", "Console", "a" * 65])
def test_profile_ids_are_matched_whole(tmp_path: Path, name: str) -> None:
    profile = ("name: p\nrole: sensor\nflows:\n  - {id: " + json.dumps(name) + ", purpose: p, protocol: TCP, "
               "transport: tcp, port: 1, direction: out, peer: console, probe: tcp}\n")
    assert_refused(run_cli("validate", str(write(tmp_path, "p.yaml", profile))), "flows[0].id")


def test_site_name_with_control_characters_is_refused(tmp_path: Path) -> None:
    text = 'name: "A\\e[2J\\e]0;pwned\\aB"\npeers: {console: 127.0.0.1}\n'
    assert_refused(run_cli("validate", str(write(tmp_path, "s.yaml", text))), "name", "control character")


# ---------------------------------------------------------------- the wire itself

def test_smtp_never_sends_an_injected_ehlo_name_even_past_the_validator() -> None:
    """A recording SMTP server on loopback: the flow is an error naming the setting, and the
    server hears nothing but the connection (no EHLO, no MAIL FROM, no DATA)."""
    heard: list[bytes] = []

    async def smtp_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 recorder ESMTP\r\n")
        await writer.drain()
        while line := await reader.readline():
            heard.append(line)
            writer.write(b"250 ok\r\n")
            await writer.drain()

    async def scenario(name: str) -> Any:
        server = await asyncio.start_server(smtp_server, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        flow = make_flow(port, probe="smtp", host="127.0.0.1", options={"ehlo_name": name})
        ctx = ProbeContext(timeout=2.0, run_id="r1")
        try:
            return await get("smtp").observe(flow, "127.0.0.1", ctx)
        finally:
            server.close()
            await server.wait_closed()

    for name in ("x\r\nMAIL FROM:<a@b.example>\r\nDATA", "bücher.example"):
        observation = asyncio.run(scenario(name))
        assert observation.reason is Reason.INTERNAL_ERROR and "ehlo_name" in observation.detail
    assert not any(b"MAIL" in line or b"DATA" in line for line in heard), heard


def test_syslog_message_refuses_a_flow_id_with_a_newline() -> None:
    from netcheck.probes.syslog import message
    from netcheck.values import UnsafeForWire

    flow = make_flow(514, probe="syslog", transport="udp", flow_id="syslog\nforged")
    with pytest.raises(UnsafeForWire):
        message(ProbeContext(timeout=1, run_id="r"), flow)


# ---------------------------------------------------------------- saved reports and receipts

def report_json() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(dumps(sample_report()))
    return data


def receipt_json(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "schema": RECEIPT_SCHEMA, "netcheck": {"version": "t"},
        "listener": {"id": "L1", "host": "far", "profile": "console", "role": "console", "site": "s",
                     "addresses": ["198.51.100.20"], "keyed": False, "started": report["run"]["started"],
                     "finished": report["run"]["finished"], "duration_s": 60},
        "endpoints": [{"address": "198.51.100.20", "transport": "tcp", "port": 443, "state": "listening",
                       "detail": "", "flows": ["https"]}],
        "notes": [],
        "probes": [{"source": "198.51.100.10", "source_port": 40000, "transport": "tcp", "address": "198.51.100.20",
                    "port": 443, "token": "t", "run_id": "r", "sent_port": 443, "keyed": False,
                    "first_seen": report["run"]["started"], "last_seen": report["run"]["started"], "count": 1,
                    "answered": 1, "rate_limited": 0}],
        "ignored": {"rejected": {}, "rejected_by_source": {}, "handshakes_without_token": 0, "busy_refusals": 0,
                    "records_dropped": 0},
    }


def mutated(change: str) -> str:
    data = report_json()
    if change == "results-5":
        data["results"] = 5
    elif change == "results-null":
        data["results"] = None
    elif change == "flow-5":
        data["results"][0]["flow"] = 5
    elif change == "latency-401":
        return json.dumps(data).replace('"latency_ms": ', '"latency_ms": ' + "9" * 401 + ", \"x\": ", 1)
    elif change == "latency-nan":
        return json.dumps(data).replace('"latency_ms": ', '"latency_ms": NaN, "x": ', 1)
    elif change == "deep":
        data["results"][0]["evidence"] = json.loads("[" * 500 + "]" * 500)
    elif change == "surrogate":
        return json.dumps(data).replace('"detail": "', '"detail": "\\ud800', 1)
    return json.dumps(data)


@pytest.mark.parametrize(("change", "words"), [
    ("results-5", ["results", "is a number (5)", "array"]),
    ("results-null", ["results", "is null"]),
    ("flow-5", ["results[0].flow", "is a number (5)", "string"]),
    ("latency-401", ["results[0].latency_ms", "a number of 401 characters", "below 2^63"]),
    ("latency-nan", ["results[0].latency_ms", "NaN"]),
    ("deep", ["results[0].evidence", "nested deeper than 64"]),
    ("surrogate", ["results[0].detail", "surrogate"]),
])
@pytest.mark.parametrize("command", ["report", "diff", "merge"])
def test_malformed_reports_are_one_line_exit_2(tmp_path: Path, change: str, words: list[str], command: str) -> None:
    bad = write(tmp_path, "bad.json", mutated(change))
    good = write(tmp_path, "good.json", dumps(sample_report()))
    args = {"report": ["report", str(bad), "-f", "json", "-o", str(tmp_path / "out.json")],
            "diff": ["diff", str(good), str(bad)],
            "merge": ["merge", str(good), str(bad), "-o", str(tmp_path / "fleet.html")]}[command]
    assert_refused(run_cli(*args), str(bad), *words)


def test_json_nested_100000_deep_is_refused(tmp_path: Path) -> None:
    bad = write(tmp_path, "deep.json", "[" * 100_000 + "]" * 100_000)
    assert_refused(run_cli("report", str(bad), "-f", "json", "-o", "-"), str(bad), "nested deeper")


def test_a_latin1_receipt_is_refused(tmp_path: Path) -> None:
    report = write(tmp_path, "r.json", dumps(sample_report()))
    receipt = receipt_json(report_json())
    receipt["listener"]["host"] = "fär"
    path = write(tmp_path, "receipt.json", json.dumps(receipt, ensure_ascii=False).encode("latin-1"))
    assert_refused(run_cli("report", str(report), "--receipt", str(path), "-f", "json", "-o", "-"),
                   str(path), "not UTF-8")


@pytest.mark.parametrize(("change", "words"), [
    (lambda r: r.update(probes=5), ["probes", "array"]),
    (lambda r: r["probes"][0].update(answered="many"), ["probes[0].answered", "integer"]),
    (lambda r: r["listener"].update(started=None), ["listener.started", "is null"]),
    (lambda r: r["endpoints"][0].update(port=70000), ["endpoints[0].port", "too large"]),
    (lambda r: r.update(extra=1), ["extra", "unknown key"]),
])
def test_malformed_receipts_are_refused_with_their_json_path(tmp_path: Path, change: Any,
                                                             words: list[str]) -> None:
    report = write(tmp_path, "r.json", dumps(sample_report()))
    receipt = receipt_json(report_json())
    change(receipt)
    path = write(tmp_path, "receipt.json", json.dumps(receipt))
    assert_refused(run_cli("report", str(report), "--receipt", str(path), "-f", "json", "-o", "-"),
                   str(path), *words)


def test_a_valid_receipt_joins(tmp_path: Path) -> None:
    report = write(tmp_path, "r.json", dumps(sample_report()))
    path = write(tmp_path, "receipt.json", json.dumps(receipt_json(report_json())))
    assert load_receipt(path)["listener"]["id"] == "L1"
    outcome = run_cli("report", str(report), "--receipt", str(path), "-f", "json", "-o", "-")
    assert_contract(outcome)
    assert outcome.code == 0 and json.loads(outcome.out)["run"]["options"]["receipt"]["listener"] == "L1"


def test_the_demo_receipt_follows_the_published_schema(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from netcheck.saved_schemas import receipt_schema

    receipt = receipt_json(report_json())
    jsonschema.Draft202012Validator.check_schema(receipt_schema())
    assert list(jsonschema.Draft202012Validator(receipt_schema()).iter_errors(receipt)) == []


def test_json_numbers_and_depth_are_bounded_in_linear_time() -> None:
    started = time.monotonic()
    tracemalloc.start()
    with pytest.raises(ConfigError, match="out of range"):
        parse_json('{"a": ' + "1" * 100_000 + "}", "x.json", "a report")
    with pytest.raises(ConfigError, match="nested deeper"):
        parse_json("[" * 1_000_000 + "]" * 1_000_000, "x.json", "a report")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert time.monotonic() - started < 2 and peak < 100 * 1024 * 1024


@pytest.mark.parametrize("args", [
    ["validate", "--profile", "a" * 300, "site.yaml"],
    ["scan", "--profile", "a" * 300],
    ["validate", "b" * 300],
])
def test_names_too_long_for_the_file_system_are_usage_errors(args: list[str]) -> None:
    assert_refused(run_cli(*args))


def test_diff_notes_show_control_characters_from_reports_as_escapes(tmp_path: Path) -> None:
    """Found by the fuzz campaign: the 'comparing different runs' note printed a report's host name raw."""
    data = report_json()
    data["run"]["host"]["name"] = "\b\x1b[2J"
    odd = write(tmp_path, "odd.json", json.dumps(data))
    good = write(tmp_path, "good.json", dumps(sample_report()))
    outcome = run_cli("diff", str(odd), str(good), "-o", str(tmp_path / "diff.txt"))
    assert_contract(outcome)
    assert "\\x08\\x1b[2J" in outcome.err


@pytest.mark.parametrize("profile", ["\b", "\u0000", "../../escape"])
def test_names_from_a_report_never_shape_the_output_path(tmp_path: Path, profile: str) -> None:
    """Found by the fuzz campaign: a report's profile name went raw into the output file name."""
    data = report_json()
    data["run"]["profile"] = profile
    path = write(tmp_path, "odd.json", json.dumps(data))
    outcome = run_cli("report", str(path), "-f", "json,html", "-o", str(tmp_path / "out"))
    assert_contract(outcome)
    if outcome.code == 0:
        assert all(p.parent == tmp_path / "out" for p in (tmp_path / "out").iterdir())
    else:
        assert "run.profile" in outcome.err
