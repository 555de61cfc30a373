"""Layers: the CLI at the edge (argparse, exit codes and private message helpers live only in the
command line modules; library modules take typed arguments and raise typed errors), dependencies
that point one way between the packages, and private modules kept private to their package.
The import graph is read from the AST of every module, imports inside functions included."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import netcheck.errors

PACKAGE = Path(__file__).resolve().parents[1] / "netcheck"


def is_cli(name: str) -> bool:
    """The command line's modules: cli.py and *_cli.py anywhere, __main__.py, argtypes.py."""
    file = name.rsplit("/", 1)[-1]
    return file in ("cli.py", "__main__.py", "argtypes.py") or file.endswith("_cli.py")


@functools.cache  # parsed once per test session (read-only)
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
    assert {name for name in users if not is_cli(name)} == set()
    assert "listen/run.py" not in users and "listen/scanning.py" not in users


def test_one_message_helper() -> None:
    """netcheck.messages.say prints; library code passes notices to a callable it is given."""
    own_helpers = {name for name, tree in modules().items()
                   for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "_say"}
    assert own_helpers == set()


def test_errors_carry_no_exit_codes() -> None:
    errors = [netcheck.errors.NetcheckError, netcheck.errors.UsageError, netcheck.errors.ConfigError]
    assert [error.__name__ for error in errors if hasattr(error, "exit_code")] == []


def test_no_module_but_the_cli_imports_the_cli() -> None:
    users = {name for name, tree in modules().items() if "netcheck.cli" in imported(tree)}
    assert {name for name in users if not is_cli(name)} == set()


# ---------------------------------------------------------------- the import graph

# The packages whose dependencies must point one way (no cycle among them).
LAYERED = ("probes", "listen", "raw", "certs", "render")

# Imports (importer -> imported module) that other branches of this redesign remove; the lead
# empties these lists at the merge. Nothing may be added to them.
CYCLE_ALLOWED: set[tuple[str, str]] = set()
PRIVATE_ALLOWED: set[tuple[str, str]] = set()


def module_name(path: str) -> str:
    """'probes/_net.py' -> 'netcheck.probes._net'; 'probes/__init__.py' -> 'netcheck.probes'."""
    parts = ["netcheck", *path.removesuffix(".py").split("/")]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache
def import_graph() -> dict[str, set[str]]:
    """Every netcheck module -> the netcheck modules it imports anywhere in its code (relative
    imports resolved; `from package import module` counts as importing the module)."""
    trees = {module_name(path): (path, tree) for path, tree in modules().items()}
    graph: dict[str, set[str]] = {}
    for name, (path, tree) in trees.items():
        package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    member = f"{base}.{alias.name}"
                    found.add(member if member in trees else base)
        graph[name] = {module for module in found if module in trees}
    return graph


def layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERED else None


def package_edges(graph: dict[str, set[str]], allowed: set[tuple[str, str]]) -> dict[str, dict[str, str]]:
    """Between the LAYERED packages: package -> {package it imports: one import that shows it}."""
    edges: dict[str, dict[str, str]] = {package: {} for package in LAYERED}
    for importer, imported in sorted((a, b) for a, targets in graph.items() for b in targets):
        source, target = layer(importer), layer(imported)
        if source in LAYERED and target in LAYERED and source != target and (importer, imported) not in allowed:
            edges[source].setdefault(target, f"{importer} imports {imported}")
    return edges


def cycles(edges: dict[str, dict[str, str]]) -> Iterator[list[str]]:
    """Each simple cycle once, as the packages in order (starting from its smallest name)."""
    def walk(start: str, path: list[str]) -> Iterator[list[str]]:
        for target in sorted(edges[path[-1]]):
            if target == start:
                yield path
            elif target > start and target not in path:
                yield from walk(start, [*path, target])

    for start in sorted(edges):
        yield from walk(start, [start])


def describe(cycle: list[str], edges: dict[str, dict[str, str]]) -> str:
    steps = zip(cycle, [*cycle[1:], cycle[0]], strict=True)
    return " -> ".join(f"{a} ({edges[a][b]})" for a, b in steps) + f" -> {cycle[0]}"


def test_the_graph_sees_imports_inside_functions_and_from_package_imports() -> None:
    graph = import_graph()
    assert "netcheck.raw.hook" in graph["netcheck.scanner"]  # imported inside scan_hooks
    assert "netcheck.certs.run" in graph["netcheck.certs.cli"]  # `from netcheck.certs.run import ...` in a function
    assert "netcheck.errors" in graph["netcheck.certs.csr"]


def test_cycles_are_found_and_named() -> None:
    # Given a made-up graph with a three-package cycle and an unrelated edge
    edges: dict[str, dict[str, str]] = {package: {} for package in LAYERED}
    edges["probes"]["listen"] = "p imports l"
    edges["listen"]["raw"] = "l imports r"
    edges["raw"]["probes"] = "r imports p"
    edges["certs"]["render"] = "c imports r"
    # Then the cycle is found once, and described with the import behind each step
    found = list(cycles(edges))
    assert found == [["listen", "raw", "probes"]]
    assert describe(found[0], edges) == ("listen (l imports r) -> raw (r imports p) -> probes (p imports l) -> listen")


def test_no_cycle_among_the_packages() -> None:
    edges = package_edges(import_graph(), CYCLE_ALLOWED)
    assert [describe(cycle, edges) for cycle in cycles(edges)] == []


def test_no_module_imports_another_packages_private_module() -> None:
    """A `_private` module (netcheck.probes._net) is imported only from inside its own package."""
    violations = set()
    for importer, imported in import_graph().items():
        for module in imported:
            parts = module.split(".")
            private = [index for index, part in enumerate(parts) if part.startswith("_") and not part.startswith("__")]
            if not private:
                continue
            owner = ".".join(parts[: private[0]])
            if importer != owner and not importer.startswith(owner + "."):
                violations.add((importer, module))
    assert violations - PRIVATE_ALLOWED == set()


def test_the_allow_lists_hold_only_imports_that_still_exist() -> None:
    """When a branch removes an allowed import, its entry goes too (the lists only shrink)."""
    graph = import_graph()
    assert [pair for pair in sorted(CYCLE_ALLOWED | PRIVATE_ALLOWED) if pair[1] not in graph[pair[0]]] == []


def calls(tree: ast.Module) -> Iterator[str]:
    """The called names of a module: 'print', 'sys.exit', ..."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield ast.unparse(node.func)


def test_only_cli_modules_print_or_exit() -> None:
    """Library code hands text to a callable it is given (netcheck.messages.say on the command line)
    and raises typed errors; the command line prints and chooses the exit code."""
    found = {(name, call) for name, tree in modules().items() for call in calls(tree)
             if call in ("print", "sys.exit", "exit", "os._exit", "SystemExit")}
    assert {(name, call) for name, call in found if not is_cli(name)} - {("messages.py", "print")} == set()
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
