"""No secret (LDAP password, SNMP community, SNMP v3 keys) ever appears in netcheck's output.

Each case scans a profile in the lab's client namespace with every output format the
CLI has (read from netcheck.render.FORMATS at run time, so a new format is covered
without touching this test): the table on stdout, every other format as a file, and
stderr. Then every byte of all of it is searched for each secret value. The cases use
the right credentials (the secrets reach the daemons and work) and wrong ones (the
failure paths: auth-failed details, library errors), with v2c and v3.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netcheck.render import FORMATS

from .daemons import Lab
from .test_profiles_lab import SNMP_V3, scan, site

# Wrong credentials are secrets too: a wrong password must not leak either.
WRONG = {
    "NETCHECK_LDAP_PASSWORD": "wrong-ldap-Pa55-e1f0",
    "NETCHECK_SNMP_COMMUNITY": "wrong-community-77ab",
    "NETCHECK_SNMP_AUTH_KEY": "wrong-auth-key-9c3d",
    "NETCHECK_SNMP_PRIV_KEY": "wrong-priv-key-5e2a",
}

CASES = [
    ("sensor", "2c", False),
    ("console", SNMP_V3, False),
    ("sensor", "2c", True),
    ("console", SNMP_V3, True),
]


@pytest.mark.parametrize(("profile", "snmp", "wrong"), CASES,
                         ids=[f"{p}-snmp{s}-{'wrong' if w else 'right'}" for p, s, w in CASES])
def test_no_secret_in_any_output_format(lab: Lab, tmp_path: Path, profile: str, snmp: str, wrong: bool) -> None:
    site_file = tmp_path / "site.yaml"
    site_file.write_text(json.dumps(site(lab, profile, snmp)))
    out = tmp_path / "reports"
    env = WRONG if wrong else {}
    secrets = {**lab.env, **env}
    formats = list(FORMATS)
    run = scan(lab, profile, site_file, env=env, formats=",".join(formats), output=str(out) + "/", debug=True)
    assert run.returncode == 1, run.stderr  # some required flows fail in the lab, by design

    files = sorted(p for p in out.rglob("*") if p.is_file())
    # every file format produced a file (the table went to stdout): the search below is not vacuous
    assert len(files) == len([f for f in formats if f != "table"]), [p.name for p in files]
    assert "snmp" in run.stdout and "ldap" in run.stdout
    outputs = {"stdout": run.stdout, "stderr": run.stderr}
    outputs.update({p.name: p.read_bytes().decode("utf-8", errors="replace") for p in files})
    for name, value in secrets.items():
        leaks = [where for where, text in outputs.items() if value in text]
        assert not leaks, f"{name} appears in {leaks}"

    # the secrets were really used: the right ones work, the wrong ones are refused
    report = json.loads(next(p for p in files if p.suffix == ".json").read_text())
    by_flow = {(r["flow"], r["destination"]): r for r in report["results"]}
    ldap = by_flow[("ldap", lab.hostnames["ldap"])]
    agent = by_flow[("snmp", lab.addresses["snmp"])]
    if not wrong:
        assert (ldap["reason"], agent["reason"]) == ("answered", "answered")
    else:
        assert ldap["reason"] == "auth-failed"
        # v2c: a wrong community is silence; v3: a wrong auth key draws a report
        assert agent["reason"] == ("auth-failed" if snmp == SNMP_V3 else "no-response")
