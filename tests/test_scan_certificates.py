"""A scan of a site that lists appliance certificates: the CRL flows test exactly the CRL
URLs in those certificates, and the report carries the certificate verdicts beside the flows.
Everything runs on loopback (a real nginx serves the CRL)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from netcheck.cli import main
from netcheck.serialize import certificates_to_dict, loads
from tests.certs.daemons import free_port, nginx, tinyproxy
from tests.certs.pkifactory import key_pem, make_crl, make_leaf, pem, rsa_key, standard, write

pytestmark = pytest.mark.skipif(shutil.which("nginx") is None, reason="needs nginx (Debian nginx-light)")
needs_tinyproxy = pytest.mark.skipif(shutil.which("tinyproxy") is None, reason="needs tinyproxy")


def write_site(tmp_path: Path, crl_url: str, *, revoked: bool) -> Path:
    pki = standard()
    certs = tmp_path / "certs"
    certs.mkdir()
    leaf, key = make_leaf(pki.intermediate, cn="console.plant.example", ips=("127.0.0.1",),
                          key=rsa_key("scan-console"), crl_urls=(crl_url,))
    write(certs / "console.crt", pem(leaf))
    write(certs / "console.key", key_pem(key))
    write(certs / "chain.pem", pem(pki.intermediate.cert, pki.root.cert))
    www = tmp_path / "www"
    www.mkdir()
    crl = make_crl(pki.intermediate, revoked=(leaf.serial_number,) if revoked else ())
    (www / "issuing.crl").write_bytes(crl.public_bytes(Encoding.DER))
    site = tmp_path / "site.yaml"
    site.write_text(
        "name: plant\npeers:\n  console: 127.0.0.1\n"
        "certificates:\n  console:\n    crt: certs/console.crt\n    key: certs/console.key\n"
        "    chain: certs/chain.pem\n    hosts: [console.plant.example, 127.0.0.1]\n")
    return site


@pytest.mark.parametrize("revoked", [False, True])
def test_scan_tests_the_certificates_crl_and_reports_their_verdict(
        tmp_path: Path, revoked: bool, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()  # the CRL URL must name the port before the certificate is made
    url = f"http://127.0.0.1:{port}/issuing.crl"
    site = write_site(tmp_path, url, revoked=revoked)
    out = tmp_path / "report.json"
    with nginx(tmp_path / "www", tmp_path / "nginx", port=port):
        code = main(["scan", "-p", "console", "-s", str(site), "--no-raw", "--timeout", "2",
                     "-f", "table,json", "-o", str(out)])
    terminal = capsys.readouterr().out
    report = json.loads(out.read_text())
    [crl_flow] = [r for r in report["results"] if r["flow"] == "crl"]
    # Given a site with no crl peer, the CRL flow comes from the certificate's distribution point.
    assert (crl_flow["destination"], crl_flow["port"]) == (url, port)
    assert (crl_flow["status"], crl_flow["reason"]) == ("pass", "answered")
    certificates = report["certificates"]
    assert certificates["schema"] == "netcheck.cert/1"
    assert certificates["ok"] is not revoked
    revoked_message = "This certificate has been revoked by the CRL and cannot be trusted for a secure connection."
    messages = [f["appliance_message"] for a in certificates["appliances"] for f in a["findings"]]
    assert (revoked_message in messages) is revoked
    assert ("REFUSE" in terminal) is revoked and "Certificates" in terminal
    # The other console flows are skipped (no peers) or warnings: the certificate verdict decides.
    assert code == (1 if revoked else 0)
    loaded = loads(out.read_text(), str(out)).certificates
    assert loaded is not None and certificates_to_dict(loaded) == certificates  # survives a round trip, typed
    assert loaded.ok is not revoked and loaded.appliances[0].name == "console"


def test_missing_passphrase_variable_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site = write_site(tmp_path, "http://127.0.0.1:9/issuing.crl", revoked=False)
    site.write_text(site.read_text() + "    pass_env: NETCHECK_TEST_UNSET_PASSPHRASE\n")
    assert main(["scan", "-p", "console", "-s", str(site)]) == 2
    err = capsys.readouterr().err
    assert "NETCHECK_TEST_UNSET_PASSPHRASE is not set" in err and "certificates.console.pass_env" in err


def crl_gets(access_log: Path, path: str) -> int:
    """The GET requests for `path` in nginx's access log (read after nginx stopped: all written)."""
    return sum(1 for line in access_log.read_text().splitlines() if f'"GET {path} HTTP/' in line)


def test_a_scan_fetches_the_certificates_crl_once(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/issuing.crl"
    site = write_site(tmp_path, url, revoked=False)
    out = tmp_path / "report.json"
    # Given a site with one certificate whose CRL is served by nginx, When it is scanned,
    with nginx(tmp_path / "www", tmp_path / "nginx", port=port):
        assert main(["scan", "-p", "console", "-s", str(site), "--no-raw", "--timeout", "2",
                     "-f", "json", "-o", str(out)]) == 0
    report = json.loads(out.read_text())
    [crl_flow] = [r for r in report["results"] if r["flow"] == "crl"]
    [appliance] = report["certificates"]["appliances"]
    # Then the flow and the certificate verdict both read the CRL, and nginx served it exactly once.
    assert (crl_flow["status"], crl_flow["reason"]) == ("pass", "answered")
    assert [entry["download"]["status_line"] for entry in appliance["crl"]] == ["HTTP/1.1 200 OK"]
    assert crl_gets(tmp_path / "nginx" / "access.log", "/issuing.crl") == 1


def proxied_gets(proxy_log: Path, url: str) -> int:
    """The GETs of `url` tinyproxy relayed (its Info log names each request line)."""
    return sum(1 for line in proxy_log.read_text().splitlines() if f"GET {url} HTTP/" in line)


@needs_tinyproxy
def test_a_scan_through_the_proxy_fetches_the_crl_once(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/issuing.crl"
    site = write_site(tmp_path, url, revoked=False)
    out = tmp_path / "report.json"
    # Given a site with one certificate, a proxy, and settings.crl.via_proxy: the crl flow, the proxy
    # flow and the certificate check each want the CRL through that proxy,
    with nginx(tmp_path / "www", tmp_path / "nginx", port=port), tinyproxy(tmp_path / "proxy") as proxy_port:
        site.write_text(site.read_text().replace(
            "  console: 127.0.0.1\n", f"  console: 127.0.0.1\n  proxy: http://127.0.0.1:{proxy_port}\n", 1)
            + "settings:\n  crl:\n    via_proxy: true\n")
        # When the site is scanned,
        assert main(["scan", "-p", "console", "-s", str(site), "--no-raw", "--timeout", "2",
                     "-f", "json", "-o", str(out)]) == 0
    report = json.loads(out.read_text())
    results = {r["flow"]: r for r in report["results"]}
    [appliance] = report["certificates"]["appliances"]
    # Then every one of them read the CRL: the proxy flow reports the relayed GET as it always did,
    proxy_flow = results["proxy"]
    assert (proxy_flow["status"], proxy_flow["reason"]) == ("pass", "answered"), proxy_flow["detail"]
    assert proxy_flow["detail"] == f"proxy 127.0.0.1:{proxy_port} relayed: GET {url}: HTTP/1.1 200 OK"
    request = proxy_flow["evidence"]["requests"][f"GET {url}"]
    assert (request["reason"], request["status_line"], request["proxy"]) == (None, "HTTP/1.1 200 OK",
                                                                              f"127.0.0.1:{proxy_port}")
    assert (results["crl"]["status"], results["crl"]["reason"]) == ("pass", "answered")
    assert results["crl"]["evidence"]["download"]["proxy"] == f"127.0.0.1:{proxy_port}"
    assert [entry["download"]["proxy"] for entry in appliance["crl"]] == [f"127.0.0.1:{proxy_port}"]
    # and the CRL crossed the proxy exactly once, which is the only GET nginx saw.
    assert proxied_gets(tmp_path / "proxy" / "tinyproxy.log", url) == 1
    assert crl_gets(tmp_path / "nginx" / "access.log", "/issuing.crl") == 1


def test_a_certificate_shared_by_two_appliances_shows_in_every_human_format(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    site = write_site(tmp_path, f"http://127.0.0.1:{port}/issuing.crl", revoked=False)
    # Given a second appliance that uploads the console's very certificate and key,
    site.write_text(site.read_text() + "  sensor:\n    crt: certs/console.crt\n    key: certs/console.key\n"
                    "    chain: certs/chain.pem\n    hosts: [console.plant.example, 127.0.0.1]\n")
    out = tmp_path / "report"
    # When the site is scanned,
    with nginx(tmp_path / "www", tmp_path / "nginx", port=port):
        code = main(["scan", "-p", "console", "-s", str(site), "--no-raw", "--timeout", "2",
                     "-f", "table,markdown,html,json", "-o", str(out)])
    terminal = capsys.readouterr().out
    # Then the site-wide finding fails the run and every human format shows it, not only the JSON.
    assert code == 1
    written = {path.suffix: path.read_text() for path in out.iterdir()}
    [shared] = json.loads(written[".json"])["certificates"]["findings"]
    assert shared["code"] == "site.shared-certificate" and "console, sensor" in shared["message"]
    assert "FAIL   site-wide (across the appliances): 1 error(s)" in terminal
    assert "site.shared-certificate: console, sensor use the same certificate" in terminal
    markdown = written[".md"]
    assert "## Certificate findings: site-wide (across the appliances) (fails the report)" in markdown
    assert "| ERROR | site.shared-certificate | console, sensor use the same certificate" in markdown
    page = written[".html"]
    assert "site-wide (across the appliances): " in page and "console, sensor use the same certificate" in page
