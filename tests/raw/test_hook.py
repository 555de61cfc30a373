"""raw/ owns the typed option raw= of a scan: raw_hooks turns it into the diagnosis hook."""

from __future__ import annotations

import pytest

from netcheck.raw import hook, privilege
from netcheck.raw.diagnose import RawDiagnosis


def test_raw_false_adds_no_hook_and_true_adds_the_diagnosis_with_its_notice() -> None:
    assert hook.raw_hooks(False) == []
    said: list[str] = []
    hooks = hook.raw_hooks(True, said.append)
    assert len(hooks) == 1 and isinstance(hooks[0], RawDiagnosis) and hooks[0].say == said.append


@pytest.mark.parametrize(("unavailable", "missing", "expected"), [
    (None, None, 1),
    ("raw packets need root or CAP_NET_RAW", None, 0),
    (None, "scapy is not installed (pip install scapy)", 0),
])
def test_raw_none_diagnoses_only_when_raw_packets_are_possible(monkeypatch: pytest.MonkeyPatch, unavailable: str | None,
                                                                missing: str | None, expected: int) -> None:
    monkeypatch.setattr(privilege, "raw_unavailable", lambda: unavailable)
    monkeypatch.setattr(privilege, "scapy_missing", lambda: missing)
    assert len(hook.raw_hooks(None)) == expected


def test_the_public_scan_builds_its_hooks_from_raw_and_listen() -> None:
    from netcheck.profiles import load_profile, load_site
    from netcheck.scanner import loopback_site_path, scan_hooks

    site = load_site(loopback_site_path(), load_profile("sensor"))
    assert scan_hooks(site, raw=False, env={}) == []
    assert [type(h) for h in scan_hooks(site, raw=True, env={})] == [RawDiagnosis]
