"""Load YAML while remembering the line of every key, so errors can name it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from netcheck.errors import ConfigError

PathKey = tuple[str | int, ...]

# Builds scalars exactly as yaml.safe_load would (ints, bools, null, ...).
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
# libyaml's parser is ~20x faster on large profiles and keeps the same line marks.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG = "tag:yaml.org,2002:str"


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


def read_text(path: Path, what: str) -> str:
    """The file's text, or a ConfigError that says what was wrong with it."""
    if not path.exists():
        raise ConfigError(path, "no such file", expected=what)
    if path.is_dir():
        raise ConfigError(path, "is a directory", expected=what)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(path, f"cannot read: {exc.strerror}", expected=what) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(path, f"not UTF-8 text (byte {exc.start})", expected=what) from None


def load_yaml(path: Path, what: str) -> YamlDoc:
    """Parse `path`; `what` names the expected content for error messages."""
    return parse_yaml(read_text(path, what), str(path), what)


def parse_yaml(text: str, source: str, what: str) -> YamlDoc:
    try:
        node = yaml.compose(text, Loader=_LOADER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(source, f"invalid YAML: {problem}", line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, f"invalid YAML: {exc}") from None
    if node is None:
        raise ConfigError(source, "file is empty", expected=what)
    lines: dict[PathKey, int] = {}
    data = _convert(node, (), lines, source)
    return YamlDoc(source, data, lines)


def _convert(node: yaml.Node, path: PathKey, lines: dict[PathKey, int], source: str) -> Any:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, source)
            if not isinstance(key, str):
                raise ConfigError(
                    source, f"key {key!r} is not a string", key=dotted(path) or None,
                    line=key_node.start_mark.line + 1,
                )
            if key in result:
                raise ConfigError(
                    source, "duplicate key", key=dotted((*path, key)), line=key_node.start_mark.line + 1
                )
            result[key] = _convert(value_node, (*path, key), lines, source)
            lines[(*path, key)] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*path, index), lines, source) for index, item in enumerate(node.value)]
    return _scalar(node, source)


def _scalar(node: yaml.Node, source: str) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise ConfigError(source, "a mapping or list cannot be a key", line=node.start_mark.line + 1)
    if node.tag == _STR_TAG:  # most scalars: skip the constructor's dispatch (large profiles)
        return node.value
    try:
        return _CONSTRUCTOR.construct_object(node)
    except yaml.YAMLError as exc:
        raise ConfigError(source, f"invalid value: {exc}", line=node.start_mark.line + 1) from None
