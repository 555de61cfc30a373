"""Firewall rules in vendor syntax (aerleon): loaded for real by nft and iptables-restore in a network
namespace the test creates; the other vendors checked by aerleon's validation, XML parsing and golden files.

Golden files: tests/render/golden/firewall/, regenerated with NETCHECK_UPDATE_GOLDEN=1.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import pytest

from netcheck.cli import main
from netcheck.model import Direction, Reason, Report, Status
from netcheck.render import FIREWALL_VENDORS
from netcheck.render.firewall import firewall_rules
from netcheck.render.firewall_rules import VENDORS, render_vendor
from netcheck.serialize import dumps
from tests.render.loopback_site import loopback_scan
from tests.render.sample import flow, result, sample_report
from tests.render.test_golden import check_golden

ROOT = Path(__file__).resolve().parents[2]


def dual_stack_report() -> Report:
    """The sample with its port range failing, plus an IPv6 flow, an inbound flow from a known host,
    and one whose name did not resolve."""
    report = sample_report()
    results = [replace(r, status=Status.FAIL, reason=Reason.FILTERED) if r.flow.id == "wmi-dynamic" else r
               for r in report.results]
    extra = [
        result(flow("syslog-v6", "syslog", "2001:db8:200::14", "Syslog", "udp", 514, "Logs over IPv6"),
               Status.FAIL, Reason.PROHIBITED, "UDP 514: administratively prohibited"),
        result(flow("console-in", "console", "203.0.113.10", "HTTPS", "tcp", 443,
                    "The console connects to the sensor", Direction.IN),
               Status.FAIL, Reason.BLOCKED, "the listener never saw the console's token"),
        result(flow("smtp-relay", "smtp", "relay.plant-north.example", "SMTP", "tcp", 587, "Mail relay"),
               Status.FAIL, Reason.DNS_FAILURE, "relay.plant-north.example does not resolve"),
    ]
    return Report.build(report.info, [*results, *extra])


def hostile_rules_report() -> Report:
    """Flow ids and purposes that try to break out of each vendor's comment or quoting."""
    report = sample_report()
    attacks = {
        "tunnel": ('tunnel";drop', 'purpose" ; flush ruleset ; "'),
        "crl": ("crl*/x", "ends a Juniper comment */ policy evil { then permit; } /*"),
        "dns-udp": ("dns\nudp", "<entry name='evil'/> & an XML break\nand a newline"),
        "syslog": ("syslog\\", "backslash \\ and a very long purpose " + "x" * 300),
    }
    results = []
    for r in report.results:
        if r.flow.id in attacks:
            flow_id, purpose = attacks[r.flow.id]
            r = replace(r, flow=replace(r.flow, id=flow_id, purpose=purpose))
        results.append(r)
    return Report.build(report.info, results)


def passing_report() -> Report:
    report = sample_report()
    return Report.build(report.info, [replace(r, status=Status.PASS, reason=Reason.OPEN) for r in report.results])


def normalised(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------- loading in a network namespace

def in_namespace(script: str, *files: Path) -> subprocess.CompletedProcess[str]:
    """Run `sh -c script` in a fresh network namespace (gone when the command ends)."""
    if os.geteuid() != 0:
        pytest.skip("loading rules needs root (a network namespace of its own)")
    for tool in ("unshare", "nft", "iptables-restore", "ip6tables-restore"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt: nftables, iptables)")
    return subprocess.run(["unshare", "--net", "sh", "-c", script, "sh", *map(str, files)],
                          capture_output=True, text=True, timeout=60)


def nft_loads(path: Path) -> str:
    """Check, then really load the file, and list what the kernel holds."""
    done = in_namespace('nft -c -f "$1" && nft -f "$1" && nft list ruleset', path)
    assert done.returncode == 0, done.stderr + path.read_text()
    return done.stdout


def iptables_loads(path: Path, command: str = "iptables") -> str:
    done = in_namespace(f'{command}-restore --test "$1" && {command}-restore "$1" && {command} -S', path)
    assert done.returncode == 0, done.stderr + path.read_text()
    return done.stdout


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_nftables_loads_and_carries_every_flow(tmp_path: Path) -> None:
    report = dual_stack_report()
    ruleset = nft_loads(write(tmp_path, "rules.nft", render_vendor(report, "nftables")))
    assert "table ip filtering_policies" in ruleset and "table ip6 filtering_policies" in ruleset
    assert 'ip6 saddr 2001:db8:100::10 ip6 daddr 2001:db8:200::14 udp dport 514' in ruleset
    assert "ip saddr 198.51.100.10 ip daddr 203.0.113.30 tcp dport 135" in ruleset
    assert "ip saddr 203.0.113.10 ip daddr 198.51.100.10 tcp dport 443" in ruleset  # inbound: the peer initiates
    assert "ip saddr 198.51.100.10 ip daddr 203.0.113.30 tcp dport 1025-65535" in ruleset
    for rule in firewall_rules(report):
        if rule.flows != "smtp-relay":
            assert f'comment "netcheck flow {rule.flows}: {rule.purpose[:40]}' in ruleset


def test_iptables_and_ip6tables_load_and_carry_every_flow(tmp_path: Path) -> None:
    report = dual_stack_report()
    v4 = iptables_loads(write(tmp_path, "rules.ipt", render_vendor(report, "iptables")))
    v6 = iptables_loads(write(tmp_path, "rules.ip6t", render_vendor(report, "ip6tables")), "ip6tables")
    assert "-N NETCHECK" in v4 and "-N NETCHECK" in v6
    assert "-s 198.51.100.10/32 -d 203.0.113.30/32 -p tcp -m tcp --dport 135" in v4
    assert "-s 2001:db8:100::10/128 -d 2001:db8:200::14/128 -p udp -m udp --dport 514" in v6
    assert "-s 198.51.100.10/32 -d 203.0.113.30/32 -p tcp -m tcp --dport 1025:65535" in v4
    assert "2001:db8" not in v4 and "198.51.100" not in v6
    for rule in firewall_rules(report):
        text = v6 if rule.flows == "syslog-v6" else v4
        if rule.flows != "smtp-relay":
            assert f'--comment "netcheck flow {rule.flows}: {rule.purpose[:20]}' in text


def test_hostile_ids_and_purposes_cannot_break_out(tmp_path: Path) -> None:
    report = hostile_rules_report()
    nft = nft_loads(write(tmp_path, "h.nft", render_vendor(report, "nftables")))
    ipt = iptables_loads(write(tmp_path, "h.ipt", render_vendor(report, "iptables")))
    assert "flush" not in nft.split("comment")[0]
    assert nft.count("ct state new accept") == ipt.count("-j ACCEPT") == 5  # five rules, nothing smuggled in
    srx = render_vendor(report, "junipersrx")
    outside_comments = re.sub(r"/\*.*?\*/", "", srx, flags=re.S)
    assert "evil" in srx and "evil" not in outside_comments and "/*" not in outside_comments
    assert normalised(outside_comments).count("then { permit; }") == 5
    root = ET.fromstring(render_vendor(report, "paloalto"))
    assert len(root.findall(".//rulebase/security/rules/entry")) == 5
    assert all(len(line) < 200 for line in render_vendor(report, "ciscoasa").splitlines())


def test_nothing_to_request_still_loads(tmp_path: Path) -> None:
    report = passing_report()
    nft_loads(write(tmp_path, "none.nft", render_vendor(report, "nftables")))
    iptables_loads(write(tmp_path, "none.ipt", render_vendor(report, "iptables")))
    for name in VENDORS:
        assert "No rule needed" in render_vendor(report, name)


# ---------------------------------------------------------------- the other vendors: aerleon + golden files

@pytest.mark.parametrize("name", sorted(FIREWALL_VENDORS))
def test_vendor_output_matches_its_golden_file(name: str) -> None:
    fmt = FIREWALL_VENDORS[name]
    check_golden(f"firewall/{fmt.extension}", fmt.renderer()(dual_stack_report()))


@pytest.mark.parametrize("name", sorted(VENDORS))
def test_every_rule_carries_its_flow_ids_and_purpose(name: str) -> None:
    report = dual_stack_report()
    text = normalised(render_vendor(report, name))
    families = set(VENDORS[name].families)
    written = 0
    for rule in firewall_rules(report):
        ends = [{ipaddress.ip_address(a).version for a in end.split()} for end in (rule.source, rule.destination)
                if rule.flows != "smtp-relay"]
        if rule.flows == "smtp-relay" or not (ends[0] & ends[1] & families):
            assert normalised(f"not written: {rule.transport} {rule.port} from {rule.source}") in text
            continue
        assert f"netcheck flow {rule.flows}: {rule.purpose[:20]}" in text, rule
        written += len(ends[0] & ends[1] & families)
    # and each comment has its rule: the generator did not drop one silently
    assert text.count(ALLOW[name]) == written


ALLOW = {"nftables": "ct state new accept", "iptables": "-j ACCEPT", "ip6tables": "-j ACCEPT",
         "ciscoasa": "extended permit", "junipersrx": "then { permit; }", "paloalto": "<action>allow</action>"}


def test_palo_alto_rules_are_well_formed_xml() -> None:
    report = dual_stack_report()
    root = ET.fromstring(render_vendor(report, "paloalto"))
    rules = root.findall(".//rulebase/security/rules/entry")
    written = [r for r in firewall_rules(report) if r.flows != "smtp-relay"]
    assert len(rules) == len(written)
    descriptions = [rule.findtext("description") or "" for rule in rules]
    for rule in written:
        assert any(d.startswith(f"netcheck flow {rule.flows}: ") for d in descriptions)
    inbound = next(r for r in rules if "console-in" in (r.findtext("description") or ""))
    assert inbound.findtext("from/member") == "untrust" and inbound.findtext("to/member") == "trust"


def test_juniper_srx_puts_inbound_rules_in_the_reverse_zones() -> None:
    text = render_vendor(dual_stack_report(), "junipersrx")
    assert "from-zone trust to-zone untrust {" in text and "from-zone untrust to-zone trust {" in text
    reverse = text.split("from-zone untrust to-zone trust {")[1].split("from-zone")[0]
    assert "policy r01-console-in" in reverse and "tunnel" not in reverse


# ---------------------------------------------------------------- the command line

def test_report_and_scan_write_vendor_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scan = loopback_scan(tmp_path / "scan", capsys, "firewall-request", closed=True, extra=("--vendor", "nftables"))
    assert scan.code == 1
    from_scan = scan.file("firewall-request.nft").read_text()
    assert "tcp dport" in from_scan and 'comment "netcheck flow tunnel: Tunnel to the console"' in from_scan
    nft_loads(scan.file("firewall-request.nft"))

    saved = scan.file("json")
    out = tmp_path / "rules.ipt"
    assert main(["report", str(saved), "-f", "firewall-request", "--vendor", "iptables", "-o", str(out)]) == 0
    assert "wrote firewall-request report" in capsys.readouterr().err
    assert '--comment "netcheck flow tunnel: Tunnel to the console"' in iptables_loads(out)
    assert main(["report", str(saved), "-f", "firewall-request", "--vendor", "nftables", "-o", "-"]) == 0
    assert capsys.readouterr().out == from_scan


def test_vendor_without_the_firewall_request_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "x.json", "-f", "html", "--vendor", "nftables"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "firewall-request" in err
    assert main(["report", "x.json", "-f", "firewall-request", "--vendor", "checkpoint"]) == 2


def test_aerleon_and_monitoring_renderers_are_not_imported_at_start_up() -> None:
    code = ("import sys; from netcheck.cli import build_parser; build_parser(); "
            "print([m for m in ('aerleon', 'netcheck.render.firewall_rules', 'netcheck.render.nagios', "
            "'netcheck.render.prometheus') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_without_aerleon_vendor_output_is_a_one_line_usage_error(tmp_path: Path) -> None:
    saved = tmp_path / "scan.json"
    saved.write_text(dumps(dual_stack_report()))
    code = ("import sys; sys.modules['aerleon'] = None; from netcheck.cli import main; "
            f"sys.exit(main(['report', {str(saved)!r}, '-f', 'firewall-request', '--vendor', 'nftables', '-o', '-']))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "pip install aerleon" in done.stderr, done.stderr
