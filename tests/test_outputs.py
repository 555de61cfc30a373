"""Every file netcheck writes: refused before the work when it cannot be written, written all or
nothing (temp file + rename), and the listener's receipt written when a signal stops it."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from netcheck.errors import UsageError
from netcheck.outputs import check_target, stdout_text, write_atomic
from tests.listen.helpers import free_port
from tests.render.sample import sample_report

ROOT = Path(__file__).resolve().parents[1]


def run(command: list[str], cwd: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "netcheck", *command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def one_line_refusal(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    return done.stderr


# ---------------------------------------------------------------- refused before the work

@pytest.mark.parametrize("target", ["/proc/r.json", "/sys/r.json", "/dev/null", "{tmp}/afile/r.json",
                                    "{tmp}/" + "n" * 300 + ".json", "{tmp}/" + "d" * 300 + "/"])
def test_scan_refuses_an_unwritable_output_before_probing(tmp_path: Path, target: str) -> None:
    # Given a peer that accepts and stays silent (its probe would take the whole 30 s timeout)
    (tmp_path / "afile").write_text("a file, not a folder")
    with socket.create_server(("127.0.0.1", 0)) as silent:
        silent.settimeout(0.2)
        port = silent.getsockname()[1]
        (tmp_path / "p.yaml").write_text(
            "name: p\nrole: sensor\nflows:\n  - {id: slow, purpose: x, protocol: SSH, transport: tcp, "
            f"port: {port}, direction: out, peer: console, probe: ssh}}\n")
        (tmp_path / "s.yaml").write_text("name: lo\npeers:\n  console: 127.0.0.1\n")
        started = time.monotonic()
        done = run(["scan", "-p", "p.yaml", "-s", "s.yaml", "--timeout", "30", "--no-raw", "-f", "json",
                    "-o", target.format(tmp=tmp_path)], tmp_path)
        # Then it is refused in one line, at once, and the peer never saw a connection
        err = one_line_refusal(done)
        assert time.monotonic() - started < 10
        assert "cannot write the json report" in err or "cannot write the reports" in err
        with pytest.raises(TimeoutError):
            silent.accept()
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)  # never replaced by a file


@pytest.mark.skipif(os.geteuid() != 0, reason="a read-only bind mount needs root (CI runs as root)")
def test_a_read_only_folder_is_refused_even_for_root(tmp_path: Path) -> None:
    # Root ignores file modes, so the folder is made read-only the way a real one is: a read-only
    # mount (a bind mount in a private mount namespace that ends with the command).
    (tmp_path / "ro").mkdir()
    (tmp_path / "s.yaml").write_text("name: lo\npeers:\n  console: 127.0.0.1\n")
    script = (f"mount --bind -o ro {tmp_path / 'ro'} {tmp_path / 'ro'} && "
              f"exec {sys.executable} -m netcheck scan -s s.yaml --no-raw -f json -o ro/r.json")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60)
    assert "Read-only file system" in one_line_refusal(done)


def test_listen_refuses_an_unwritable_receipt_before_listening(tmp_path: Path) -> None:
    (tmp_path / "far.yaml").write_text(
        "name: far\nrole: console\nflows:\n  - {id: t, purpose: x, protocol: T, transport: tcp, "
        f"port: {free_port('tcp')}, direction: in, peer: sensors, probe: local-listener}}\n")
    started = time.monotonic()
    done = run(["listen", "-p", "far.yaml", "--bind", "127.0.0.1", "--duration", "60", "--receipt", "/proc/r.json"],
               tmp_path)
    assert "cannot write the receipt to /proc/r.json" in one_line_refusal(done)
    assert time.monotonic() - started < 10


def test_report_diff_and_merge_refuse_unwritable_outputs(tmp_path: Path) -> None:
    from netcheck.serialize import dumps

    saved = tmp_path / "r.json"
    saved.write_text(dumps(sample_report()))
    for command in (["report", "r.json", "-f", "markdown", "-o", "/proc/x.md"],
                    ["diff", "r.json", "r.json", "-o", "/proc/x.txt"],
                    ["merge", "r.json", "-f", "csv", "-o", "/proc/x.csv"],
                    ["merge", "r.json", "-f", "csv,json", "-o", "/proc/folder/"]):
        one_line_refusal(run(command, tmp_path))
    assert not list(tmp_path.glob("reports"))


# ---------------------------------------------------------------- the receipt on a signal

@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_listen_writes_its_receipt_when_stopped_by_a_signal(tmp_path: Path, signum: signal.Signals) -> None:
    (tmp_path / "far.yaml").write_text(
        "name: far\nrole: console\nflows:\n  - {id: t, purpose: x, protocol: T, transport: tcp, "
        f"port: {free_port('tcp')}, direction: in, peer: sensors, probe: local-listener}}\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "netcheck", "listen", "-p", "far.yaml", "--bind", "127.0.0.1",
                             "--duration", "60", "--receipt", "out/receipt.json"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        seen = ""
        while "listening for" not in seen:
            line = proc.stderr.readline()
            assert line, seen
            seen += line
        started = time.monotonic()
        proc.send_signal(signum)
        _out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert time.monotonic() - started < 10
    assert proc.returncode == 0, err
    receipt = json.loads((tmp_path / "out" / "receipt.json").read_text())
    assert receipt["schema"] == "netcheck.receipt/1" and receipt["listener"]["finished"]
    assert "wrote receipt" in err


# ---------------------------------------------------------------- all or nothing

def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "report.json"
    target.write_text("the previous report")

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        write_atomic(target, b"half a new report")
    assert target.read_text() == "the previous report"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_atomic_write_modes_and_no_clobber(tmp_path: Path) -> None:
    old_mask = os.umask(0o022)
    try:
        write_atomic(tmp_path / "report.html", b"<p>")
        write_atomic(tmp_path / "key.pem", b"secret", secret=True)
    finally:
        os.umask(old_mask)
    assert stat.S_IMODE(os.stat(tmp_path / "report.html").st_mode) == 0o644
    assert stat.S_IMODE(os.stat(tmp_path / "key.pem").st_mode) == 0o600
    with pytest.raises(FileExistsError):
        write_atomic(tmp_path / "key.pem", b"other", exclusive=True)
    assert (tmp_path / "key.pem").read_bytes() == b"secret"
    write_atomic(tmp_path / "key.pem", b"replaced")
    assert (tmp_path / "key.pem").read_bytes() == b"replaced"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key.pem", "report.html"]


def test_check_target_refusals_are_one_line_usage_errors(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    (tmp_path / "exists").write_text("x")
    for target, expected in ((fifo, "not a regular file"), (tmp_path, "it is a folder"),
                             (tmp_path / "exists", "already exists")):
        with pytest.raises(UsageError) as refused:
            check_target(target, "report", exclusive=True)
        assert expected in refused.value.one_line() and "\n" not in refused.value.one_line()
    check_target(tmp_path / "new" / "deeper" / "r.json", "report")  # a new folder is fine
    assert (tmp_path / "new" / "deeper").is_dir() and not list((tmp_path / "new" / "deeper").iterdir())


def test_stdout_text_keeps_line_breaks_and_shows_everything_else() -> None:
    assert stdout_text("a,b\r\nc\x1b[2J\u202e\x9b\n\rx\r") == "a,b\r\nc\\x1b[2J\\u202e\\x9b\n\\x0dx\\x0d"


def test_cert_csr_writes_both_files_or_none(tmp_path: Path) -> None:
    (tmp_path / "s.csr").write_text("an earlier CSR")
    done = run(["cert", "csr", "--cn", "s.plant.example", "--o", "O", "--ou", "U", "--c", "DE",
                "--key-out", "s.key", "--csr-out", "s.csr"], tmp_path)
    assert "already exists" in one_line_refusal(done)
    assert not (tmp_path / "s.key").exists()  # the new key was not written without its CSR
    assert (tmp_path / "s.csr").read_text() == "an earlier CSR"
    done = run(["cert", "csr", "--cn", "s.plant.example", "--o", "O", "--ou", "U", "--c", "DE",
                "--key-out", "s.key", "--csr-out", "s.csr", "--force"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(os.stat(tmp_path / "s.key").st_mode) == 0o600
    assert (tmp_path / "s.csr").read_text().startswith("-----BEGIN CERTIFICATE REQUEST-----")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.csr", "s.key"]


def test_no_clobber_on_a_file_system_without_hard_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_links(source: object, target: object) -> None:
        raise PermissionError(1, "Operation not permitted")  # what vfat answers to link()

    monkeypatch.setattr(os, "link", no_links)
    write_atomic(tmp_path / "new.crt", b"cert", exclusive=True)
    assert (tmp_path / "new.crt").read_bytes() == b"cert"
    with pytest.raises(FileExistsError):
        write_atomic(tmp_path / "new.crt", b"other", exclusive=True)
    assert (tmp_path / "new.crt").read_bytes() == b"cert"
    assert [p.name for p in tmp_path.iterdir()] == ["new.crt"]
