"""The run's shared CRL downloads (netcheck.certs.downloads): which requests share one GET, and each
caller's own size cap. A real nginx serves the files and its access log counts the GETs; a real
tinyproxy on loopback is the site's proxy."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from netcheck.certs.downloads import CrlDownloads
from netcheck.certs.run import CheckInput, check_site_async
from netcheck.model import Observation, Reason
from netcheck.probes import ProbeContext
from netcheck.probes.http_crl import crl_proxy, observe_http_crl
from tests.certs.daemons import free_port, nginx, tinyproxy
from tests.certs.pkifactory import Pki, key_pem, make_crl, make_leaf, pem, write
from tests.conftest import make_flow


def gets(workdir: Path, path: str) -> int:
    """GETs of `path` in nginx's access log (read after nginx stopped)."""
    return sum(1 for line in (workdir / "access.log").read_text().splitlines() if f'"GET {path} HTTP/' in line)


def crl_flow(url: str, **options: Any) -> Any:
    return make_flow(80, probe="http-crl", peer="crl", host=url, options=options)


def certificate(tmp_path: Path, pki: Pki, url: str) -> CheckInput:
    leaf, key = make_leaf(pki.intermediate, crl_urls=(url,))
    return CheckInput(crt=write(tmp_path / "s.crt", pem(leaf)), key=write(tmp_path / "s.key", key_pem(key)),
                      chain=write(tmp_path / "chain.pem", pem(pki.intermediate.cert, pki.root.cert)),
                      hosts=("sensor-1.plant.example",), name="sensor")


def test_flow_and_certificate_share_the_proxy_get_and_a_direct_flow_has_its_own(tmp_path: Path, pki: Pki) -> None:
    www = tmp_path / "www"
    www.mkdir()
    write(www / "issuing.crl", make_crl(pki.intermediate).public_bytes(Encoding.DER))
    port = free_port()
    url = f"http://127.0.0.1:{port}/issuing.crl"
    item = certificate(tmp_path, pki, url)

    async def scan_like(proxy_port: int) -> tuple[Observation, Observation, Any, int]:
        downloads = CrlDownloads()
        ctx = ProbeContext(timeout=3, run_id="shared", settings={"peers": {"proxy": (f"http://127.0.0.1:{proxy_port}",)}},
                           crl_downloads=downloads)
        proxy = crl_proxy(ctx)
        assert not isinstance(proxy, Observation)
        # Given a via_proxy flow, the certificate check through the same proxy, and a direct flow, all at once
        proxied, site, direct = await asyncio.gather(
            observe_http_crl(crl_flow(url, via_proxy=True), None, ctx),
            check_site_async("plant", [item], proxy=proxy, crl_timeout=3, downloads=downloads),
            observe_http_crl(crl_flow(url), None, ctx))
        return proxied, direct, site, downloads.started

    with nginx(www, tmp_path / "nginx", port=port), tinyproxy(tmp_path / "proxy") as proxy_port:
        proxied, direct, site, started = asyncio.run(scan_like(proxy_port))
    # Then the proxy path is fetched once for the flow and the certificate, and the direct path once more
    assert proxied.reason is Reason.ANSWERED and proxied.evidence["download"]["proxy"] == f"127.0.0.1:{proxy_port}"
    assert direct.reason is Reason.ANSWERED and direct.evidence["download"]["proxy"] is None
    [report] = site.reports
    assert report.analysis is not None and report.analysis.crl[0]["download"]["proxy"] == f"127.0.0.1:{proxy_port}"
    assert site.ok, [f.code for f in report.analysis.findings]
    assert (started, gets(tmp_path / "nginx", "/issuing.crl")) == (2, 2)


def test_each_caller_keeps_its_own_cap(tmp_path: Path) -> None:
    www = tmp_path / "www"
    www.mkdir()
    (www / "big.crl").write_bytes(b"x" * 5000)
    (www / "again.crl").write_bytes(b"x" * 5000)

    async def fetch_both(url: str, caps: tuple[int, int]) -> tuple[Any, Any, int]:
        downloads = CrlDownloads()
        first = await downloads.get(url, proxy=None, timeout=3, max_bytes=caps[0])
        second = await downloads.get(url, proxy=None, timeout=3, max_bytes=caps[1])
        return first, second, downloads.started

    with nginx(www, tmp_path / "nginx") as port:
        # Given a 5000-byte body: the larger cap first, Then the smaller cap sees too-large from the same GET
        large, small, started = asyncio.run(fetch_both(f"http://127.0.0.1:{port}/big.crl", (10_000, 1000)))
        assert (large.ok, len(large.body), started) == (True, 5000, 1)
        assert (small.error, small.body) == (Reason.TOO_LARGE, b"") and "1000-byte cap" in small.detail
        # The smaller cap first: its GET stopped early, so the larger cap gets a GET of its own
        small, large, started = asyncio.run(fetch_both(f"http://127.0.0.1:{port}/again.crl", (1000, 10_000)))
        assert (small.error, large.ok, len(large.body), started) == (Reason.TOO_LARGE, True, 5000, 2)
    assert (gets(tmp_path / "nginx", "/big.crl"), gets(tmp_path / "nginx", "/again.crl")) == (1, 2)


def test_a_caller_that_joins_a_longer_download_answers_within_its_own_timeout() -> None:
    from tests.probes.hostile import hostile_server, silent

    async def join_late() -> tuple[Any, float, Any, float, int]:
        downloads = CrlDownloads()
        async with hostile_server(silent) as port:
            url = f"http://127.0.0.1:{port}/slow.crl"
            loop = asyncio.get_running_loop()
            began = loop.time()
            # Given a download started with 1.5 s and a second caller that may wait only 0.3 s
            first = asyncio.ensure_future(downloads.get(url, proxy=None, timeout=1.5, max_bytes=1000))
            await asyncio.sleep(0)
            joined = await downloads.get(url, proxy=None, timeout=0.3, max_bytes=1000)
            joined_after = loop.time() - began
            started = downloads.started
            result = await first
            return joined, joined_after, result, loop.time() - began, started

    joined, joined_after, first, first_after, started = asyncio.run(join_late())
    # Then the second caller gets a timeout of its own in time, and the shared GET goes on for the first
    assert started == 1
    assert joined.error is Reason.TIMEOUT and "within 0.3 s" in joined.detail and joined_after < 0.8
    assert first.error is Reason.TIMEOUT and "connected to 127.0.0.1" in first.detail and first_after >= 1.4
