"""The few DCE/RPC (connection-oriented, C706 chapter 12) PDUs the rpc probe needs:
bind / bind_ack / bind_nak to the endpoint mapper, and one ept_lookup request/response.

Hand-written on purpose: impacket would be a very large dependency (and its import
alone costs more than netcheck's whole start-up budget) for three PDUs; every parser
here checks lengths first and raises PduError, never IndexError or struct.error.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass, field

EPM_UUID = uuid.UUID("e1af8308-5d1f-11c9-91a4-08002b14a0fa")
EPM_VERSION = (3, 0)
NDR_UUID = uuid.UUID("8a885d04-1ceb-11c9-9fe8-08002b104860")
NDR_VERSION = 2

PTYPE_REQUEST = 0
PTYPE_RESPONSE = 2
PTYPE_FAULT = 3
PTYPE_BIND = 11
PTYPE_BIND_ACK = 12
PTYPE_BIND_NAK = 13
PTYPE_NAMES = {0: "request", 2: "response", 3: "fault", 11: "bind", 12: "bind_ack", 13: "bind_nak",
               14: "alter_context", 15: "alter_context_resp", 16: "auth3", 17: "shutdown",
               18: "co_cancel", 19: "orphaned"}
PFC_FIRST_FRAG = 0x01
PFC_LAST_FRAG = 0x02
DREP_LITTLE_ENDIAN = b"\x10\x00\x00\x00"  # little-endian integers, ASCII, IEEE floats
HEADER = struct.Struct("<BBBB4sHHI")  # vers, vers_minor, ptype, flags, drep, frag_len, auth_len, call_id
HEADER_LEN = HEADER.size  # 16
MAX_FRAG = 5840  # what Windows offers; the server may lower it

OP_EPT_LOOKUP = 2
RPC_C_EP_ALL_ELTS = 0
RPC_C_VERS_ALL = 1
EPT_S_NOT_REGISTERED = 0x16C9A0D6

CONTEXT_RESULTS = {0: "acceptance", 1: "user rejection", 2: "provider rejection", 3: "negotiate ack"}
CONTEXT_REJECT_REASONS = {0: "reason not specified", 1: "abstract syntax not supported",
                          2: "proposed transfer syntaxes not supported", 3: "local limit exceeded"}
BIND_NAK_REASONS = {0: "reason not specified", 1: "temporary congestion", 2: "local limit exceeded",
                    3: "called presentation address unknown", 4: "protocol version not supported",
                    5: "default context not supported", 6: "user data not readable",
                    7: "no presentation service access point available",
                    8: "authentication type not recognized", 9: "invalid checksum"}


class PduError(ValueError):
    """The bytes are not the DCE/RPC PDU they should be."""


@dataclass(frozen=True)
class Header:
    version: int
    version_minor: int
    ptype: int
    flags: int
    little_endian: bool
    frag_length: int
    auth_length: int
    call_id: int

    @property
    def ptype_name(self) -> str:
        return PTYPE_NAMES.get(self.ptype, f"type {self.ptype}")


def parse_header(data: bytes) -> Header:
    """The common 16-byte header; PduError if it cannot be one (checked before reading on)."""
    if len(data) < HEADER_LEN:
        raise PduError(f"{len(data)} bytes is shorter than a DCE/RPC header")
    version, minor, ptype, flags, drep, frag_len, auth_len, call_id = HEADER.unpack_from(data)
    if version != 5 or minor not in (0, 1):
        raise PduError(f"not DCE/RPC connection-oriented version 5 (got {version}.{minor})")
    little = bool(drep[0] & 0x10)
    if not little:  # re-read the lengths in big-endian order
        frag_len, auth_len, call_id = struct.unpack_from(">HHI", data, 8)
    if frag_len < HEADER_LEN:
        raise PduError(f"fragment length {frag_len} is shorter than the header")
    return Header(version, minor, ptype, flags, little, frag_len, auth_len, call_id)


def _header(ptype: int, body_len: int, call_id: int) -> bytes:
    return HEADER.pack(5, 0, ptype, PFC_FIRST_FRAG | PFC_LAST_FRAG, DREP_LITTLE_ENDIAN,
                       HEADER_LEN + body_len, 0, call_id)


def bind_pdu(call_id: int = 1, interface: uuid.UUID = EPM_UUID, version: tuple[int, int] = EPM_VERSION) -> bytes:
    """A bind offering one presentation context: `interface` over NDR."""
    body = struct.pack("<HHI", MAX_FRAG, MAX_FRAG, 0)  # max_xmit, max_recv, new association group
    body += struct.pack("<BBH", 1, 0, 0)  # one context element
    body += struct.pack("<HBB", 0, 1, 0)  # context id 0, one transfer syntax
    body += interface.bytes_le + struct.pack("<HH", *version)
    body += NDR_UUID.bytes_le + struct.pack("<I", NDR_VERSION)
    return _header(PTYPE_BIND, len(body), call_id) + body


class _Reader:
    """Bounds-checked reads over one PDU, in the PDU's byte order."""

    def __init__(self, data: bytes, offset: int, little_endian: bool) -> None:
        self.data = data
        self.offset = offset
        self.order = "<" if little_endian else ">"

    def take(self, count: int) -> bytes:
        if count < 0 or self.offset + count > len(self.data):
            raise PduError(f"truncated: needs {count} bytes at offset {self.offset} of {len(self.data)}")
        chunk = self.data[self.offset:self.offset + count]
        self.offset += count
        return chunk

    def unpack(self, fmt: str) -> tuple[int, ...]:
        size = struct.calcsize(self.order + fmt)
        return struct.unpack(self.order + fmt, self.take(size))

    def u8(self) -> int:
        return self.unpack("B")[0]

    def u16(self) -> int:
        return self.unpack("H")[0]

    def u32(self) -> int:
        return self.unpack("I")[0]

    def align(self, boundary: int, base: int = 0) -> None:
        misalign = (self.offset - base) % boundary
        if misalign:
            self.take(boundary - misalign)

    def uuid(self) -> uuid.UUID:
        raw = self.take(16)
        return uuid.UUID(bytes_le=raw) if self.order == "<" else uuid.UUID(bytes=raw)


@dataclass(frozen=True)
class ContextResult:
    result: int
    reason: int
    transfer_syntax: str

    @property
    def accepted(self) -> bool:
        return self.result == 0

    def describe(self) -> str:
        text = CONTEXT_RESULTS.get(self.result, f"result {self.result}")
        if self.result != 0:
            text += f" ({CONTEXT_REJECT_REASONS.get(self.reason, f'reason {self.reason}')})"
        return text


@dataclass(frozen=True)
class BindAck:
    max_xmit_frag: int
    max_recv_frag: int
    assoc_group: int
    secondary_address: str
    results: tuple[ContextResult, ...]


@dataclass(frozen=True)
class BindNak:
    reason: int
    versions: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        return BIND_NAK_REASONS.get(self.reason, f"reason {self.reason}")


def parse_bind_answer(pdu: bytes) -> BindAck | BindNak:
    """A complete bind_ack or bind_nak PDU; PduError for anything else."""
    header = parse_header(pdu)
    data = pdu[:header.frag_length]
    read = _Reader(data, HEADER_LEN, header.little_endian)
    if header.ptype == PTYPE_BIND_NAK:
        reason = read.u16()
        versions: list[str] = []
        if read.offset < len(data):
            for _ in range(min(read.u8(), 16)):
                major, minor = read.u8(), read.u8()
                versions.append(f"{major}.{minor}")
        return BindNak(reason, tuple(versions))
    if header.ptype != PTYPE_BIND_ACK:
        raise PduError(f"expected bind_ack or bind_nak, got {header.ptype_name}")
    max_xmit, max_recv, assoc = read.u16(), read.u16(), read.u32()
    address_len = read.u16()
    address = read.take(address_len).rstrip(b"\x00").decode("ascii", "replace")
    read.align(4)
    count = read.u8()
    read.take(3)
    results = []
    for _ in range(count):
        result, reason = read.u16(), read.u16()
        syntax = read.uuid()
        syntax_version = read.u32()
        results.append(ContextResult(result, reason, f"{syntax} v{syntax_version}"))
    return BindAck(max_xmit, max_recv, assoc, address, tuple(results))


# -- ept_lookup ------------------------------------------------------------------------

def ept_lookup_request(call_id: int, max_entries: int, context_id: int = 0) -> bytes:
    """ept_lookup(all elements, any object, any interface, all versions, a fresh handle)."""
    stub = struct.pack("<III", RPC_C_EP_ALL_ELTS, 0, 0)  # inquiry type, NULL object, NULL interface
    stub += struct.pack("<I", RPC_C_VERS_ALL)
    stub += b"\x00" * 20  # entry_handle: a null context handle starts the enumeration
    stub += struct.pack("<I", max_entries)
    body = struct.pack("<IHH", len(stub), context_id, OP_EPT_LOOKUP) + stub
    return _header(PTYPE_REQUEST, len(body), call_id) + body


@dataclass(frozen=True)
class Endpoint:
    """One registered endpoint: interface, protocol sequence and where it listens."""

    interface: str
    annotation: str
    protocol: str  # e.g. ncacn_ip_tcp, ncacn_np, ncalrpc, ncacn_http
    port: int | None = None
    address: str | None = None
    name: str | None = None  # pipe or LRPC name

    def as_dict(self) -> dict[str, object]:
        return {"interface": self.interface, "annotation": self.annotation, "protocol": self.protocol,
                "port": self.port, "address": self.address, "name": self.name}


@dataclass(frozen=True)
class LookupAnswer:
    status: int
    endpoints: tuple[Endpoint, ...]


def response_stub(pdu: bytes) -> tuple[Header, bytes]:
    """The stub data of a response PDU (for fragment reassembly); PduError for a fault or else."""
    header = parse_header(pdu)
    data = pdu[:header.frag_length]
    read = _Reader(data, HEADER_LEN, header.little_endian)
    if header.ptype == PTYPE_FAULT:
        read.take(8)  # alloc_hint, context id, cancel count, reserved
        raise PduError(f"the server answered with a fault, status 0x{read.u32():08x}")
    if header.ptype != PTYPE_RESPONSE:
        raise PduError(f"expected a response, got {header.ptype_name}")
    read.take(8)
    end = len(data) - header.auth_length - (8 if header.auth_length else 0)
    if end < read.offset:
        raise PduError("response shorter than its authentication trailer")
    return header, data[read.offset:end]


def parse_ept_lookup(stub: bytes, little_endian: bool = True) -> LookupAnswer:
    """entry_handle, num_ents, entries[] (conformant varying), deferred towers, status."""
    read = _Reader(stub, 0, little_endian)
    read.take(20)
    count = read.u32()
    read.u32()  # max_count
    read.u32()  # offset
    actual = read.u32()
    if actual != count or count > 10000:
        raise PduError(f"entry count {count} does not match the array's {actual}")
    inline: list[tuple[str, bool]] = []
    for _ in range(count):
        read.uuid()  # object
        has_tower = read.u32() != 0
        read.u32()  # annotation offset
        length = read.u32()
        if length > 64:
            raise PduError(f"annotation of {length} characters (at most 64)")
        annotation = read.take(length).rstrip(b"\x00").decode("ascii", "replace")
        read.align(4)
        inline.append((annotation, has_tower))
    endpoints: list[Endpoint] = []
    for annotation, has_tower in inline:
        if not has_tower:
            continue
        read.u32()  # conformance (max_count)
        length = read.u32()
        tower = read.take(length)
        read.align(4)
        endpoint = parse_tower(tower, annotation)
        if endpoint is not None:
            endpoints.append(endpoint)
    status = read.u32()
    return LookupAnswer(status, tuple(endpoints))


# Floor 4 (index 3) of a tower names the transport (C706 appendix I, MS-RPCE 2.2.1.1.7).
TRANSPORTS = {0x07: "ncacn_ip_tcp", 0x08: "ncadg_ip_udp", 0x0F: "ncacn_np", 0x10: "ncalrpc", 0x1F: "ncacn_http"}
PORT_FLOORS = (0x07, 0x08, 0x1F)  # rhs: port, big-endian
NAME_FLOORS = (0x0F, 0x10, 0x11)  # rhs: pipe name, LRPC endpoint or NetBIOS host, NUL-terminated
IP_FLOOR = 0x09  # rhs: IPv4 address


def parse_tower(tower: bytes, annotation: str = "") -> Endpoint | None:
    """A protocol tower (floors of lhs/rhs octets): interface, transport, port and address.
    None when the first floor is not an interface UUID (nothing useful to report)."""
    read = _Reader(tower, 0, True)
    floors: list[tuple[bytes, bytes]] = []
    for _ in range(min(read.u16(), 16)):
        lhs = read.take(read.u16())
        rhs = read.take(read.u16())
        floors.append((lhs, rhs))
    if not floors or len(floors[0][0]) < 19 or floors[0][0][0] != 0x0D:
        return None
    interface = uuid.UUID(bytes_le=floors[0][0][1:17])
    major = struct.unpack_from("<H", floors[0][0], 17)[0]
    minor = struct.unpack_from("<H", floors[0][1])[0] if len(floors[0][1]) >= 2 else 0
    protocol, port, address, name = "unknown", None, None, None
    for index, (lhs, rhs) in enumerate(floors[3:], start=3):
        ident = lhs[0] if lhs else -1
        if index == 3:
            protocol = TRANSPORTS.get(ident, f"protocol 0x{ident:02x}")
        if ident in PORT_FLOORS and len(rhs) >= 2:
            port = struct.unpack(">H", rhs[:2])[0]
        elif ident == IP_FLOOR and len(rhs) >= 4:
            address = ".".join(str(b) for b in rhs[:4])
        elif ident in NAME_FLOORS and name is None:
            name = rhs.rstrip(b"\x00").decode("ascii", "replace")
    return Endpoint(f"{interface} v{major}.{minor}", annotation, protocol, port, address, name)
