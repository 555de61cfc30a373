"""The one resolver: getaddrinfo off the event loop, bounded by the caller's deadline.

getaddrinfo blocks, so it runs in a daemon thread of its own rather than in the loop's default
executor: asyncio.run() waits for the default executor's threads at shutdown, so a hung
resolver there would hold the run long after its deadline. A daemon thread that is given up on
simply finishes (or not) on its own; at interpreter exit the lookups still running get up to
EXIT_WAIT_S to end (an atexit hook), because a daemon thread that comes back from getaddrinfo while
the interpreter finalises is torn down by pthread_exit, and glibc aborts the process ("FATAL:
exception not rethrown", SIGABRT) when that unwinds through its resolver. At most MAX_THREADS
lookups run at once per event loop (a site of thousands of names must not start thousands of
threads); a place is given back when the lookup's thread ends, not when its waiter gives up, so
hung lookups cannot pile up.

`addresses` is the lookup every network client uses (IP literals never reach the resolver);
`Resolver` is the scan's per-run cache in front of it, with the engine's dns-failure wording.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ipaddress
import socket
import threading
import time
import weakref
from pathlib import Path
from typing import Any

from netcheck.egress import current as current_egress
from netcheck.model import Observation, Reason

AddrInfo = tuple[Any, ...]  # one getaddrinfo entry: (family, type, proto, canonname, sockaddr)
MAX_THREADS = 32
EXIT_WAIT_S = 0.5
_running: set[threading.Thread] = set()  # lookup threads that have not ended yet
_running_lock = threading.Lock()
_places: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = weakref.WeakKeyDictionary()


async def getaddrinfo(host: str, port: int | None, *, family: int = socket.AF_UNSPEC,
                      type: int = socket.SOCK_STREAM) -> list[AddrInfo]:
    """socket.getaddrinfo in a daemon thread; cancel (or time out) the await to stop waiting for it."""
    loop = asyncio.get_running_loop()
    places = _places.get(loop)
    if places is None:
        places = _places[loop] = asyncio.Semaphore(MAX_THREADS)
    await places.acquire()
    future: asyncio.Future[list[AddrInfo]] = loop.create_future()

    def work() -> None:
        try:
            value: Any = socket.getaddrinfo(host, port, family=family, type=type)
            ok = True
        except (OSError, UnicodeError) as exc:
            value, ok = exc, False
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(_settle, future, value, ok, places)
        with _running_lock:
            _running.discard(threading.current_thread())

    thread = threading.Thread(target=work, name="netcheck-resolve", daemon=True)
    with _running_lock:
        _running.add(thread)
    try:
        thread.start()
    except BaseException:
        with _running_lock:
            _running.discard(thread)
        places.release()
        raise
    return await future


@atexit.register
def _let_lookups_end(limit: float = EXIT_WAIT_S) -> None:
    """Give lookups still in getaddrinfo up to `limit` seconds to end before the interpreter finalises."""
    deadline = time.monotonic() + limit
    with _running_lock:
        threads = list(_running)
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0))


def _settle(future: asyncio.Future[list[AddrInfo]], value: Any, ok: bool, places: asyncio.Semaphore) -> None:
    places.release()  # the thread has ended
    if future.done():  # the waiter gave up (deadline, cancellation)
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


async def addresses(host: str, port: int | None, timeout: float, *,
                    family: int = socket.AF_UNSPEC) -> list[tuple[int, str]]:
    """(family, address) pairs for `host` in the resolver's order, without duplicates.

    An IP literal is returned as it is, without a lookup. Raises TimeoutError when the resolver
    does not answer within `timeout`, socket.gaierror (or UnicodeError for a name that is not
    valid IDNA) when the name does not resolve; an empty answer is a gaierror too.
    """
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return [(socket.AF_INET6 if ip.version == 6 else socket.AF_INET, str(ip))]
    async with asyncio.timeout(max(timeout, 0.001)):
        infos = await getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM)
    found = list(dict.fromkeys((int(info[0]), str(info[4][0])) for info in infos))
    if not found:
        raise socket.gaierror(socket.EAI_NONAME, "no address")
    return found


def resolvers() -> list[str]:
    """The name servers this host asks, for dns-failure details."""
    try:
        lines = Path("/etc/resolv.conf").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    return [line.split()[1] for line in lines if line.startswith("nameserver") and len(line.split()) > 1]


class Resolver:
    """Resolves each distinct name once per run, concurrently, with a deadline; an address
    outside the run's family or source (-4 / -6 / --source) is not-applicable, not a failure."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._pending: dict[str, asyncio.Task[str | Observation]] = {}
        self._literals: dict[str, str] = {}  # IP addresses as written -> normalised (parsed once per run)

    async def resolve(self, host: str) -> str | Observation:
        literal = self._literals.get(host)
        if literal is None:
            with contextlib.suppress(ValueError):  # a name, not an address
                literal = self._literals[host] = str(ipaddress.ip_address(host))
        if literal is not None:
            refused = current_egress().refuses(literal)
            return Observation(Reason.NOT_APPLICABLE, refused) if refused else literal
        if host not in self._pending:
            self._pending[host] = asyncio.ensure_future(self._lookup(host))
        return await asyncio.shield(self._pending[host])

    async def _lookup(self, host: str) -> str | Observation:
        servers = ", ".join(resolvers()) or "none configured in /etc/resolv.conf"
        evidence = {"name": host, "resolvers": resolvers()}
        try:
            found = await addresses(host, None, self.timeout, family=current_egress().resolve_family)
        except TimeoutError:
            return Observation(Reason.DNS_FAILURE,
                               f"'{host}' did not resolve within {self.timeout:g} s (resolver {servers})",
                               evidence)
        except (socket.gaierror, UnicodeError) as exc:
            text = getattr(exc, "strerror", None) or str(exc)
            return Observation(Reason.DNS_FAILURE, f"'{host}' does not resolve: {text} (resolver {servers})",
                               {**evidence, "error": text})
        # Prefer IPv4: appliances and their firewall rules are overwhelmingly IPv4.
        chosen = sorted((address for _family, address in found), key=lambda a: ":" in a)[0]
        refused = current_egress().refuses(chosen)
        return Observation(Reason.NOT_APPLICABLE, f"'{host}': {refused}", evidence) if refused else chosen
