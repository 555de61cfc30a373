"""TLS probe: the certificate judgement offline (pure), a real TLS server (Python's ssl
module on loopback, which is OpenSSL), and hostile servers that must end within the
deadline with a reason. Real nginx in the lab: tests/lab/test_protocol_probes_lab.py."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import ssl
import threading
import time
import warnings
from pathlib import Path

import pytest

from netcheck.engine import Limits, scan
from netcheck.judges import as_verdict
from netcheck.model import Reason, Status
from netcheck.probes import ProbeContext, get
from netcheck.probes._tls import Expectation, alert_text, assess, chains_to_anchor, expectation_for
from netcheck.probes.tls import observe_tls
from tests.conftest import make_flow
from tests.probes.hostile import (
    ENGINE_GRACE_S,
    close_at_once,
    der,
    drip,
    flood,
    hostile_server,
    key_pem,
    make_cert,
    pem,
    run_probe,
    send_then_hold,
    silent,
    tls_garbage,
)

CTX = ProbeContext(timeout=1.2, run_id="tls-test")


@pytest.fixture(scope="module")
def pki() -> dict[str, object]:
    root = make_cert("Test Root CA", ca=True, days=(-10, 3650))
    inter = make_cert("Test Issuing CA", ca=True, issuer=root, days=(-10, 3650))
    leaf = make_cert("server.test", issuer=inter, dns=("server.test",), ips=("127.0.0.1",))
    expired = make_cert("old.test", issuer=inter, dns=("old.test",), days=(-60, -30))
    selfsigned = make_cert("self.test", dns=("self.test",))
    proxy_ca = make_cert("Inspecting Proxy CA", ca=True)
    forged = make_cert("server.test", issuer=proxy_ca, dns=("server.test",))
    return {"root": root, "inter": inter, "leaf": leaf, "expired": expired, "selfsigned": selfsigned,
            "proxy_ca": proxy_ca, "forged": forged}


def chain(pki: dict[str, object], *names: str) -> tuple[bytes, ...]:
    return tuple(der(pki[name][0]) for name in names)  # type: ignore[index]


# --- judgement (pure) ---------------------------------------------------------------------

def test_good_chain_to_the_site_ca_passes(pki: dict[str, object]) -> None:
    expect = Expectation(names=("server.test", "127.0.0.1"), expected_issuer="Test Issuing CA",
                         anchors=chain(pki, "root"))
    result = assess(chain(pki, "leaf", "inter"), expect)
    assert result.reason is Reason.ANSWERED, result.problems
    assert result.evidence["chain_verified"] is True
    assert result.evidence["name_matches"] == {"server.test": True, "127.0.0.1": True}
    assert result.evidence["certificates"][0]["subject"] == "CN=server.test"


def test_expected_issuer_matches_any_issuer_of_the_chain_by_dn_or_cn(pki: dict[str, object]) -> None:
    for issuer in ("CN=Test Root CA", "test root ca", "CN=Test Issuing CA"):
        assert assess(chain(pki, "leaf", "inter"), Expectation(expected_issuer=issuer)).reason is Reason.ANSWERED


def test_self_signed_warns(pki: dict[str, object]) -> None:
    result = assess(chain(pki, "selfsigned"), Expectation(names=("self.test",)))
    assert result.reason is Reason.CERT_WARNING
    assert any("self-signed" in p for p in result.problems)


def test_expired_and_wrong_name_both_reported(pki: dict[str, object]) -> None:
    result = assess(chain(pki, "expired", "inter"), Expectation(names=("server.test",)))
    assert result.reason is Reason.CERT_WARNING
    assert any(p.startswith("the certificate expired on") for p in result.problems)
    assert any("not valid for server.test (it names old.test)" in p for p in result.problems)


def test_not_yet_valid_is_a_warning(pki: dict[str, object]) -> None:
    future = make_cert("soon.test", issuer=pki["inter"], dns=("soon.test",), days=(5, 30))  # type: ignore[arg-type]
    result = assess((der(future[0]),), Expectation())
    assert result.reason is Reason.CERT_WARNING and "not valid before" in result.problems[0]


@pytest.mark.parametrize("presented", ["version", "gost", "x400"])
def test_an_unreadable_server_certificate_is_a_warning_not_an_internal_error(presented: str) -> None:
    # Given what a hostile server may present: version 7, a key type nobody reads, an odd SAN entry
    from tests.certs import hostile

    blobs = {"version": lambda: hostile.version(7), "gost": hostile.gost_key,
             "x400": lambda: hostile.san_entries(hostile.X400_ADDRESS, hostile.EDI_PARTY)}
    # When the TLS probe judges it
    result = assess((blobs[presented](),), Expectation(names=("server.test",), expected_issuer="Test Issuing CA"))
    # Then it is the server's problem, with a reason, whatever cryptography raised
    assert result.reason in (Reason.CERT_WARNING, Reason.INTERCEPTED)
    assert result.problems


def test_other_issuer_is_intercepted(pki: dict[str, object]) -> None:
    by_issuer = assess(chain(pki, "forged", "proxy_ca"), Expectation(expected_issuer="Test Issuing CA"))
    assert by_issuer.reason is Reason.INTERCEPTED
    assert "not by the expected 'Test Issuing CA'" in by_issuer.problems[0]
    by_anchor = assess(chain(pki, "forged", "proxy_ca"), Expectation(anchors=chain(pki, "root"), ca_file="site.pem"))
    assert by_anchor.reason is Reason.INTERCEPTED
    assert "which does not lead to a CA of site.pem" in by_anchor.problems[0]
    assert by_anchor.evidence["chain_verified"] is False


def test_self_signed_with_a_site_ca_is_a_warning_not_interception(pki: dict[str, object]) -> None:
    result = assess(chain(pki, "selfsigned"), Expectation(anchors=chain(pki, "root")))
    assert result.reason is Reason.CERT_WARNING


def test_chain_path_needs_signatures_not_just_names(pki: dict[str, object]) -> None:
    leaf, inter, root = pki["leaf"][0], pki["inter"][0], pki["root"][0]  # type: ignore[index]
    assert chains_to_anchor(leaf, [inter], [root])
    assert chains_to_anchor(leaf, [], [inter])  # the anchor may be the issuing CA itself
    assert not chains_to_anchor(leaf, [], [root])  # intermediate missing
    impostor = make_cert("Test Issuing CA", ca=True)[0]  # same name, other key
    assert not chains_to_anchor(leaf, [impostor], [root])


def test_unreadable_ca_file_reports_unverified(tmp_path: Path) -> None:
    flow = make_flow(443, probe="tls", host="server.test", options={"ca_file": str(tmp_path / "missing.pem")})
    expect = expectation_for(flow)
    assert expect.anchors is None and "cannot read ca_file" in (expect.anchor_error or "")
    (tmp_path / "junk.pem").write_text("not a certificate")
    junk = expectation_for(make_flow(443, probe="tls", options={"ca_file": str(tmp_path / "junk.pem")}))
    assert "holds no PEM or DER certificate" in (junk.anchor_error or "")


def test_alert_names() -> None:
    assert alert_text("TLSV1_ALERT_PROTOCOL_VERSION") == "protocol version"
    assert alert_text("SSLV3_ALERT_HANDSHAKE_FAILURE") == "handshake failure"
    assert alert_text("WRONG_VERSION_NUMBER") is None


# --- a real TLS server (OpenSSL through Python's ssl) on loopback ------------------------

def _tls_server_context(tmp_path: Path, pki: dict[str, object], leaf: str, with_chain: bool,
                        **kwargs: object) -> ssl.SSLContext:
    cert, key = pki[leaf]  # type: ignore[misc]
    chain_file = tmp_path / f"{leaf}-chain.pem"
    chain_file.write_bytes(pem(cert) + (pem(pki["inter"][0]) if with_chain else b""))  # type: ignore[index]
    key_file = tmp_path / f"{leaf}.key"
    key_file.write_bytes(key_pem(key))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain_file, key_file)
    for name, value in kwargs.items():
        setattr(context, name, value)
    return context


def _observe_real(context: ssl.SSLContext, flow_host: str, options: dict[str, object] | None = None
                  ) -> tuple[object, float]:
    async def main() -> tuple[object, float]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(100)
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
        port = server.sockets[0].getsockname()[1]
        try:
            started = time.monotonic()
            observation = await observe_tls(make_flow(port, probe="tls", host=flow_host, options=options or {}),
                                            "127.0.0.1", CTX)
            return observation, time.monotonic() - started
        finally:
            server.close()

    return asyncio.run(main())


def test_real_handshake_records_the_whole_chain(tmp_path: Path, pki: dict[str, object]) -> None:
    ca_file = tmp_path / "root.pem"
    ca_file.write_bytes(pem(pki["root"][0]))  # type: ignore[index]
    context = _tls_server_context(tmp_path, pki, "leaf", with_chain=True)
    observation, _ = _observe_real(context, "server.test", {"ca_file": str(ca_file)})
    assert observation.reason is Reason.ANSWERED, observation.detail  # type: ignore[attr-defined]
    evidence = observation.evidence  # type: ignore[attr-defined]
    assert evidence["tls"]["chain_source"] == "presented"
    assert [c["subject"] for c in evidence["certificates"]] == ["CN=server.test", "CN=Test Issuing CA"]
    assert evidence["tls"]["server_name"] == "server.test"
    assert evidence["tls"]["protocol"] == "TLSv1.3"
    assert evidence["chain_verified"] is True


def test_server_alert_is_tls_error_with_the_alert_text(tmp_path: Path, pki: dict[str, object]) -> None:
    """A server that only speaks TLS 1.0/1.1 answers our ClientHello with an alert."""
    context = _tls_server_context(tmp_path, pki, "leaf", with_chain=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # old versions on purpose
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:  # blocking OpenSSL server: sends its alert, then lingers so we read it
        conn, _ = listener.accept()
        with contextlib.suppress(ssl.SSLError, OSError):
            context.wrap_socket(conn, server_side=True)
        time.sleep(0.5)
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        port = listener.getsockname()[1]
        observation = asyncio.run(observe_tls(make_flow(port, probe="tls", host="server.test"), "127.0.0.1", CTX))
    finally:
        thread.join(2)
        listener.close()
    assert observation.reason is Reason.TLS_ERROR, observation.detail
    assert observation.evidence["alert"] == "protocol version"
    assert "the server sent the TLS alert 'protocol version'" in observation.detail


# --- hostile servers ------------------------------------------------------------------------

TLS_FLOW = make_flow(443, probe="tls", host="server.test")


@pytest.mark.parametrize(
    "name, handler, reason, words",
    [
        ("drip", drip(b"\x16\x03\x03\x00\x40"), Reason.TIMEOUT, "did not finish before the deadline"),
        ("silent", silent, Reason.TIMEOUT, "nothing came back"),
        ("plain-http", send_then_hold(b"HTTP/1.1 400 Bad Request\r\n\r\n", after_request=True),
         Reason.PROTOCOL_ERROR, "a plain-HTTP server answered, not TLS"),
        ("garbage-banner", send_then_hold(b"\x00\xffgarbage\r\n"), Reason.PROTOCOL_ERROR, "not TLS"),
        ("tls-garbage", tls_garbage(), Reason.TLS_ERROR, "handshake failed"),
        ("oversized", flood(after_request=True), Reason.PROTOCOL_ERROR, "not TLS"),
        # Closing with the ClientHello unread makes the kernel send a reset.
        ("closes", close_at_once, Reason.TLS_ERROR, "connection"),
    ],
)
def test_hostile_servers_end_within_the_deadline(name: str, handler: object, reason: Reason, words: str) -> None:
    observation, took = run_probe(observe_tls, TLS_FLOW, CTX, handler)  # type: ignore[arg-type]
    assert observation.reason is reason, observation.detail
    assert words in observation.detail
    assert took < CTX.timeout + ENGINE_GRACE_S


def test_engine_reports_every_flow_while_hostile_servers_misbehave() -> None:
    """Several hostile TLS servers and one refused port in one run: all reported, none cancelled."""

    async def main() -> tuple[list[object], float]:
        async with hostile_server(drip(b"\x16")) as p1, hostile_server(silent) as p2, \
                hostile_server(flood(after_request=True)) as p3:
            flows = [make_flow(port, probe="tls", host="127.0.0.1", flow_id=f"f{index}")
                     for index, port in enumerate((p1, p2, p3, 9))]
            started = time.monotonic()
            results = await scan(flows, CTX, Limits(timeout=CTX.timeout, deadline=10))
            return results, time.monotonic() - started  # type: ignore[return-value]

    results, took = asyncio.run(main())
    by_id = {r.flow.id: r for r in results}  # type: ignore[attr-defined]
    assert len(by_id) == 4
    assert by_id["f0"].reason is Reason.TIMEOUT and by_id["f1"].reason is Reason.TIMEOUT
    assert by_id["f2"].reason is Reason.PROTOCOL_ERROR
    assert by_id["f3"].reason is Reason.REFUSED
    assert all(r.status is Status.FAIL for r in by_id.values())
    assert took < CTX.timeout + ENGINE_GRACE_S


def test_judgement_uses_the_clock(pki: dict[str, object]) -> None:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=400)
    result = assess(chain(pki, "leaf", "inter"), Expectation(), now=later)
    assert result.reason is Reason.CERT_WARNING and "expired" in result.problems[0]


@pytest.mark.parametrize(("issuer", "status"), [("Test Issuing CA", Status.PASS), ("CN=Lab CA", Status.WARN)])
def test_the_judge_records_the_expected_and_the_found_issuer(tmp_path: Path, pki: dict[str, object], issuer: str,
                                                             status: Status) -> None:
    # Given a real TLS server presenting leaf + issuing CA, and the site's expected issuer
    context = _tls_server_context(tmp_path, pki, "leaf", with_chain=True)
    options = {"expected_issuer": issuer}
    observation, _ = _observe_real(context, "server.test", options)
    # When the tls kind's registered judge applies the expectation to the typed facts
    flow = make_flow(443, probe="tls", host="server.test", options=options)
    verdict = as_verdict(get("tls").judge(flow, observation))  # type: ignore[arg-type]
    # Then the rule and the finding are both on the verdict
    assert verdict.status is status
    assert verdict.expected == f"issuer {issuer}; valid for server.test; within its validity period, not self-signed"
    assert verdict.found is not None and verdict.found.startswith("issuer CN=Test Issuing CA; valid for server.test")
