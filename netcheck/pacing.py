"""How the network layer tells the engine whether a flow's packets are answered (for pacing).

The engine gives each running flow a FlowSignal in a context variable. The network layer
(net/sockets.py connect_tcp, probes/udp.py, probes/ntp.py) calls `sent()` when a flow's first
packet (a SYN, a datagram) leaves and `answered()` when anything comes back (SYN-ACK, reset,
ICMP error, reply). Only a flow that said `sent()` and got no `answered()` can count as silent;
a probe that never reports (a library doing its own I/O) keeps its place in the limits until it
ends. This module imports nothing heavy: probes import it, and it knows nothing of the engine.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from typing import Callable


class FlowSignal:
    """What one flow's packets met so far. on_sent / on_answer: the engine's callbacks, called
    once each, on the first packet sent and on the first answer (with the round trip in seconds)."""

    __slots__ = ("sent_at", "answered_at", "on_sent", "on_answer")

    def __init__(self, on_sent: Callable[[], None] | None = None,
                 on_answer: Callable[[float], None] | None = None) -> None:
        self.sent_at: float | None = None
        self.answered_at: float | None = None
        self.on_sent = on_sent
        self.on_answer = on_answer

    def sent(self) -> None:
        if self.sent_at is None:
            self.sent_at = time.monotonic()
            if self.on_sent is not None:
                self.on_sent()

    def answered(self) -> None:
        if self.answered_at is None:
            self.answered_at = time.monotonic()
            if self.on_answer is not None:
                self.on_answer(self.answered_at - (self.sent_at or self.answered_at))


CURRENT: ContextVar[FlowSignal | None] = ContextVar("netcheck_flow_signal", default=None)


def sent() -> None:
    """The running flow's first packet leaves now (no-op outside an engine run)."""
    signal = CURRENT.get()
    if signal is not None:
        signal.sent()


def answered() -> None:
    """Something came back for the running flow: it is not silent."""
    signal = CURRENT.get()
    if signal is not None:
        signal.answered()
