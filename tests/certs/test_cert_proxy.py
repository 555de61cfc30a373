"""The CRL through the appliance's proxy: a real tinyproxy on loopback (success, policy
denial, credentials), and a CRL server the 'appliance' reaches only through the proxy
(two network namespaces this test creates and deletes, TEST-NET addresses only)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from subprocess import CompletedProcess

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from tests.certs.conftest import REPO
from tests.certs.daemons import ProxyOnlyLab, free_port, netns_available, nginx, proxy_only_lab, tinyproxy
from tests.certs.pkifactory import PASSPHRASE, Pki, key_pem, make_crl, make_leaf, pem, write

Cli = Callable[..., CompletedProcess[str]]


def cert_files(directory: Path, pki: Pki, crl_url: str) -> list[str]:
    leaf, key = make_leaf(pki.intermediate, crl_urls=(crl_url,))
    return [
        "--crt", str(write(directory / "s.crt", pem(leaf))),
        "--key", str(write(directory / "s.key", key_pem(key))),
        "--chain", str(write(directory / "chain.pem", pem(pki.intermediate.cert, pki.root.cert))),
        "--format", "json",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def crl_server(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[str]:
    base = tmp_path_factory.mktemp("proxied")
    (base / "www").mkdir()
    write(base / "www" / "issuing.crl", make_crl(pki.intermediate).public_bytes(Encoding.DER))
    write(base / "www" / "blocked.crl", make_crl(pki.intermediate).public_bytes(Encoding.DER))
    port = free_port()
    with nginx(base / "www", base / "nginx", port=port):
        yield f"http://127.0.0.1:{port}"


def findings(result: CompletedProcess[str]) -> dict[str, dict[str, object]]:
    return {f["code"]: f for f in json.loads(result.stdout)["findings"]}


def test_crl_through_tinyproxy(cli: Cli, crl_server: str, tmp_path: Path, pki: Pki) -> None:
    with tinyproxy(tmp_path / "proxy") as port:
        result = cli(*cert_files(tmp_path, pki, f"{crl_server}/issuing.crl"), "--proxy", f"127.0.0.1:{port}")
    assert result.returncode == 0, result.stdout
    assert f"through the proxy 127.0.0.1:{port}" in str(findings(result)["crl.via-proxy"]["message"])
    assert json.loads(result.stdout)["crl"][0]["download"]["proxy"] == f"127.0.0.1:{port}"


def test_proxy_policy_denies_the_crl(cli: Cli, crl_server: str, tmp_path: Path, pki: Pki) -> None:
    with tinyproxy(tmp_path / "proxy", deny_patterns=("blocked",)) as port:
        result = cli(*cert_files(tmp_path, pki, f"{crl_server}/blocked.crl"), "--proxy", f"http://127.0.0.1:{port}")
    assert result.returncode == 1
    finding = findings(result)["crl.unreachable"]
    assert "proxy-denied" in str(finding["message"]) and "403" in str(finding["message"])
    assert str(finding["appliance_message"]).startswith("The CRL (Certificate Revocation List) location is not")
    assert "on the proxy" in str(finding["fix"])


def test_proxy_credentials_never_shown(cli: Cli, crl_server: str, tmp_path: Path, pki: Pki) -> None:
    with tinyproxy(tmp_path / "proxy", basic_auth=("appliance", PASSPHRASE)) as port:
        files = cert_files(tmp_path, pki, f"{crl_server}/issuing.crl")
        good = cli(*files, "--proxy", f"http://appliance:{PASSPHRASE}@127.0.0.1:{port}")
        bad = cli(*files, "--proxy", f"http://appliance:wrong-{PASSPHRASE}@127.0.0.1:{port}")
        text = cli(*files[:-2], "--proxy", f"http://appliance:wrong-{PASSPHRASE}@127.0.0.1:{port}")
    assert good.returncode == 0 and bad.returncode == 1
    assert "requires credentials" in str(findings(bad)["crl.unreachable"]["message"])  # tinyproxy: 401
    for result in (good, bad, text):
        assert PASSPHRASE not in result.stdout + result.stderr


@pytest.fixture(scope="module")
def proxy_only(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[tuple[ProxyOnlyLab, str]]:
    if not netns_available():
        pytest.skip("network namespaces need root and iproute2")
    base = tmp_path_factory.mktemp("proxyonly")
    (base / "www").mkdir()
    write(base / "www" / "issuing.crl", make_crl(pki.intermediate).public_bytes(Encoding.DER))
    with (
        proxy_only_lab() as lab,
        nginx(base / "www", base / "nginx", host=lab.crl_ip, port=8080, netns=lab.services),
        tinyproxy(base / "proxy", listen=lab.proxy_ip, port=3128, allow="198.51.100.0/24", netns=lab.services),
    ):
        yield lab, f"http://{lab.crl_ip}:8080/issuing.crl"


def as_appliance(lab: ProxyOnlyLab, *args: str) -> CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(REPO)}
    command = ["ip", "netns", "exec", lab.appliance, sys.executable, "-m", "netcheck", "cert", *args]
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=60, check=False)


def test_crl_reachable_only_through_the_proxy(proxy_only: tuple[ProxyOnlyLab, str], tmp_path: Path,
                                              pki: Pki) -> None:  # fmt: skip
    lab, crl_url = proxy_only
    files = cert_files(tmp_path, pki, crl_url)
    direct = as_appliance(lab, *files, "--crl-timeout", "2")
    assert direct.returncode == 1, direct.stderr
    message = str(findings(direct)["crl.unreachable"]["message"])
    assert "unreachable" in message and lab.crl_ip in message
    proxied = as_appliance(lab, *files, "--proxy", f"http://{lab.proxy_ip}:3128")
    assert proxied.returncode == 0, proxied.stdout + proxied.stderr
    assert {"crl.via-proxy", "crl.custom-port"} <= set(findings(proxied))
