"""Every malformed input gives one clear line naming the file and key/line, exit 2, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from netcheck.cli import main

GOOD_FLOW = """\
  - id: web
    purpose: Web console
    protocol: HTTPS
    transport: tcp
    port: 443
    direction: out
    peer: console
    probe: tcp
"""
GOOD_PROFILE = "name: mini\nrole: sensor\nflows:\n" + GOOD_FLOW
GOOD_SITE = "name: lab\npeers:\n  console: 127.0.0.1\n"


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(err: str, *needles: str) -> None:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line, got: {err!r}"
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"


PROFILE_CASES = {
    # name: (profile text, substrings the error line must contain)
    "bad yaml": ("name: x\nflows: [\n", ["invalid YAML", ":3:"]),
    "unknown top key": (GOOD_PROFILE + "colour: red\n", ["colour", "unknown key", ":12"]),
    "unknown flow key": (GOOD_PROFILE + "    prot: 1\n", ["flows[0].prot", "unknown key", ":12"]),
    "wrong type": (GOOD_PROFILE.replace("flows:\n", "flows: 7\n").split("  - id")[0],
                   ["flows", "a number (7)", "non-empty list"]),
    "port zero": (GOOD_PROFILE.replace("port: 443", "port: 0"), ["flows[0].port", "port 0 is out of range", ":8"]),
    "port 70000": (GOOD_PROFILE.replace("port: 443", "port: 70000"), ["flows[0].port", "70000"]),
    "port text": (GOOD_PROFILE.replace("port: 443", "port: https"), ["flows[0].port", "'https'"]),
    "bad range": (GOOD_PROFILE.replace("port: 443", "port: 9000-80"), ["flows[0].port", "range"]),
    "unknown probe": (GOOD_PROFILE.replace("probe: tcp", "probe: telnet"),
                      ["flows[0].probe", "unknown probe kind 'telnet'", "tcp"]),
    "probe transport": (GOOD_PROFILE.replace("transport: tcp", "transport: udp"),
                        ["flows[0].transport", "probe 'tcp' cannot test udp"]),
    "bad transport": (GOOD_PROFILE.replace("transport: tcp", "transport: sctp"), ["flows[0].transport", "tcp or udp"]),
    "bad direction": (GOOD_PROFILE.replace("direction: out", "direction: both"), ["flows[0].direction"]),
    "duplicate id": (GOOD_PROFILE + GOOD_FLOW, ["flows[1].id", "duplicate flow id 'web'", ":12"]),
    "missing key": (GOOD_PROFILE.replace("    protocol: HTTPS\n", ""), ["flows[0]", "missing key 'protocol'"]),
    "required not bool": (GOOD_PROFILE + "    required: maybe\n", ["flows[0].required", "true or false"]),
    "secret option": (GOOD_PROFILE + "    options: {password: hunter2}\n",
                      ["flows[0].options.password", "secrets are not allowed"]),
    "unknown option": (GOOD_PROFILE + "    options: {colour: 1}\n", ["flows[0].options.colour", "unknown option"]),
    "duplicate key": ("name: a\nname: b\n", ["name", "duplicate key", ":2"]),
    "a list": ("- 1\n- 2\n", ["a list", "profile"]),
}


@pytest.mark.parametrize("case", sorted(PROFILE_CASES))
def test_malformed_profile(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, needles = PROFILE_CASES[case]
    path = tmp_path / "profile.yaml"
    path.write_text(text)
    code, _out, err = run_cli(["validate", str(path)], capsys)
    assert code == 2
    assert_one_line_error(err, str(path), *needles)


SITE_CASES = {
    "invalid ip": ("name: s\npeers:\n  console: 300.1.1.1\n", ["peers.console", "'300.1.1.1' is not a valid"]),
    "bad host": ("name: s\npeers:\n  sensors: [127.0.0.1, 'bad host!']\n", ["peers.sensors[1]", "'bad host!'", ":3"]),
    "unknown peer": ("name: s\npeers:\n  consle: 127.0.0.1\n", ["peers.consle", "unknown peer", "console"]),
    "crl not url": ("name: s\npeers:\n  crl: crl.example.com\n", ["peers.crl", "not a valid URL"]),
    "proxy credentials": ("name: s\npeers:\n  proxy: http://u:p@proxy.example.com:3128\n",
                          ["peers.proxy", "credentials are not allowed"]),
    "port override unknown flow": (GOOD_SITE + "ports:\n  tunel: 9100\n", ["ports.tunel", "no flow 'tunel'"]),
    "port override range": (GOOD_SITE + "ports:\n  web: 0\n", ["ports.web", "out of range"]),
    "secret in settings": (GOOD_SITE + "settings:\n  console:\n    password: hunter2\n",
                           ["settings.console.password", "secrets are not allowed", "password_env"]),
    "missing peers": ("name: s\n", ["missing key 'peers'"]),
    "peers not mapping": ("name: s\npeers: [1, 2]\n", ["peers", "a list"]),
}


@pytest.mark.parametrize("case", sorted(SITE_CASES))
def test_malformed_site(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, needles = SITE_CASES[case]
    profile = tmp_path / "profile.yaml"
    profile.write_text(GOOD_PROFILE)
    site = tmp_path / "site.yaml"
    site.write_text(text)
    code, _out, err = run_cli(["scan", "--profile", str(profile), "--site", str(site)], capsys)
    assert code == 2
    assert_one_line_error(err, str(site), *needles)
    if "secret" in case:
        assert "hunter2" not in err


@pytest.mark.parametrize("kind", ["missing", "empty", "directory", "binary"])
def test_unusable_files(kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "site.yaml"
    if kind == "empty":
        path.write_text("\n# nothing\n")
    elif kind == "directory":
        path.mkdir()
    elif kind == "binary":
        path.write_bytes(b"\xff\xfe\x00garbage")
    code, _out, err = run_cli(["scan", "--site", str(path)], capsys)
    assert code == 2
    expected = {"missing": "no such file", "empty": "file is empty", "directory": "is a directory",
                "binary": "not UTF-8"}[kind]
    assert_one_line_error(err, str(path), expected)


@pytest.mark.parametrize("argv, needle", [
    (["scan", "--timeout", "-1"], "--timeout"),
    (["scan", "--timeout", "soon"], "not a number"),
    (["scan", "--format", "pdf"], "unknown format 'pdf'"),
    (["scan", "--profile", "router"], "unknown profile 'router'"),
    (["scan", "--bogus"], "unrecognized arguments"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_arguments(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run_cli(argv, capsys)
    assert code == 2
    assert_one_line_error(err, needle)


def test_valid_files_pass_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "profile.yaml"
    profile.write_text(GOOD_PROFILE)
    site = tmp_path / "site.yaml"
    site.write_text(GOOD_SITE)
    code, out, _err = run_cli(["validate", str(profile), str(site)], capsys)
    assert code == 0
    assert "valid profile 'mini' (1 flows)" in out
    assert "valid site 'lab'" in out
