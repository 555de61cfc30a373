"""Fuzzing netcheck's input boundary: mutated site files and profiles, generated site settings,
mutated saved reports and receipts, and hostile command-line values. Each case must keep the
contract of tests/fuzz/contract.py (exit 0/1/2, one stderr line on exit 2, no raw control
bytes, bounded time). CI runs the fixed `ci` set; `NETCHECK_FUZZ=long` runs the campaign."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from netcheck.serialize import dumps
from tests.fuzz.contract import assert_contract, run_cli, run_subprocess
from tests.fuzz.loopback import loopback_only
from tests.fuzz.strategies import (
    YAML_SEEDS,
    hostile_text,
    mutated_bytes,
    mutated_json,
    report_seeds,
    scaled,
    schema_valid_reports,
    site_documents,
)
from tests.render.sample import sample_report

PROFILE_SEEDS = [path.read_bytes() for path in (Path(__file__).resolve().parents[2] / "profiles").glob("*.yaml")]
MAX_CASE_S = 10.0


def _scratch() -> Path:
    return Path(tempfile.mkdtemp(prefix="netcheck-fuzz-"))


@settings(max_examples=scaled(1.0))
@given(mutated_bytes(YAML_SEEDS))
def test_mutated_site_files_keep_the_contract(data: bytes) -> None:
    path = _scratch() / "site.yaml"
    path.write_bytes(data)
    outcome = run_cli("validate", str(path))
    assert_contract(outcome, max_seconds=MAX_CASE_S)
    event(f"exit {outcome.code}")


@st.composite
def alias_bombs(draw: st.DrawFn) -> str:
    """Layers of lists that repeat the previous layer's anchor: fan-out ** depth values once expanded."""
    depth, fan_out = draw(st.integers(1, 14)), draw(st.integers(1, 16))
    rows = [f"l0: &l0 [{', '.join(['lol'] * fan_out)}]"]
    for level in range(1, depth):
        rows.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * fan_out)}]")
    rows.insert(draw(st.integers(0, len(rows))), "name: bomb\npeers: {console: 127.0.0.1}")
    return "\n".join(rows) + "\n"


@settings(max_examples=scaled(0.2))
@given(alias_bombs())
def test_alias_bombs_stay_within_time_and_memory(text: str) -> None:
    path = _scratch() / "bomb.yaml"
    path.write_text(text, encoding="utf-8")
    outcome = run_cli("validate", str(path), memory=True)
    assert_contract(outcome, max_seconds=1.0)
    event(f"exit {outcome.code}")


@settings(max_examples=scaled(0.3))
@given(mutated_bytes(PROFILE_SEEDS))
def test_mutated_profiles_keep_the_contract(data: bytes) -> None:
    path = _scratch() / "profile.yaml"
    path.write_bytes(data)
    assert_contract(run_cli("validate", str(path)), max_seconds=MAX_CASE_S)
    assert_contract(run_cli("profiles", str(path)), max_seconds=MAX_CASE_S)


@settings(max_examples=scaled(1.0))
@given(site_documents(hostile_share=0.5))
def test_generated_site_settings_are_accepted_or_refused_in_one_line(document: dict[str, Any]) -> None:
    path = _scratch() / "site.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    outcome = run_cli("validate", str(path))
    assert_contract(outcome, max_seconds=MAX_CASE_S)
    assert outcome.code in (0, 2)


@settings(max_examples=scaled(1.0), suppress_health_check=list(HealthCheck))
@given(mutated_json(report_seeds()), st.sampled_from(["report", "diff", "merge"]))
def test_mutated_reports_keep_the_contract(text: str, command: str) -> None:
    folder = _scratch()
    bad, good = folder / "bad.json", folder / "good.json"
    bad.write_text(text, encoding="utf-8", errors="surrogatepass")
    good.write_text(dumps(sample_report()), encoding="utf-8")
    args = {"report": ["report", str(bad), "-f", "json,markdown,csv,html,junit,firewall-request",
                       "-o", str(folder / "out")],
            "diff": ["diff", str(good), str(bad), "-o", str(folder / "diff.txt")],
            "merge": ["merge", str(bad), str(good), "-f", "html,csv,json,markdown", "-o", str(folder / "fleet")]}
    outcome = run_cli(*args[command])
    assert_contract(outcome, max_seconds=MAX_CASE_S)
    event(f"{command} exit {outcome.code}")


@settings(max_examples=scaled(1.0), suppress_health_check=list(HealthCheck))
@given(schema_valid_reports(), st.sampled_from(["report", "diff", "merge"]))
def test_schema_valid_hostile_reports_render_in_every_format(text: str, command: str) -> None:
    """Reports the loader accepts, full of hostile text and odd evidence: every renderer copes."""
    folder = _scratch()
    bad, good = folder / "bad.json", folder / "good.json"
    bad.write_text(text, encoding="utf-8", errors="surrogatepass")
    good.write_text(dumps(sample_report()), encoding="utf-8")
    args = {"report": ["report", str(bad), "-f", "json,markdown,csv,html,junit,firewall-request",
                       "-o", str(folder / "out")],
            "diff": ["diff", str(bad), str(good), "-f", "text", "-o", str(folder / "diff.txt")],
            "merge": ["merge", str(bad), str(good), "-f", "html,csv,json,markdown", "-o", str(folder / "fleet")]}
    outcome = run_cli(*args[command])
    assert_contract(outcome, max_seconds=MAX_CASE_S)
    event(f"{command} exit {outcome.code}")


def _receipt_seed() -> dict[str, Any]:
    from tests.test_input_safety import receipt_json

    return receipt_json(json.loads(dumps(sample_report())))


@settings(max_examples=scaled(0.5), suppress_health_check=list(HealthCheck))
@given(mutated_json([_receipt_seed()]))
def test_mutated_receipts_keep_the_contract(text: str) -> None:
    folder = _scratch()
    receipt, report = folder / "receipt.json", folder / "report.json"
    receipt.write_text(text, encoding="utf-8", errors="surrogatepass")
    report.write_text(dumps(sample_report()), encoding="utf-8")
    outcome = run_cli("report", str(report), "--receipt", str(receipt), "-f", "json", "-o", str(folder / "o.json"))
    assert_contract(outcome, max_seconds=MAX_CASE_S)
    event(f"exit {outcome.code}")


# Options whose values are parsed before anything is read or sent: the site file does not
# exist, so every command stops at exit 2 at the latest (nothing is scanned or listened to).
ARGUMENTS = [
    ("scan", "--timeout"), ("scan", "--deadline"), ("scan", "--concurrency"), ("scan", "--per-host"),
    ("scan", "--udp-tries"), ("scan", "--format"), ("scan", "--profile"), ("scan", "--listener"),
    ("listen", "--duration"), ("listen", "--bind"), ("listen", "--profile"),
    ("validate", "--profile"), ("report", "--format"), ("diff", "--format"), ("merge", "--format"),
    ("profiles", ""), ("schema", ""), ("validate", ""),
]


@settings(max_examples=scaled(1.0))
@given(st.sampled_from(ARGUMENTS), hostile_text())
def test_hostile_argument_values_keep_the_contract(argument: tuple[str, str], value: str) -> None:
    command, option = argument
    folder = _scratch()
    missing = str(folder / "missing.yaml")
    value = value.replace("\x00", "")  # argv cannot hold NUL
    extra = {"scan": ["--site", missing], "listen": ["--site", missing], "validate": [missing],
             "report": [str(folder / "r.json")], "diff": [missing, missing], "merge": [missing],
             "profiles": [], "schema": []}[command]
    if command == "listen" and option != "--profile":
        extra += ["--profile", "console"]
    args = [command, *([option, value] if option else [value]), *extra]
    outcome = run_cli(*args)
    assert_contract(outcome, max_seconds=MAX_CASE_S)


def _loads_as_loopback_site(path: Path) -> bool:
    from netcheck.errors import NetcheckError
    from netcheck.profiles import load_profile, load_site

    try:
        return loopback_only(load_site(path, load_profile("sensor")))
    except NetcheckError:
        return False


@settings(max_examples=scaled(0.05, minimum=3))
@given(mutated_bytes(YAML_SEEDS), st.sampled_from(["validate", "scan"]))
def test_mutated_site_files_in_a_real_process(data: bytes, command: str) -> None:
    """A few cases through `python3 -m netcheck`: the real entry point, real streams."""
    folder = _scratch()
    path = folder / "site.yaml"
    path.write_bytes(data)
    args = ["validate", str(path)]
    if command == "scan" and _loads_as_loopback_site(path):  # scans go to 127.0.0.1 only
        args = ["scan", "--site", str(path), "--timeout", "0.3", "--udp-tries", "1", "--no-raw", "--no-progress",
                "-f", "json", "-o", str(folder / "r.json")]
    outcome = run_subprocess(*args, timeout=60)
    assert_contract(outcome, max_seconds=60)
