"""Name constraints on what the subject name says, which OpenSSL applies and
cryptography.x509.verification (subjectAltName only, as the Web PKI has it) does not:

- directoryName subtrees constrain the subject's distinguished name itself;
- dNSName subtrees constrain a subject CN that looks like a host name, when the
  certificate has no DNS subjectAltName (OpenSSL 1.1.0 and later).

Certificates without SAN are what the appliance accepts (with a warning), so this
matters here. Pure: a path in, a sentence about the first violation out.
"""

from __future__ import annotations

import re

from cryptography import x509

from netcheck.certs import links
from netcheck.certs.facts import extension_value, san_dns, subject_cns

_HOSTNAME = re.compile(r"(?:\*\.)?(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.?", re.I)


def violation(path: tuple[x509.Certificate, ...], names: list[str]) -> str | None:
    """The first subject-name violation of a CA's name constraints in `path` (leaf
    first), or None. `names` are the labels of the certificates, for the message."""
    for ca_index in range(1, len(path)):
        constraints = extension_value(path[ca_index], x509.NameConstraints)
        if constraints is None:
            continue
        for index in range(ca_index):
            cert = path[index]
            if index > 0 and links.names_issuer(cert, cert):
                continue  # self-issued intermediates are exempt (RFC 5280 6.1.3 b)
            problem = _subject_problem(cert, constraints)
            if problem:
                return f"{names[index]}: {problem}, outside the name constraints of {names[ca_index]}"
    return None


def _subject_problem(cert: x509.Certificate, constraints: x509.NameConstraints) -> str | None:
    subject = links.read_name(cert, "subject")
    if subject is not None and len(subject) > 0:
        permitted = _of_type(constraints.permitted_subtrees, x509.DirectoryName)
        excluded = _of_type(constraints.excluded_subtrees, x509.DirectoryName)
        if permitted and not any(_within(subject, base) for base in permitted):
            return f"the subject {subject.rfc4514_string()} is not in a permitted directory subtree"
        if any(_within(subject, base) for base in excluded):
            return f"the subject {subject.rfc4514_string()} is in an excluded directory subtree"
    if san_dns(cert):
        return None  # the validator has checked the DNS names
    for cn in subject_cns(cert):
        if not _HOSTNAME.fullmatch(cn):
            continue
        permitted_dns = _of_type(constraints.permitted_subtrees, x509.DNSName)
        excluded_dns = _of_type(constraints.excluded_subtrees, x509.DNSName)
        if permitted_dns and not any(dns_within(cn, base) for base in permitted_dns):
            return f"the CN {cn} (a host name; no DNS subjectAltName) is not in a permitted DNS subtree"
        if any(dns_within(cn, base) for base in excluded_dns):
            return f"the CN {cn} (a host name; no DNS subjectAltName) is in an excluded DNS subtree"
    return None


def _of_type(subtrees: list[x509.GeneralName] | None, kind: type[x509.GeneralName]) -> list[x509.Name | str]:
    return [name.value for name in subtrees or () if isinstance(name, kind)]


def _within(subject: x509.Name, base: object) -> bool:
    """RFC 5280 directoryName matching: the base's RDNs start the subject's (canonical)."""
    if not isinstance(base, x509.Name):
        return False
    prefix = links.canonical_name(base)
    whole = links.canonical_name(subject)
    return prefix is not None and whole is not None and whole[: len(prefix)] == prefix


def dns_within(name: str, base: object) -> bool:
    """RFC 5280 dNSName matching: the name is the base or below it; ".base" means below only."""
    if not isinstance(base, str):
        return False
    name, base = name.lower().rstrip("."), base.lower().rstrip(".")
    if not base:
        return True  # an empty constraint matches every name
    if base.startswith("."):
        return name.endswith(base)
    return name == base or name.endswith("." + base)
