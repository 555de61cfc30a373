"""netcheck: network and port readiness scanner for OT security appliances."""

__version__ = "0.1.0"
