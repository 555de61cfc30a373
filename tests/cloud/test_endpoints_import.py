"""`netcheck endpoints import`: the shapes downloaded endpoint lists come in, and one clear
line (exit 2) for anything else."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from netcheck.cli import main
from netcheck.cloud.endpoints import Endpoint, EntryError, parse_entry, parse_list, replace_section
from netcheck.profiles import load_profile, load_site

ROOT = Path(__file__).resolve().parents[2]
A, B = "a.iot.example.net", "b.blob.example.net"


@pytest.mark.parametrize("text", [
    f'["{A}", "{B}:5671"]',
    f'[{{"endpoint": "{A}"}}, {{"Endpoint": "{B}", "port": 5671}}]',
    f'{{"endpoints": [{{"hostname": "{A}", "ports": [443]}}, {{"fqdn": "{B}", "port": "5671"}}]}}',
    f'{{"values": [{{"properties": {{"url": "https://{A}/path"}}}}, {{"name": "{B}:5671"}}]}}',
    f"endpoint,port\n{A},443\n{B},5671\n",
    f"Host Name;Port\r\n{A};\r\n{B};5671\r\n",
    f"{A}\t443\n{B}\t5671\n",
    f"# downloaded from the portal\n{A}\n\n{B}:5671   # the log endpoint\n",
    f"\ufeff{A}\n{B}:5671\n{A}\n",
])
def test_common_shapes(text: str) -> None:
    assert parse_list(text.removeprefix("\ufeff"), "list") == [Endpoint(A), Endpoint(B, 5671)]


@pytest.mark.parametrize(("text", "problem"), [
    ("", "is empty"),
    ("   \n# only a comment\n", "names no endpoint"),
    ('{"endpoints": ', "invalid JSON"),
    ('{"subscription": "x", "count": 2}', "no endpoint list"),
    ("42", "not a valid host name"),
    ("hub\n", "not a fully qualified name"),
    ('[{"port": 443}]', "no endpoint key"),
    ('[["nested"]]', "entry is list"),
    ('["*.azure-devices.net"]', "wildcard"),
    (f'["{A}:99999"]', "invalid port"),
    ('["exa mple.net"]', "not a valid host name"),
    ("ftp://files.example.net/list", "unsupported scheme"),
    ("name,region\nnot a host!,west\n", "not a valid host name"),
    ("subscription,region\nx,y\n", "no column names the endpoints"),
    (f"{A} and more words\n", "more than one word"),
])
def test_malformed_lists_are_refused(text: str, problem: str) -> None:
    with pytest.raises(Exception) as caught:
        parse_list(text, "list.txt")
    assert problem in str(caught.value)
    assert "list.txt" in str(caught.value)


def test_entries() -> None:
    assert parse_entry("Hub.Example.NET.") == Endpoint("hub.example.net")
    assert parse_entry("[2001:db8::1]:8443") == Endpoint("2001:db8::1", 8443)
    assert str(Endpoint("hub.example.net", 443)) == "hub.example.net"
    with pytest.raises(EntryError):
        parse_entry("hub.example.net:0")


def run_cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netcheck", *argv], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)


def test_import_prints_the_section_and_rewrites_a_site(tmp_path: Path) -> None:
    listing = tmp_path / "endpoints.csv"
    listing.write_text(f"endpoint,port\n{A},443\n{B},5671\n")
    printed = run_cli("endpoints", "import", str(listing), cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.splitlines()[1:] == ["endpoints:", f'  - "{A}"', f'  - "{B}:5671"']

    site = tmp_path / "site.yaml"
    site.write_text("name: s\n# old list\nendpoints:\n  - old.example.net\n\npeers:\n  dns: 198.51.100.53\n")
    assert main(["endpoints", "import", str(listing), "--site", str(site)]) == 0
    text = site.read_text()
    assert "old.example.net" not in text and "# old list" in text and "peers:" in text
    loaded = load_site(site, load_profile("sensor-cloud"))
    assert loaded.peers["cloud"] == (A, f"{B}:5671")
    assert main(["endpoints", "import", str(listing), "--site", str(site)]) == 0  # idempotent
    assert site.read_text() == text


def test_import_refuses_bad_files_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "endpoints.json"
    bad.write_text('{"endpoints": [{"endpoint": "*.servicebus.windows.net"}]}')
    binary = tmp_path / "endpoints.bin"
    binary.write_bytes(b"\xff\xfe\x00\x01garbage")
    for path, problem in ((bad, "wildcard"), (binary, "not UTF-8"), (tmp_path, "is a directory"),
                          (tmp_path / "missing.txt", "no such file")):
        done = run_cli("endpoints", "import", str(path), cwd=tmp_path)
        assert done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and problem in lines[0] and "Traceback" not in done.stderr, done.stderr


def test_replace_section_appends_when_missing() -> None:
    assert replace_section("name: s\npeers: {}", "endpoints:\n  - x\n") == "name: s\npeers: {}\nendpoints:\n  - x\n"


def test_hostile_text_is_quoted_safely() -> None:
    with pytest.raises(Exception) as caught:
        parse_list("evil\x1b]0;owned\x07.example.net\n", "list.txt")
    assert "\x1b" not in str(caught.value) and "\\x1b" in str(caught.value)
    with pytest.raises(Exception, match="invalid port"):
        parse_list("hub.example.net:\u00b2\n", "list.txt")  # a Unicode digit is not a port
