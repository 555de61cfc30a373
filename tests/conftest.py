"""Shared test helpers: flows and probe contexts built without YAML."""

from __future__ import annotations

from typing import Any

import pytest

from netcheck.model import Direction, Flow, Port
from netcheck.probes import ProbeContext


def make_flow(port: Port = 443, *, transport: str = "tcp", probe: str = "tcp", host: str = "127.0.0.1",
              direction: Direction = Direction.OUT, flow_id: str = "test", peer: str = "console",
              required: bool = True, options: dict[str, Any] | None = None) -> Flow:
    return Flow(id=flow_id, purpose="test flow", protocol="TEST", transport=transport, port=port,
                direction=direction, peer=peer, host=host, probe=probe, required=required,
                options=options or {})


@pytest.fixture
def ctx() -> ProbeContext:
    return ProbeContext(timeout=1.0, run_id="testrun", udp_tries=2)
