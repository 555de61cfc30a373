"""Build the path leaf -> issuing CA -> ... -> root from the certificates given, and say
what is wrong with the chain file: missing issuer, another root, order, strays, and the
CA certificates' own validity. Pure: certificates and `now` in, findings out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

from netcheck.certs.facts import fingerprint_sha256, is_self_signed, signature_hash_name, subject_cn
from netcheck.certs.findings import Finding, finding

MAX_DEPTH = 10  # deeper than any real PKI; guards against issuer loops
WEAK_HASHES = {"sha1", "md5"}
CHAIN_FIX = "give --chain with the issuing CA certificate first, then each CA above it, up to the root"


def label(cert: x509.Certificate) -> str:
    """A short human name: the CN, else the whole subject."""
    return subject_cn(cert) or cert.subject.rfc4514_string() or "(empty subject)"


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


@dataclass(frozen=True)
class ChainResult:
    """path: leaf first, then each issuer found; complete: it ends at a self-signed root."""

    path: tuple[x509.Certificate, ...]
    complete: bool
    findings: list[Finding] = field(default_factory=list)

    @property
    def issuer(self) -> x509.Certificate | None:
        """The certificate that signed the leaf, when the chain has it."""
        if len(self.path) > 1:
            return self.path[1]
        return self.path[0] if self.complete else None  # a self-signed leaf is its own issuer


def build_path(
    leaf: x509.Certificate, pool: list[x509.Certificate]
) -> tuple[list[x509.Certificate], x509.Certificate | None]:
    """Follow issuers through `pool`. Returns the path and, when it stops at a certificate
    whose issuer *name* is present but whose signature that key does not verify, that
    impostor (the classic "same name, other root" mistake)."""
    path = [leaf]
    used = {fingerprint_sha256(leaf)}
    impostor: x509.Certificate | None = None
    current = leaf
    while not is_self_signed(current) and len(path) < MAX_DEPTH:
        named = [c for c in pool if c.subject == current.issuer and fingerprint_sha256(c) not in used]
        issuer = next((c for c in named if signed_by(current, c)), None)
        if issuer is None:
            impostor = named[0] if named else None
            break
        path.append(issuer)
        used.add(fingerprint_sha256(issuer))
        current = issuer
    return path, impostor


def analyse_chain(
    leaf: x509.Certificate,
    chain: tuple[x509.Certificate, ...],
    now: datetime,
    roots: tuple[x509.Certificate, ...] = (),
) -> ChainResult:
    """Judge the chain file. `roots` are explicit trust anchors (empty: trust the chain's own root)."""
    leaf_fp = fingerprint_sha256(leaf)
    findings: list[Finding] = []
    if any(fingerprint_sha256(c) == leaf_fp for c in chain):
        findings.append(
            finding(
                "chain.contains-leaf",
                "the chain file repeats the server certificate itself",
                "remove the server certificate from the chain file; it belongs in --crt only",
            )
        )
    pool = _unique([c for c in chain if fingerprint_sha256(c) != leaf_fp])
    if not pool:
        if is_self_signed(leaf):
            return ChainResult((leaf,), True, findings)
        findings.append(
            finding(
                "chain.absent",
                f"no chain was given and the certificate is issued by {leaf.issuer.rfc4514_string()}",
                CHAIN_FIX,
            )
        )
        return ChainResult((leaf,), False, findings)
    path, impostor = build_path(leaf, pool)
    complete = is_self_signed(path[-1])
    if not complete:
        findings.append(_gap(path[-1], impostor, pool, path, roots))
    elif roots:
        findings += _check_anchor(path[-1], roots)
    findings += _order(chain, path, leaf_fp)
    if complete:  # with a gap, "unused" ones may belong above the missing certificate
        findings += _strays(pool, path)
    findings += _ca_checks(path[1:], now)
    return ChainResult(tuple(path), complete, findings)


def _unique(certs: list[x509.Certificate]) -> list[x509.Certificate]:
    seen: dict[str, x509.Certificate] = {}
    for cert in certs:
        seen.setdefault(fingerprint_sha256(cert), cert)
    return list(seen.values())


def _gap(
    top: x509.Certificate,
    impostor: x509.Certificate | None,
    pool: list[x509.Certificate],
    path: list[x509.Certificate],
    roots: tuple[x509.Certificate, ...],
) -> Finding:
    """Why the path stops at `top`: an impostor, another root, or a missing certificate."""
    wanted = top.issuer.rfc4514_string()
    if impostor is not None:
        return finding(
            "chain.root-mismatch",
            f"{label(top)} names {label(impostor)} as its issuer, but the {label(impostor)} in the chain "
            "did not sign it (same name, different key: a certificate from another PKI)",
            f"replace {label(impostor)} in the chain with the CA certificate that really issued {label(top)}",
            subject=wanted,
        )
    in_path = {fingerprint_sha256(c) for c in path}
    other_roots = [c for c in pool if is_self_signed(c) and fingerprint_sha256(c) not in in_path]
    anchor = next((r for r in roots if signed_by(top, r)), None)
    if other_roots and top is not path[0]:
        names = ", ".join(label(r) for r in other_roots)
        return finding(
            "chain.root-mismatch",
            f"the chain's root ({names}) did not issue {label(top)}; {label(top)} was issued by {wanted}",
            f"use the chain of the CA that issued this certificate, ending at {wanted}",
            subject=wanted,
        )
    where = "the server certificate" if top is path[0] else label(top)
    tail = f"; the --root file has it: add {label(anchor)} to the end of the chain file" if anchor else ""
    holds = ", ".join(label(c) for c in pool)
    return finding(
        "chain.missing-issuer",
        f"the chain has no certificate for {wanted}, the issuer of {where} (the chain holds: {holds}){tail}",
        f"add the certificate of {wanted} to the chain file, in order: issuing CA first, up to the root",
        subject=wanted,
    )


def _check_anchor(root: x509.Certificate, roots: tuple[x509.Certificate, ...]) -> list[Finding]:
    key = root.public_key()
    if any(r.subject == root.subject and r.public_key() == key for r in roots):
        return []
    return [
        finding(
            "chain.untrusted-root",
            f"the chain ends at {label(root)}, which is not the root CA given with --root",
            "use the chain that ends at the organisation's root CA",
            subject=root.subject.rfc4514_string(),
        )
    ]


def _order(chain: tuple[x509.Certificate, ...], path: list[x509.Certificate], leaf_fp: str) -> list[Finding]:
    """The documented order: the CA that issued the server certificate first, then up to the root."""
    expected = [fingerprint_sha256(c) for c in path[1:]]
    if not expected:
        return []
    given = [fp for fp in (fingerprint_sha256(c) for c in chain) if fp != leaf_fp]
    in_file = [fp for fp in _dedupe(given) if fp in expected]
    if in_file == expected and given[0] == expected[0]:
        return []
    names = " -> ".join(label(c) for c in path[1:])
    return [
        finding(
            "chain.order",
            f"the chain file is not in the documented order (issuing CA first, up to the root): {_names(chain)}",
            f"reorder the chain file as: {names}",
        )
    ]


def _dedupe(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _names(chain: tuple[x509.Certificate, ...]) -> str:
    return "file order " + ", ".join(label(c) for c in chain)


def _strays(pool: list[x509.Certificate], path: list[x509.Certificate]) -> list[Finding]:
    in_path = {fingerprint_sha256(c) for c in path}
    strays = [c for c in pool if fingerprint_sha256(c) not in in_path]
    if not strays:
        return []
    return [
        finding(
            "chain.unused",
            "the chain file holds certificates that are not on the path to the root: "
            + ", ".join(label(c) for c in strays),
            "remove them; the chain should hold only the issuing CA and the CAs above it",
        )
    ]


def _ca_checks(cas: list[x509.Certificate], now: datetime) -> list[Finding]:
    findings: list[Finding] = []
    for ca in cas:
        name = label(ca)
        if now > ca.not_valid_after_utc:
            findings.append(
                finding(
                    "chain.ca-expired",
                    f"CA certificate {name} expired on {ca.not_valid_after_utc:%Y-%m-%d}",
                    "get the current CA certificate from the CA (and a server certificate issued under it)",
                    subject=name,
                )
            )
        elif now < ca.not_valid_before_utc:
            findings.append(
                finding(
                    "chain.ca-not-yet-valid",
                    f"CA certificate {name} is valid only from {ca.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
                    "check the clock of the CA and of this machine; wait or re-issue",
                    subject=name,
                )
            )
        problem = _not_a_ca(ca)
        if problem:
            findings.append(finding("chain.not-ca", f"{name} {problem}", "the chain must hold CA certificates only"))
        if not is_self_signed(ca) and signature_hash_name(ca) in WEAK_HASHES:
            findings.append(
                finding(
                    "chain.weak-signature",
                    f"CA certificate {name} is signed with {signature_hash_name(ca)}",
                    "re-issue the intermediate CA certificate with SHA-256",
                    subject=name,
                )
            )
    return findings


def _not_a_ca(cert: x509.Certificate) -> str | None:
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None:
        # OpenSSL accepts v1 self-signed roots without basic constraints; nothing else.
        return None if is_self_signed(cert) else "has no basic constraints (CA:TRUE) extension"
    if not constraints.ca:
        return "is not a CA certificate (basic constraints CA:FALSE)"
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    return None if usage.key_cert_sign else "may not sign certificates (key usage lacks keyCertSign)"
