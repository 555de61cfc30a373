"""Raw packets with scapy (imported here, lazily): one probe at full TTL and a TTL-limited
traceroute toward the flow's own port, for many targets in one send/receive round.

Needs root or CAP_NET_RAW (see privilege.py). IPv4 only. Routers rate-limit the ICMP errors
they send (Linux: a burst of 6 per source, then 1/s), so only a few targets get their own
traceroute - one per destination address first - and packets go out by ascending TTL so the
shared first hops answer before the budget is spent. A target without its own traceroute
whose probe met silence borrows the hops of a traced target on the same address, and says so.
"""

from __future__ import annotations

import logging
import random
import select
from dataclasses import dataclass, field
from typing import Any

from netcheck.net.sockets import ICMP4_UNREACH_TEXT

# What the capture keeps (a BPF filter, applied by the kernel): ICMP errors, UDP, resets and SYN-ACKs -
# not the SYNs a concurrent scan sends by the thousand, which scapy would otherwise parse one by one.
ANSWERS = ("icmp or udp or (tcp[tcpflags] & tcp-rst != 0) "
           "or (tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack))")


@dataclass(frozen=True)
class Target:
    address: str
    transport: str  # tcp or udp
    port: int


@dataclass(frozen=True)
class Hop:
    """One TTL that drew an answer: who answered and with what."""

    ttl: int
    address: str
    answer: str  # time-exceeded, unreachable, syn-ack, rst, udp-reply
    icmp_type: int | None = None
    icmp_code: int | None = None

    @property
    def final(self) -> bool:
        """The packet went no further: it reached the host, or someone refused it."""
        return self.answer != "time-exceeded"


@dataclass
class PathFacts:
    """What raw packets learned about one target.

    answer     the full-TTL probe's fate: syn-ack, rst, udp-reply, icmp, silence
    responder  who sent that answer (the host, or a router's ICMP)
    hops       the TTL-limited probes that drew an answer, by TTL, up to the first final one
    traced_on  the port of the same address whose traceroute these hops are, when not this target's own
    traceroute False when no TTL-limited probe went toward this address (only a few per burst)
    """

    target: Target
    answer: str = "silence"
    responder: str | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    hops: list[Hop] = field(default_factory=list)
    traced_on: int | None = None
    traceroute: bool = True

    @property
    def last_hop(self) -> str | None:
        """The farthest router that answered a TTL-limited probe (not the destination itself)."""
        routers = [hop for hop in self.hops if hop.answer == "time-exceeded"]
        return routers[-1].address if routers else None

    @property
    def stop(self) -> Hop | None:
        """The hop where the traceroute ended: reached the host, or was refused."""
        return next((hop for hop in self.hops if hop.final), None)

    def icmp_text(self) -> str:
        if self.icmp_type == 3 and self.icmp_code is not None:
            return ICMP4_UNREACH_TEXT.get(self.icmp_code, f"destination unreachable code {self.icmp_code}")
        return f"ICMP type {self.icmp_type} code {self.icmp_code}"

    def to_dict(self) -> dict[str, Any]:
        probe_key = "syn" if self.target.transport == "tcp" else "udp"
        facts: dict[str, Any] = {
            probe_key: self.answer,
            "responder": self.responder,
            "last_hop": self.last_hop,
            "hops": [{"ttl": h.ttl, "address": h.address, "answer": h.answer}
                     | ({"icmp_type": h.icmp_type, "icmp_code": h.icmp_code} if h.icmp_type is not None else {})
                     for h in self.hops],
        }
        if self.traced_on is not None:
            facts["traced_on_port"] = self.traced_on
        if not self.traceroute:
            facts["traceroute"] = False
        if self.icmp_type is not None:
            facts["icmp"] = {"type": self.icmp_type, "code": self.icmp_code, "sender": self.responder,
                             "text": self.icmp_text()}
        return facts


def pick_traced(targets: list[Target], limit: int) -> list[int]:
    """Indices of the targets that get their own traceroute: one per address first, then the rest."""
    firsts: dict[str, int] = {}
    for index, target in enumerate(targets):
        firsts.setdefault(target.address, index)
    order = list(firsts.values()) + [i for i in range(len(targets)) if i not in firsts.values()]
    return order[:limit]


def trace(targets: list[Target], max_hops: int, wait: float, traceroute: int) -> list[PathFacts]:
    """Probe every target at once: one full-TTL probe each, and TTL 1..max_hops for at most
    `traceroute` of them (pick_traced). Returns facts in the order of `targets`. Blocking: run
    it in a thread; it returns `wait` seconds after the last packet at the latest."""
    logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.sendrecv import sr

    _give_scapy_poll()

    from netcheck.egress import current

    egress = current()  # --source / --interface: the raw packets leave where the probes did
    traced = pick_traced(targets, traceroute)
    plan = [(index, 0) for index in range(len(targets))]  # full-TTL probes first, then by ascending TTL
    plan += [(index, ttl) for ttl in range(1, max_hops + 1) for index in traced]
    base = random.randint(20000, 60000 - len(plan))
    packets: list[Any] = []
    meta: dict[tuple[str, int], tuple[int, int]] = {}  # (transport, source port) -> (target index, ttl; 0 = probe)
    for offset, (index, ttl) in enumerate(plan):
        target, sport = targets[index], base + offset
        meta[(target.transport, sport)] = (index, ttl)
        layer4 = (TCP(sport=sport, dport=target.port, flags="S", seq=random.getrandbits(32))
                  if target.transport == "tcp" else UDP(sport=sport, dport=target.port))
        source = egress.source_for(target.address)
        packets.append((IP(dst=target.address, src=source, ttl=ttl) if ttl else IP(dst=target.address, src=source))
                       / layer4)
    facts = [PathFacts(target) for target in targets]
    try:
        answered, _unanswered = sr(packets, timeout=wait, verbose=0, retry=0, iface=egress.interface, filter=ANSWERS)
    except (ImportError, OSError) as exc:  # no libpcap to compile the filter: sniff everything
        logging.getLogger(__name__).debug("unfiltered raw capture: %s", exc)
        answered, _unanswered = sr(packets, timeout=wait, verbose=0, retry=0, iface=egress.interface)
    for sent, received in answered:
        index, ttl = meta[(targets_transport(sent), int(sent.sport))]
        _record(facts[index], ttl, received)
    for fact in facts:
        fact.hops.sort(key=lambda hop: hop.ttl)
        stop = fact.stop
        if stop is not None:
            fact.hops = [hop for hop in fact.hops if hop.ttl <= stop.ttl]
    _borrow_hops(facts, set(traced))
    return facts


def _give_scapy_poll() -> None:
    """scapy waits on its sockets with select(), which refuses file descriptors above 1023 - and a
    trace runs while the scan holds thousands of sockets open. poll() has no such limit."""
    import scapy.supersocket

    modules = [scapy.supersocket]
    try:
        import scapy.arch.linux as linux

        modules.append(linux)
    except ImportError:
        pass
    for module in modules:
        if getattr(module, "select", None) is not _select_by_poll:
            module.select = _select_by_poll  # type: ignore[attr-defined]


def _select_by_poll(readable: list[Any], writable: list[Any], errors: list[Any],
                    timeout: float | None = None) -> tuple[list[Any], list[Any], list[Any]]:
    """select.select for reading only (all scapy asks for), by poll()."""
    poller = select.poll()
    watched: dict[int, list[Any]] = {}
    for item in readable:
        fd = item if isinstance(item, int) else item.fileno()
        if fd not in watched:
            poller.register(fd, select.POLLIN)
        watched.setdefault(fd, []).append(item)
    events = poller.poll(None if timeout is None else max(0.0, timeout) * 1000)
    return [item for fd, _event in events for item in watched.get(fd, [])], [], []


def _borrow_hops(facts: list[PathFacts], traced: set[int]) -> None:
    """Untraced targets whose probe met silence take the hops of a traced one on the same address
    (one that met silence too, then the same transport, preferred): up to the drop, the path is
    the address's, not the port's."""
    for index, fact in enumerate(facts):
        if index in traced or fact.answer != "silence":
            continue
        siblings = [facts[i] for i in sorted(traced) if facts[i].target.address == fact.target.address]
        siblings.sort(key=lambda other: (other.answer != "silence", other.target.transport != fact.target.transport))
        if siblings:
            fact.hops = [hop for hop in siblings[0].hops if not hop.final]
            fact.traced_on = siblings[0].target.port
        else:
            fact.traceroute = False


def targets_transport(packet: Any) -> str:
    from scapy.layers.inet import TCP

    return "tcp" if packet.haslayer(TCP) else "udp"


def _record(fact: PathFacts, ttl: int, received: Any) -> None:
    from scapy.layers.inet import ICMP, TCP, UDP

    source = str(received.src)
    icmp_type = icmp_code = None
    if received.haslayer(ICMP):
        icmp_type, icmp_code = int(received[ICMP].type), int(received[ICMP].code)
        answer = "time-exceeded" if icmp_type == 11 else "unreachable" if icmp_type == 3 else f"icmp-{icmp_type}"
    elif received.haslayer(TCP):
        flags = int(received[TCP].flags)
        answer = "syn-ack" if flags & 0x12 == 0x12 else "rst" if flags & 0x04 else f"tcp-flags-{flags:#x}"
    elif received.haslayer(UDP):
        answer = "udp-reply"
    else:
        answer = "other"
    if ttl == 0:
        fact.answer = "icmp" if icmp_type is not None else answer
        fact.responder, fact.icmp_type, fact.icmp_code = source, icmp_type, icmp_code
    else:
        fact.hops.append(Hop(ttl, source, answer, icmp_type, icmp_code))
