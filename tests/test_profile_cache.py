"""Built-in profiles are parsed once per process, however often a profile or a site file is loaded."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from netcheck import profiles
from netcheck.yamldoc import YamlDoc

ROOT = Path(__file__).resolve().parents[1]


def test_each_builtin_profile_is_parsed_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    parsed: Counter[str] = Counter()
    real = profiles.load_yaml

    def counting(path: Path, *args: Any) -> YamlDoc:
        parsed[str(path)] += 1
        return real(path, *args)

    monkeypatch.setattr(profiles, "load_yaml", counting)
    profiles._builtin_profile.cache_clear()
    own = tmp_path / "own.yaml"
    own.write_text("name: own\nrole: sensor\nflows:\n  - {id: x, purpose: p, protocol: TCP, transport: tcp, "
                   "port: 1, direction: out, peer: console, probe: tcp}\n")
    # Given three rounds of loading profiles by name, a profile file, and site files against them,
    for _round in range(3):
        for name in ("sensor", "console", "current/sensor"):
            profile = profiles.load_profile(name)
            profiles.load_site(ROOT / "examples" / "site.yaml", profile)
        profiles.load_site(ROOT / "examples" / "site.yaml", profiles.load_profile(str(own)))
        profiles.load_site(ROOT / "examples" / "site.yaml")
    # Then every built-in file was parsed exactly once, and the own file each time it was named.
    builtins = {str(path) for path in profiles.builtin_profiles().values()}
    assert {name: count for name, count in parsed.items() if name in builtins} == dict.fromkeys(builtins, 1)
    assert parsed[str(own)] == 3
    assert profiles.load_profile("sensor") is profiles.load_profile("sensor")


def test_a_changed_builtin_file_is_parsed_again(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    text = (ROOT / "profiles" / "client.yaml").read_text()
    (folder / "client.yaml").write_text(text)
    monkeypatch.setattr(profiles, "data_dir", lambda name: tmp_path / name)
    first = profiles.load_profile("client")
    assert profiles.load_profile("client") is first
    (folder / "client.yaml").write_text(text.replace("name: ", "name: changed ", 1))
    os.utime(folder / "client.yaml", ns=(1, 1))
    assert profiles.load_profile("client").name.startswith("changed ")
