"""The fast path of profile rows (profiles._flow_spec) builds exactly what the checked path builds,
and leaves every refusal, with its wording, to the checked path."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netcheck import profiles
from netcheck.errors import ConfigError
from netcheck.yamldoc import YamlDoc, parse_yaml
from tests.fuzz.strategies import profile_documents

GOOD = {"id": "console-https", "purpose": "p", "protocol": "HTTPS", "transport": "tcp", "port": 443,
        "direction": "out", "peer": "console", "probe": "tls", "source": " s ", "note": "a\nb", "doc": 2021}


def outcome(build: Any, doc: YamlDoc) -> Any:
    try:
        return [build(doc, ("flows", index), row) for index, row in enumerate(doc.data["flows"])]
    except ConfigError as refusal:
        return str(refusal)


def same(document: dict[str, Any]) -> Any:
    try:
        doc = parse_yaml(yaml.safe_dump(document), "p.yaml", "a profile")
    except ConfigError as refusal:  # refused before any row is read (e.g. a 90-bit integer)
        return str(refusal)
    fast, checked = outcome(profiles._flow_spec, doc), outcome(profiles._checked_flow_spec, doc)
    assert fast == checked
    return fast


def test_builtin_rows_are_built_alike() -> None:
    for name in profiles.builtin_profiles():
        rows = [dict(vars(flow)) for flow in profiles.load_profile(name).flows]
        for row in rows:
            row["direction"] = row["direction"].value
            row.update(port=row["port"] if isinstance(row["port"], int) else str(row["port"]))
            if not row["options"]:
                del row["options"]
        assert same({"flows": rows})


def test_each_mistake_is_refused_in_the_same_words() -> None:
    assert isinstance(same({"flows": [GOOD]}), list)
    mistakes: list[dict[str, Any]] = [
        {"id": "Bad_Id"}, {"transport": "sctp"}, {"transport": ["tcp"]}, {"direction": "both"}, {"probe": "nope"},
        {"probe": "local-listener"}, {"transport": "udp"}, {"port": 0}, {"port": True}, {"port": "1-2-3"},
        {"peer": "Console"}, {"required": "yes"}, {"switch": 1}, {"doc": "2019"}, {"purpose": " "},
        {"protocol": "a\x07"}, {"note": "x\x1b[31m"}, {"source": 5}, {"extra": 1}, {"options": {"nope": 1}},
        {"direction": "in"}, {"id": 7}, {"probe": ["tcp"]}, {"purpose": "two\nlines"},
    ]
    for mistake in mistakes:
        refused = same({"flows": [{**GOOD, **mistake}]})
        assert isinstance(refused, str) and "p.yaml" in refused, mistake
    missing = dict(GOOD)
    del missing["peer"]
    assert "missing key 'peer'" in same({"flows": [missing]})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profile_documents(), st.sampled_from(["purpose", "port", "peer", "doc", "note"]),
       st.sampled_from([None, "", " x ", 7, 65536, "1025-65535", True, "a\tb", "in"]))
def test_generated_rows_are_built_or_refused_alike(document: dict[str, Any], key: str, value: Any) -> None:
    document["flows"][0][key] = value
    same(document)
