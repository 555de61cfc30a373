"""CRL downloads shared by one run: each CRL URL is fetched once, and that one answer feeds both
the http-crl flow (netcheck/probes/http_crl.py) and the certificate verdict (netcheck/certs/run.py).

The scanner creates one `CrlDownloads` per run and hands it to the probes (ProbeContext.crl_downloads)
and to the certificate check; `netcheck cert` makes its own. Light on purpose: no cryptography here.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from netcheck.model import Reason

if TYPE_CHECKING:
    from netcheck.httpfetch import FetchResult, Proxy

# (url, proxy): the proxy includes its credentials, so the same proxy with other credentials is another GET.
Key = tuple[str, "Proxy | None"]


@dataclass(frozen=True)
class _Download:
    max_bytes: int
    task: asyncio.Future[FetchResult]


class CrlDownloads:
    """One GET per (url, proxy) for the lifetime of a run, shared by everyone who asks for it.

    Sharing rule: a download is shared only between requests that take the same path, because the
    path is what the flow verdict is about. The http-crl flow and the certificate check of one URL share
    one GET when both go direct, or both through the same proxy. With settings.crl.via_proxy the
    certificate check downloads through the proxy, so it shares the via_proxy http-crl flow's GET, while
    a direct http-crl flow of the same URL is still its own (direct) GET: it tests another firewall path.

    Caps: each caller keeps its own `max_bytes` (the flow's option, the certificate check's
    MAX_CRL_BYTES). A body within the download's cap but beyond a caller's is too-large for that caller;
    a download that stopped at a smaller cap than a later caller allows is fetched again for that caller
    (the one case of a second GET: a body larger than the first caller's cap).

    The first caller's timeout bounds the shared GET; in a scan both callers use the flow's budget
    (http_crl.crl_fetch_timeout). A caller cancelled by its own deadline does not cancel the download
    the others await. Answers are kept for the run (a few CRLs, each capped), then dropped with it.
    """

    def __init__(self) -> None:
        self._downloads: dict[Key, _Download] = {}
        self.started = 0  # GETs started: what the server sees

    async def get(self, url: str, *, proxy: Proxy | None, timeout: float, max_bytes: int) -> FetchResult:
        """The answer of GET `url` (directly, or through `proxy`), fetched once for every caller."""
        key: Key = (url, proxy)
        download = self._downloads.get(key) or self._start(key, timeout, max_bytes)
        result = await asyncio.shield(download.task)
        if result.error is Reason.TOO_LARGE and download.max_bytes < max_bytes:
            latest = self._downloads[key]
            download = latest if latest.max_bytes >= max_bytes else self._start(key, timeout, max_bytes)
            result = await asyncio.shield(download.task)
        return within(result, max_bytes)

    def _start(self, key: Key, timeout: float, max_bytes: int) -> _Download:
        from netcheck.httpfetch import fetch

        url, proxy = key
        download = _Download(max_bytes, asyncio.ensure_future(fetch(url, proxy=proxy, timeout=timeout,
                                                                    max_bytes=max_bytes)))
        self._downloads[key] = download
        self.started += 1
        return download

    async def aclose(self) -> None:
        """Cancel downloads nobody waits for any more (a stopped or cancelled scan)."""
        pending = [download.task for download in self._downloads.values() if not download.task.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)


def within(result: FetchResult, max_bytes: int) -> FetchResult:
    """`result` as a GET capped at `max_bytes` would have seen it."""
    if not result.ok or len(result.body) <= max_bytes:
        return result
    return replace(result, error=Reason.TOO_LARGE, detail=f"the body exceeds the {max_bytes}-byte cap", body=b"",
                   status=None, status_line=None, headers=())
