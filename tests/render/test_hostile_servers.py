"""End to end: a real scan of hostile servers on loopback, then every report format.

An SSH server whose identification carries <script>alert(1)</script> and a TLS server
whose certificate CN is "><img src=x onerror=alert(1)> (in-process fakes: hostile
servers are exactly what fakes are for). The scan's own reports must show that text,
inert: escaped in HTML (checked in headless Chromium too), Markdown, CSV and JUnit.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import io
import json
import socket
import ssl
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.render.sample import IMG, SCRIPT
from tests.render.test_chromium import CHROMIUM, FlowRows, chromium
from tests.render.test_hostile import collect

ROOT = Path(__file__).resolve().parents[2]
PROFILE = """\
name: hostile-servers
role: sensor
description: Two flows to hostile servers on loopback.
flows:
  - {id: console-ssh, purpose: SSH identification, protocol: SSH, transport: tcp, port: 22, direction: out,
     peer: console, probe: ssh, source: sensor, destination: console}
  - {id: console-https, purpose: TLS certificate, protocol: HTTPS, transport: tcp, port: 443, direction: out,
     peer: console, probe: tls, source: sensor, destination: console}
"""


def hostile_certificate(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, IMG)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "hostile.crt", folder / "hostile.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


class Server:
    """A loopback TCP server answering each connection on its own thread until stopped."""

    def __init__(self, answer: Callable[[socket.socket], None]) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.answer = answer
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.listener.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(3)
            with contextlib.suppress(OSError):  # the client may hang up first
                self.answer(conn)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=2)
        self.listener.close()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[tuple[int, int]]:
    cert, key = hostile_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def ssh(conn: socket.socket) -> None:
        conn.sendall(f"SSH-2.0-{SCRIPT}\r\n".encode())
        conn.recv(256)

    def tls(conn: socket.socket) -> None:
        with context.wrap_socket(conn, server_side=True) as wrapped:
            wrapped.recv(1)

    ssh_server, tls_server = Server(ssh), Server(tls)
    try:
        yield ssh_server.port, tls_server.port
    finally:
        ssh_server.stop()
        tls_server.stop()


@pytest.fixture
def scanned(servers: tuple[int, int], tmp_path: Path) -> Path:
    ssh_port, tls_port = servers
    (tmp_path / "profile.yaml").write_text(PROFILE)
    (tmp_path / "site.yaml").write_text(
        f"name: hostile-lab\npeers:\n  console: 127.0.0.1\nports:\n  console-ssh: {ssh_port}\n"
        f"  console-https: {tls_port}\n")
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "netcheck", "scan", "--profile", str(tmp_path / "profile.yaml"), "--site",
         str(tmp_path / "site.yaml"), "--timeout", "3", "--no-progress", "--format",
         "html,json,markdown,csv,junit,firewall-request", "--output", f"{out}/"],
        cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode in (0, 1), done.stderr
    return out


def one(folder: Path, suffix: str) -> str:
    [path] = [p for p in folder.iterdir() if p.name.endswith(suffix)]
    return path.read_text(encoding="utf-8")


def test_the_scan_saw_the_hostile_texts(scanned: Path) -> None:
    data = json.loads(one(scanned, ".json"))
    evidence = {r["flow"]: json.dumps(r["evidence"]) + r["detail"] for r in data["results"]}
    assert SCRIPT in evidence["console-ssh"]
    assert json.dumps(IMG)[1:-1] in evidence["console-https"]


def test_html_of_hostile_servers_is_inert(scanned: Path) -> None:
    page = one(scanned, ".html")
    parsed = collect(page)
    assert not [tag for tag, _ in parsed.tags if tag == "img"]
    assert not [name for _, attrs in parsed.tags for name in attrs if name.startswith("on")]
    assert len(parsed.scripts) == 2 and "alert" not in parsed.scripts[1][1]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian package 'chromium')")
def test_chromium_renders_hostile_servers_as_text(scanned: Path, tmp_path: Path) -> None:
    page = next(p for p in scanned.iterdir() if p.suffix == ".html")
    dom = chromium(tmp_path, page, "--dump-dom").stdout
    rows = FlowRows()
    rows.feed(dom)
    assert sorted(row["flow"] for row in rows.rows) == ["console-https", "console-ssh"]
    assert "<img" not in dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom


def test_text_formats_of_hostile_servers(scanned: Path) -> None:
    markdown = one(scanned, ".md")
    assert "\\<script>alert(1)\\</script>" in markdown and "<script>" not in markdown.replace("\\<script>", "")
    report_csv = next(p for p in scanned.iterdir() if p.name.endswith(".csv") and "firewall" not in p.name)
    rows = list(csv.DictReader(io.StringIO(report_csv.read_text())))
    assert {row["flow"] for row in rows} == {"console-ssh", "console-https"}
    root = ET.fromstring(one(scanned, ".junit.xml"))
    assert any(SCRIPT in (case.findtext("system-out") or "") for case in root.iter("testcase"))
