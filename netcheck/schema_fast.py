"""A fast accepter for netcheck's JSON Schema subset: each schema is compiled once into small
closures (keywords read at compile time, no JSON paths built), so a 50,000-result report is
checked in a fraction of a second.

It only ever *accepts*: whatever it does not accept (or does not understand: a keyword mix,
a subclass of a JSON type, an enum of numbers) raises `Reject`, and netcheck/jsonload.py then
runs its exact checker over the data to name the first mismatch with its JSON path. So the
messages stay those of the exact checker, and this module must never accept what that one refuses.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

Validator = Callable[[Any], None]
# What a schema node asks of a value: its exact class is one of `types`, then `more` (if any) accepts it.
Entry = tuple[frozenset[type], Validator | None]
Accepts = Callable[[Any, dict[str, Any], dict[str, Any]], bool]

_EXACT: dict[str, frozenset[type]] = {
    "object": frozenset({dict}), "array": frozenset({list, tuple}), "string": frozenset({str}),
    "boolean": frozenset({bool}), "integer": frozenset({int}), "number": frozenset({int, float}),
    "null": frozenset({type(None)}),
}
_ANY = frozenset().union(*_EXACT.values())
_LEAF = frozenset({"enum", "const", "pattern", "minLength", "minimum", "maximum"})
_CACHE_SIZE = 16
_SHAPES = 64  # object shapes remembered per schema node (a report's results have a handful)


class Reject(Exception):
    """The fast check does not accept the data (it may still be valid: ask the exact checker)."""


def _reject(_value: Any) -> None:
    raise Reject


_compiled: dict[str, Validator] = {}


def compiled(schema: dict[str, Any], accepts: Accepts, ignored: frozenset[str], known: frozenset[str]) -> Validator:
    """The schema's validator, compiled once per schema content (callers may pass fresh equal dicts).

    `accepts(value, node, root)` is the exact checker, used for nodes this module does not specialise;
    a keyword outside `known` is a ValueError, as in the exact checker."""
    key = json.dumps(schema, sort_keys=True, default=repr)
    found = _compiled.get(key)
    if found is None:
        if len(_compiled) >= _CACHE_SIZE:
            _compiled.clear()
        own = copy.deepcopy(schema)  # a caller changing its dict later cannot change what was compiled
        found = _compiled[key] = _Compiler(own, accepts, ignored, known).validator()
    return found


class _Compiler:
    def __init__(self, root: dict[str, Any], accepts: Accepts, ignored: frozenset[str], known: frozenset[str]) -> None:
        self.root = root
        self.accepts = accepts
        self.ignored = ignored
        self.known = known
        self.done: dict[int, Entry] = {}

    def validator(self) -> Validator:
        types, more = self.entry(self.root)

        def check(value: Any) -> None:
            if value.__class__ not in types:
                raise Reject
            if more is not None:
                more(value)
        return check

    def entry(self, schema: Any) -> Entry:
        if not isinstance(schema, dict):
            raise ValueError(f"a schema must be an object, not {schema!r}")
        unknown = set(schema) - self.known
        if unknown:
            raise ValueError(f"unsupported JSON Schema keywords {sorted(unknown)}")
        found = self.done.get(id(schema))
        if found is None:
            self.done[id(schema)] = self._exact(schema)  # a $ref cycle meets the exact checker
            found = self.done[id(schema)] = self._build(schema)
        return found

    def _exact(self, schema: dict[str, Any]) -> Entry:
        accepts, root = self.accepts, self.root

        def exact(value: Any) -> None:
            if not accepts(value, schema, root):
                raise Reject
        return _ANY, exact

    def _resolve(self, ref: Any) -> Any:
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return None
        node: Any = self.root
        for part in ref[2:].split("/"):
            if not isinstance(node, dict) or part not in node:
                return None
            node = node[part]
        return node

    def _build(self, schema: dict[str, Any]) -> Entry:
        keys = set(schema) - self.ignored
        if keys == {"$ref"}:
            target = self._resolve(schema["$ref"])
            return self.entry(target) if isinstance(target, dict) else self._exact(schema)
        kind = schema.get("type")
        names: list[Any] = kind if isinstance(kind, list) else [kind]
        if kind is None:
            types = _ANY
        elif all(isinstance(name, str) and name in _EXACT for name in names):
            types = frozenset().union(*(_EXACT[name] for name in names))
        else:
            return self._exact(schema)
        rest = keys - {"type"}
        if not rest:
            return types, None
        if kind == "object" and rest <= {"required", "properties", "additionalProperties"}:
            return self._object(schema, types)
        if kind == "array" and rest <= {"items", "minItems"}:
            return self._array(schema, types)
        if kind is None and len(rest) == 1 and rest <= {"oneOf", "anyOf"}:
            return self._alternatives(schema, schema[rest.pop()])
        if rest <= _LEAF:
            return self._leaf(schema, types)
        return self._exact(schema)

    def _object(self, schema: dict[str, Any], types: frozenset[type]) -> Entry:
        required = schema.get("required", [])
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        if not isinstance(required, list) or not all(isinstance(name, str) for name in required) \
                or not isinstance(properties, dict):
            return self._exact(schema)
        needed = frozenset(required)
        entries = {name: self.entry(node) for name, node in properties.items()}
        allowed = frozenset(entries)
        if extra is False:
            # Objects of one shape (same keys in the same order, values of the same classes) pass the key and
            # class checks alike: a shape seen valid once leaves only the `more` checks of its values.
            shapes: dict[tuple[Any, ...], tuple[tuple[str, Validator], ...]] = {}

            def closed(value: dict[str, Any]) -> None:
                shape = (*value, *map(type, value.values()))
                due = shapes.get(shape)
                if due is None:
                    due = first_of_its_shape(value)
                    if len(shapes) < _SHAPES:
                        shapes[shape] = due
                for name, more in due:
                    more(value[name])

            def first_of_its_shape(value: dict[str, Any]) -> tuple[tuple[str, Validator], ...]:
                keys = value.keys()
                if not keys >= needed or not keys <= allowed:
                    raise Reject
                due = []
                for name, item in value.items():
                    kinds, more = entries[name]
                    if item.__class__ not in kinds:
                        raise Reject
                    if more is not None:
                        due.append((name, more))
                return tuple(due)
            return types, closed
        others = self.entry(extra) if isinstance(extra, dict) else None

        def open_(value: dict[str, Any]) -> None:
            if not value.keys() >= needed:
                raise Reject
            for name, item in value.items():
                found = entries.get(name, others)
                if found is not None:
                    kinds, more = found
                    if item.__class__ not in kinds:
                        raise Reject
                    if more is not None:
                        more(item)
        return types, open_

    def _array(self, schema: dict[str, Any], types: frozenset[type]) -> Entry:
        least = schema.get("minItems", 0)
        if not isinstance(least, int):
            return self._exact(schema)
        items = schema.get("items")
        kinds, more = self.entry(items) if items is not None else (_ANY, None)
        open_ended = items is None

        def array(value: Any) -> None:
            if value.__class__ is not list:  # the exact checker holds only lists to items/minItems
                return
            if len(value) < least:
                raise Reject
            if open_ended:
                return
            if more is None:
                if not kinds.issuperset(map(type, value)):
                    raise Reject
                return
            for item in value:
                if item.__class__ not in kinds:
                    raise Reject
                more(item)
        return types, array

    def _alternatives(self, schema: dict[str, Any], options: Any) -> Entry:
        """oneOf/anyOf whose options each name their types, no two the same: the value's class picks the one
        option that can match, so 'exactly one' and 'at least one' both mean 'that one accepts'."""
        if not isinstance(options, list) or not all(isinstance(option, dict) and "type" in option
                                                    for option in options):
            return self._exact(schema)
        by_class: dict[type, Entry] = {}
        for option in options:
            entry = self.entry(option)
            if by_class.keys() & entry[0]:
                return self._exact(schema)
            by_class.update(dict.fromkeys(entry[0], entry))

        def pick(value: Any) -> None:
            more = by_class[value.__class__][1]
            if more is not None:
                more(value)
        return frozenset(by_class), pick

    def _leaf(self, schema: dict[str, Any], types: frozenset[type]) -> Entry:
        checks: list[Validator] = []
        if "enum" in schema:
            members = schema["enum"]
            if not isinstance(members, list) or not all(type(member) is str for member in members):
                return self._exact(schema)
            checks.append(_member_of(frozenset(members)))
        if "const" in schema:
            if type(schema["const"]) is not str:
                return self._exact(schema)
            checks.append(_member_of(frozenset({schema["const"]})))
        if "pattern" in schema:
            checks.append(_matching(re.compile(schema["pattern"]).search))
        least = schema.get("minLength", 0)
        if least:
            checks.append(_long_enough(least))
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None or high is not None:
            if not all(bound is None or type(bound) in (int, float) for bound in (low, high)):
                return self._exact(schema)
            checks.append(_within(low, high))
        if len(checks) == 1:
            return types, checks[0]

        def every(value: Any) -> None:
            for check in checks:
                check(value)
        return types, every


def _member_of(members: frozenset[str]) -> Validator:
    def member(value: Any) -> None:
        if value.__class__ is not str or value not in members:
            raise Reject
    return member


def _matching(search: Callable[[str], Any]) -> Validator:
    def matching(value: Any) -> None:
        if value.__class__ is str and search(value) is None:
            raise Reject
    return matching


def _long_enough(least: int) -> Validator:
    def long_enough(value: Any) -> None:
        if value.__class__ is str and len(value) < least:
            raise Reject
    return long_enough


def _within(low: float | None, high: float | None) -> Validator:
    lowest = float("-inf") if low is None else low
    highest = float("inf") if high is None else high

    def within(value: Any) -> None:
        if (value.__class__ is int or value.__class__ is float) and not lowest <= value <= highest:
            raise Reject
    return within
