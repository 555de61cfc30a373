"""The trust anchors a cloud connection is judged against: the host's system store the way
OpenSSL finds it (SSL_CERT_FILE and SSL_CERT_DIR honoured, through ssl.get_default_verify_paths),
plus an optional CA file from the site's settings (an inspecting proxy's CA, a private root)."""

from __future__ import annotations

import functools
import os
import ssl
from pathlib import Path

MAX_DIR_FILES = 4000
MAX_FILE_BYTES = 4 * 1024 * 1024


@functools.lru_cache(maxsize=8)
def _anchors_from(cafile: str | None, capath: str | None) -> tuple[bytes, ...]:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    found: dict[bytes, None] = {}
    files: list[Path] = [Path(cafile)] if cafile else []
    if capath and os.path.isdir(capath):
        files += sorted(path for path in Path(capath).iterdir() if path.is_file())[:MAX_DIR_FILES]
    for path in files:
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_FILE_BYTES)
        except OSError:
            continue
        if b"-----BEGIN CERTIFICATE-----" not in data:
            continue
        try:
            certs = x509.load_pem_x509_certificates(data)
        except ValueError:
            continue
        for cert in certs:
            found[cert.public_bytes(Encoding.DER)] = None
    return tuple(found)


def system_anchors() -> tuple[bytes, ...]:
    """DER of every CA certificate in the host's OpenSSL trust store (possibly none)."""
    paths = ssl.get_default_verify_paths()
    return _anchors_from(paths.cafile, paths.capath)


def store_label(ca_file: str | None) -> str:
    paths = ssl.get_default_verify_paths()
    where = paths.cafile or paths.capath or "none found"
    return f"the host's trust store ({where})" + (f" or {ca_file}" if ca_file else "")
