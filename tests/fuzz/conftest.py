"""Hypothesis budgets for the fuzz tests.

A developer's run uses the bounded `dev` profile (about a minute for the whole folder) and explores
new examples each time. `.ci/run` picks `ci`: the same budget with a fixed derivation of examples, so
a red CI means a regression, not an unlucky draw. A longer campaign:
``NETCHECK_FUZZ=long python3 -m pytest tests/fuzz``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,  # each case bounds its own time (subprocess timeouts), not hypothesis
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    "print_blob": True,
}
settings.register_profile("dev", max_examples=60, derandomize=False, **_COMMON)
settings.register_profile("ci", max_examples=60, derandomize=True, **_COMMON)
settings.register_profile("long", max_examples=2000, derandomize=False, **_COMMON)
settings.load_profile(os.environ.get("NETCHECK_FUZZ", "dev"))
