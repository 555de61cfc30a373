"""Content rules for setting values (netcheck/values.py): whole-string matches, ASCII, finite."""

from __future__ import annotations

import pytest

from netcheck import values


@pytest.mark.parametrize(("text", "ok"), [
    ("console.example", True), ("a-1.b.example.", True), ("127.0.0.1", True), ("::1", True),
    ("evil\n.example", False), ("host\n", False), ("bücher.example", False), ("-a.example", False),
    ("a..example", False), ("1.2.3.4.5", False), ("fe80::1%\n", False), ("fe80::1%eth0\u202e", False),
    ("a" * 64 + ".example", False), ("", False),
])
def test_hosts_are_matched_whole_in_ascii(text: str, ok: bool) -> None:
    assert values.is_host(text) is ok


@pytest.mark.parametrize(("text", "ok"), [
    ("NETCHECK_LDAP_PASSWORD", True), ("_x1", True), ("hunter2 P@ss!", False), ("A\n", False), ("1A", False),
])
def test_environment_variable_names(text: str, ok: bool) -> None:
    assert (values.env_name(text) is None) is ok


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1, 86_401, True, "1"])
def test_numbers_are_finite_and_in_range(value: object) -> None:
    assert values.number(0, 86_400)(value) is not None


def test_wire_text_refuses_line_ends_controls_and_non_ascii() -> None:
    assert values.wire_text("EHLO host.example", "x") == b"EHLO host.example"
    for bad in ("a\r\nb", "a\x00", "a\x1b[2J", "bücher", "a\u2028"):
        with pytest.raises(values.UnsafeForWire, match="only printable ASCII"):
            values.wire_text(bad, "ehlo_name")


@pytest.mark.parametrize(("target", "ok"), [
    ("127.0.0.1:443", True), ("[::1]:8443", True), ("console:443", True), ("ha_console:9000", True),
    ("x:0", False), ("x:70000", False), ("x\r\n:443", False), ("[nope]:1", False), ("443", False),
])
def test_connect_targets(target: str, ok: bool) -> None:
    assert (values.host_port(target) is None) is ok


def test_http_urls_only_plain_http_in_ascii() -> None:
    assert values.is_http_url("http://crl.example/a%20b.crl")
    for bad in ("https://crl.example/r.crl", "http://crl.example/a b", "http://crl.example/\u00e9", "ldap://x/",
                "http://crl.example:0/", "http://crl.example/\r\nX: y"):
        assert not values.is_http_url(bad)
