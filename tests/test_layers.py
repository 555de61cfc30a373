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
