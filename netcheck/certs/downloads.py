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
    from netcheck.net.http import FetchResult, Proxy

# (url, proxy): the proxy as the site names it (peers.proxy, not a resolved address) with its credentials,
# so the same proxy with other credentials is another GET.
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
    The proxy flow's GET of each CRL URL (netcheck/probes/proxy.py) goes through the site's proxy too, so
    it shares that same GET: every caller names the proxy as the site does (host from peers.proxy, port,
    credentials), never by the address it resolved to.

    Caps: each caller keeps its own `max_bytes` (the flow's option, the certificate check's
    MAX_CRL_BYTES). A body within the download's cap but beyond a caller's is too-large for that caller;
    a download that stopped at a smaller cap than a later caller allows is fetched again for that caller
    (the one case of a second GET: a body larger than the first caller's cap).

    Time: the first caller's timeout bounds the shared GET. Each caller waits at most its own timeout
    (counted from its call) and then gets a timeout result of its own, so a flow that joins a download
    started earlier with a later end still answers within its deadline. Neither that nor a caller
    cancelled by its deadline cancels the download the others await. Answers are kept for the run (a
    few CRLs, each capped), then dropped with it.
    """

    def __init__(self) -> None:
        self._downloads: dict[Key, _Download] = {}
        self.started = 0  # GETs started: what the server sees

    async def get(self, url: str, *, proxy: Proxy | None, timeout: float, max_bytes: int) -> FetchResult:
        """The answer of GET `url` (directly, or through `proxy`), fetched once for every caller."""
        key: Key = (url, proxy)
        loop = asyncio.get_running_loop()
        until = loop.time() + timeout
        download = self._downloads.get(key)
        ours = download is None  # ours: the GET itself ends within `timeout`, with its own reason
        if download is None:
            download = self._start(key, timeout, max_bytes)
        result = await _awaited(download, None if ours else until, key, timeout)
        if result.error is Reason.TOO_LARGE and download.max_bytes < max_bytes:
            latest = self._downloads[key]
            ours = latest.max_bytes < max_bytes
            download = self._start(key, max(until - loop.time(), 0.05), max_bytes) if ours else latest
            result = await _awaited(download, None if ours else until, key, timeout)
        return within(result, max_bytes)

    def _start(self, key: Key, timeout: float, max_bytes: int) -> _Download:
        from netcheck.net.http import fetch

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


async def _awaited(download: _Download, until: float | None, key: Key, timeout: float) -> FetchResult:
    """The download's answer, or a timeout of this caller's own at `until` (the download goes on).
    None: the caller started the download, whose own deadline ends it in time with a better reason."""
    from netcheck.net.http import FetchResult

    if until is None:
        return await asyncio.shield(download.task)
    try:
        async with asyncio.timeout_at(until):
            return await asyncio.shield(download.task)
    except TimeoutError:
        url, proxy = key
        return FetchResult(url=url, error=Reason.TIMEOUT, proxy=str(proxy) if proxy else None,
                           detail=f"no complete answer within {timeout:.1f} s (the download this run shares "
                                  "with another check had not finished)")


def within(result: FetchResult, max_bytes: int) -> FetchResult:
    """`result` as a GET capped at `max_bytes` would have seen it."""
    if not result.ok or len(result.body) <= max_bytes:
        return result
    return replace(result, error=Reason.TOO_LARGE, detail=f"the body exceeds the {max_bytes}-byte cap", body=b"",
                   status=None, status_line=None, headers=())
