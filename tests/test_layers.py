"""CLI at the edge: argparse, exit codes and private message helpers live only in the command
line modules; library modules take typed arguments and raise typed errors."""

from __future__ import annotations

import ast
from pathlib import Path

import netcheck.errors

PACKAGE = Path(__file__).resolve().parents[1] / "netcheck"


def is_cli(name: str) -> bool:
    """The command line's modules: cli.py and *_cli.py anywhere, __main__.py, argtypes.py."""
    file = name.rsplit("/", 1)[-1]
    return file in ("cli.py", "__main__.py", "argtypes.py") or file.endswith("_cli.py")


# Still to move to the edge (they take argparse.Namespace and print): see docs/architecture.md.
NOT_YET = {"certs/csr.py", "certs/convert.py"}


def modules() -> dict[str, ast.Module]:
    return {path.relative_to(PACKAGE).as_posix(): ast.parse(path.read_text(), str(path))
            for path in sorted(PACKAGE.rglob("*.py"))}


def imported(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_cli_modules_import_argparse() -> None:
    users = {name for name, tree in modules().items() if "argparse" in imported(tree)}
    assert {name for name in users if not is_cli(name)} - NOT_YET == set()
    assert "listen/run.py" not in users and "listen/scanning.py" not in users


def test_one_message_helper() -> None:
    """netcheck.messages.say prints; library code passes notices to a callable it is given."""
    own_helpers = {name for name, tree in modules().items()
                   for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "_say"}
    assert own_helpers - NOT_YET == set()


def test_errors_carry_no_exit_codes() -> None:
    errors = [netcheck.errors.NetcheckError, netcheck.errors.UsageError, netcheck.errors.ConfigError]
    assert [error.__name__ for error in errors if hasattr(error, "exit_code")] == []


def test_no_module_but_the_cli_imports_the_cli() -> None:
    users = {name for name, tree in modules().items() if "netcheck.cli" in imported(tree)}
    assert {name for name in users if not is_cli(name)} == set()


# ---------------------------------------------------------------- the probe catalogue (one direction)

ROOT = PACKAGE.parent


def _probe_kind_modules_after(script: str) -> list[str]:
    """Run `script` in a fresh interpreter; the netcheck.probes.<kind> modules it imported."""
    import subprocess
    import sys

    code = script + ("\nimport sys\nprint(sorted(m for m in sys.modules if m.startswith('netcheck.probes.')"
                     " and not m.rsplit('.', 1)[1].startswith('_')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin"},
                          capture_output=True, text=True, timeout=60, check=True)
    return list(ast.literal_eval(done.stdout.strip().splitlines()[-1]))


def test_loading_profiles_and_sites_imports_no_probe_module() -> None:
    # Given every built-in profile, a site file validated against one, a plan and the JSON Schemas,
    # Then no probe module was imported: they read netcheck.catalogue only.
    assert _probe_kind_modules_after(
        "from netcheck import plan, profiles, schema\n"
        "for name in profiles.builtin_profiles(): profiles.load_profile(name)\n"
        "profile = profiles.load_profile('sensor')\n"
        "site = profiles.load_site('examples/site.yaml', profile)\n"
        "assert plan.plan(profile, site)\n"
        "schema.schema_text('profile'); schema.schema_text('site')\n") == []


def test_a_tcp_only_run_imports_the_tcp_probe_alone() -> None:
    assert _probe_kind_modules_after(
        "import asyncio, socket\n"
        "from netcheck.engine import Limits, scan\n"
        "from netcheck.probes import ProbeContext\n"
        "from tests.conftest import make_flow\n"
        "with socket.socket() as idle:\n"
        "    idle.bind(('127.0.0.1', 0))\n"
        "    flow = make_flow(idle.getsockname()[1])\n"
        "    [result] = asyncio.run(scan([flow], ProbeContext(timeout=1, run_id='t'), Limits()))\n"
        "assert result.reason.value == 'refused', result\n") == ["netcheck.probes.tcp"]


def test_probes_and_the_listener_do_not_import_each_other() -> None:
    trees = modules()
    probe_users = {name for name, tree in trees.items() if name.startswith("probes/")
                   and any(module.startswith("netcheck.listen") for module in imported(tree))}
    assert probe_users == set()
    assert not (PACKAGE / "listen" / "tokens.py").exists() and (PACKAGE / "tokens.py").exists()
    assert "netcheck.probes" not in {module.rsplit(".", 1)[0] for module in imported(trees["tokens.py"])}


def test_the_catalogue_imports_no_probe_code() -> None:
    assert {module for module in imported(modules()["catalogue.py"]) if module.startswith("netcheck.probes")} == set()
