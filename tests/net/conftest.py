"""Fixtures of the network layer's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.certs.daemons import netns_available
from tests.net.routes import routes_namespace


@pytest.fixture(scope="module")
def routes_ns() -> Iterator[str]:
    """A namespace with silent, unreachable and prohibited destinations (tests/net/routes.py)."""
    if not netns_available():
        pytest.skip("network namespaces need root and iproute2")
    with routes_namespace() as name:
        yield name
