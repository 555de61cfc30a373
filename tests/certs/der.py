"""Just enough DER to build hostile certificates by surgery on good ones: parse a TLV
tree, change a node, encode it back. Test-only; lengths are recomputed on encoding."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Node:
    """One TLV. `tag` holds the identifier octets as found (long-form tags too); a
    constructed node has `children`, a primitive one `value`."""

    tag: bytes
    value: bytes = b""
    children: list[Node] = field(default_factory=list)

    @property
    def constructed(self) -> bool:
        return bool(self.tag[0] & 0x20)

    def encode(self) -> bytes:
        body = b"".join(child.encode() for child in self.children) if self.constructed else self.value
        return self.tag + length(len(body)) + body

    def __getitem__(self, index: int) -> Node:
        return self.children[index]


def length(size: int) -> bytes:
    if size < 0x80:
        return bytes([size])
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def parse(data: bytes) -> Node:
    node, end = _parse_at(data, 0)
    if end != len(data):
        raise ValueError("trailing bytes after the DER element")
    return node


def _parse_at(data: bytes, offset: int) -> tuple[Node, int]:
    start = offset
    offset += 1
    if data[start] & 0x1F == 0x1F:  # long-form tag number
        while data[offset] & 0x80:
            offset += 1
        offset += 1
    tag = data[start:offset]
    first = data[offset]
    offset += 1
    if first < 0x80:
        size = first
    else:
        count = first & 0x7F
        size = int.from_bytes(data[offset : offset + count], "big")
        offset += count
    body = data[offset : offset + size]
    end = offset + size
    node = Node(tag)
    if node.constructed:
        position = 0
        while position < len(body):
            child, position = _parse_at(body, position)
            node.children.append(child)
    else:
        node.value = body
    return node, end


def prim(tag: int, value: bytes) -> Node:
    return Node(bytes([tag]), value)


def seq(*children: Node, tag: int = 0x30) -> Node:
    return Node(bytes([tag]), children=list(children))


def oid(dotted: str) -> Node:
    parts = [int(p) for p in dotted.split(".")]
    body = bytearray([40 * parts[0] + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.append(0x80 | (part & 0x7F))
            part >>= 7
        body += bytes(reversed(chunk))
    return prim(0x06, bytes(body))


def integer(value: int) -> Node:
    size = max(1, (value.bit_length() + 8) // 8) if value >= 0 else ((-value - 1).bit_length() + 8) // 8
    return prim(0x02, value.to_bytes(size, "big", signed=True))


# Positions inside a Certificate: SEQUENCE { tbs, signatureAlgorithm, signature }
# tbs: [0] version, serial, signature, issuer, validity, subject, spki, ..., [3] extensions
TBS, SIG_ALG = 0, 1
VERSION, SERIAL, TBS_SIG, ISSUER, VALIDITY, SUBJECT, SPKI = range(7)


def extensions(cert: Node) -> Node:
    """The SEQUENCE OF Extension inside tbs [3]."""
    wrapper = next(child for child in cert[TBS].children if child.tag == b"\xa3")
    return wrapper[0]


def extension(cert: Node, dotted: str) -> Node:
    wanted = oid(dotted).value
    return next(ext for ext in extensions(cert).children if ext[0].value == wanted)
