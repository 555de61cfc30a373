"""The property of issue 9, item 2: whatever `netcheck validate` accepts, `netcheck scan` runs
without exit 3 and without a probe crashing (no internal-error result).

Site files are generated from the probes' own option tables (mostly valid values, some hostile
ones); every peer is 127.0.0.1, and `loopback_only` re-checks the validated site before any
scan, so nothing is ever sent beyond loopback. Scans run in this process with short timeouts."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import event, given, settings
from hypothesis import strategies as st

from netcheck.profiles import load_profile, load_site
from tests.fuzz.contract import assert_contract, run_cli
from tests.fuzz.loopback import loopback_only
from tests.fuzz.strategies import LOOPBACK_PEERS, profile_documents, scaled, site_documents


@settings(max_examples=scaled(0.2))
@given(site_documents(hostile_share=0.15), st.sampled_from(["sensor", "console", "client"]))
def test_whatever_validate_accepts_scans_without_exit_3(document: dict[str, Any], role: str) -> None:
    folder = Path(tempfile.mkdtemp(prefix="netcheck-fuzz-scan-"))
    path = folder / "site.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    validated = run_cli("validate", str(path), "--profile", role)
    assert_contract(validated)
    event("accepted and scanned" if validated.code == 0 else "refused by validate")
    if validated.code != 0:
        return
    site = load_site(path, load_profile(role))
    assert loopback_only(site), site  # the generator's promise, checked before any packet
    report = folder / "report.json"
    scanned = run_cli("scan", "--profile", role, "--site", str(path), "--timeout", "0.3", "--deadline", "20",
                      "--udp-tries", "1", "--no-raw", "--no-progress", "-f", "json", "-o", str(report))
    assert_contract(scanned, max_seconds=30)
    assert scanned.code in (0, 1), scanned.describe()
    crashed = [r for r in json.loads(report.read_text())["results"] if r["reason"] == "internal-error"]
    assert not crashed, crashed


@settings(max_examples=scaled(0.2))
@given(profile_documents())
def test_whatever_validate_accepts_in_a_profile_scans_without_exit_3(document: dict[str, Any]) -> None:
    """The same property for profiles: every flow of a generated profile against 127.0.0.1."""
    folder = Path(tempfile.mkdtemp(prefix="netcheck-fuzz-profile-"))
    profile, site = folder / "profile.yaml", folder / "site.yaml"
    profile.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    peers = {**LOOPBACK_PEERS, "crl": "http://127.0.0.1/crl/root.crl", "proxy": "http://127.0.0.1:3128"}
    site.write_text(yaml.safe_dump({"name": "fuzz", "peers": peers}), encoding="utf-8")
    validated = run_cli("validate", str(site), "--profile", str(profile))
    assert_contract(validated)
    event("accepted and scanned" if validated.code == 0 else "refused by validate")
    if validated.code != 0:
        return
    assert loopback_only(load_site(site, load_profile(str(profile))))
    report = folder / "report.json"
    scanned = run_cli("scan", "--profile", str(profile), "--site", str(site), "--timeout", "0.3", "--deadline", "20",
                      "--udp-tries", "1", "--no-raw", "--no-progress", "-f", "json", "-o", str(report))
    assert_contract(scanned, max_seconds=30)
    assert scanned.code in (0, 1), scanned.describe()
    crashed = [r for r in json.loads(report.read_text())["results"] if r["reason"] == "internal-error"]
    assert not crashed, crashed
