"""--service-tags: which tag and prefix covers each resolved address."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from netcheck.cloud.servicetags import annotate, load, parse
from netcheck.errors import ConfigError

TAGS = {"changeNumber": 1, "cloud": "Public", "values": [
    {"name": "AzureIoTHub", "id": "AzureIoTHub", "properties": {"addressPrefixes": ["203.0.113.0/24"]}},
    {"name": "Storage", "id": "Storage", "properties": {"addressPrefixes": ["203.0.113.128/25", "2001:db8::/32"]}},
    {"name": "EventHub", "id": "EventHub", "properties": {"addressPrefixes": []}},
]}


def test_most_specific_prefix_first(tmp_path: Path) -> None:
    path = tmp_path / "ServiceTags_Public.json"
    path.write_text(json.dumps(TAGS))
    tags = load(path)
    assert [(c.tag, c.prefix) for c in tags.covering("203.0.113.200")] == [
        ("Storage", "203.0.113.128/25"), ("AzureIoTHub", "203.0.113.0/24")]
    evidence, clauses, uncovered = annotate(["203.0.113.10", "198.51.100.7", "2001:db8::5"], tags)
    assert evidence["203.0.113.10"] == [{"tag": "AzureIoTHub", "prefix": "203.0.113.0/24"}]
    assert uncovered == ["198.51.100.7"]
    assert "198.51.100.7 is in no service-tag prefix of ServiceTags_Public.json" in clauses
    assert "2001:db8::5 is in 2001:db8::/32 (Storage)" in clauses


@pytest.mark.parametrize(("data", "problem"), [
    ([], "no 'values' list"),
    ({"values": [1]}, "is not an object"),
    ({"values": [{"name": "X", "properties": {}}]}, "addressPrefixes"),
    ({"values": [{"name": "X", "properties": {"addressPrefixes": ["not-a-prefix"]}}]}, "not an address prefix"),
])
def test_malformed_files(data: object, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        parse(data, "tags.json")


def test_a_bad_file_stops_the_scan_before_any_probe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from netcheck.cli import main

    tags = tmp_path / "tags.json"
    tags.write_text('{"values": [{"name": "Storage", "properties": {"addressPrefixes": ["20.0.0.0/33"]}}]}')
    site = tmp_path / "site.yaml"
    site.write_text('{"name": "s", "peers": {}}')
    assert main(["scan", "--site", str(site), "--service-tags", str(tags), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "values[0].properties.addressPrefixes[0]" in err[0] and "tags.json" in err[0]
