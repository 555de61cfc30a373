"""The site file's `certificates:` section: which certificate each appliance will get.

    certificates:
      sensor-1:
        crt: certs/sensor-1.crt        # paths are relative to the site file
        key: certs/sensor-1.key        # optional when crt is a PKCS#12 bundle
        chain: certs/chain.pem         # optional
        root: certs/root.pem           # optional: the root CA the chain must end at
        pass_env: SENSOR1_KEY_PASS     # optional: variable holding the key's passphrase
        hosts: [sensor-1.plant.example, 198.51.100.23]   # planned name(s) and address(es)

Passphrases are never written in the file, only the name of a variable that holds one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from netcheck.errors import ConfigError

_KEYS = {"crt", "key", "chain", "root", "pass_env", "hosts"}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class ApplianceCert:
    """One appliance's planned certificate: name is the site file's key; paths are resolved
    against the site file's folder; source is the site file (for error messages)."""

    name: str
    crt: Path
    key: Path | None
    chain: Path | None
    root: Path | None
    pass_env: str | None
    hosts: tuple[str, ...]
    source: str


def load_site_certificates(path: Path) -> list[ApplianceCert]:
    """Read the site file itself and return its certificates section."""
    from netcheck.inputs import CAP_SITE
    from netcheck.yamldoc import load_yaml

    document = load_yaml(path, "a site YAML file", CAP_SITE).data
    if not isinstance(document, Mapping):
        raise ConfigError(path, "the site file is not a mapping", expected="keys such as site:, hosts:, certificates:")
    if "certificates" not in document:
        raise ConfigError(path, "no certificates: section", expected="certificates: {<appliance>: {crt: ..., ...}}")
    return parse_certificates_section(document["certificates"], path)


def parse_certificates_section(section: object, site_file: Path) -> list[ApplianceCert]:
    """Validate an already-parsed `certificates:` value (the lead's loader can call this)."""
    source = str(site_file)
    base = site_file.parent
    if not isinstance(section, Mapping) or not section:
        raise ConfigError(
            source,
            "must map appliance names to their files",
            key="certificates",
            expected="{<appliance>: {crt: path, key: path, ...}}",
        )
    entries = [_entry(str(name), value, base, source) for name, value in section.items()]
    return entries


def _entry(name: str, value: object, base: Path, source: str) -> ApplianceCert:
    where = f"certificates.{name}"
    if not isinstance(value, Mapping):
        raise ConfigError(source, "must be a mapping", key=where, expected="{crt: path, key: path, ...}")
    unknown = sorted(set(map(str, value)) - _KEYS)
    if unknown:
        raise ConfigError(source, f"unknown key {unknown[0]!r}", key=where, expected=", ".join(sorted(_KEYS)))
    if "crt" not in value:
        raise ConfigError(source, "crt is missing", key=where, expected="the path of the appliance's certificate")
    pass_env = value.get("pass_env")
    if pass_env is not None and not (isinstance(pass_env, str) and _ENV_NAME.fullmatch(pass_env)):
        raise ConfigError(
            source,
            "must name an environment variable",
            key=f"{where}.pass_env",
            expected="a variable name such as SENSOR1_KEY_PASS (never the passphrase itself)",
        )
    return ApplianceCert(
        name=name,
        crt=_path(value["crt"], base, source, f"{where}.crt"),
        key=_optional_path(value.get("key"), base, source, f"{where}.key"),
        chain=_optional_path(value.get("chain"), base, source, f"{where}.chain"),
        root=_optional_path(value.get("root"), base, source, f"{where}.root"),
        pass_env=pass_env,
        hosts=_hosts(value.get("hosts"), source, f"{where}.hosts"),
        source=source,
    )


def _path(value: object, base: Path, source: str, key: str) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(source, "must be a file path", key=key, expected="a path relative to the site file")
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _optional_path(value: object, base: Path, source: str, key: str) -> Path | None:
    return None if value is None else _path(value, base, source, key)


def _hosts(value: object, source: str, key: str) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) and item.strip() for item in items):
        raise ConfigError(
            source,
            "must be a list of host names and IP addresses",
            key=key,
            expected="[sensor-1.plant.example, 198.51.100.23]",
        )
    return tuple(item.strip() for item in items)


def site_crl_urls(entries: list[ApplianceCert]) -> dict[str, list[str]]:
    """CRL distribution point URLs of the site's certificates -> the appliances using each,
    for the scan's CRL flows. Unreadable files are skipped here: `netcheck cert --site`
    reports them."""
    from netcheck.certs.facts import crl_urls
    from netcheck.certs.load import EXPECTED_CERT, parse_file
    from netcheck.errors import UsageError

    found: dict[str, list[str]] = {}
    for entry in entries:
        try:
            certs = parse_file(entry.crt, "crt", EXPECTED_CERT, None).certs
        except UsageError:  # includes ConfigError; a password-protected PKCS#12 needs pass_env
            continue
        for url in crl_urls(certs[0]) if certs else []:
            found.setdefault(url, []).append(entry.name)
    return found
