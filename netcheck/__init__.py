"""netcheck: network and port readiness scanner for OT security appliances.

The library in four calls::

    import netcheck

    profile = netcheck.load_profile("sensor")        # a built-in name or a YAML file
    site = netcheck.load_site("site.yaml")           # or None: the built-in loopback sample site
    report = netcheck.scan(profile, site, timeout=2)  # from a script
    report = await netcheck.scan_async(profile, site)  # from a running event loop
    for result in report.results:
        print(result.flow.id, result.status, result.reason)

Errors are typed (`netcheck.errors`): ConfigError for a bad file, UsageError for a bad option.
The names below load on first use (PEP 562), so `import netcheck` and `netcheck --help` stay fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "CertReport",
    "CheckInput",
    "ConfigError",
    "NetcheckError",
    "Profile",
    "Reason",
    "Report",
    "Result",
    "Site",
    "SiteReport",
    "Status",
    "UsageError",
    "__version__",
    "check_certificate",
    "check_certificate_async",
    "check_certificates",
    "check_certificates_async",
    "load_profile",
    "load_site",
    "scan",
    "scan_async",
]

# public name -> (module, attribute there)
_LAZY: dict[str, tuple[str, str]] = {
    "load_profile": ("netcheck.profiles", "load_profile"),
    "load_site": ("netcheck.profiles", "load_site"),
    "Profile": ("netcheck.profiles", "Profile"),
    "Site": ("netcheck.profiles", "Site"),
    "scan": ("netcheck.scanner", "scan"),
    "scan_async": ("netcheck.scanner", "scan_async"),
    "Report": ("netcheck.model", "Report"),
    "Result": ("netcheck.model", "Result"),
    "Status": ("netcheck.model", "Status"),
    "Reason": ("netcheck.model", "Reason"),
    "NetcheckError": ("netcheck.errors", "NetcheckError"),
    "UsageError": ("netcheck.errors", "UsageError"),
    "ConfigError": ("netcheck.errors", "ConfigError"),
    # Certificate pre-flight (cryptography loads only when one of these is first used).
    "CheckInput": ("netcheck.certs.run", "CheckInput"),
    "CertReport": ("netcheck.certs.run", "CertReport"),
    "SiteReport": ("netcheck.certs.run", "SiteReport"),
    "check_certificate": ("netcheck.certs.run", "check_one"),
    "check_certificate_async": ("netcheck.certs.run", "check_one_async"),
    "check_certificates": ("netcheck.certs.run", "check_site"),
    "check_certificates_async": ("netcheck.certs.run", "check_site_async"),
}

if TYPE_CHECKING:
    from netcheck.certs.run import CertReport, CheckInput, SiteReport
    from netcheck.certs.run import check_one as check_certificate
    from netcheck.certs.run import check_one_async as check_certificate_async
    from netcheck.certs.run import check_site as check_certificates
    from netcheck.certs.run import check_site_async as check_certificates_async
    from netcheck.errors import ConfigError, NetcheckError, UsageError
    from netcheck.model import Reason, Report, Result, Status
    from netcheck.profiles import Profile, Site, load_profile, load_site
    from netcheck.scanner import scan, scan_async


def __getattr__(name: str) -> Any:
    try:
        module, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'netcheck' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value  # the next access is a plain module attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
