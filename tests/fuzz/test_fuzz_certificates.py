"""Fuzz `netcheck cert check` with mutated certificate files (PEM, DER, PKCS#7, PKCS#12):
byte flips, truncations, insertions and deletions, and ASN.1 length tweaks. The contract:
exit 0, 1 or 2; exactly one stderr line on exit 2 and none otherwise; no raw control
bytes in the output; each case within a few seconds.

The seeds name no CRL URL, so no case downloads anything; a guard fails the test if one
tried. Budget: the `ci` profile of tests/fuzz/conftest.py; a long campaign:
``NETCHECK_FUZZ=long PYTHONPATH=$PWD python3 -m pytest -q tests/fuzz/test_fuzz_certificates.py``
"""

from __future__ import annotations

import base64
import io
import re
import time
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, pkcs7, pkcs12
from hypothesis import given
from hypothesis import strategies as st

from netcheck.certs.downloads import CrlDownloads
from netcheck.cli import main
from tests.certs import hostile
from tests.certs.pkifactory import NOW, ec_key, key_pem, make_leaf, pem, standard

CASE_SECONDS = 5.0
# Raw control bytes a terminal would act on: C0 except TAB and LF, DEL, C1.
RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Identifier octets whose following byte is a length worth tweaking.
TAGS = frozenset({0x02, 0x03, 0x04, 0x05, 0x06, 0x0C, 0x13, 0x17, 0x30, 0x31, 0xA0, 0xA3})
LENGTH_VALUES = (0x00, 0x01, 0x7F, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x89, 0xFF)


@dataclass(frozen=True)
class Seeds:
    leaf_der: bytes
    leaf_pem: bytes
    key_pem: bytes
    ec_leaf_pem: bytes  # for the chain cases: an EC key opens in microseconds, RSA in a quarter second
    ec_key_pem: bytes
    chain_pem: bytes
    pkcs7_der: bytes
    pkcs7_pem: bytes
    pkcs12: bytes
    odd: tuple[bytes, ...]  # the hostile certificates of tests/certs/hostile.py


@cache
def seeds() -> Seeds:
    pki = standard()
    leaf, key = make_leaf(pki.intermediate, crl_urls=())
    ec_leaf, ec = make_leaf(pki.intermediate, crl_urls=(), key=ec_key("fuzz-leaf"))
    chain = [pki.intermediate.cert, pki.root.cert]
    bundle = pkcs12.serialize_key_and_certificates(b"sensor", key, leaf, chain, NoEncryption())  # type: ignore[arg-type]
    odd = (
        hostile.version(7),
        hostile.signature_oid("1.2.840.113549.1.1.10", parameters=False),
        hostile.duplicate_extension(),
        hostile.gost_key(),
        hostile.san_entries(hostile.X400_ADDRESS, hostile.EDI_PARTY),
        hostile.serial(b"\xff\x01"),
        hostile.country(b"USA"),
        hostile.crl_point_directory_only(),
        hostile.cn_tagged(b"\x0c", b"\x1b[2J\xc2\x9b"),
    )
    return Seeds(
        leaf_der=leaf.public_bytes(Encoding.DER),
        leaf_pem=pem(leaf),
        key_pem=key_pem(key),
        ec_leaf_pem=pem(ec_leaf),
        ec_key_pem=key_pem(ec),
        chain_pem=pem(*chain),
        pkcs7_der=pkcs7.serialize_certificates([leaf, *chain], Encoding.DER),
        pkcs7_pem=pkcs7.serialize_certificates([leaf, *chain], Encoding.PEM),
        pkcs12=bundle,
        odd=odd,
    )


@st.composite
def mutation(draw: st.DrawFn, data: bytes) -> bytes:
    """A few edits of `data`: flips, truncation, insertions, deletions, length tweaks."""
    buffer = bytearray(data)
    for operation in draw(
        st.lists(st.sampled_from(["flip", "cut", "length", "insert", "delete"]), min_size=1, max_size=4)
    ):
        if not buffer:
            break
        at = draw(st.integers(0, len(buffer) - 1))
        if operation == "flip":
            buffer[at] ^= draw(st.integers(1, 255))
        elif operation == "cut":
            del buffer[at:]
        elif operation == "insert":
            buffer[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif operation == "delete":
            del buffer[at : at + draw(st.integers(1, 16))]
        else:
            lengths = [i + 1 for i in range(len(buffer) - 1) if buffer[i] in TAGS]
            if lengths:
                where = draw(st.sampled_from(lengths))
                buffer[where] = draw(st.sampled_from(LENGTH_VALUES + ((buffer[where] + 1) % 256,)))
    return bytes(buffer)


def as_pem(der: bytes, label: bytes) -> bytes:
    body = base64.encodebytes(der)
    return b"-----BEGIN " + label + b"-----\n" + body + b"-----END " + label + b"-----\n"


@st.composite
def certificate_file(draw: st.DrawFn) -> tuple[str, bytes]:
    """(kind, file content): a mutated PEM, DER, PKCS#7 or PKCS#12 file."""
    s = seeds()
    kind = draw(st.sampled_from(["der", "pem", "pem-text", "pkcs7", "pkcs7-pem", "pkcs12", "odd"]))
    if kind == "der":
        return kind, draw(mutation(s.leaf_der))
    if kind == "pem":  # mutate the DER inside, so the ASN.1 parser sees the damage
        return kind, as_pem(draw(mutation(s.leaf_der)), b"CERTIFICATE")
    if kind == "pem-text":
        return kind, draw(mutation(s.leaf_pem))
    if kind == "pkcs7":
        return kind, draw(mutation(s.pkcs7_der))
    if kind == "pkcs7-pem":
        return kind, as_pem(draw(mutation(s.pkcs7_der)), b"PKCS7")
    if kind == "pkcs12":
        return kind, draw(mutation(s.pkcs12))
    odd = draw(st.sampled_from(s.odd))
    return kind, draw(st.one_of(st.just(odd), mutation(odd)))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder for the case files, and a guard: no case may download a CRL."""

    async def refuse(_self: Any, url: str, **_: Any) -> Any:
        raise AssertionError(f"a fuzz case tried to download {url!r}")

    with pytest.MonkeyPatch.context() as patch:  # every CRL download of the certificate check goes through here
        patch.setattr(CrlDownloads, "get", refuse)
        yield tmp_path_factory.mktemp("fuzz-certs")


def run_cert(args: list[str]) -> tuple[int, str, str, float]:
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["cert", *args, "--now", NOW.isoformat(), "--crl-timeout", "1"])
    return code, out.getvalue(), err.getvalue(), time.monotonic() - started


def assert_contract(code: int, out: str, err: str, seconds: float) -> None:
    assert code in (0, 1, 2), err
    if code == 2:
        assert err.count("\n") == 1 and err.endswith("\n") and err.startswith("netcheck: error: "), err
    else:
        assert err == "", err
    assert not RAW_CONTROL.search(out), out
    assert not RAW_CONTROL.search(err), err
    assert seconds < CASE_SECONDS


@given(case=certificate_file(), output=st.sampled_from(["json", "table"]))
def test_mutated_certificate_file(workdir: Path, case: tuple[str, bytes], output: str) -> None:
    kind, data = case
    crt = workdir / "case.crt"
    crt.write_bytes(data)
    args = ["--crt", str(crt), "--format", output]
    if kind != "pkcs12":  # a bundle brings its own key
        key = workdir / "case.key"
        key.write_bytes(seeds().key_pem)
        args += ["--key", str(key)]
    code, out, err, seconds = run_cert(args)
    if output == "json":
        assert_contract(code, out, err, seconds)
    else:  # the terminal text's sanitising is netcheck.render.escape's job; here: no crash
        assert_contract(code, "", err, seconds)


def _intermediate_der() -> bytes:
    return standard().intermediate.cert.public_bytes(Encoding.DER)


def _with_root(der: bytes) -> bytes:
    return as_pem(der, b"CERTIFICATE") + pem(standard().root.cert)


@given(
    chain=st.one_of(
        mutation(seeds().chain_pem),
        mutation(seeds().pkcs7_der),
        st.builds(_with_root, mutation(_intermediate_der())),
    )
)
def test_mutated_chain_file(workdir: Path, chain: bytes) -> None:
    s = seeds()
    (workdir / "leaf.crt").write_bytes(s.ec_leaf_pem)
    (workdir / "leaf.key").write_bytes(s.ec_key_pem)
    (workdir / "chain.pem").write_bytes(chain)
    code, out, err, seconds = run_cert(
        [
            "--crt",
            str(workdir / "leaf.crt"),
            "--key",
            str(workdir / "leaf.key"),
            "--chain",
            str(workdir / "chain.pem"),
            "--format",
            "json",
        ]
    )
    assert_contract(code, out, err, seconds)
