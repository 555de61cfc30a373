"""Findings: the catalogue of stable codes, their severities and the appliance's own words.

Every finding a check can produce is declared here once, so the codes, their default
severity and the appliance message they correspond to are documented in one table
(and a test checks that every emitted code is in it).
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, replace


class Severity(enum.StrEnum):
    """error: the appliance would refuse it (or it would break); warning: accepted but
    outside the documented requirements or soon a problem; info: worth knowing."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True)
class ApplianceMessage:
    """A message the appliance shows at upload. `text` is the 2021 documentation's wording,
    verbatim; `later` are the wordings of later releases that mean the same."""

    text: str
    later: tuple[str, ...] = ()


PASSPHRASE = ApplianceMessage("Passphrase does not match to the key")
VALIDATION_FAILED = ApplianceMessage("Certificate Validation Failed", ("Certificate validation failed",))
CHAIN_MISMATCH = ApplianceMessage(
    "Cannot validate chain of trust.The provided Certificate and Root CA do not match.",
    ("Cannot validate chain of trust. The provided Certificate and Root CA don't match.",),
)
EXPIRED = ApplianceMessage(
    "This SSL certificate has expired and is not considered valid.",
    ("This SSL certificate has expired and isn't considered valid.",),
)
REVOKED = ApplianceMessage(
    "This certificate has been revoked by the CRL and cannot be trusted for a secure connection.",
    ("This certificate has been revoked by the CRL and can't be trusted for a secure connection",),
)
CHAIN_DOWNLOAD = ApplianceMessage("Cannot download chain certificates.")
CERT_DOWNLOAD = ApplianceMessage("Cannot download certificate.")
CRL_UNREACHABLE = ApplianceMessage(
    "The CRL (Certificate Revocation List) location is not reachable. "
    "Verify the URL can be accessed from this appliance"
)

APPLIANCE_MESSAGES: tuple[ApplianceMessage, ...] = (
    PASSPHRASE,
    VALIDATION_FAILED,
    CHAIN_MISMATCH,
    EXPIRED,
    REVOKED,
    CHAIN_DOWNLOAD,
    CERT_DOWNLOAD,
    CRL_UNREACHABLE,
)


@dataclass(frozen=True)
class Spec:
    """A finding code's fixed properties.

    severity     the default severity
    appliance    the appliance message it corresponds to, if the appliance has one
    validation   part of the appliance's certificate validation: with validation
                 disabled (--no-validate) its errors become warnings
    title        a short name for tables and documentation
    """

    severity: Severity
    appliance: ApplianceMessage | None
    validation: bool
    title: str


E, W, N = Severity.ERROR, Severity.WARNING, Severity.INFO  # N: iNfo (ruff E741 bans I)

CATALOGUE: dict[str, Spec] = {
    # the private key
    "key.passphrase-missing": Spec(E, PASSPHRASE, False, "the key is encrypted and no passphrase was given"),
    "key.passphrase-wrong": Spec(E, PASSPHRASE, False, "the passphrase does not open the key"),
    "key.passphrase-unused": Spec(N, None, False, "a passphrase was given but the key is not encrypted"),
    "key.passphrase-characters": Spec(W, None, False, "passphrase characters later releases reject"),
    "key.mismatch": Spec(E, VALIDATION_FAILED, False, "the key does not belong to the certificate"),
    "key.rsa-too-small": Spec(E, None, False, "RSA key shorter than 2048 bits"),
    "key.unsupported-type": Spec(E, None, False, "not an RSA key"),
    "key.rsa-size-unusual": Spec(N, None, False, "RSA size other than the documented 2048 or 4096"),
    "key.rsa-4096": Spec(N, None, False, "4096-bit RSA: slower handshakes"),
    "key.rsa-pss": Spec(W, None, False, "an RSA-PSS key (PSS signatures only), not a plain RSA key"),
    # the certificate itself
    "cert.not-yet-valid": Spec(E, VALIDATION_FAILED, True, "not valid yet"),
    "cert.expired": Spec(E, EXPIRED, True, "expired"),
    "cert.expiring": Spec(W, None, True, "expires soon"),
    "cert.weak-signature": Spec(E, None, True, "signed with SHA-1 or MD5"),
    "cert.signature-algorithm": Spec(W, None, True, "signature algorithm is not sha256WithRSAEncryption"),
    "cert.self-signed": Spec(W, None, True, "self-signed: for test environments only"),
    "cert.is-ca": Spec(W, None, True, "the server certificate is a CA certificate"),
    "cert.key-usage": Spec(W, None, True, "key usage does not allow a TLS server"),
    "cert.pkcs12-input": Spec(W, None, False, "PKCS#12 must be converted to PEM before upload"),
    "cert.extra-certificates": Spec(W, None, False, "the certificate file holds more than one certificate"),
    "cert.key-in-crt": Spec(W, None, False, "the certificate file also holds the private key"),
    "cert.unparsable": Spec(E, None, False, "a field of the certificate cannot be read"),
    "cert.duplicate-extension": Spec(E, VALIDATION_FAILED, True, "an extension appears twice"),
    "cert.unsupported-name-form": Spec(W, None, False, "x400Address/ediPartyName names: extensions not checked"),
    "cert.serial-not-positive": Spec(W, None, True, "negative or zero serial number"),
    "cert.parse-warning": Spec(N, None, False, "the certificate parser warned"),
    # subject and names
    "subject.cn-missing": Spec(W, None, False, "no subject CN"),
    "subject.fields-missing": Spec(W, None, False, "subject C, O or OU missing"),
    "subject.attribute-length": Spec(W, None, False, "a subject attribute of the wrong length (C must be 2 letters)"),
    "name.mismatch": Spec(E, None, True, "a planned host name or address is not in the certificate"),
    "name.cn-only": Spec(W, None, True, "matched by CN only: the certificate has no SAN"),
    "name.wildcard": Spec(W, None, False, "wildcard name: later releases reject wildcards"),
    "name.not-checked": Spec(N, None, True, "no --host given: names not checked"),
    # the chain
    "chain.absent": Spec(E, CHAIN_DOWNLOAD, True, "no chain given for a CA-issued certificate"),
    "chain.missing-issuer": Spec(E, CHAIN_MISMATCH, True, "an issuing CA certificate is missing"),
    "chain.root-mismatch": Spec(E, CHAIN_MISMATCH, True, "the chain belongs to another root"),
    "chain.untrusted-root": Spec(E, CHAIN_MISMATCH, True, "the chain's root is not the expected root CA"),
    "chain.order": Spec(E, None, True, "chain certificates in the wrong order"),
    "chain.contains-leaf": Spec(W, None, True, "the chain file repeats the server certificate"),
    "chain.unused": Spec(W, None, True, "chain certificates that are not part of the path"),
    "chain.ca-expired": Spec(E, EXPIRED, True, "a CA certificate has expired"),
    "chain.ca-not-yet-valid": Spec(E, VALIDATION_FAILED, True, "a CA certificate is not valid yet"),
    "chain.not-ca": Spec(E, VALIDATION_FAILED, True, "an issuer is not a CA certificate"),
    "chain.weak-signature": Spec(E, None, True, "a CA certificate is signed with SHA-1 or MD5"),
    "chain.path-length": Spec(E, VALIDATION_FAILED, True, "a CA's pathLenConstraint is exceeded"),
    "chain.name-constraints": Spec(E, VALIDATION_FAILED, True, "a name violates a CA's name constraints"),
    "chain.unknown-critical-extension": Spec(E, VALIDATION_FAILED, True, "an unknown critical extension"),
    "chain.signature-unchecked": Spec(E, VALIDATION_FAILED, True, "a signature in the chain cannot be checked"),
    "chain.rejected": Spec(E, VALIDATION_FAILED, True, "RFC 5280 path validation refuses the chain"),
    "chain.bag-attributes": Spec(N, None, False, "Bag Attributes lines present (tolerated)"),
    "chain.ber-encoded": Spec(N, None, False, "BER-encoded PKCS#7 (read, but not DER)"),
    # the CRL
    "crl.no-cdp": Spec(N, None, True, "no CRL distribution point: CRL check skipped"),
    "crl.no-url": Spec(W, None, True, "a CRL distribution point without a URL (directory name only)"),
    "crl.https": Spec(E, CRL_UNREACHABLE, True, "CRL location is https://"),
    "crl.unsupported-scheme": Spec(E, CRL_UNREACHABLE, True, "CRL location is not an http:// URL"),
    "crl.unreachable": Spec(E, CRL_UNREACHABLE, True, "CRL location not reachable"),
    "crl.custom-port": Spec(N, None, True, "CRL location on a port other than 80"),
    "crl.via-proxy": Spec(N, None, True, "CRL fetched through the proxy"),
    "crl.not-a-crl": Spec(E, VALIDATION_FAILED, True, "the download is not a CRL"),
    "crl.wrong-issuer": Spec(E, VALIDATION_FAILED, True, "the CRL is from another CA"),
    "crl.bad-signature": Spec(E, VALIDATION_FAILED, True, "the CRL is not signed by the issuing CA"),
    "crl.unverified": Spec(W, None, True, "the CRL signature could not be checked (issuer unknown)"),
    "crl.stale": Spec(E, VALIDATION_FAILED, True, "the CRL's nextUpdate has passed"),
    "crl.not-yet-valid": Spec(E, VALIDATION_FAILED, True, "the CRL's thisUpdate is in the future"),
    "crl.revoked": Spec(E, REVOKED, True, "the certificate is revoked"),
    # across a site
    "site.shared-certificate": Spec(E, None, False, "two appliances share a certificate"),
    "site.shared-key": Spec(E, None, False, "two appliances share a private key"),
}


@dataclass(frozen=True)
class Finding:
    """One judged fact.

    code               a key of CATALOGUE (stable, for scripts)
    severity           error / warning / info (after --no-validate downgrades)
    message            netcheck's one-line explanation
    fix                what to do about it, or None
    appliance_message  the appliance's verbatim 2021 text for this situation, or None
    subject            what it is about (a certificate's subject, a URL, a host), or None
    downgraded         an error turned into a warning because validation is disabled
    """

    code: str
    severity: Severity
    message: str
    fix: str | None
    appliance_message: str | None
    subject: str | None = None
    downgraded: bool = False


def finding(code: str, message: str, fix: str | None = None, *, subject: str | None = None) -> Finding:
    spec = CATALOGUE[code]  # KeyError on an undeclared code is a bug worth failing on
    return Finding(
        code=code,
        severity=spec.severity,
        message=message,
        fix=fix,
        appliance_message=spec.appliance.text if spec.appliance else None,
        subject=subject,
    )


def with_severity(item: Finding, severity: Severity) -> Finding:
    return replace(item, severity=severity)


def disable_validation(findings: list[Finding]) -> list[Finding]:
    """--no-validate: validation errors become warnings; key and file errors stay."""
    return [
        replace(item, severity=Severity.WARNING, downgraded=True)
        if item.severity is Severity.ERROR and CATALOGUE[item.code].validation
        else item
        for item in findings
    ]


def accepted(findings: list[Finding]) -> bool:
    return not any(item.severity is Severity.ERROR for item in findings)


def _fold(text: str) -> str:
    text = text.lower().replace("\u2019", "'").replace("can't", "cannot").replace("n't", " not")
    text = text.replace("can not", "cannot")
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


def recognise(text: str) -> ApplianceMessage | None:
    """The appliance message a text is (2021 or later wording, any punctuation/case)."""
    folded = _fold(text)
    for message in APPLIANCE_MESSAGES:
        if any(_fold(candidate) == folded for candidate in (message.text, *message.later)):
            return message
    return None


def codes_for(message: ApplianceMessage) -> list[str]:
    """The finding codes that quote an appliance message, e.g. to explain a console error."""
    return [code for code, spec in CATALOGUE.items() if spec.appliance is message]
