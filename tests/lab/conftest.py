"""The session-wide `lab` fixture: namespaces, PKI, firewall and real daemons."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from .daemons import Lab, lab_unavailable, start_lab


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    """A running lab shared by the whole session; torn down at the end (also on failures).

    Skips with the reason when not root or when lab packages are missing.
    """
    reason = lab_unavailable()
    if reason:
        pytest.skip(reason)
    with start_lab() as running:
        print(f"\nnetcheck lab up in {running.up_seconds:.1f} s (namespaces {running.topo.suffix})")
        yield running
        down = time.monotonic()
    print(f"\nnetcheck lab down in {time.monotonic() - down:.1f} s")
