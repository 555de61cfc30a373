"""The sensor's six categories: where on the path a failure happened decides the category;
proxy answers to CONNECT are read like the appliance would."""

from __future__ import annotations

import pytest

from netcheck.cloud.categories import (
    CATEGORIES,
    CATEGORY_REASONS,
    DNS_SERVER,
    FIXES,
    GENERAL,
    NAME,
    PROXY_AUTH,
    PROXY_SERVER,
    SECURE,
    categorise,
)
from netcheck.model import Reason
from netcheck.probes.cloud import judge_connect


def test_the_six_categories_are_the_sensors_words() -> None:
    assert CATEGORIES == ("Errors establishing secure connections", "General connection errors",
                          "Unreachable DNS server errors", "Proxy authentication issues", "Name resolution failures",
                          "Unreachable proxy server errors")
    assert set(FIXES) == set(CATEGORIES) == set(CATEGORY_REASONS)


@pytest.mark.parametrize(("reason", "stage", "category"), [
    (Reason.NXDOMAIN, "dns", NAME), (Reason.DNS_ERROR, "dns", NAME), (Reason.DNS_FAILURE, "dns", NAME),
    (Reason.DNS_UNREACHABLE, "dns", DNS_SERVER),
    (Reason.REFUSED, "proxy", PROXY_SERVER), (Reason.FILTERED, "proxy", PROXY_SERVER),
    (Reason.DNS_FAILURE, "proxy", PROXY_SERVER), (Reason.PROTOCOL_ERROR, "proxy", PROXY_SERVER),
    (Reason.PROXY_AUTH_REQUIRED, "proxy", PROXY_AUTH), (Reason.AUTH_FAILED, "proxy", PROXY_AUTH),
    (Reason.PROXY_AUTH_UNSUPPORTED, "proxy", PROXY_AUTH),
    (Reason.PROXY_DENIED, "tunnel", GENERAL), (Reason.FILTERED, "endpoint", GENERAL),
    (Reason.REFUSED, "endpoint", GENERAL), (Reason.UNREACHABLE, "endpoint", GENERAL),
    (Reason.TLS_ERROR, "tls", SECURE), (Reason.INTERCEPTED, "tls", SECURE), (Reason.CLOCK_OFFSET, "tls", SECURE),
    (Reason.TIMEOUT, "tls", SECURE), (Reason.CERT_WARNING, "tls", SECURE),
    (Reason.ANSWERED, "tls", None), (Reason.INTERNAL_ERROR, "endpoint", None),
])
def test_categories_by_stage(reason: Reason, stage: str, category: str | None) -> None:
    assert categorise(reason, stage) == category  # type: ignore[arg-type]


def headers(*values: str) -> list[tuple[str, str]]:
    return [("proxy-authenticate", value) for value in values]


def test_connect_answers() -> None:
    target = "hub.example.net:443"
    assert judge_connect(target, "HTTP/1.1 200 Connection established", [], False) is None
    none = judge_connect(target, "HTTP/1.1 407 Proxy Authentication Required", headers('Basic realm="x"'), False)
    assert none is not None and none.reason is Reason.PROXY_AUTH_REQUIRED
    wrong = judge_connect(target, "HTTP/1.1 407 Proxy Authentication Required", headers('Basic realm="x"'), True)
    assert wrong is not None and wrong.reason is Reason.AUTH_FAILED
    tiny = judge_connect(target, "HTTP/1.0 401 Unauthorized", [("www-authenticate", 'Basic realm="t"')], True)
    assert tiny is not None and tiny.reason is Reason.AUTH_FAILED
    ntlm = judge_connect(target, "HTTP/1.1 407 Proxy Authentication Required", headers("NTLM", "Negotiate"), False)
    assert ntlm is not None and ntlm.reason is Reason.PROXY_AUTH_UNSUPPORTED
    assert "ntlm, negotiate" in ntlm.detail
    both = judge_connect(target, "HTTP/1.1 407 x", headers("Negotiate", "Basic realm=y"), False)
    assert both is not None and both.reason is Reason.PROXY_AUTH_REQUIRED
    for status in ("403 Forbidden", "502 Bad Gateway", "500 Unable to connect"):
        denied = judge_connect(target, f"HTTP/1.1 {status}", [], False)
        assert denied is not None and denied.reason is Reason.PROXY_DENIED
    junk = judge_connect(target, "SSH-2.0-OpenSSH_9.2", [], False)
    assert junk is not None and junk.reason is Reason.PROTOCOL_ERROR


def test_readme_table_follows_the_categories() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for category in CATEGORIES:
        reasons, where = CATEGORY_REASONS[category]
        row = f"| {category} | {', '.join(f'`{r}`' for r in reasons)} | {where} | {FIXES[category]} |"
        assert row in readme, row
