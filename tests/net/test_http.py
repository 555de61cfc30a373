"""net.http (the HTTP GET) against real nginx/tinyproxy on loopback, hostile in-process servers (drip,
garbage, oversize, truncation), and, in a network namespace this test creates, silent
drops, unreachable and prohibited routes. Traffic goes only to 127.0.0.1/::1 or to
TEST-NET addresses inside that namespace."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest

from netcheck.model import Reason, Status
from netcheck.net.http import FetchResult, fetch, parse_proxy
from netcheck.probes import default_judge
from tests.certs.daemons import free_port, nginx, tinyproxy
from tests.net.routes import PROHIBITED, SILENT, UNREACHABLE, run_in

REPO = Path(__file__).resolve().parents[2]
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    base = tmp_path_factory.mktemp("web")
    (base / "www").mkdir()
    (base / "www" / "ca.crl").write_bytes(b"\x30\x03\x02\x01\x00" * 100)
    with nginx(base / "www", base / "nginx") as port:
        yield port, base


@contextlib.asynccontextmanager
async def serve(handler: Handler, host: str = "127.0.0.1") -> AsyncIterator[int]:
    seen: list[asyncio.StreamWriter] = []

    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(writer)
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(wrapped, host, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for writer in seen:
            writer.close()


async def read_request(reader: asyncio.StreamReader) -> list[str]:
    head = await reader.readuntil(b"\r\n\r\n")
    return head.decode("latin-1").split("\r\n")[:-2]


def run(coro: Awaitable[FetchResult]) -> FetchResult:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def get(url: str, *, proxy: str | None = None, timeout: float = 2.0, max_bytes: int = 1 << 20) -> FetchResult:
    return await fetch(url, proxy=proxy, timeout=timeout, max_bytes=max_bytes)


# --- against nginx -----------------------------------------------------------------


def test_nginx_200(web: tuple[int, Path]) -> None:
    port, _ = web
    result = run(get(f"http://127.0.0.1:{port}/ca.crl"))
    assert result.ok and result.error is None and result.status == 200
    assert result.body == b"\x30\x03\x02\x01\x00" * 100
    assert result.header("content-type") == "application/pkix-crl"
    assert result.address == "127.0.0.1" and result.hop is None
    assert result.connect_ms is not None and result.first_byte_ms is not None and result.total_ms is not None
    assert 0 <= result.connect_ms <= result.first_byte_ms <= result.total_ms < 2000
    assert json.dumps(result.evidence())


def test_nginx_404_is_http_error(web: tuple[int, Path]) -> None:
    port, _ = web
    result = run(get(f"http://127.0.0.1:{port}/missing.crl"))
    assert result.error is Reason.HTTP_ERROR and result.status == 404 and result.hop == "server"
    assert result.status_line == "HTTP/1.1 404 Not Found" and result.body == b""


def test_refused() -> None:
    result = run(get(f"http://127.0.0.1:{free_port()}/x.crl"))
    assert result.error is Reason.REFUSED and result.hop == "server"


def test_dns_failure_without_asking_a_real_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dns(host: str, *args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    result = run(get("http://crl.nowhere.example/x.crl"))
    assert result.error is Reason.DNS_FAILURE and "crl.nowhere.example" in result.detail


def test_hung_resolver_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow_dns(host: str, *args: object, **kwargs: object) -> list[object]:
        time.sleep(3)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure")

    monkeypatch.setattr(socket, "getaddrinfo", slow_dns)
    started = time.monotonic()
    result = run(get("http://crl.slow.example/x.crl", timeout=0.5))
    assert result.error is Reason.DNS_FAILURE and "before the deadline" in result.detail
    assert time.monotonic() - started < 1.5  # asyncio.run did not wait for the resolver thread


def test_https_is_reported_not_fetched() -> None:
    async def scenario() -> tuple[FetchResult, int]:
        hits = 0

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal hits
            hits += 1

        async with serve(handler) as port:
            result = await get(f"https://127.0.0.1:{port}/ca.crl")
        return result, hits

    result, hits = asyncio.run(scenario())
    assert result.error is Reason.PROTOCOL_ERROR and "https://" in result.detail and hits == 0


# --- hostile servers ---------------------------------------------------------------


def hostile(
    handler: Handler, *, timeout: float = 1.0, max_bytes: int = 1 << 20, host: str = "127.0.0.1", path: str = "/x.crl"
) -> tuple[FetchResult, float]:
    async def scenario() -> tuple[FetchResult, float]:
        async with serve(handler, host) as port:
            shown = f"[{host}]" if ":" in host else host
            started = time.monotonic()
            result = await get(f"http://{shown}:{port}{path}", timeout=timeout, max_bytes=max_bytes)
            return result, time.monotonic() - started

    return asyncio.run(scenario())


def test_drip_feeding_server_cannot_hold_the_fetch() -> None:
    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        while True:
            writer.write(b"x")
            await writer.drain()
            await asyncio.sleep(0.05)

    result, elapsed = hostile(drip, timeout=0.8)
    assert result.error is Reason.TIMEOUT and "bytes before the deadline" in result.detail
    assert 0.7 < elapsed < 1.3


def test_silent_after_connect_is_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)

    result, elapsed = hostile(silent, timeout=0.5)
    assert result.error is Reason.TIMEOUT and "before any answer" in result.detail and elapsed < 1.0


def test_garbage_is_protocol_error() -> None:
    async def ssh(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n")
        await writer.drain()
        await asyncio.sleep(1)

    result, _ = hostile(ssh)
    assert result.error is Reason.PROTOCOL_ERROR and "not HTTP" in result.detail and "SSH-2.0" in result.detail


def test_closed_without_answer() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    result, _ = hostile(hang_up)
    assert result.error is Reason.PROTOCOL_ERROR and "without answering" in result.detail


def test_oversize_by_content_length_is_not_read() -> None:
    async def huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(5)

    result, elapsed = hostile(huge, max_bytes=1000)
    assert result.error is Reason.TOO_LARGE and "999999999" in result.detail and elapsed < 0.5


def test_oversize_stream_without_length() -> None:
    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\n\r\n")
        while True:
            writer.write(b"y" * 65536)
            await writer.drain()

    result, _ = hostile(endless, max_bytes=200_000)
    assert result.error is Reason.TOO_LARGE


def test_truncated_body() -> None:
    async def short(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789")

    result, _ = hostile(short)
    assert result.error is Reason.PROTOCOL_ERROR and "10 of 100" in result.detail


def test_chunked_body_and_interim_100() -> None:
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n"
        )

    result, _ = hostile(chunked)
    assert result.ok and result.body == b"hello world"


def test_malformed_status_line() -> None:
    async def odd(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 OK\r\n\r\n")

    result, _ = hostile(odd)
    assert result.error is Reason.PROTOCOL_ERROR and "status line" in result.detail


@pytest.mark.parametrize("url", ["http://127.0.0.1/a b.crl", "http://127.0.0.1/x.crl\r\nX-Injected: 1"])
def test_urls_with_spaces_or_control_characters_are_refused(url: str) -> None:
    result = run(get(url))
    assert result.error is Reason.PROTOCOL_ERROR and "control characters" in result.detail


def test_non_ascii_path_is_escaped() -> None:
    lines: list[str] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        lines.extend(await read_request(reader))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    result, _ = hostile(record, path="/crl/München.crl")
    assert result.ok and lines[0] == "GET /crl/M%C3%BCnchen.crl HTTP/1.1"


def test_ipv6_loopback_and_request_shape() -> None:
    lines: list[str] = []

    async def record(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        lines.extend(await read_request(reader))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    result, _ = hostile(record, host="::1", path="/a/b.crl?x=1")
    assert result.ok and result.address == "::1"
    assert lines[0] == "GET /a/b.crl?x=1 HTTP/1.1"
    assert lines[1].startswith("Host: [::1]:") and "Connection: close" in lines


def test_redirects_followed_to_http_only(web: tuple[int, Path]) -> None:
    port, _ = web

    def redirect_to(location: str) -> Handler:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            writer.write(f"HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\n\r\n".encode())

        return handler

    result, _ = hostile(redirect_to(f"http://127.0.0.1:{port}/ca.crl"))
    assert result.ok and result.redirects == (f"http://127.0.0.1:{port}/ca.crl",)
    result, _ = hostile(redirect_to("https://127.0.0.1/ca.crl"))
    assert result.error is Reason.PROTOCOL_ERROR and result.redirects == ("https://127.0.0.1/ca.crl",)


# --- proxies -----------------------------------------------------------------------


def test_absolute_form_and_credentials_through_a_proxy() -> None:
    lines: list[str] = []

    async def fake_proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        lines.extend(await read_request(reader))
        writer.write(b"HTTP/1.1 200 OK\r\nVia: 1.1 fake\r\nContent-Length: 3\r\n\r\nabc")

    async def scenario() -> FetchResult:
        async with serve(fake_proxy) as port:
            return await get("http://crl.plant.example:8080/ca.crl", proxy=f"http://user:s3cret@127.0.0.1:{port}")

    result = asyncio.run(scenario())
    assert result.ok and result.body == b"abc"
    assert lines[0] == "GET http://crl.plant.example:8080/ca.crl HTTP/1.1"
    assert "Host: crl.plant.example:8080" in lines
    assert "Proxy-Authorization: Basic dXNlcjpzM2NyZXQ=" in lines
    assert "s3cret" not in json.dumps(result.evidence()) and "s3cret" not in repr(result)


def test_tinyproxy_success_denial_auth_and_unreachable_origin(web: tuple[int, Path], tmp_path: Path) -> None:
    port, _ = web
    url = f"http://127.0.0.1:{port}/ca.crl"
    with tinyproxy(tmp_path / "open", deny_patterns=("blocked",)) as proxy_port:
        proxy = f"http://127.0.0.1:{proxy_port}"
        ok = run(get(url, proxy=proxy))
        assert ok.ok and ok.proxy == f"127.0.0.1:{proxy_port}" and ok.address == "127.0.0.1"
        denied = run(get(f"http://127.0.0.1:{port}/blocked.crl", proxy=proxy))
        assert denied.error is Reason.PROXY_DENIED and denied.hop == "proxy"
        assert denied.proxy_status_line is not None and " 403 " in denied.proxy_status_line
        origin_down = run(get(f"http://127.0.0.1:{free_port()}/ca.crl", proxy=proxy))
        assert origin_down.error is Reason.PROXY_DENIED and "could not reach" in origin_down.detail
        missing = run(get(f"http://127.0.0.1:{port}/missing.crl", proxy=proxy))
        assert missing.error is Reason.HTTP_ERROR and missing.status == 404  # relayed, so the server's answer
    with tinyproxy(tmp_path / "auth", basic_auth=("appliance", "pw-123")) as proxy_port:
        needs = run(get(url, proxy=f"http://127.0.0.1:{proxy_port}"))
        assert needs.error is Reason.PROXY_DENIED and needs.status == 407 and "credentials" in needs.detail
        good = run(get(url, proxy=f"http://appliance:pw-123@127.0.0.1:{proxy_port}"))
        assert good.ok


def test_origin_errors_through_a_via_stripping_proxy(web: tuple[int, Path], tmp_path: Path) -> None:
    port, _ = web
    with tinyproxy(tmp_path / "novia", disable_via=True) as proxy_port:
        proxy = f"http://127.0.0.1:{proxy_port}"
        missing = run(get(f"http://127.0.0.1:{port}/missing.crl", proxy=proxy))
        assert missing.error is Reason.HTTP_ERROR and missing.hop == "server" and missing.proxy_status_line is None
        down = run(get(f"http://127.0.0.1:{free_port()}/ca.crl", proxy=proxy))
        assert down.error is Reason.PROXY_DENIED and str(down.proxy_status_line).endswith("500 Unable to connect")


def test_proxy_not_listening() -> None:
    result = run(get("http://127.0.0.1:9/ca.crl", proxy=f"http://127.0.0.1:{free_port()}"))
    assert result.error is Reason.REFUSED and result.hop == "proxy"


@pytest.mark.parametrize("bad", ["https://proxy:3128", "http://proxy:99999", "http://:3128"])
def test_bad_proxy_urls(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_proxy(bad)
    assert str(parse_proxy("proxy.plant:8080")) == "proxy.plant:8080"
    assert parse_proxy("http://u:p@proxy").port == 3128


# --- silent drops and routes, inside a namespace ------------------------------------


NETNS_SNIPPET = """
import asyncio, json, sys
from netcheck.net.http import fetch
r = asyncio.run(fetch(sys.argv[1], proxy=None, timeout=float(sys.argv[2]), max_bytes=1000))
print(json.dumps(r.evidence()))
"""


def in_namespace(namespace: str, url: str, timeout: float = 1.0) -> dict[str, object]:
    return dict(run_in(namespace, NETNS_SNIPPET, url, str(timeout)))


@pytest.mark.parametrize(
    ("address", "reason"),
    [(SILENT, "filtered"), (UNREACHABLE, "unreachable"), (PROHIBITED, "prohibited")],
)
def test_silence_and_routes(routes_ns: str, address: str, reason: str) -> None:
    evidence = in_namespace(routes_ns, f"http://{address}/ca.crl")
    assert evidence["reason"] == reason
    assert float(evidence["total_ms"]) < 1500  # type: ignore[arg-type]
    # the socket layer's facts, as the tcp probe reports them
    if reason == "filtered":
        assert 0.9 < float(evidence["timeout_s"]) <= 1.0  # type: ignore[arg-type]
    else:
        assert evidence["errno"] == {"unreachable": "EHOSTUNREACH", "prohibited": "EACCES"}[reason]
    assert f"TCP to {address}:80" in str(evidence["detail"])


def test_every_failure_is_a_failing_reason() -> None:
    from netcheck.model import Observation
    from tests.conftest import make_flow

    kinds = [
        Reason.DNS_FAILURE,
        Reason.REFUSED,
        Reason.FILTERED,
        Reason.TIMEOUT,
        Reason.UNREACHABLE,
        Reason.PROHIBITED,
        Reason.PROXY_DENIED,
        Reason.HTTP_ERROR,
        Reason.TOO_LARGE,
        Reason.PROTOCOL_ERROR,
    ]
    for kind in kinds:
        assert default_judge(make_flow(), Observation(reason=kind, detail="")) is Status.FAIL
