"""Shared test helpers: flows and probe contexts built without YAML."""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

from netcheck import probes
from netcheck.model import Direction, Flow, Port
from netcheck.probes import ProbeContext, ProbeKind


def make_flow(port: Port = 443, *, transport: str = "tcp", probe: str = "tcp", host: str = "127.0.0.1",
              direction: Direction = Direction.OUT, flow_id: str = "test", peer: str = "console",
              required: bool = True, options: dict[str, Any] | None = None) -> Flow:
    return Flow(id=flow_id, purpose="test flow", protocol="TEST", transport=transport, port=port,
                direction=direction, peer=peer, host=host, probe=probe, required=required,
                options=options or {})


@pytest.fixture
def ctx() -> ProbeContext:
    return ProbeContext(timeout=1.0, run_id="testrun", udp_tries=2)


@pytest.fixture
def probe_registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, ProbeKind]:
    """A scratch copy of the probe registry for one test: the probe kinds a test registers
    (probes.register) live in it and vanish afterwards, so the global registry that profiles,
    schemas and other tests see holds netcheck's own kinds only."""
    scratch = dict(probes.load_all())
    monkeypatch.setattr(probes, "REGISTRY", scratch)
    return scratch


# CI runs as root with every lab package installed: there, a test that skips for want of
# its environment proves nothing, so NETCHECK_REQUIRE_LAB=1 turns every skip into a failure.
# Developers without root or daemons still get plain skips locally.
REQUIRE_LAB = os.environ.get("NETCHECK_REQUIRE_LAB") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_LAB and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under NETCHECK_REQUIRE_LAB=1 (CI has root and every lab package): {reason}"
