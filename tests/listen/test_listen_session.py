"""listen/run.py as a library call: typed arguments in, notices and probe lines through callables,
a ListenOutcome out (the `listen` command line prints them and picks the exit code)."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

import pytest

from netcheck.errors import UsageError
from netcheck.listen.run import run_listener
from tests.listen.helpers import free_port


def profile_with_inbound(folder: Path, port: int) -> Path:
    profile = folder / "profile.yaml"
    profile.write_text(
        "name: listening\nrole: console\nflows:\n"
        f"  - {{id: in-tcp, purpose: p, protocol: TCP, transport: tcp, port: {port}, direction: in,"
        " peer: sensors, probe: local-listener}\n")
    return profile


def knock(port: int, deadline: float) -> None:
    """A bare TCP handshake, as a one-sided scan makes, once the port listens."""
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)


def test_a_session_reports_through_callables_and_returns_its_receipt(tmp_path: Path) -> None:
    port = free_port("tcp")
    profile = profile_with_inbound(tmp_path, port)
    notes: list[str] = []
    lines: list[str] = []
    knocker = threading.Thread(target=knock, args=(port, time.monotonic() + 5))
    knocker.start()
    outcome = run_listener(str(profile), bind=["127.0.0.1"], duration=1.5, receipt=tmp_path / "receipt.json",
                           env={}, on_probe=lines.append, notice=notes.append, stop_on_signals=False)
    knocker.join()
    assert outcome.listening and outcome.receipt_path == tmp_path / "receipt.json"
    assert json.loads(outcome.receipt_path.read_text()) == json.loads(json.dumps(outcome.receipt))
    assert outcome.receipt["ignored"]["handshakes_without_token"] == 1 and outcome.receipt["probes"] == []
    assert notes[0] == f"listening on 1 of 1 sockets: 127.0.0.1 tcp/{port}"
    assert notes[1].startswith("listening for 1.5 s")
    assert lines == []  # a handshake without a token is no probe


def test_bad_input_is_a_typed_error_before_anything_listens(tmp_path: Path) -> None:
    outbound_only = tmp_path / "outbound.yaml"
    outbound_only.write_text(
        "name: out\nrole: sensor\nflows:\n  - {id: o, purpose: p, protocol: TCP, transport: tcp, port: 1,"
        " direction: out, peer: console, probe: tcp}\n")
    with pytest.raises(UsageError, match="no inbound flows"):
        run_listener(str(outbound_only), duration=1, env={})
    with pytest.raises(UsageError, match="is not an IP address"):
        run_listener(str(profile_with_inbound(tmp_path, free_port("tcp"))), bind=["localhost"], duration=1, env={})
