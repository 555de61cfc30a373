"""Whether raw packets are possible here, checked by trying (capabilities, not the uid, decide)."""

from __future__ import annotations

import socket

NO_PRIVILEGE_NOTE = "running as root adds hop detail"


def raw_unavailable() -> str | None:
    """None when this process may open a packet socket (root or CAP_NET_RAW), else why not."""
    try:
        probe = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    except PermissionError:
        return "raw packets need root or CAP_NET_RAW"
    except (OSError, AttributeError) as exc:  # AF_PACKET is Linux-only
        return f"raw packets are not available here ({exc})"
    probe.close()
    return None


def scapy_missing() -> str | None:
    """None when scapy can be imported (checked without importing it)."""
    import importlib.util

    return None if importlib.util.find_spec("scapy") else "scapy is not installed (pip install scapy)"
