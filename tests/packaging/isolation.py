"""Run a program as on an air-gapped host without Python: a fresh network namespace (loopback only,
no route anywhere), every Python installation and this checkout hidden under empty tmpfs mounts
(a private mount namespace, so nothing leaks to the host), and an empty environment (`env -i`,
PATH without any interpreter, HOME nowhere).

Whatever the executable needs must come from inside it: a stray import from the host's
site-packages, or a profile read from the checkout, fails here.
"""

from __future__ import annotations

import glob
import shlex
import site
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from tests.listen.helpers import REPO

BARE_ENV = {"PATH": "/nonexistent", "HOME": "/nonexistent", "LANG": "C.UTF-8"}


def hidden_paths() -> list[str]:
    """Every place a Python interpreter or package could be found on this machine, and the source tree."""
    # a system interpreter's prefix is /usr itself: then its lib/python3* folders are hidden instead
    prefixes = {sys.prefix, sys.base_prefix, sys.exec_prefix} - {"/", "/usr", "/usr/local", "/opt"}
    candidates = {*prefixes, *site.getsitepackages(), site.getusersitepackages(), *glob.glob("/usr/lib/python3*"),
                  *glob.glob("/usr/local/lib/python3*"), str(REPO)}
    existing = sorted({path for path in candidates if Path(path).is_dir()})
    # a path inside another hidden path disappears with it (and could not be mounted over)
    return [path for path in existing if not any(path != other and path.startswith(other + "/") for other in existing)]


def isolated_script(script: str, cwd: Path, env: Mapping[str, str] | None = None,
                    timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a sh script in the isolation; inside it, `bare CMD ...` runs CMD with only BARE_ENV (+ env)."""
    for path in hidden_paths():
        assert not cwd.resolve().is_relative_to(path), f"{cwd} would be hidden under {path}"
    mounts = "\n".join(f"mount -t tmpfs -o size=64k,mode=0755 netcheck-hidden {shlex.quote(path)}"
                       for path in hidden_paths())
    assignments = " ".join(shlex.quote(f"{key}={value}") for key, value in {**BARE_ENV, **(env or {})}.items())
    prelude = (f"set -e\nip link set lo up\n{mounts}\ncd {shlex.quote(str(cwd))}\n"
               f"bare() {{ env -i {assignments} \"$@\"; }}\nset +e\n")
    return subprocess.run(["unshare", "--net", "--mount", "--propagation", "private", "--", "/bin/sh", "-c",
                           prelude + script], capture_output=True, text=True, timeout=timeout, cwd=cwd)


def isolated(argv: list[str], cwd: Path, env: Mapping[str, str] | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run one program in the isolation (its exit code is the result's)."""
    return isolated_script("exec env -i " + " ".join(shlex.quote(f"{k}={v}") for k, v in
                                                     {**BARE_ENV, **(env or {})}.items())
                           + " " + shlex.join(argv) + "\n", cwd, timeout=timeout)
