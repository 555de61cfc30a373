"""Load saved JSON (reports, receipts) within limits, then hold it to its published schema.

`load_json` reads through the one input gate (regular file, capped, strict UTF-8), parses with
bounded nesting and bounded numbers (no 401-digit integers, NaN or Infinity; no lone
surrogates that could not be written back out), and `check_schema` validates the result
against the JSON Schema netcheck publishes for it (netcheck/saved_schemas.py), so renderers
only ever see well-formed data. Each refusal is one ConfigError naming the file and the JSON
path, e.g. ``r.json: results[3].latency_ms: is a string ('x') (expected number or null)``.

The schema check understands the subset of JSON Schema those schemas use (type, enum, const,
required, properties, additionalProperties, items, pattern, minimum, maximum, minLength,
minItems, oneOf, anyOf, local $ref); tests cross-check it against the `jsonschema` package.

Speed (a 50,000-result report is 1.3 million values): valid data takes fast paths that only say
"fine" or "maybe not" (a schema compiled once by netcheck/schema_fast.py; a bad-number flag from
the parse hooks, a search for surrogate escapes, a depth count without paths); on "maybe not" the
exact walks run and name the problem, so every message is theirs.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from netcheck.errors import ConfigError
from netcheck.inputs import read_text
from netcheck.schema_fast import Reject, compiled

MAX_DEPTH = 64
# Commas bound the number of values (and so the memory) before json.loads builds them: a 50,000-flow
# fleet report has about 1.5 million; 6 million small values take about 0.5 GB in Python.
MAX_SEPARATORS = 6_000_000
INT_LIMIT = 2**63
_PATH_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class _BadNumber:
    """A number json.loads met that netcheck will not hold (kept as text to name it with its path)."""

    def __init__(self, text: str) -> None:
        self.text = text


class _Numbers:
    """json.loads hooks: numbers netcheck will not hold become _BadNumber, and `met_bad` says whether any did
    (so a clean file needs no walk to look for them)."""

    def __init__(self) -> None:
        self.met_bad = False

    def parse_int(self, text: str) -> int | _BadNumber:
        if len(text) > 20:  # 2**63 has 19 digits; checked before int() ever sees thousands of digits
            return self.bad(text)
        value = int(text)
        return value if -INT_LIMIT < value < INT_LIMIT else self.bad(text)

    def parse_float(self, text: str) -> float | _BadNumber:
        value = float(text)
        return value if math.isfinite(value) else self.bad(text)

    def bad(self, text: str) -> _BadNumber:
        self.met_bad = True
        return _BadNumber(text)


def json_path(path: tuple[str | int, ...]) -> str:
    """('results', 3, 'latency_ms') -> 'results[3].latency_ms'; odd keys quoted."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PATH_KEY.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{json.dumps(part[:40])}]"
    return text or "(top level)"


def parse_json(text: str, source: str, what: str) -> Any:
    if text.count(",") > MAX_SEPARATORS:
        raise ConfigError(source, f"more than {MAX_SEPARATORS:,} values", expected=what)
    numbers = _Numbers()
    try:
        data = json.loads(text, parse_int=numbers.parse_int, parse_float=numbers.parse_float,
                          parse_constant=numbers.bad)
    except json.JSONDecodeError as exc:
        raise ConfigError(source, f"invalid JSON: {exc.msg}", line=exc.lineno, expected=what) from None
    except RecursionError:
        raise ConfigError(source, f"JSON nested deeper than {MAX_DEPTH} levels", expected=what) from None
    if numbers.met_bad or _may_hold_surrogate(text) or _containers_at_depth(data, MAX_DEPTH):
        _check_values(data, source)  # the exact walk names the first problem (cheap checks only say "maybe")
    return data


def load_json(path: Path | str, what: str, cap: int) -> Any:
    """A JSON file's data, or a one-line ConfigError naming the file, the JSON path and the problem."""
    return parse_json(read_text(path, what, cap), str(path), what)


def _may_hold_surrogate(text: str) -> bool:
    """Whether the parsed data may hold a lone surrogate: only a \\uD800-\\uDFFF escape or a raw one in
    the text can make one (a valid pair also matches: the exact walk then finds nothing)."""
    if _SURROGATE_ESCAPE.search(text):
        return True
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _containers_at_depth(data: Any, depth: int) -> bool:
    """Whether any list or object sits `depth` levels down, level by level without paths or recursion."""
    level = [data] if data.__class__ is dict or data.__class__ is list else []
    for _ in range(depth):
        deeper: list[Any] = []
        keep = deeper.append
        for container in level:
            for value in container.values() if container.__class__ is dict else container:
                if value.__class__ is dict or value.__class__ is list:
                    keep(value)
        if not deeper:
            return False
        level = deeper
    return True


def _check_values(data: Any, source: str) -> None:
    """Depth, numbers and strings, without recursion (a hostile file may nest deeply)."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    while stack:
        value, path = stack.pop()
        if len(path) > MAX_DEPTH:
            raise ConfigError(source, f"nested deeper than {MAX_DEPTH} levels", key=json_path(path[:MAX_DEPTH]))
        if isinstance(value, dict):
            for key, item in value.items():
                if _SURROGATE.search(key):
                    raise ConfigError(source, "a key holds a lone surrogate (\\ud800-\\udfff)", key=json_path(path),
                                      expected="valid Unicode text")
                stack.append((item, (*path, key)))
        elif isinstance(value, list):
            stack.extend((item, (*path, index)) for index, item in enumerate(value))
        elif isinstance(value, _BadNumber):
            shown = value.text if len(value.text) <= 24 else f"a number of {len(value.text)} characters"
            raise ConfigError(source, f"{shown} is out of range", key=json_path(path),
                              expected="a finite number below 2^63")
        elif isinstance(value, str) and _SURROGATE.search(value):
            raise ConfigError(source, "the text holds a lone surrogate (\\ud800-\\udfff)", key=json_path(path),
                              expected="valid Unicode text")


# ---------------------------------------------------------------- schema check

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,), "array": (list, tuple), "string": (str,), "boolean": (bool,),
    "integer": (int,), "number": (int, float), "null": (type(None),),
}
_IGNORED = frozenset({"$schema", "$id", "$defs", "title", "description", "default", "examples"})
_KNOWN = _IGNORED | frozenset({"type", "enum", "const", "required", "properties", "additionalProperties", "items",
                               "pattern", "minimum", "maximum", "minLength", "minItems", "oneOf", "anyOf", "$ref"})


class SchemaMismatch(Exception):
    def __init__(self, path: tuple[str | int, ...], problem: str, expected: str | None = None) -> None:
        super().__init__(problem)
        self.path = path
        self.problem = problem
        self.expected = expected


def check_schema(data: Any, schema: dict[str, Any], source: str) -> None:
    """ConfigError naming the first place where `data` does not follow `schema`.

    The schema's compiled accepter (netcheck/schema_fast.py) passes valid data quickly; only what
    it does not accept meets the exact checker, which names the first mismatch and its path."""
    try:
        compiled(schema, _accepts, _IGNORED, _KNOWN)(data)
        return
    except Reject:
        pass
    try:
        _Checker(schema).check(data, schema, ())
    except SchemaMismatch as exc:
        raise ConfigError(source, exc.problem, key=json_path(exc.path), expected=exc.expected) from None


def _accepts(value: Any, schema: dict[str, Any], root: dict[str, Any]) -> bool:
    """The exact checker's yes or no for one node of `root` (the fast accepter's fallback)."""
    try:
        _Checker(root).check(value, schema, ())
    except SchemaMismatch:
        return False
    return True


@lru_cache(maxsize=64)
def _pattern(text: str) -> re.Pattern[str]:
    return re.compile(text)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value[:40]!r})"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _is_type(value: Any, name: str) -> bool:
    if isinstance(value, bool) and name in ("integer", "number"):
        return False
    return isinstance(value, _TYPES[name])


class _Checker:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.known: set[int] = set()  # ids of schema nodes whose keywords were checked (nodes of `root`)

    def _resolve(self, ref: str) -> dict[str, Any]:
        if not ref.startswith("#/"):
            raise ValueError(f"only local $ref is supported, not {ref}")
        node: dict[str, Any] = self.root
        for part in ref[2:].split("/"):
            node = node[part]
        return node

    def describe(self, schema: dict[str, Any]) -> str:
        if "$ref" in schema:
            return self.describe(self._resolve(schema["$ref"]))
        if "description" in schema and "type" not in schema:
            return str(schema["description"])
        if "const" in schema:
            return json.dumps(schema["const"])
        if "enum" in schema:
            return "one of " + ", ".join(json.dumps(v) for v in schema["enum"])
        for key in ("oneOf", "anyOf"):
            if key in schema:
                return " or ".join(self.describe(option) for option in schema[key])
        kind = schema.get("type")
        text = " or ".join(kind) if isinstance(kind, list) else str(kind or "a value")
        if "description" in schema:
            text += f" ({schema['description']})"
        return text

    def check(self, value: Any, schema: dict[str, Any], path: tuple[str | int, ...]) -> None:
        if id(schema) not in self.known:
            unknown = set(schema) - _KNOWN
            if unknown:
                raise ValueError(f"unsupported JSON Schema keywords {sorted(unknown)}")
            self.known.add(id(schema))
        if "$ref" in schema:
            self.check(value, self._resolve(schema["$ref"]), path)
        kind = schema.get("type")
        if kind is not None:
            names = kind if isinstance(kind, list) else [kind]
            if not any(_is_type(value, name) for name in names):
                raise SchemaMismatch(path, f"is {_kind(value)}", self.describe(schema))
        if "const" in schema and value != schema["const"]:
            raise SchemaMismatch(path, f"is {_kind(value)}", json.dumps(schema["const"]))
        if "enum" in schema and (isinstance(value, (dict, list)) or value not in schema["enum"]):
            raise SchemaMismatch(path, f"is {_kind(value)}", self.describe(schema))
        for key in ("oneOf", "anyOf"):
            if key in schema:
                self._alternatives(value, schema, key, path)
        if isinstance(value, dict):
            self._object(value, schema, path)
        elif isinstance(value, list):
            if len(value) < schema.get("minItems", 0):
                raise SchemaMismatch(path, f"has {len(value)} items", f"at least {schema['minItems']}")
            items = schema.get("items")
            if items is not None:
                for index, item in enumerate(value):
                    self.check(item, items, (*path, index))
        elif isinstance(value, str):
            if len(value) < schema.get("minLength", 0):
                raise SchemaMismatch(path, "is too short", self.describe(schema))
            if "pattern" in schema and not _pattern(schema["pattern"]).search(value):
                raise SchemaMismatch(path, f"{value[:40]!r} is not valid", self.describe(schema))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if "minimum" in schema and value < schema["minimum"]:
                raise SchemaMismatch(path, f"{value} is too small", f"at least {schema['minimum']}")
            if "maximum" in schema and value > schema["maximum"]:
                raise SchemaMismatch(path, f"{value} is too large", f"at most {schema['maximum']}")

    def _alternatives(self, value: Any, schema: dict[str, Any], key: str, path: tuple[str | int, ...]) -> None:
        matched = 0
        for option in schema[key]:
            try:
                self.check(value, option, path)
            except SchemaMismatch:
                continue
            matched += 1
        if matched == 0 or (key == "oneOf" and matched > 1):
            raise SchemaMismatch(path, f"is {_kind(value)}", self.describe(schema))

    def _object(self, value: dict[str, Any], schema: dict[str, Any], path: tuple[str | int, ...]) -> None:
        for name in schema.get("required", ()):
            if name not in value:
                raise SchemaMismatch(path, f"missing key '{name}'")
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            if name in properties:
                self.check(item, properties[name], (*path, name))
            elif extra is False:
                raise SchemaMismatch((*path, name), "unknown key", "one of " + ", ".join(properties))
            elif isinstance(extra, dict):
                self.check(item, extra, (*path, name))
