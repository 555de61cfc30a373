"""One scan from start to end: plan the flows, probe them, check the site's certificates
alongside, and build the Report. The CLI only parses arguments and writes outputs."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from netcheck import __version__
from netcheck.engine import Limits, Observer, ScanHook, scan
from netcheck.hostinfo import host_name, local_addresses
from netcheck.model import Report, RunInfo
from netcheck.plan import plan
from netcheck.probes import ProbeContext
from netcheck.profiles import Profile, Site
from netcheck.timeutil import utc_now_iso


@dataclass(frozen=True)
class ScanOptions:
    """The knobs of a run; `limits.timeout` is each probe's deadline."""

    limits: Limits
    udp_tries: int = 3
    strict: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"timeout_s": self.limits.timeout, "deadline_s": self.limits.deadline,
                "concurrency": self.limits.concurrency, "per_host": self.limits.per_host,
                "udp_tries": self.udp_tries, "strict": self.strict}


@dataclass(frozen=True)
class SiteCertificates:
    """The appliance certificates a site file lists, ready to check (passphrases resolved)."""

    inputs: list[Any]  # netcheck.certs.run.CheckInput; typed loosely to keep cryptography out of start-up
    crl_urls: tuple[str, ...]


def site_certificates(site: Site, env: Mapping[str, str]) -> SiteCertificates | None:
    """Parse the site's `certificates:` section (exit 2 on bad entries), or None when it has none."""
    section = site.extra.get("certificates")
    if not section:
        return None
    from netcheck.certs.run import inputs_from_site
    from netcheck.certs.site import parse_certificates_section, site_crl_urls

    entries = parse_certificates_section(section, Path(site.path))
    return SiteCertificates(inputs_from_site(entries, env), tuple(site_crl_urls(entries)))


def with_crl_urls(site: Site, urls: Sequence[str]) -> Site:
    """The site with its certificates' CRL distribution points added to the crl peer, so the
    scan tests the firewall path to exactly the CRLs the appliances will fetch."""
    from netcheck.values import is_http_url

    # Only URLs the site file itself could name: `netcheck cert` reports the others (https, odd bytes).
    merged = tuple(dict.fromkeys([*site.peers.get("crl", ()), *(url for url in urls if is_http_url(url))]))
    return replace(site, peers={**site.peers, "crl": merged})


def _certificate_proxy(site: Site) -> Any:
    """The proxy the certificate check downloads CRLs through: the site's, when settings.crl.via_proxy."""
    proxies = site.peers.get("proxy", ())
    if not (site.settings.get("crl", {}).get("via_proxy") and proxies):
        return None
    from netcheck.httpfetch import parse_proxy

    return parse_proxy(proxies[0])


async def _check_certificates(site: Site, certificates: SiteCertificates, timeout: float) -> dict[str, Any]:
    from netcheck.certs.render import site_json
    from netcheck.certs.run import check_site

    # check_site runs its own event loop for the CRL downloads: give it a thread of its own.
    result = await asyncio.to_thread(
        check_site, site.name, certificates.inputs, proxy=_certificate_proxy(site), crl_timeout=timeout)
    return site_json(result)


async def _run(flows: list[Any], ctx: ProbeContext, options: ScanOptions, observer: Observer | None,
               hooks: Sequence[ScanHook], site: Site,
               certificates: SiteCertificates | None) -> tuple[list[Any], dict[str, Any] | None]:
    probing = scan(flows, ctx, options.limits, observer, hooks)
    if certificates is None:
        return await probing, None
    results, verdicts = await asyncio.gather(
        probing, _check_certificates(site, certificates, options.limits.timeout))
    return results, verdicts


def run_scan(profile: Profile, site: Site, site_file: str, options: ScanOptions, *, env: Mapping[str, str],
             observer: Observer | None = None, hooks: Sequence[ScanHook] = ()) -> Report:
    certificates = site_certificates(site, env)
    if certificates:
        site = with_crl_urls(site, certificates.crl_urls)
    flows = plan(profile, site)
    run_id = secrets.token_hex(8)
    ctx = ProbeContext(timeout=options.limits.timeout, run_id=run_id, udp_tries=options.udp_tries, env=env,
                       settings={"peers": site.peers, "site": site})
    started = utc_now_iso()
    results, verdicts = asyncio.run(_run(flows, ctx, options, observer, hooks, site, certificates))
    info = RunInfo(
        version=__version__, run_id=run_id, host_name=host_name(), host_addresses=local_addresses(),
        profile=profile.name, role=profile.role, site=site.name, site_file=site_file,
        started=started, finished=utc_now_iso(), options=options.as_dict(),
    )
    return Report.build(info, results, verdicts)
