"""The executable is built once per session from this checkout (1-3 minutes) and shared by the tests
that run it: as on an air-gapped host (test_executable.py) and copied by Ansible (test_ansible_fleet.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.listen.helpers import REPO


@pytest.fixture(scope="session")
def executable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """dist/netcheck as `python3 packaging/build.py` makes it (into a temp folder, not the checkout's dist/)."""
    if os.geteuid() != 0:
        pytest.skip("the tests that run the executable need root (network and mount namespaces)")
    dist = tmp_path_factory.mktemp("dist")
    started = time.monotonic()
    build = subprocess.run([sys.executable, "packaging/build.py", "--dist", str(dist)], cwd=REPO,
                           capture_output=True, text=True, timeout=1200)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    path = Path(build.stdout.strip().splitlines()[-1])
    assert path == dist / "netcheck" and path.is_file() and os.access(path, os.X_OK)
    print(f"\nbuilt {path} ({path.stat().st_size / 2**20:.1f} MiB) in {time.monotonic() - started:.0f} s")
    yield path
