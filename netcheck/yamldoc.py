"""Load YAML within limits while remembering the line of every key, so errors can name it.

The document is built from the parser's events by an explicit stack, not by PyYAML's
recursive composer and constructor, so that hostile files are refused in linear time:
- only the plain scalar types (str, int, float, bool, null) and plain mappings and lists;
  any other tag (!!timestamp, !!binary, !!set, !custom, ...) is refused, and a date written
  without a tag stays text;
- nesting depth, alias uses and the size of the document after alias expansion are capped
  (a 500-byte "billion laughs" is refused at once), and a recursive alias is refused;
- merge keys (`<<:`) are refused rather than half supported;
- integers stay within 64 bits, floats are finite.
Every refusal is one ConfigError (one line, exit 2) naming the file, the line and the key.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from netcheck.errors import ConfigError
from netcheck.inputs import CAP_SITE, read_text

PathKey = tuple[str | int, ...]

# libyaml's parser is ~20x faster on large profiles and keeps the same line marks.
_BASE_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_TAG + name for name in ("str", "int", "float", "bool", "null"))
_MAP, _SEQ, _MERGE = _TAG + "map", _TAG + "seq", _TAG + "merge"
# Implicit resolvers netcheck does not want: a date stays text, '=' is just a string.
_DROPPED_RESOLVERS = {_TAG + "timestamp", _TAG + "value"}

MAX_DEPTH = 64  # a profile nests 5 levels deep
MAX_NODES = 200_000  # values after alias expansion; a large fleet site file has a few thousand
MAX_ALIASES = 1_000
MAX_INT_TEXT = 40  # characters of an integer literal (2**63 has 19 digits; underscores, 0x, sign)
INT_LIMIT = 2**63
SCALARS = "plain strings, numbers, true/false or null"


# Made with type(): the base is chosen at run time, which a class statement cannot type.
_IMPLICIT_RESOLVERS: dict[str | None, list[tuple[str, Any]]] = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag not in _DROPPED_RESOLVERS]
    for first, resolvers in _BASE_LOADER.yaml_implicit_resolvers.items()
}
_Loader: type = type("_Loader", (_BASE_LOADER,), {"yaml_implicit_resolvers": _IMPLICIT_RESOLVERS})


# Builds scalars exactly as yaml.safe_load would (ints in 0x/0o/1_000 forms, bools, null, ...).
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_BUILDERS = {
    _INT: _CONSTRUCTOR.construct_yaml_int,
    _FLOAT: _CONSTRUCTOR.construct_yaml_float,
    _BOOL: _CONSTRUCTOR.construct_yaml_bool,
    _NULL: _CONSTRUCTOR.construct_yaml_null,
}
_TYPE_NAMES = {_INT: "an integer", _FLOAT: "a number", _BOOL: "true or false", _NULL: "null"}
_SCALAR, _ALIAS, _MAP_START, _MAP_END = yaml.ScalarEvent, yaml.AliasEvent, yaml.MappingStartEvent, yaml.MappingEndEvent
_SEQ_START, _SEQ_END, _DOC_START, _STREAM_END = (yaml.SequenceStartEvent, yaml.SequenceEndEvent,
                                                 yaml.DocumentStartEvent, yaml.StreamEndEvent)


def dotted(path: PathKey) -> str:
    """('flows', 3, 'port') -> 'flows[3].port'."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


@dataclass(frozen=True)
class YamlDoc:
    """Plain Python data from a YAML file plus the 1-based line of each path."""

    source: str
    data: Any
    lines: dict[PathKey, int]

    def line(self, path: PathKey) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None

    def error(self, path: PathKey, problem: str, expected: str | None = None) -> ConfigError:
        return ConfigError(
            self.source, problem, key=dotted(path) or None, line=self.line(path), expected=expected
        )


def load_yaml(path: Path, what: str, cap: int = CAP_SITE) -> YamlDoc:
    """Parse `path` (a regular file of at most `cap` bytes); `what` names the expected content."""
    return parse_yaml(read_text(path, what, cap), str(path), what)


def parse_yaml(text: str, source: str, what: str) -> YamlDoc:
    nul = text.find("\x00")
    if nul >= 0:
        raise ConfigError(source, "contains a NUL byte", line=text.count("\n", 0, nul) + 1, expected=what)
    builder = _Builder(source)
    try:
        data = builder.build(_Loader(text))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(source, f"invalid YAML: {problem}", line=line) from None
    except yaml.reader.ReaderError as exc:
        raise ConfigError(source, f"invalid YAML: {exc.reason} (character {exc.position})", expected=what) from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, f"invalid YAML: {str(exc).splitlines()[0] if str(exc) else 'unreadable'}") from None
    if data is None:
        raise ConfigError(source, "file is empty", expected=what)
    return YamlDoc(source, data, builder.lines)


# The implicit resolvers by first character ('' for the empty scalar), as the loader applies them.
# A plain scalar whose first character has none (most text: names, purposes, URLs) is a string
# without running any regular expression.
_RESOLVERS: dict[str, tuple[tuple[str, Any], ...]] = {
    first: tuple(resolvers) for first, resolvers in _IMPLICIT_RESOLVERS.items() if first is not None
}
assert None not in _IMPLICIT_RESOLVERS  # no wildcard resolver: the first character decides
_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")  # an int literal read exactly as int() reads it


@dataclass(slots=True)
class _Open:
    """A mapping or list being built: its value, path, anchor, and the pending mapping key."""

    value: dict[str, Any] | list[Any]
    path: PathKey
    anchor: str | None
    is_map: bool
    size: int = 1
    key: str | None = None
    key_line: int = 0


class _Builder:
    """Plain data from parser events, with every limit checked as the events arrive."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: dict[PathKey, int] = {}
        self.anchors: dict[str, tuple[Any, int]] = {}  # anchor -> (value, expanded size)
        self.open_anchors: set[str] = set()
        self.nodes = 0
        self.aliases = 0

    def fail(self, problem: str, line: int, path: PathKey = (), expected: str | None = None) -> ConfigError:
        return ConfigError(self.source, problem, key=dotted(path) or None, line=line, expected=expected)

    def build(self, loader: Any) -> Any:
        """One pass over the events. The hot path (plain text scalars, mapping keys) avoids method
        calls: a value's path is built once per mapping key or list item, a line is read from the
        event only where it is stored or reported, and a scalar is resolved only when its first
        character could start a non-string."""
        stack: list[_Open] = []
        top: _Open | None = None
        result: Any = None
        documents = 0
        lines = self.lines
        get_event = loader.get_event
        try:
            while True:
                event = get_event()
                kind = type(event)
                if kind is _SCALAR:
                    value: Any = event.value
                    tag = event.tag
                    if tag is None or tag == "!":
                        if event.implicit[0]:
                            resolvers = _RESOLVERS.get(value[:1])
                            if resolvers is not None:
                                tag = next((tag for tag, regexp in resolvers if regexp.match(value)), _STR)
                                if tag != _STR:
                                    value = self._typed(event, tag, stack)
                    else:
                        value = self._typed(event, tag, stack) if tag != _STR else value
                    self.nodes += 1
                    if self.nodes > MAX_NODES:
                        self._count(0, event.start_mark.line + 1, self._child_path(stack))
                    if event.anchor is not None:
                        self.anchors[event.anchor] = (value, 1)
                    size = 1
                elif kind is _MAP_END or kind is _SEQ_END:
                    assert top is not None
                    done = top
                    stack.pop()
                    if done.anchor is not None:
                        self.anchors[done.anchor] = (done.value, done.size)
                        self.open_anchors.discard(done.anchor)
                    top = stack[-1] if stack else None
                    if top is None:
                        result = done.value
                        continue
                    value, size = done.value, done.size
                elif kind is _MAP_START or kind is _SEQ_START:
                    line = event.start_mark.line + 1
                    path = self._child_path(stack)
                    if top is not None and top.is_map and top.key is None:
                        raise self.fail("a mapping or list cannot be a key", line, top.path)
                    self._collection_tag(event, loader, line, path)
                    if len(stack) >= MAX_DEPTH:
                        raise self.fail(f"nested deeper than {MAX_DEPTH} levels", line, path)
                    self._count(1, line, path)
                    if top is not None and top.is_map:
                        lines[path] = top.key_line
                    else:
                        lines[path] = line
                    if event.anchor is not None:
                        self.open_anchors.add(event.anchor)
                    is_map = kind is _MAP_START
                    top = _Open({} if is_map else [], path, event.anchor, is_map)
                    stack.append(top)
                    continue
                elif kind is _ALIAS:
                    value, size = self._alias(str(event.anchor), event.start_mark.line + 1, self._child_path(stack))
                elif kind is _DOC_START:
                    documents += 1
                    if documents > 1:
                        raise self.fail("more than one YAML document", event.start_mark.line + 1,
                                        expected="a single document")
                    continue
                elif kind is _STREAM_END:
                    break
                else:  # stream start, document end
                    continue
                # A finished value: the document itself, an item of the open list, or a key or value
                # of the open mapping.
                if top is None:
                    result = value
                    lines[()] = event.start_mark.line + 1
                    continue
                top.size += size
                if not top.is_map:
                    items = top.value
                    assert isinstance(items, list)
                    lines.setdefault((*top.path, len(items)), event.start_mark.line + 1)
                    items.append(value)
                elif top.key is None:  # this value is a key
                    line = event.start_mark.line + 1
                    if not isinstance(value, str):
                        raise self.fail(f"key {value!r} is not a string", line, top.path, expected="text keys")
                    if value in top.value:
                        raise self.fail("duplicate key", line, (*top.path, value))
                    top.key, top.key_line = value, line
                    lines[(*top.path, value)] = line
                else:  # its line is the key's, stored with the key
                    top.value[top.key] = value  # type: ignore[call-overload]
                    top.key = None
        finally:
            loader.dispose()
        return result

    def _child_path(self, stack: list[_Open]) -> PathKey:
        if not stack:
            return ()
        top = stack[-1]
        if not top.is_map:
            return (*top.path, len(top.value))
        return (*top.path, top.key) if top.key is not None else top.path

    def _count(self, size: int, line: int, path: PathKey) -> None:
        self.nodes += size
        if self.nodes > MAX_NODES:
            raise self.fail(f"more than {MAX_NODES} values once aliases are expanded", line, path,
                            expected="a site or profile file without alias bombs")

    def _alias(self, anchor: str, line: int, path: PathKey) -> tuple[Any, int]:
        self.aliases += 1
        if self.aliases > MAX_ALIASES:
            raise self.fail(f"more than {MAX_ALIASES} aliases", line, path)
        if anchor in self.open_anchors:
            raise self.fail(f"recursive alias *{anchor} (it refers to itself)", line, path,
                            expected="an alias to a finished value")
        if anchor not in self.anchors:
            raise self.fail(f"alias *{anchor} names no anchor", line, path)
        value, size = self.anchors[anchor]
        self._count(size, line, path)
        return value, size

    def _collection_tag(self, event: Any, loader: Any, line: int, path: PathKey) -> None:
        tag = event.tag
        expected = _MAP if isinstance(event, yaml.MappingStartEvent) else _SEQ
        if tag is None or tag == "!":
            tag = loader.resolve(yaml.MappingNode if expected == _MAP else yaml.SequenceNode, None, event.implicit)
        if tag != expected:
            raise self.fail(f"tag {_short(tag)} is not allowed", line, path, expected="plain mappings and lists")

    def _typed(self, event: Any, tag: str, stack: list[_Open]) -> Any:
        """A scalar the resolver (or an explicit tag) did not make a string: int, float, bool or null
        within range, or a refusal naming the line and the path."""
        value = event.value
        if tag == _INT and len(value) <= MAX_INT_TEXT and _DECIMAL.fullmatch(value):  # as construct_yaml_int would
            number = int(value)
            if -INT_LIMIT < number < INT_LIMIT:
                return number
        line = event.start_mark.line + 1
        path = self._child_path(stack)
        if tag == _MERGE:
            raise self.fail("merge keys (<<) are not supported", line, path, expected="the keys written out")
        builder = _BUILDERS.get(tag)
        if builder is None:
            raise self.fail(f"tag {_short(tag)} is not allowed", line, path, expected=SCALARS)
        if tag == _INT and len(value) > MAX_INT_TEXT:
            raise self.fail(f"an integer of {len(value)} characters", line, path,
                            expected="an integer between -2^63 and 2^63")
        node = yaml.ScalarNode(tag, value, event.start_mark, event.end_mark)
        try:
            built = builder(node)
        except Exception:  # the constructors raise ValueError, KeyError, ...: all mean "not that type"
            raise self.fail(f"{_short_value(value)} is not {_TYPE_NAMES[tag]}", line, path,
                            expected=_TYPE_NAMES[tag]) from None
        if isinstance(built, int) and not isinstance(built, bool) and not -INT_LIMIT < built < INT_LIMIT:
            raise self.fail("integer out of range", line, path, expected="an integer between -2^63 and 2^63")
        if isinstance(built, float) and not math.isfinite(built):
            raise self.fail(f"{_short_value(value)} is not a finite number", line, path,
                            expected="a finite number")
        return built


def _short(tag: str) -> str:
    return "!!" + tag[len(_TAG):] if tag.startswith(_TAG) else tag


def _short_value(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "...")
