"""One network layer, and dependencies that point down to it: read from the source, not run.

- Only netcheck/net/ resolves names, connects sockets or maps connect errors: a second
  resolver or errno map would again lose facts (the ICMP sender) on one of the paths.
- net/ imports no probe, certs, raw, listen or render module.
- No module imports another package's `_private` module, or a `_private` name of another module.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "netcheck"

# Calls and constants that belong to the network layer alone.
NETWORK_PRIMITIVES = {"getaddrinfo", "sock_connect", "connect_ex", "open_connection", "create_connection",
                      "ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "MSG_ERRQUEUE"}
ABOVE_NET = ("netcheck.probes", "netcheck.certs", "netcheck.raw", "netcheck.listen", "netcheck.render",
             "netcheck.engine", "netcheck.scanner", "netcheck.cli")


def modules() -> dict[str, ast.Module]:
    return {path.relative_to(PACKAGE.parent).with_suffix("").as_posix().replace("/", "."):
            ast.parse(path.read_text(), str(path)) for path in sorted(PACKAGE.rglob("*.py"))}


def package_of(module: str, tree_is_package: bool) -> str:
    return module if tree_is_package else module.rpartition(".")[0]


def imports(tree: ast.Module) -> list[tuple[str, list[str]]]:
    """(module, names imported from it) for every import statement, nested ones included."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def is_private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__")


def test_only_the_network_layer_resolves_connects_and_maps_errors() -> None:
    users: dict[str, set[str]] = {}
    for name, tree in modules().items():
        if name.startswith("netcheck.net."):
            continue
        for node in ast.walk(tree):
            word = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
            if word in NETWORK_PRIMITIVES:
                users.setdefault(name, set()).add(word)
    assert users == {}


def test_the_network_layer_imports_nothing_above_it() -> None:
    upward = {(name, module) for name, tree in modules().items() if name.startswith("netcheck.net")
              for module, _ in imports(tree) if module.startswith(ABOVE_NET)}
    assert upward == set()


def test_no_private_module_or_name_of_another_package_is_imported() -> None:
    files = {path.relative_to(PACKAGE.parent).with_suffix("").as_posix().replace("/", "."): path.name
             for path in PACKAGE.rglob("*.py")}
    offences: set[tuple[str, str]] = set()
    for name, tree in modules().items():
        own_package = package_of(name.removesuffix(".__init__"), files[name] == "__init__.py")
        for module, names in imports(tree):
            parts = module.split(".")
            private = [index for index, part in enumerate(parts) if is_private(part)]
            if module.startswith("netcheck.") and private and not own_package.startswith(".".join(parts[:private[0]])):
                offences.add((name, module))  # another package's _private module
            if module.startswith("netcheck") and module != name and any(is_private(n) for n in names):
                offences.add((name, f"{module}: {', '.join(n for n in names if is_private(n))}"))
    assert offences == set()


def test_the_checks_see_what_they_look_for() -> None:
    """Guard against a walker that finds nothing: the layer itself uses the primitives it owns."""
    trees = modules()
    seen = {node.attr for name in ("netcheck.net.sockets", "netcheck.net.resolve")
            for node in ast.walk(trees[name]) if isinstance(node, ast.Attribute)}
    assert {"getaddrinfo", "connect_ex", "ECONNREFUSED", "MSG_ERRQUEUE"} <= seen
    tls_imports = imports(trees["netcheck.probes._tls"])
    assert ("netcheck.net.streams", ["Channel", "DeadlineHit", "StreamClosed"]) in tls_imports
