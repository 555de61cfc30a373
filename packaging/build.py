"""Build one self-contained netcheck executable with PyInstaller: `python3 packaging/build.py` -> dist/netcheck.

The executable carries its own Python, every dependency (scapy, pysnmp, cryptography, ...),
the HTML templates, the built-in profiles, the loopback sample site and the JSON Schemas,
so a host without Python or pip runs `./netcheck scan ...`. Build on the oldest glibc the
fleet runs (the executable needs a glibc at least as new as the build host's).

    python3 packaging/build.py                 # dist/netcheck (one file)
    python3 packaging/build.py --onedir        # dist/netcheck-onedir/netcheck (a folder; no unpacking at start-up)

One file is the default because it is what travels to an air-gapped host and what Ansible
copies; it pays for that at each start by unpacking itself into $TMPDIR (about 0.3 s of CPU
more than the folder build, whose start-up is the pip install's). Stripping symbols and the
EXCLUDE list below halve that cost and the size (41 -> 24 MiB).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Found in the source tree by netcheck.profiles.data_dir: <package>/../<name>. In the bundle
# the package lives in sys._MEIPASS/netcheck, so the folders go to sys._MEIPASS/<name>.
DATA = [
    ("profiles", "profiles"),  # the whole folder: later documentation generations live in subfolders
    ("examples/*.yaml", "examples"),
    ("schema/*.json", "schema"),
    ("netcheck/render/templates", "netcheck/render/templates"),  # jinja2.PackageLoader
]

# Imported by name at run time (cli.EXTENSIONS, the probe registry, render.FORMATS, the
# engine's preload, aerleon's built-in generators), which PyInstaller's static analysis cannot see.
COLLECT_SUBMODULES = ["netcheck", "pysnmp", "dns", "ldap3", "scapy.layers", "scapy.contrib", "scapy.arch", "aerleon"]
# Data files some dependencies read from their own package folder.
COLLECT_DATA = ["pysnmp", "scapy", "aerleon"]
# Distribution metadata read at run time (aerleon asks importlib.metadata for its own version).
COPY_METADATA = ["aerleon"]
# Not used by netcheck, pulled in by optional imports (scapy's interactive shell and plots,
# dnspython's trio backend, rich's syntax highlighting and markdown, setuptools' own hooks):
# leaving them out keeps the executable small, and a onefile start-up unpacks less.
EXCLUDE = ["tkinter", "matplotlib", "IPython", "traitlets", "prompt_toolkit", "numpy", "pyx", "PIL", "pytest",
           "hypothesis", "mypy", "setuptools", "pkg_resources", "distutils", "trio", "click", "pygments",
           "markdown_it"]


def pyinstaller_argv(onedir: bool, dist: Path, work: Path) -> list[str]:
    argv = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
            "--onedir" if onedir else "--onefile", "--name", "netcheck",
            "--strip",  # debug symbols are half of libpython: strip them (smaller, faster to unpack)
            "--distpath", str(dist), "--workpath", str(work), "--specpath", str(work),
            "--paths", str(ROOT)]
    for source, target in DATA:
        argv += ["--add-data", f"{ROOT / source}{os.pathsep}{target}"]
    for option, packages in (("--collect-submodules", COLLECT_SUBMODULES), ("--collect-data", COLLECT_DATA),
                             ("--copy-metadata", COPY_METADATA)):
        for package in packages:
            if installed(package):  # an optional dependency that is not installed is not bundled
                argv += [option, package]
    for module in EXCLUDE:
        argv += ["--exclude-module", module]
    return [*argv, str(ROOT / "packaging" / "entry.py")]


def installed(package: str) -> bool:
    return importlib.util.find_spec(package.split(".")[0]) is not None


def build(onedir: bool = False, dist: Path = ROOT / "dist", work: Path | None = None) -> Path:
    """Run PyInstaller on this checkout (never an installed netcheck) and return the executable's path."""
    with tempfile.TemporaryDirectory(prefix="netcheck-build-") as scratch:
        # onedir: PyInstaller writes <distpath>/netcheck/; it becomes dist/netcheck-onedir/
        out = Path(scratch) / "dist" if onedir else dist
        argv = pyinstaller_argv(onedir, out, work or Path(scratch) / "work")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        subprocess.run(argv, check=True, cwd=ROOT, env=env)
        if not onedir:
            return dist / "netcheck"
        target = dist / "netcheck-onedir"
        shutil.rmtree(target, ignore_errors=True)
        dist.mkdir(parents=True, exist_ok=True)
        shutil.move(out / "netcheck", target)
        return target / "netcheck"


def main() -> int:
    parser = argparse.ArgumentParser(description="Build the self-contained netcheck executable (PyInstaller).")
    parser.add_argument("--onedir", action="store_true",
                        help="build a folder (dist/netcheck-onedir/) instead of one file")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder (default dist/)")
    args = parser.parse_args()
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        print("build.py: PyInstaller is missing: pip install pyinstaller (or pip install -e '.[build]')",
              file=sys.stderr)
        return 2
    try:
        path = build(args.onedir, args.dist)
    except subprocess.CalledProcessError as exc:
        print(f"build.py: PyInstaller failed (exit {exc.returncode})", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
