"""Hypothesis budgets for the fuzz tests.

CI runs the bounded `ci` profile (about a minute for the whole folder); a longer campaign:
``NETCHECK_FUZZ=long python3 -m pytest tests/fuzz``.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "deadline": None,  # each case bounds its own time (subprocess timeouts), not hypothesis
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    "derandomize": False,
    "print_blob": True,
}
settings.register_profile("ci", max_examples=60, **_COMMON)
settings.register_profile("long", max_examples=2000, **_COMMON)
settings.load_profile(os.environ.get("NETCHECK_FUZZ", "ci"))
