"""No raw control, C1 or bidi character reaches the terminal, whatever a site file, a server or a
saved report says: real CLI runs, stdout and stderr read as bytes and checked character by character.
Rich markup in data prints literally, and every error is exactly one stderr line."""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from netcheck.escape import BIDI_CONTROLS
from netcheck.serialize import dumps
from tests.render.sample import sample_report

ROOT = Path(__file__).resolve().parents[1]
# ESC sequences (clear screen, set the window title with BEL), a C1 CSI, a bidi override, rich markup.
HOSTILE = "A\x1b[2J\x1b]0;pwned\x07B\x9b31m\u202eevil\u2066[/][bold]x"
NO_MARKUP = "A\x1b[2J\x1b]0;pwned\x07B\x9b31m\u202eevil\u2066x"  # for fields the matrix table shows
# Anything a terminal obeys: C0 but tab/LF (CR only before LF), DEL, C1, bidi controls.
RAW = re.compile(f"[\x00-\x08\x0b-\x0c\x0e-\x1f\x7f-\x9f{BIDI_CONTROLS}]|\r(?!\n)")


def run(args: list[str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    done = subprocess.run([sys.executable, "-m", "netcheck", *args], cwd=cwd, env=env, capture_output=True,
                          timeout=timeout)
    return subprocess.CompletedProcess(done.args, done.returncode, done.stdout.decode("utf-8", "replace"),
                                       done.stderr.decode("utf-8", "replace"))


def assert_terminal_safe(done: subprocess.CompletedProcess[str]) -> None:
    for name, text in (("stdout", done.stdout), ("stderr", done.stderr)):
        raw = sorted({f"U+{ord(match.group()[0]):04X}" for match in RAW.finditer(text)})
        assert not raw, f"raw {raw} on {name}: {text[:2000]!r}"
    assert "Traceback" not in done.stderr and done.returncode != 3, done.stderr
    if done.returncode == 2:
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def quoted(text: str) -> str:
    return json.dumps(text)  # a YAML double-quoted scalar with \u escapes


# ---------------------------------------------------------------- scans

@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def hostile_ssh() -> Iterator[int]:
    """A loopback 'SSH server' whose identification line and chatter carry escape sequences."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.sendall(HOSTILE.encode("utf-8") + b"\r\n" + b"SSH-2.0-" + NO_MARKUP.encode("utf-8") + b"\r\n")
                conn.settimeout(1)
                with contextlib.suppress(OSError):
                    conn.recv(100)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        server.close()


def write_profile(folder: Path, ssh_port: int, closed: int) -> Path:
    path = folder / "profile.yaml"
    path.write_text(
        "name: mini\nrole: sensor\nflows:\n"
        f"  - {{id: ssh, purpose: Banner, protocol: SSH, transport: tcp, port: {ssh_port}, direction: out,"
        " peer: console, probe: ssh}\n"
        f"  - {{id: web, purpose: Web, protocol: HTTPS, transport: tcp, port: {closed}, direction: out,"
        " peer: console, probe: tcp}\n")
    return path


@pytest.mark.parametrize("site_name", [NO_MARKUP, "[/]", "[bold red]x[/bold red] [link=http://x]y"])
def test_hostile_site_names_and_banners_never_reach_the_terminal_raw(
        tmp_path: Path, hostile_ssh: int, closed_port: int, site_name: str) -> None:
    profile = write_profile(tmp_path, hostile_ssh, closed_port)
    (tmp_path / "site.yaml").write_text(f"name: {quoted(site_name)}\npeers:\n  console: 127.0.0.1\n")
    # The matrix table only for names without markup: the table is netcheck/render/terminal.py's to escape.
    formats = "table,json,markdown" if site_name == NO_MARKUP else "json,markdown,html"
    done = run(["scan", "-p", str(profile), "-s", "site.yaml", "--timeout", "2", "--no-raw", "-f", formats,
                "-o", "out/"], tmp_path)
    assert_terminal_safe(done)
    assert done.returncode in (1, 2)  # 1: the closed port fails; 2 if a validator refuses the name
    if done.returncode == 1:
        assert "-> FAIL" in done.stdout + done.stderr
        report = json.loads(next((tmp_path / "out").glob("*.json")).read_text())
        assert report["run"]["site"] == site_name  # the data itself is kept, only its display is escaped


def test_the_table_of_a_hostile_banner_shows_the_escapes(tmp_path: Path, hostile_ssh: int, closed_port: int) -> None:
    profile = write_profile(tmp_path, hostile_ssh, closed_port)
    (tmp_path / "site.yaml").write_text("name: lo\npeers:\n  console: 127.0.0.1\n")
    done = run(["scan", "-p", str(profile), "-s", "site.yaml", "--timeout", "2", "--no-raw", "-f", "table,csv",
                "-o", "-"], tmp_path)
    assert_terminal_safe(done)
    assert "\\x1b" in done.stdout


# ---------------------------------------------------------------- saved reports

# Names netcheck validated when it wrote them (site, host, flow id) may hold no control character
# (schema/report.schema.json refuses such a report); bidi controls and markup they may hold.
C0_C1 = re.compile("[\x00-\x1f\x7f-\x9f]")


def hostile_saved_report(markup: bool = True, *, name_controls: bool = False) -> str:
    text = HOSTILE if markup else NO_MARKUP
    name = text if name_controls else C0_C1.sub("", text)
    report = sample_report()
    results = tuple(replace(r, detail=f"{r.detail} {text}", flow=replace(r.flow, purpose=text, note=text))
                    for r in report.results)
    info = replace(report.info, site=f"site {name}", host_name=f"host{name}")
    return dumps(replace(report, info=info, results=results))


def test_a_saved_report_with_control_characters_in_a_name_is_refused_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text(hostile_saved_report(name_controls=True))
    done = run(["report", "r.json", "-f", "table", "-o", "-"], tmp_path)
    assert_terminal_safe(done)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "r.json" in done.stderr and done.stdout == ""


def test_report_in_every_text_format_to_stdout(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text(hostile_saved_report(markup=False))
    done = run(["report", "r.json", "-f", "table", "-o", "-"], tmp_path)
    assert_terminal_safe(done)
    assert done.returncode == 0 and "\\x1b" in done.stdout
    for fmt in ("json", "markdown", "csv", "junit", "html", "firewall-request-md"):
        done = run(["report", "r.json", "-f", fmt, "-o", "-"], tmp_path)
        assert_terminal_safe(done)
        assert done.returncode == 0, done.stderr


def test_html_reports_show_bidi_overrides(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text(hostile_saved_report())
    assert run(["report", "r.json", "-f", "html", "-o", "r.html"], tmp_path).returncode == 0
    assert run(["merge", "r.json", "-f", "html", "-o", "fleet.html"], tmp_path).returncode == 0
    for page in ("r.html", "fleet.html"):
        html = (tmp_path / page).read_text()
        assert not set(BIDI_CONTROLS) & set(html), page
        assert "\\u202e" in html and "\\u2066" in html


def test_diff_and_merge_outputs(tmp_path: Path) -> None:
    (tmp_path / "old.json").write_text(dumps(sample_report()))
    (tmp_path / "new.json").write_text(hostile_saved_report())
    (tmp_path / "again.json").write_text(hostile_saved_report())
    for args in (["diff", "old.json", "new.json"], ["diff", "old.json", "new.json", "-f", "markdown"],
                 ["diff", "old.json", "new.json", "-f", "json"],
                 ["merge", "new.json", "again.json", "-f", "markdown", "-o", "-"],
                 ["merge", "new.json", "again.json", "-f", "csv,json", "-o", "fleet/"]):
        done = run(args, tmp_path)
        assert_terminal_safe(done)
        assert done.returncode in (0, 1), done.stderr
    assert "note:" in done.stderr  # the merge's note names the hostile host, escaped


# ---------------------------------------------------------------- errors, profiles, validate

@pytest.mark.parametrize("args", [
    ["scan", "-s", "no\nsuch\r\x1b[2J\u202efile.yaml"],
    ["validate", "bad\r\nname\x07.yaml"],
    ["report", "line\none\x1b]0;t\x07.json"],
    ["cert", "--crt", "x\n\x9bevil.pem"],
    ["scan", "--timeout", "1\n\x1b[31m"],
])
def test_every_error_is_one_sanitised_line(tmp_path: Path, args: list[str]) -> None:
    done = run(args, tmp_path)
    assert done.returncode == 2, done.stderr
    assert_terminal_safe(done)
    assert done.stderr.startswith("netcheck")


def test_debug_after_the_sub_command(tmp_path: Path) -> None:
    done = run(["profiles", "--debug"], tmp_path)
    assert done.returncode == 0 and "sensor" in done.stdout
    done = run(["scan", "--debug", "-s", "missing.yaml"], tmp_path)
    assert done.returncode == 2 and "missing.yaml" in done.stderr and "unrecognized" not in done.stderr


def test_profiles_and_validate_print_hostile_names_escaped(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        f"name: p\nrole: sensor\ndescription: {quoted(HOSTILE)}\nflows:\n"
        f"  - {{id: web, purpose: {quoted(HOSTILE)}, protocol: HTTPS, transport: tcp, port: 443,"
        " direction: out, peer: console, probe: tcp}\n")
    for args in (["profiles", "p.yaml"], ["validate", "p.yaml"]):
        done = run(args, tmp_path)
        assert_terminal_safe(done)
        assert done.returncode in (0, 2)


# ---------------------------------------------------------------- certificates

def test_cert_text_and_json_of_a_hostile_certificate(tmp_path: Path) -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOSTILE),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, HOSTILE)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=400))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("evil\x1b]0;x\x07.example")]), False)
            .sign(key, hashes.SHA256()))
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "c.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    for extra in ([], ["--format", "json"]):
        done = run(["cert", "--crt", "c.pem", "--key", "c.key", *extra], tmp_path)
        assert_terminal_safe(done)
        assert done.returncode in (0, 1), done.stderr
    assert json.loads(done.stdout)["certificate"]  # JSON on stdout stays JSON


# ---------------------------------------------------------------- a real terminal (colors and progress on)

def run_in_a_terminal(args: list[str], cwd: Path, timeout: float = 60) -> tuple[int, str]:
    """Run netcheck on a pseudo-terminal, so it draws colors and live progress as for a person."""
    import pty
    import select
    import time

    pid, fd = pty.fork()
    if pid == 0:  # the child: become netcheck
        os.chdir(cwd)
        env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        os.execvpe(sys.executable, [sys.executable, "-m", "netcheck", *args], {**env, "PYTHONPATH": str(ROOT)})
    output = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            output += chunk
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), output.decode("utf-8", "replace")


def test_the_colored_table_and_progress_on_a_terminal(tmp_path: Path, hostile_ssh: int, closed_port: int) -> None:
    profile = write_profile(tmp_path, hostile_ssh, closed_port)
    (tmp_path / "site.yaml").write_text(f"name: {quoted(NO_MARKUP)}\npeers:\n  console: 127.0.0.1\n")
    code, shown = run_in_a_terminal(["scan", "-p", str(profile), "-s", "site.yaml", "--timeout", "2", "--no-raw"],
                                    tmp_path)
    assert code in (1, 2), shown
    assert "\x1b[3" in shown or code == 2  # colors were on: this really was the terminal path
    for attack in ("\x1b[2J", "\x1b]0;", "\x07", "\x9b", "\u202e", "\u2066"):
        assert attack not in shown, f"{attack!r} reached the terminal"
