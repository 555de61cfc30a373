"""JSON Schemas for profiles and site files, generated from the validator's own tables and
the probe registry, so editors and netcheck agree. `netcheck schema profile|site` prints them;
schema/*.schema.json are the committed copies (a test keeps them in step)."""

from __future__ import annotations

import json
from typing import Any

from netcheck.catalogue import CATALOGUE, OptionSpec
from netcheck.profiles import (
    DOC_RELEASES,
    FLOW_KEYS,
    FLOW_REQUIRED,
    PEER_SETTINGS,
    SITE_KEYS,
    STANDARD_PEERS,
    URL_PEERS,
)
from netcheck.saved_schemas import receipt_schema, report_schema

BASE = "https://netcheck.invalid/schema"
PORT: dict[str, Any] = {
    "oneOf": [
        {"type": "integer", "minimum": 1, "maximum": 65535},
        {"type": "string", "pattern": r"^\s*\d{1,5}\s*-\s*\d{1,5}\s*$", "description": "a range such as 1025-65535"},
    ]
}
JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object"}


def _option_schema(spec: OptionSpec) -> dict[str, Any]:
    types = spec.type if isinstance(spec.type, tuple) else (spec.type,)
    names = sorted({JSON_TYPES.get(t, "string") for t in types})
    return {"type": names[0] if len(names) == 1 else names, "description": spec.help}


def _options(specs: dict[str, OptionSpec]) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {name: _option_schema(spec) for name, spec in sorted(specs.items())},
    }


def profile_schema() -> dict[str, Any]:
    registry = CATALOGUE
    all_options: dict[str, OptionSpec] = {}
    for _name, kind in sorted(registry.items()):  # deterministic when probes describe an option twice
        all_options.update(kind.options)
    text = {"type": "string", "minLength": 1}
    flow_properties: dict[str, Any] = {
        "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
        "purpose": text, "protocol": text,
        "transport": {"enum": ["tcp", "udp"]},
        "port": PORT,
        "direction": {"enum": ["in", "out"], "description": "out: this host initiates; in: this host must accept"},
        "peer": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$", "examples": list(STANDARD_PEERS)},
        "probe": {"enum": sorted(registry), "description": "; ".join(
            f"{name}: {registry[name].summary}" for name in sorted(registry))},
        "required": {"type": "boolean", "default": True},
        "source": {"type": "string"}, "destination": {"type": "string"}, "note": {"type": "string"},
        "doc": {"enum": list(DOC_RELEASES), "default": "2021",
                "description": "the pages the row comes from: the 2021 table, later (2022-2023), current (2024-2025)"},
        "options": _options(all_options),
        "switch": {"type": "boolean", "default": False,
                   "description": "tested only when the site file names the flow's peer (a row the site switches on)"},
    }
    assert set(flow_properties) == set(FLOW_KEYS)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{BASE}/profile.schema.json",
        "title": "netcheck role profile",
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "role", "flows"],
        "properties": {
            "name": text,
            "role": {"type": "string", "pattern": "^[a-z][a-z0-9_]*$"},
            "description": {"type": "string"},
            "flows": {"type": "array", "minItems": 1, "items": {
                "type": "object", "additionalProperties": False, "required": list(FLOW_REQUIRED),
                "properties": flow_properties,
            }},
        },
    }


def site_schema() -> dict[str, Any]:
    registry = CATALOGUE
    all_options: dict[str, OptionSpec] = dict(PEER_SETTINGS)
    for _name, kind in sorted(registry.items()):  # deterministic when probes describe an option twice
        all_options.update(kind.options)
    host = {"type": "string", "description": "an IP address or a host name"}
    url = {"type": "string", "pattern": "^https?://", "description": "a URL"}
    peers: dict[str, Any] = {}
    for peer in STANDARD_PEERS:
        item = url if peer in URL_PEERS else host
        if peer == "crl":
            item = {**url, "pattern": "^http://", "description": "an http:// URL (CRLs are fetched over plain HTTP)"}
        peers[peer] = {"oneOf": [item, {"type": "array", "items": item}, {"type": "null"}]}
    properties: dict[str, Any] = {
        "name": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "peers": {"type": "object", "properties": peers,
                  "additionalProperties": {"oneOf": [host, {"type": "array", "items": host}]}},
        "ports": {"type": "object", "description": "flow id -> port override", "additionalProperties": PORT},
        "settings": {"type": "object", "description": "peer key -> probe options; secrets only as *_env names",
                     "additionalProperties": _options(all_options)},
        "certificates": {"type": "object", "description": "appliance certificates to check (netcheck cert --site)"},
        "endpoints": {"type": "array", "description": "cloud endpoints (sensor-cloud): name or name:port (default 443)",
                      "items": {"type": "string", "pattern": r"^[^\s*]+$"}},
    }
    assert set(properties) == set(SITE_KEYS)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{BASE}/site.schema.json",
        "title": "netcheck site file",
        "type": "object",
        "additionalProperties": False,
        "required": ["name", "peers"],
        "properties": properties,
    }


SCHEMAS = {"profile": profile_schema, "site": site_schema, "report": report_schema, "receipt": receipt_schema}


def schema_text(name: str) -> str:
    return json.dumps(SCHEMAS[name](), indent=2) + "\n"
