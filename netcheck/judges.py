"""The judge layer: a probe's typed facts against the site's expectations, then the whole run.

Per flow, a probe kind's judge (registered with the probe) returns a Status or a Verdict: the
status plus, goss-style, the rule it applied (`expected`) and what it found (`found`), which
the Result carries for the reports. After every flow has finished, `judge_run` sees all the
results at once, for verdicts that depend on each other (a direct CRL download that failed
while the same CRL arrives through the site's proxy). Renderers never judge.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from netcheck.model import Reason, Result, Status


@dataclass(frozen=True)
class Verdict:
    """A judge's answer: the status, and the rule it held the facts to.

    expected  the expectation in words ("offset <= 1 s"); None when no site expectation applied
    found     the fact measured against it ("offset +1.730 s"); None when `expected` is None
    """

    status: Status
    expected: str | None = None
    found: str | None = None


def as_verdict(judged: Status | Verdict) -> Verdict:
    """Judges may return a bare Status (the default judge, throw-away probes) or a Verdict."""
    return judged if isinstance(judged, Verdict) else Verdict(judged)


def joined(parts: Iterable[str]) -> str | None:
    """Several rules or findings as one line; None when there are none."""
    items = [part for part in parts if part]
    return "; ".join(items) if items else None


# -- run-level judges --------------------------------------------------------------------

# How a direct download fails when the path (not the server or the file) is the problem.
PATH_FAILURES = frozenset({Reason.FILTERED, Reason.PROHIBITED, Reason.UNREACHABLE, Reason.REFUSED,
                           Reason.TIMEOUT, Reason.DNS_FAILURE, Reason.NO_RESPONSE})


def judge_run(results: Sequence[Result]) -> list[Result]:
    """Every run-level judge in turn over the finished results (order kept)."""
    return crl_through_proxy(results)


def crl_through_proxy(results: Sequence[Result]) -> list[Result]:
    """A direct CRL download that failed on the path (port 80 dropped, ...) does not fail the run
    when the same CRL downloads through the site's proxy in this run: the appliance fetches it that
    way. It becomes skip / satisfied-elsewhere, and the direct failure stays in its evidence."""
    proxied = _crls_fetched_through_proxy(results)
    if not proxied:
        return list(results)
    judged = []
    for result in results:
        proxy = proxied.get(result.flow.host)
        if (proxy and result.flow.probe == "http-crl" and not result.flow.options.get("via_proxy")
                and result.status is Status.FAIL and result.reason in PATH_FAILURES):
            result = _satisfied_through(result, proxy)
        judged.append(result)
    return judged


def _satisfied_through(result: Result, proxy: str) -> Result:
    direct = {"status": result.status.value, "reason": result.reason.value, "detail": result.detail}
    return dataclasses.replace(
        result, status=Status.SKIP, reason=Reason.SATISFIED_ELSEWHERE,
        detail=f"satisfied through the proxy {proxy} — the appliance fetches its CRL that way "
               f"(direct download: {result.reason.value}: {result.detail})",
        evidence={**result.evidence, "direct": direct, "satisfied_through": {"proxy": proxy}},
        expected=result.expected or "the CRL downloads directly or through the site's proxy",
        found=f"direct download {result.reason.value}; through the proxy {proxy}: downloaded",
    )


def _crls_fetched_through_proxy(results: Sequence[Result]) -> dict[str, str]:
    """CRL URL -> the proxy (host:port) it downloaded through in this run: a proxy flow's GET
    that got the file, or an http-crl flow with via_proxy that passed."""
    found: dict[str, str] = {}
    for result in results:
        if result.flow.probe == "proxy" and result.address:
            requests = result.evidence.get("requests")
            for what, request in (requests.items() if isinstance(requests, Mapping) else ()):
                if isinstance(what, str) and what.startswith("GET ") and _downloaded(request):
                    found.setdefault(what[4:], _host_port(result.address, result.flow.port))
        elif (result.flow.probe == "http-crl" and result.flow.options.get("via_proxy")
              and result.status is Status.PASS):
            proxy = _proxy_of(result.evidence)
            if proxy:
                found.setdefault(result.flow.host, proxy)
    return found


def _downloaded(request: Any) -> bool:
    """The proxy relayed the GET and the server sent the file (no error on either hop)."""
    return (isinstance(request, Mapping) and request.get("reason") is None
            and isinstance(request.get("bytes"), int) and request["bytes"] > 0)


def _proxy_of(evidence: Mapping[str, Any]) -> str | None:
    download = evidence.get("download")
    proxy = download.get("proxy") if isinstance(download, Mapping) else None
    return str(proxy) if proxy else None


def _host_port(address: str, port: object) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"
