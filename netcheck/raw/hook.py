"""raw/'s part in a scan: the typed option `raw=` of netcheck.scan / scan_async becomes the
RawDiagnosis scan hook here (the command line's --no-raw is raw/cli.py). Imports nothing heavy:
the diagnosis, and scapy after it, load only when the hook is made."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from netcheck.engine import ScanHook


def raw_hooks(raw: bool | None, notice: Callable[[str], None] | None = None) -> list[ScanHook]:
    """The raw-packet diagnosis of failed flows, as scan hooks: `raw` True always (without the
    privilege it tells `notice` that root adds hop detail), False never, None only when this
    process may send raw packets and scapy is installed (else silently none)."""
    if raw is None:
        from netcheck.raw.privilege import raw_unavailable, scapy_missing

        raw = not (raw_unavailable() or scapy_missing())
    if not raw:
        return []
    from netcheck.raw.diagnose import RawDiagnosis

    return [RawDiagnosis(say=notice)]
