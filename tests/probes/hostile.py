"""Hostile in-process servers on 127.0.0.1 for the protocol probes' deadline tests.

Plain helpers (no fixtures): a test builds a handler, and `run_probe` starts the
server, runs the probe against it and stops everything, returning the observation
and how long the probe took. Real protocol behaviour is tested against real daemons
(tests/lab/test_protocol_probes_lab.py); these servers only misbehave.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from netcheck.model import Flow, Observation
from netcheck.probes import ProbeContext

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
Observe = Callable[[Flow, "str | None", ProbeContext], Awaitable[Observation]]

# The engine cancels a probe at ctx.timeout + 0.5 s; a probe must report before that.
ENGINE_GRACE_S = 0.5


@contextlib.asynccontextmanager
async def hostile_server(handler: Handler) -> AsyncIterator[int]:
    """Serve `handler` on 127.0.0.1:<free port>; yields the port; cancels every connection at exit."""
    tasks: set[asyncio.Task[None]] = set()

    async def wrapped(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        tasks.add(task)  # type: ignore[arg-type]
        try:
            await handler(reader, writer)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(wrapped, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield port
    finally:
        server.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


def run_probe(observe: Observe, flow: Flow, ctx: ProbeContext, handler: Handler) -> tuple[Observation, float]:
    """Run `observe` against a hostile server (the flow's port is replaced); (observation, seconds)."""

    async def main() -> tuple[Observation, float]:
        async with hostile_server(handler) as port:
            started = time.monotonic()
            observation = await observe(replace(flow, port=port), "127.0.0.1", ctx)
            return observation, time.monotonic() - started

    return asyncio.run(main())


async def hold(reader: asyncio.StreamReader) -> None:
    """Keep the connection open, swallowing whatever the client sends, until cancelled."""
    while await reader.read(65536):
        pass
    await asyncio.sleep(3600)


def drip(data: bytes, interval: float = 1.0) -> Handler:
    """Send `data` one byte per `interval` seconds, repeating it forever."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = 0
        while True:
            writer.write(data[index % len(data):index % len(data) + 1])
            await writer.drain()
            index += 1
            await asyncio.sleep(interval)

    return handler


def send_then_hold(data: bytes, after_request: bool = False) -> Handler:
    """Send `data` (first, or once the client has said something), then stay silent and open."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if after_request:
            await reader.read(65536)
        writer.write(data)
        await writer.drain()
        await hold(reader)

    return handler


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Accept, then never say anything (half-open from the client's point of view)."""
    await hold(reader)


async def close_at_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


def flood(chunk: bytes = b"A" * 65536, after_request: bool = False) -> Handler:
    """An endless answer: `chunk` again and again, as fast as the client reads."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if after_request:
            await reader.read(65536)
        while True:
            writer.write(chunk)
            await writer.drain()

    return handler


def tls_garbage() -> Handler:
    """Waits for the ClientHello, then answers a TLS record header followed by random bytes."""
    return send_then_hold(b"\x16\x03\x03\x00\x40" + os.urandom(64), after_request=True)


def script(*steps: bytes | None) -> Handler:
    """A scripted conversation: bytes are sent, None waits for the client's next chunk; then hold."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for step in steps:
            if step is None:
                await reader.read(65536)
            else:
                writer.write(step)
                await writer.drain()
        await hold(reader)

    return handler


# --- certificates for offline judgement tests and loopback daemons ---------------------

def make_cert(cn: str, *, issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
              ca: bool = False, dns: tuple[str, ...] = (), ips: tuple[str, ...] = (),
              days: tuple[int, int] = (-1, 30)) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """(certificate, private key): self-signed unless issuer=(issuer_cert, issuer_key).

    days: (not_before, not_after) relative to now, in days."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    issuer_cert, issuer_key = issuer if issuer else (None, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_cert.subject if issuer_cert is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + dt.timedelta(days=days[0]))
        .not_valid_after(now + dt.timedelta(days=days[1]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    sans: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(issuer_key, hashes.SHA256()), key


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_crl(issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey], revoked: tuple[int, ...] = (),
             days: tuple[int, int] = (-1, 7)) -> x509.CertificateRevocationList:
    """A CRL signed by `issuer`; days: (thisUpdate, nextUpdate) relative to now."""
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer[0].subject)
        .last_update(now + dt.timedelta(days=days[0]))
        .next_update(now + dt.timedelta(days=days[1]))
    )
    for serial in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build())
    return builder.sign(issuer[1], hashes.SHA256())


def http_response(body: bytes, status: str = "200 OK", content_type: str = "application/pkix-crl") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode() + body
