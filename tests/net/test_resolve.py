"""net.resolve: the one resolver. The real resolver answers `localhost` from /etc/hosts (no
traffic); a hung or failing system resolver is simulated by replacing socket.getaddrinfo, the
way the C library would behave, since no test may ask a real DNS server."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from netcheck.egress import Egress, using
from netcheck.model import Observation, Reason
from netcheck.net import resolve
from netcheck.net.resolve import Resolver

ROOT = Path(__file__).resolve().parents[2]


def test_localhost_resolves_through_the_real_resolver() -> None:
    found = asyncio.run(resolve.addresses("localhost", 80, 2.0))
    assert (socket.AF_INET, "127.0.0.1") in found
    assert len(found) == len(set(found))  # one entry per address, not per socket type
    assert asyncio.run(Resolver(2.0).resolve("localhost")) == "127.0.0.1"  # IPv4 first


def test_literals_never_reach_the_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> list[object]:
        raise AssertionError("getaddrinfo called for a literal")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    assert asyncio.run(resolve.addresses("2001:db8::1", 80, 1.0)) == [(socket.AF_INET6, "2001:db8::1")]
    assert asyncio.run(Resolver(1.0).resolve("198.51.100.7")) == "198.51.100.7"
    with using(Egress(family=6)):
        outside = asyncio.run(Resolver(1.0).resolve("198.51.100.7"))
    assert isinstance(outside, Observation) and outside.reason is Reason.NOT_APPLICABLE


@pytest.mark.parametrize("hung_in", ["addresses", "Resolver"])
def test_a_hung_resolver_does_not_hold_asyncio_run(monkeypatch: pytest.MonkeyPatch, hung_in: str) -> None:
    """The loop's default executor would make asyncio.run() wait for the resolver at shutdown."""

    def hung(*args: object, **kwargs: object) -> list[object]:
        time.sleep(3)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", hung)

    async def ask() -> object:
        if hung_in == "addresses":
            try:
                return await resolve.addresses("crl.hung.example", 80, 0.3)
            except TimeoutError:
                return "timeout"
        return await Resolver(0.3).resolve("crl.hung.example")

    started = time.monotonic()
    outcome = asyncio.run(ask())
    assert time.monotonic() - started < 1.5
    if hung_in == "addresses":
        assert outcome == "timeout"
    else:
        assert isinstance(outcome, Observation) and outcome.reason is Reason.DNS_FAILURE
        assert "did not resolve within 0.3 s" in outcome.detail


def test_each_name_is_asked_once_per_run(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def counted(host: str, *args: object, **kwargs: object) -> list[object]:
        calls.append(host)
        time.sleep(0.05)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("203.0.113.5", 0)),
                (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2001:db8::5", 0, 0, 0))]

    monkeypatch.setattr(socket, "getaddrinfo", counted)

    async def many() -> list[str | Observation]:
        resolver = Resolver(1.0)
        return await asyncio.gather(*(resolver.resolve("console.plant.example") for _ in range(20)))

    assert set(asyncio.run(many())) == {"203.0.113.5"}
    assert calls == ["console.plant.example"]


def test_a_name_that_does_not_resolve_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def nxdomain(*args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", nxdomain)
    with pytest.raises(socket.gaierror):
        asyncio.run(resolve.addresses("nowhere.plant.example", 80, 1.0))
    outcome = asyncio.run(Resolver(1.0).resolve("nowhere.plant.example"))
    assert isinstance(outcome, Observation) and outcome.reason is Reason.DNS_FAILURE
    assert "'nowhere.plant.example' does not resolve: Name or service not known" in outcome.detail
    assert outcome.evidence["name"] == "nowhere.plant.example"


def test_lookups_run_at_most_max_threads_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    running = peak = 0
    lock = threading.Lock()

    def slow(host: str, *args: object, **kwargs: object) -> list[object]:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.02)
        with lock:
            running -= 1
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("203.0.113.7", 0))]

    monkeypatch.setattr(socket, "getaddrinfo", slow)

    async def many() -> list[list[tuple[int, str]]]:
        return await asyncio.gather(*(resolve.addresses(f"h{i}.plant.example", 80, 10.0) for i in range(120)))

    assert asyncio.run(many()) == [[(socket.AF_INET, "203.0.113.7")]] * 120
    assert 1 < peak <= resolve.MAX_THREADS


EXIT_SCRIPT = """
import asyncio, socket, sys, time
from pathlib import Path
from netcheck.net import resolve

def slow(*args, **kwargs):
    time.sleep(float(sys.argv[2]))
    Path(sys.argv[1]).write_text("ended")
    raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

socket.getaddrinfo = slow

async def ask():
    try:
        await resolve.addresses("crl.slow.example", 80, 0.05)
    except TimeoutError:
        print("timeout")

asyncio.run(ask())
"""


@pytest.mark.parametrize(("lookup_s", "ends_before_exit"), [(0.3, True), (5.0, False)])
def test_exit_waits_a_bounded_time_for_lookups_still_running(tmp_path: Path, lookup_s: float,
                                                            ends_before_exit: bool) -> None:
    """A lookup thread returning while the interpreter finalises can abort the process (glibc:
    "FATAL: exception not rethrown"): exit gives running lookups up to EXIT_WAIT_S to end first."""
    marker = tmp_path / "ended"
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", EXIT_SCRIPT, str(marker), str(lookup_s)], cwd=ROOT,
                          capture_output=True, text=True, timeout=30, env={**os.environ, "PYTHONPATH": str(ROOT)})
    took = time.monotonic() - started
    assert (done.returncode, done.stdout, done.stderr) == (0, "timeout\n", "")
    assert marker.exists() is ends_before_exit  # the short lookup ended inside the interpreter's life
    assert took < lookup_s + 3 if ends_before_exit else took < 3  # a hung one is not waited for past the bound
