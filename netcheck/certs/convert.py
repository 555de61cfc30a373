"""`netcheck cert convert`: the source document's openssl recipes as one command.

DER <-> PEM, PKCS#12 -> PEM (with or without keys), PEM + key + chain -> PKCS#12, removing
or setting a key's passphrase, and --split: a bundle into the appliance's three files with
the chain in the documented order. Input formats are decided by content.

`convert(ConvertOptions(...), passphrase=..., out_passphrase=...)` returns what it wrote
(`Converted`) and raises UsageError; the command line (certs/cli.py) prints and exits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    KeySerializationEncryption,
    NoEncryption,
    PrivateFormat,
    pkcs12,
)

from netcheck.certs.chain import build_path, label
from netcheck.certs.facts import fingerprint_sha256, is_ca, quietly
from netcheck.certs.load import KeyState, Parsed, encode_secret, open_key, parse_file
from netcheck.errors import UsageError
from netcheck.outputs import check_target, write_atomic

EXPECTED_INPUT = "PEM, DER, PKCS#7 or PKCS#12 certificate material"


@dataclass(frozen=True)
class ConvertOptions:
    """One conversion. input: the file to read (format decided by content); exactly one of
    `to` (write `out` in that format) and `split` (a directory for NAME.crt, NAME.key and
    NAME-chain.pem, NAME being `name` or the input's stem); key / chain: a private key and CA
    certificates to add; no_keys / no_certs: leave those out of a PEM; force: overwrite."""

    input: Path
    to: Literal["pem", "der", "p12"] | None = None
    split: Path | None = None
    out: Path | None = None
    name: str | None = None
    key: Path | None = None
    chain: Path | None = None
    no_keys: bool = False
    no_certs: bool = False
    force: bool = False


@dataclass(frozen=True)
class Converted:
    """What a conversion wrote, and the lines the operator should read about it (what each file
    holds, whether a key was written unencrypted, which certificates were left out)."""

    written: tuple[Path, ...]
    notes: tuple[str, ...]


@dataclass
class Bundle:
    """Certificates in input order plus the opened private key, if any."""

    certs: list[x509.Certificate]
    key: PrivateKeyTypes | None


def convert(options: ConvertOptions, *, passphrase: str | None = None,
            out_passphrase: str | None = None) -> Converted:
    """Read `options.input` (opened with `passphrase`) and write what `options` asks for; a
    written key or PKCS#12 is encrypted with `out_passphrase`. UsageError on anything unusable."""
    if (options.to is None) == (options.split is None):
        raise UsageError("give one of --to FORMAT and --split DIR")
    secret = encode_secret(passphrase)
    bundle = _read(options.input, secret)
    if options.key:
        bundle.key = _read(options.key, secret).key or _no_key(options.key)
    if options.chain:
        bundle.certs += _read(options.chain, secret).certs
    encryption = key_encryption(out_passphrase)
    if options.split:
        return _split(options, options.split, bundle, encryption)
    if options.out is None:
        raise UsageError("--out FILE is required with --to")
    if options.to == "der":
        return _to_der(options, options.out, bundle)
    if options.to == "p12":
        return _to_p12(options, options.out, bundle, out_passphrase)
    return _to_pem(options, options.out, bundle, encryption)


def _no_key(path: Path) -> PrivateKeyTypes:
    raise UsageError(f"{path}: --key holds no private key")


def _read(path: Path, secret: bytes | None) -> Bundle:
    parsed: Parsed = parse_file(path, "input", EXPECTED_INPUT, secret)
    key: PrivateKeyTypes | None = parsed.opened_key
    if key is None and parsed.keys:
        opened = open_key(parsed.keys[0], secret, str(path))
        if opened.state is KeyState.NEEDS_PASSPHRASE:
            raise UsageError(f"{path}: the private key is encrypted", hint="give --pass-env VAR or --pass")
        if opened.state is KeyState.WRONG_PASSPHRASE:
            raise UsageError(f"{path}: the passphrase does not open the private key")
        key = opened.key
    return Bundle(list(parsed.certs), key)


def key_encryption(out_passphrase: str | None) -> KeySerializationEncryption:
    secret = encode_secret(out_passphrase)
    return BestAvailableEncryption(secret) if secret else NoEncryption()


def key_pem(key: PrivateKeyTypes, encryption: KeySerializationEncryption) -> bytes:
    return key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, encryption)


def _cert_pem(certs: list[x509.Certificate]) -> bytes:
    return b"".join(cert.public_bytes(Encoding.PEM) for cert in certs)


def write_file(path: Path, data: bytes, *, force: bool, secret: bool = False) -> None:
    """Write without clobbering (unless force), atomically (netcheck.outputs: never half a file);
    private keys are mode 0600 from their first byte."""
    if path.is_dir():
        raise UsageError(f"{path}: is a directory")
    check_target(path, "key" if secret else "output", exclusive=not force)
    try:
        write_atomic(path, data, secret=secret, exclusive=not force)
    except FileExistsError:
        raise UsageError(f"{path}: already exists", hint="use --force to overwrite") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot write ({exc.strerror})") from None


def _key_note(encryption: KeySerializationEncryption) -> str:
    if isinstance(encryption, NoEncryption):
        return "private key unencrypted (mode 0600; add --out-pass-env VAR to protect it)"
    return "private key encrypted"


def _to_pem(options: ConvertOptions, out: Path, bundle: Bundle, encryption: KeySerializationEncryption) -> Converted:
    certs = [] if options.no_certs else bundle.certs
    key = None if options.no_keys else bundle.key
    if not certs and key is None:
        raise UsageError(f"{options.input}: nothing to write with these options")
    data = _cert_pem(certs) + (key_pem(key, encryption) if key is not None else b"")
    write_file(out, data, force=options.force, secret=key is not None)
    parts = [f"{len(certs)} certificate(s)"] + ([_key_note(encryption)] if key is not None else [])
    return Converted((out,), (f"wrote {out}: {', '.join(parts)}",))


def _to_der(options: ConvertOptions, out: Path, bundle: Bundle) -> Converted:
    if len(bundle.certs) != 1:
        raise UsageError(
            f"{options.input}: DER holds exactly one certificate; this input has {len(bundle.certs)}",
            hint="use --split DIR, or --to pem",
        )
    write_file(out, bundle.certs[0].public_bytes(Encoding.DER), force=options.force)
    return Converted((out,), (f"wrote {out}: 1 certificate (DER)",))


def _to_p12(options: ConvertOptions, out: Path, bundle: Bundle, out_passphrase: str | None) -> Converted:
    if bundle.key is None:
        raise UsageError("--to p12 needs the private key", hint="give --key FILE")
    if not out_passphrase:
        raise UsageError("--to p12 needs a password for the bundle", hint="give --out-pass-env VAR")
    leaf, chain, strays = order_bundle(bundle)
    data = pkcs12.serialize_key_and_certificates(
        label(leaf).encode("utf-8"),
        bundle.key,  # type: ignore[arg-type]
        leaf,
        chain or None,
        BestAvailableEncryption(encode_secret(out_passphrase) or b""),
    )
    write_file(out, data, force=options.force, secret=True)
    wrote = f"wrote {out}: PKCS#12 with the key, {label(leaf)} and {len(chain)} CA certificate(s)"
    return Converted((out,), (*_left_out(strays), wrote))


def order_bundle(bundle: Bundle) -> tuple[x509.Certificate, list[x509.Certificate], list[x509.Certificate]]:
    """The server certificate (the one matching the key, else the first non-CA), its chain in the
    documented order (issuing CA first, up to the root), and the certificates not on that path."""
    if not bundle.certs:
        raise UsageError("the input holds no certificate")
    leaf = _pick_leaf(bundle)
    others = [c for c in bundle.certs if fingerprint_sha256(c) != fingerprint_sha256(leaf)]
    path, _ = build_path(leaf, others)
    in_path = {fingerprint_sha256(c) for c in path}
    strays = [c for c in others if fingerprint_sha256(c) not in in_path]
    return leaf, path[1:], strays


def _left_out(strays: list[x509.Certificate]) -> tuple[str, ...]:
    return ("left out (not on the path to the root): " + ", ".join(label(c) for c in strays),) if strays else ()


def _pick_leaf(bundle: Bundle) -> x509.Certificate:
    if bundle.key is not None:
        public = bundle.key.public_key()
        for cert in bundle.certs:
            if quietly(cert.public_key) == public:  # None for a key type cryptography cannot read
                return cert
    return next((c for c in bundle.certs if not is_ca(c)), bundle.certs[0])


def _split(options: ConvertOptions, directory: Path, bundle: Bundle,
           encryption: KeySerializationEncryption) -> Converted:
    leaf, chain, strays = order_bundle(bundle)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{directory}: cannot create ({exc.strerror})") from None
    name = options.name or options.input.stem
    planned = [directory / f"{name}.crt"] + [directory / f"{name}.key"] * (bundle.key is not None) \
        + [directory / f"{name}-chain.pem"] * bool(chain)
    for target in planned:  # every file can be written, or none is
        check_target(target, "output", exclusive=not options.force)
    written = [directory / f"{name}.crt"]
    write_file(written[0], _cert_pem([leaf]), force=options.force)
    if bundle.key is not None:
        written.append(directory / f"{name}.key")
        write_file(written[-1], key_pem(bundle.key, encryption), force=options.force, secret=True)
    if chain:
        written.append(directory / f"{name}-chain.pem")
        write_file(written[-1], _cert_pem(chain), force=options.force)
    notes = [*_left_out(strays), "wrote " + ", ".join(str(p) for p in written)]
    if bundle.key is not None:
        notes.append(_key_note(encryption))
    return Converted(tuple(written), tuple(notes))
