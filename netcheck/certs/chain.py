"""Build the path leaf -> issuing CA -> ... -> root from the certificates given, validate
it by RFC 5280 as OpenSSL does, and say what is wrong with the chain file: missing issuer,
another root, order, strays, and the CA certificates' own validity. Pure: certificates
and `now` in, findings out.

One chain walker for netcheck: `netcheck cert` (analyse_chain) and the TLS probe
(chains_to_anchor) both use `walk` and `validate`.

- Walking: an issuer is a certificate whose subject matches the issuer name the way
  RFC 5280 and OpenSSL compare names (links.same_name: case, whitespace and string type
  do not matter) and whose key verifies the signature.
- Validating: cryptography.x509.verification (the maintained RFC 5280 validator) checks
  basicConstraints, pathLenConstraint and name constraints on subjectAltName. It
  compares names byte for byte and judges signature algorithms, key sizes and validity
  by the CA/Browser Forum rules; netcheck reports those with its own codes (expired CA,
  weak signature, small key) and has already checked the signatures and the RFC 5280
  name links. So the validator is given a *shadow* of the walked path: each
  certificate's subject and extensions, byte for byte, with the parent's exact subject
  as issuer, throw-away P-256 keys and a validity that covers the validation time.
  Everything it then refuses is a path rule.
- On top, what OpenSSL checks and that validator does not: keyCertSign on CAs, the
  CA-ness of a root without basicConstraints, critical extensions OpenSSL does not
  process (OPENSSL_CRITICAL_OK), and name constraints on the subject itself
  (subject_constraints). tests/certs/test_cert_openssl.py holds the cross-check.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import verification

from netcheck.certs import links, subject_constraints
from netcheck.certs.facts import (
    WEAK_HASHES,
    extension_value,
    fingerprint_sha256,
    is_self_signed,
    name_text,
    quietly,
    signature_hash_name,
    subject_cn,
)
from netcheck.certs.findings import Finding, finding

MAX_DEPTH = 10  # deeper than any real PKI; guards against issuer loops
CHAIN_FIX = "give --chain with the issuing CA certificate first, then each CA above it, up to the root"
_SHADOW_TIME = dt.datetime(2040, 1, 1, tzinfo=dt.UTC)


def label(cert: x509.Certificate) -> str:
    """A short human name: the CN, else the whole subject."""
    return subject_cn(cert) or name_text(cert, "subject") or "(empty subject)"


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """issuer's subject is cert's issuer (RFC 5280 matching) and its key verifies cert."""
    return links.issued(cert, issuer)


@dataclass(frozen=True)
class Walk:
    """path: leaf first, then each issuer found. impostor: a certificate with the right
    name whose key did NOT verify the signature (checked and failed); unchecked: one with
    the right name whose signature could not be checked (algorithm or key unusable)."""

    path: tuple[x509.Certificate, ...]
    impostor: x509.Certificate | None = None
    unchecked: x509.Certificate | None = None


def walk(
    leaf: x509.Certificate,
    pool: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate] = (),
) -> Walk:
    """Follow issuers through `pool` (then `anchors`) until a self-signed certificate or
    an anchor is reached, or no issuer is found."""
    anchor_prints = {fingerprint_sha256(a) for a in anchors}
    candidates = _unique(list(pool) + list(anchors))
    path = [leaf]
    used = {fingerprint_sha256(leaf)}
    while len(path) < MAX_DEPTH:
        current = path[-1]
        if fingerprint_sha256(current) in anchor_prints or is_self_signed(current):
            break
        named = [c for c in candidates if fingerprint_sha256(c) not in used and links.names_issuer(current, c)]
        verdicts = [(c, links.signature_by(current, c)) for c in named]
        issuer = next((c for c, v in verdicts if v is links.Signature.VALID), None)
        if issuer is None:
            impostor = next((c for c, v in verdicts if v is links.Signature.INVALID), None)
            unchecked = next((c for c, v in verdicts if v is links.Signature.UNCHECKED), None)
            return Walk(tuple(path), impostor, unchecked)
        path.append(issuer)
        used.add(fingerprint_sha256(issuer))
    return Walk(tuple(path))


def build_path(
    leaf: x509.Certificate, pool: list[x509.Certificate]
) -> tuple[list[x509.Certificate], x509.Certificate | None]:
    """walk() as (path, impostor), for callers that only order certificates."""
    found = walk(leaf, pool)
    return list(found.path), found.impostor


# -- validation by cryptography.x509.verification ---------------------------------------


@dataclass(frozen=True)
class Refusal:
    """Why the RFC 5280 validator refused a path: a finding code and netcheck's sentence."""

    code: str
    message: str


# The appliance is permissive where the validator's default (CA/Browser Forum) policy is
# strict: it takes server certificates without SAN (the 2021 reference documents the CN;
# netcheck warns with name.cn-only) or without serverAuth EKU, and CAs without AKI/SKI or
# key usage (OpenSSL's rules), so every extension may be present with any criticality
# (critical extensions are judged by OpenSSL's list instead). basicConstraints must be
# present on CAs: the validator insists, and so does OpenSSL (roots: see _shadow_one).
@cache
def _policies() -> tuple[verification.ExtensionPolicy, verification.ExtensionPolicy]:
    ca = verification.ExtensionPolicy.permit_all().require_present(
        x509.BasicConstraints, verification.Criticality.AGNOSTIC, None
    )
    return ca, verification.ExtensionPolicy.permit_all()


@cache
def _shadow_key(index: int) -> ec.EllipticCurvePrivateKey:
    del index  # one throw-away key per position in the path
    return ec.generate_private_key(ec.SECP256R1())


def _shadow(path: tuple[x509.Certificate, ...]) -> list[x509.Certificate] | None:
    """The path re-signed with throw-away keys, names and extensions kept byte for byte;
    None when a certificate's names or extensions cannot be read or written back (the
    field checks report those; the path rules then go unchecked)."""
    shadows: list[x509.Certificate] = []
    top = len(path) - 1
    for index in range(top, -1, -1):
        try:
            shadows.insert(0, _shadow_one(path[index], shadows[0] if shadows else None, index, top))
        except Exception:  # unreadable or unwritable: nothing the validator could judge
            return None
    return shadows


def _shadow_one(cert: x509.Certificate, parent: x509.Certificate | None, index: int, top: int) -> x509.Certificate:
    subject, extensions = cert.subject, list(cert.extensions)
    serial = quietly(lambda: cert.serial_number)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(parent.subject if parent is not None else subject)
        .public_key(_shadow_key(index).public_key())
        .serial_number(serial if isinstance(serial, int) and 0 < serial < 2**159 else 1)
        .not_valid_before(_SHADOW_TIME - dt.timedelta(days=1))
        .not_valid_after(_SHADOW_TIME + dt.timedelta(days=1))
    )
    for extension in extensions:
        # Criticality is judged by OpenSSL's list (_unknown_critical), not by which
        # extensions the validator happens to parse, so the shadow marks none critical.
        raw = x509.UnrecognizedExtension(extension.oid, extension.value.public_bytes())
        builder = builder.add_extension(raw, critical=False)
    if index == top and extension_value(cert, x509.BasicConstraints) is None:
        # OpenSSL accepts a self-signed root without basicConstraints as the trust
        # anchor (_not_a_ca judges it); the validator insists on the extension.
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=False)
    return builder.sign(_shadow_key(min(index + 1, top)), hashes.SHA256())


def validate(path: tuple[x509.Certificate, ...]) -> Refusal | None:
    """RFC 5280 path rules on a walked path (leaf first, trust anchor last); None: valid.
    A lone certificate is its own anchor: only its critical extensions are judged."""
    unknown = _unknown_critical(path)  # OpenSSL refuses them even on a lone self-signed certificate
    if unknown:
        return unknown
    if len(path) < 2:
        return None
    # What OpenSSL checks and the validator does not: keyCertSign, and CA-ness of a root
    # without basicConstraints (the shadow then gives it the extension the validator wants).
    for ca in path[1:]:
        problem = _not_a_ca(ca)
        if problem:
            return Refusal("chain.not-ca", f"{label(ca)} {problem}")
    subject_problem = subject_constraints.violation(path, [label(c) for c in path])
    if subject_problem:
        return Refusal("chain.name-constraints", subject_problem)
    shadows = _shadow(path)
    if shadows is None:
        return None
    ca_policy, ee_policy = _policies()
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store([shadows[-1]]))
        .time(_SHADOW_TIME)
        .max_chain_depth(MAX_DEPTH)
        .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
        .build_client_verifier()
    )
    try:
        verifier.verify(shadows[0], shadows[1:-1])
    except verification.VerificationError as exc:
        return _refusal(str(exc), path)
    return None


# The extensions OpenSSL processes, and so accepts as critical (X509_supported_extension);
# a critical extension outside this list makes `openssl verify` refuse the certificate.
OPENSSL_CRITICAL_OK = frozenset(
    {
        "2.16.840.1.113730.1.1",  # Netscape certificate type
        "2.5.29.15",  # keyUsage
        "2.5.29.17",  # subjectAltName
        "2.5.29.19",  # basicConstraints
        "2.5.29.32",  # certificatePolicies
        "2.5.29.31",  # cRLDistributionPoints
        "2.5.29.37",  # extKeyUsage
        "1.3.6.1.5.5.7.1.7",  # RFC 3779 IP address blocks
        "1.3.6.1.5.5.7.1.8",  # RFC 3779 AS identifiers
        "1.3.6.1.5.5.7.48.1.5",  # OCSP no check
        "2.5.29.36",  # policyConstraints
        "1.3.6.1.5.5.7.1.14",  # proxyCertInfo
        "2.5.29.30",  # nameConstraints
        "2.5.29.33",  # policyMappings
        "2.5.29.54",  # inhibitAnyPolicy
    }
)


def _unknown_critical(path: tuple[x509.Certificate, ...]) -> Refusal | None:
    for cert in path:
        extensions = _extension_list(cert)
        unknown = [e.oid for e in extensions if e.critical and e.oid.dotted_string not in OPENSSL_CRITICAL_OK]
        if unknown:
            names = ", ".join(getattr(oid, "_name", None) or oid.dotted_string for oid in unknown)
            return Refusal(
                "chain.unknown-critical-extension",
                f"{label(cert)} has the critical extension {names} ({unknown[0].dotted_string}), which "
                "OpenSSL does not process; RFC 5280 validators refuse such a certificate",
            )
    return None


def _refusal(text: str, path: tuple[x509.Certificate, ...]) -> Refusal:
    reason = re.sub(r"\s*\(encountered processing <Certificate.*$", "", text, flags=re.DOTALL)
    reason = reason.removeprefix("validation failed: ").removeprefix("candidates exhausted: ")
    if "path length constraint" in reason:
        return Refusal("chain.path-length", _path_length_text(path))
    if "name constraint" in reason:
        holders = [label(c) for c in path[1:] if extension_value(c, x509.NameConstraints) is not None]
        by = f" of {', '.join(holders)}" if holders else ""
        return Refusal("chain.name-constraints", f"a name in the chain is outside the name constraints{by} ({reason})")
    critical = re.search(r"invalid extension: ([0-9.]+): certificate contains unaccounted-for critical", reason)
    if critical:
        oid = critical.group(1)
        holders = [label(c) for c in path if _has_critical(c, oid)]
        where = ", ".join(holders) or "a certificate of the chain"
        return Refusal(
            "chain.unknown-critical-extension",
            f"{where} has the critical extension {oid}, which is not understood; RFC 5280 validators refuse it",
        )
    if "basicConstraints" in reason:
        return Refusal("chain.not-ca", f"a CA certificate of the chain is not marked as a CA ({reason})")
    return Refusal("chain.rejected", f"RFC 5280 path validation refuses the chain: {reason}")


def _extension_list(cert: x509.Certificate) -> list[x509.Extension[x509.ExtensionType]]:
    return quietly(lambda: list(cert.extensions)) or []  # unreadable: reported by the field checks


def _has_critical(cert: x509.Certificate, oid: str) -> bool:
    return any(e.critical and e.oid.dotted_string == oid for e in _extension_list(cert))


def _path_length_text(path: tuple[x509.Certificate, ...]) -> str:
    for index in range(1, len(path)):
        constraints = extension_value(path[index], x509.BasicConstraints)
        below = index - 1  # intermediate CAs between this CA and the leaf
        if constraints is not None and constraints.path_length is not None and below > constraints.path_length:
            return (
                f"{label(path[index])} allows {constraints.path_length} intermediate CA(s) below it "
                f"(pathLenConstraint), but the chain has {below}"
            )
    return "a CA's pathLenConstraint is exceeded"


def chains_to_anchor(
    leaf: x509.Certificate, presented: list[x509.Certificate], anchors: list[x509.Certificate]
) -> bool:
    """Whether the walk from `leaf` through `presented` reaches one of `anchors` and the
    path is valid by RFC 5280 (the TLS probe's ca_file check)."""
    found = walk(leaf, presented, anchors)
    anchor_prints = {fingerprint_sha256(a) for a in anchors}
    if fingerprint_sha256(found.path[-1]) not in anchor_prints:
        return False
    return validate(found.path) is None


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
            return ChainResult((leaf,), True, findings + _path_rules((leaf,), findings))
        findings.append(
            finding(
                "chain.absent",
                f"no chain was given and the certificate is issued by {name_text(leaf, 'issuer')}",
                CHAIN_FIX,
            )
        )
        return ChainResult((leaf,), False, findings)
    found = walk(leaf, pool)
    path = list(found.path)
    complete = is_self_signed(path[-1])
    if not complete:
        findings.append(_gap(path[-1], found, pool, path, roots))
    elif roots:
        findings += _check_anchor(path[-1], roots)
    findings += _order(chain, path, leaf_fp)
    if complete:  # with a gap, "unused" ones may belong above the missing certificate
        findings += _strays(pool, path)
    findings += _ca_checks(path[1:], now)
    if complete:
        findings += _path_rules(found.path, findings)
    return ChainResult(tuple(path), complete, findings)


def _unique(certs: list[x509.Certificate]) -> list[x509.Certificate]:
    seen: dict[str, x509.Certificate] = {}
    for cert in certs:
        seen.setdefault(fingerprint_sha256(cert), cert)
    return list(seen.values())


def _path_rules(path: tuple[x509.Certificate, ...], known: list[Finding]) -> list[Finding]:
    """The RFC 5280 validator's verdict, unless netcheck's own findings already say it."""
    refusal = validate(path)
    if refusal is None or any(f.code == refusal.code for f in known):
        return []
    fixes = {
        "chain.path-length": "have the CA issue from a hierarchy whose pathLenConstraint allows this depth",
        "chain.name-constraints": "use names the issuing CA is allowed to certify, or a CA without those constraints",
        "chain.unknown-critical-extension": "have the CA re-issue without that critical extension",
        "chain.not-ca": "the chain must hold CA certificates only",
    }
    return [finding(refusal.code, refusal.message, fixes.get(refusal.code, CHAIN_FIX))]


def _gap(
    top: x509.Certificate,
    found: Walk,
    pool: list[x509.Certificate],
    path: list[x509.Certificate],
    roots: tuple[x509.Certificate, ...],
) -> Finding:
    """Why the path stops at `top`: an impostor, another root, or a missing certificate.
    "Different key" is said only when that key was tried on the signature and failed."""
    wanted = name_text(top, "issuer")
    impostor = found.impostor
    if impostor is not None:
        return finding(
            "chain.root-mismatch",
            f"{label(top)} names {label(impostor)} as its issuer, but the {label(impostor)} in the chain "
            "did not sign it (same name, different key: a certificate from another PKI)",
            f"replace {label(impostor)} in the chain with the CA certificate that really issued {label(top)}",
            subject=wanted,
        )
    if found.unchecked is not None:
        return finding(
            "chain.signature-unchecked",
            f"{label(top)} names {label(found.unchecked)} as its issuer, but its signature cannot be checked "
            "with that certificate's key (unsupported algorithm, key or parameters)",
            "have the CA issue with RSA and SHA-256 (sha256WithRSAEncryption)",
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
    key = quietly(root.public_key)
    name = links.read_name(root, "subject")
    if key is not None and any(
        links.same_name(links.read_name(r, "subject"), name) and quietly(r.public_key) == key for r in roots
    ):
        return []
    return [
        finding(
            "chain.untrusted-root",
            f"the chain ends at {label(root)}, which is not the root CA given with --root",
            "use the chain that ends at the organisation's root CA",
            subject=name_text(root, "subject"),
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
        not_before, not_after = _validity(ca)
        if not_before is None or not_after is None:
            pass  # an unreadable validity is reported by the field checks
        elif now > not_after:
            findings.append(
                finding(
                    "chain.ca-expired",
                    f"CA certificate {name} expired on {not_after:%Y-%m-%d}",
                    "get the current CA certificate from the CA (and a server certificate issued under it)",
                    subject=name,
                )
            )
        elif now < not_before:
            findings.append(
                finding(
                    "chain.ca-not-yet-valid",
                    f"CA certificate {name} is valid only from {not_before:%Y-%m-%d %H:%M} UTC",
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


def _validity(cert: x509.Certificate) -> tuple[datetime | None, datetime | None]:
    return quietly(lambda: cert.not_valid_before_utc), quietly(lambda: cert.not_valid_after_utc)


def _not_a_ca(cert: x509.Certificate) -> str | None:
    constraints = extension_value(cert, x509.BasicConstraints)
    usage = extension_value(cert, x509.KeyUsage)
    if constraints is None:
        # OpenSSL takes a self-signed root without basic constraints as a CA when it is a
        # v1 certificate or its key usage has keyCertSign; nothing else.
        if is_self_signed(cert) and (
            quietly(lambda: cert.version) is x509.Version.v1 or (usage and usage.key_cert_sign)
        ):
            return None
        return "has no basic constraints (CA:TRUE) extension"
    if not constraints.ca:
        return "is not a CA certificate (basic constraints CA:FALSE)"
    if usage is None:
        return None
    return None if usage.key_cert_sign else "may not sign certificates (key usage lacks keyCertSign)"
