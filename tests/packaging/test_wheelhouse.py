"""The offline wheelhouse, for sites that prefer pip: wheels collected on a connected machine, then
installed with --no-index into a fresh venv inside a network namespace that has no network at all."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from netcheck.profiles import builtin_profiles
from tests.listen.helpers import REPO

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the offline half runs in a new network namespace (root)")

# pip reads no configuration file: a configured find-links or index would make "offline" meaningless
PIP_ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PIP_CONFIG_FILE": os.devnull, "LC_ALL": "C.UTF-8",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def test_wheelhouse_installs_offline_into_a_fresh_venv_and_runs_the_demo(tmp_path: Path) -> None:
    # a copy of the checkout, so the build leaves nothing in it
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", "dist", "build", "reports", "*.egg-info", "__pycache__", ".*_cache", "tests", "benchmarks"))
    wheelhouse = tmp_path / "wheelhouse"
    # the connected machine (its pip as configured): netcheck's wheel and every dependency's
    collect = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(wheelhouse),
                              str(source)], capture_output=True, text=True, timeout=900)
    assert collect.returncode == 0, collect.stderr[-3000:]
    names = {path.name.split("-")[0].lower() for path in wheelhouse.glob("*.whl")}
    assert {"netcheck", "scapy", "pysnmp", "cryptography", "jinja2", "shtab", "argparse_manpage"} <= names
    # the air-gapped host: no network, no index, a fresh venv
    work = tmp_path / "host"
    work.mkdir()
    script = (
        "set -e\n"
        "ip link set lo up\n"
        f"{sys.executable} -m venv venv\n"
        f"venv/bin/pip install --quiet --no-index --find-links {wheelhouse} netcheck\n"
        "venv/bin/netcheck demo --output out\n"
    )
    run = subprocess.run(["unshare", "--net", "--", "/bin/sh", "-c", script], cwd=work, capture_output=True,
                         text=True, timeout=600, env=PIP_ENV)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "Demo behaved as designed." in run.stdout
    assert any((work / "out").glob("*.html"))
    # installed from the wheel: the profiles came with it (share/netcheck), not from the checkout
    shown = subprocess.run([str(work / "venv" / "bin" / "netcheck"), "profiles"], cwd=work, capture_output=True,
                           text=True, timeout=60, env=PIP_ENV)
    assert shown.returncode == 0, shown.stderr
    for name in builtin_profiles():  # every built-in profile of the source tree, subfolders too
        assert re.search(rf"^\s*{name}\s", shown.stdout, re.M), (name, shown.stdout)
