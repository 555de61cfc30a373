"""Unusual but real certificates, made by DER surgery on a good one: each is a trigger
that once crashed `netcheck cert` (exit 3) or leaked Python warnings. The signature no
longer matches after surgery; the checks must still read everything they can."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7

from tests.certs import der
from tests.certs.pkifactory import make_leaf, standard


@cache
def base_der() -> bytes:
    """A good leaf under the standard issuing CA, without a CRL point (no network)."""
    leaf, _ = make_leaf(standard().intermediate, crl_urls=())
    return leaf.public_bytes(Encoding.DER)


def surgery(change: Callable[[der.Node], None]) -> bytes:
    tree = der.parse(base_der())
    change(tree)
    return tree.encode()


def _cn(tree: der.Node) -> der.Node:
    """The value node of the subject's CN (the last RDN of the factory's names)."""
    return tree[der.TBS][der.SUBJECT].children[-1][0][1]


def version(number: int) -> bytes:
    def change(tree: der.Node) -> None:
        tree[der.TBS][der.VERSION][0].value = bytes([number])

    return surgery(change)


def cn_tagged(tag: bytes, value: bytes) -> bytes:
    def change(tree: der.Node) -> None:
        node = _cn(tree)
        node.tag, node.value = tag, value

    return surgery(change)


def signature_oid(dotted: str, *, parameters: bool = True) -> bytes:
    def change(tree: der.Node) -> None:
        for algorithm in (tree[der.TBS][der.TBS_SIG], tree[der.SIG_ALG]):
            algorithm.children = [der.oid(dotted)] + ([der.prim(0x05, b"")] if parameters else [])

    return surgery(change)


def duplicate_extension(dotted: str = "2.5.29.19") -> bytes:
    def change(tree: der.Node) -> None:
        copy = der.parse(der.extension(tree, dotted).encode())
        der.extensions(tree).children.append(copy)

    return surgery(change)


def gost_key() -> bytes:
    def change(tree: der.Node) -> None:
        spki = tree[der.TBS][der.SPKI]
        parameters = der.seq(der.oid("1.2.643.7.1.2.1.1.1"), der.oid("1.2.643.7.1.1.2.2"))
        spki.children[0] = der.seq(der.oid("1.2.643.7.1.1.1.1"), parameters)
        spki.children[1].value = b"\x00\x04\x40" + bytes(range(64))

    return surgery(change)


def san_entries(*entries: der.Node) -> bytes:
    def change(tree: der.Node) -> None:
        der.extension(tree, "2.5.29.17").children[-1].value = der.seq(*entries).encode()

    return surgery(change)


X400_ADDRESS = der.Node(b"\xa3", children=[der.seq(der.seq())])
EDI_PARTY = der.Node(b"\xa5", children=[der.Node(b"\xa1", children=[der.prim(0x0C, b"plant")])])


def serial(raw: bytes) -> bytes:
    def change(tree: der.Node) -> None:
        tree[der.TBS][der.SERIAL].value = raw

    return surgery(change)


def country(code: bytes) -> bytes:
    def change(tree: der.Node) -> None:
        tree[der.TBS][der.SUBJECT].children[0][0][1].value = code

    return surgery(change)


def crl_point_directory_only() -> bytes:
    """A CRL distribution point whose fullName is a directoryName (LDAP-style PKIs)."""
    directory = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "CRL1")])
    point = x509.DistributionPoint([x509.DirectoryName(directory)], None, None, None)
    leaf, _ = make_leaf(standard().intermediate, crl_urls=())
    value = x509.CRLDistributionPoints([point]).public_bytes()
    extension = der.seq(der.oid("2.5.29.31"), der.prim(0x04, value))

    def change(tree: der.Node) -> None:
        der.extensions(tree).children.append(extension)

    del leaf
    return surgery(change)


def pkcs7_signed(*certs: x509.Certificate) -> bytes:
    return pkcs7.serialize_certificates(list(certs), Encoding.DER)


def pkcs7_ber(*certs: x509.Certificate) -> bytes:
    """The same bundle with an indefinite-length outer SEQUENCE (BER, as some Windows tools write)."""
    tree = der.parse(pkcs7_signed(*certs))
    body = b"".join(child.encode() for child in tree.children)
    return b"\x30\x80" + body + b"\x00\x00"


def pkcs7_enveloped() -> bytes:
    """ContentInfo { envelopedData, [0] EnvelopedData } with one key-transport recipient."""
    recipient = der.seq(
        der.integer(0),
        der.seq(der.seq(der.prim(0x13, b"Contoso Root CA")), der.integer(1)),
        der.seq(der.oid("1.2.840.113549.1.1.1"), der.prim(0x05, b"")),
        der.prim(0x04, b"\x01" * 32),
    )
    content = der.seq(
        der.oid("1.2.840.113549.1.7.1"),
        der.seq(der.oid("2.16.840.1.101.3.4.1.42"), der.prim(0x04, b"\x02" * 16)),
        der.prim(0x80, b"\x03" * 32),
    )
    enveloped = der.seq(der.integer(0), der.Node(b"\x31", children=[recipient]), content)
    return der.seq(der.oid("1.2.840.113549.1.7.3"), der.Node(b"\xa0", children=[enveloped])).encode()
