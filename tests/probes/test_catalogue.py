"""The probe catalogue (netcheck/catalogue.py) and the probe modules agree: every catalogue kind
has exactly one implementation, in the module the catalogue names, and reads the options the
catalogue lists; every implementation is in the catalogue and reads no option it does not list."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
from pathlib import Path

import pytest

import netcheck.probes
from netcheck import probes
from netcheck.catalogue import CATALOGUE, SNMP_AUTH_PROTOCOLS, SNMP_PRIV_PROTOCOLS
from netcheck.model import Flow, Observation
from netcheck.probes import ProbeContext, ProbeKind, register

PROBES = Path(netcheck.probes.__file__).parent


def probe_modules() -> list[str]:
    return [f"netcheck.probes.{info.name}" for info in pkgutil.iter_modules([str(PROBES)])
            if not info.name.startswith("_")]


def tree_of(module: str) -> ast.Module:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, module
    return ast.parse(Path(spec.origin).read_text())


def helpers(tree: ast.Module) -> list[str]:
    """The netcheck modules a probe module takes code from (e.g. the shared TLS handshake), but not
    the catalogue itself: an option named only there is an option nobody reads."""
    return sorted({node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
                   and node.module.startswith("netcheck.") and node.module != "netcheck.catalogue"})


def strings_in(module: str) -> set[str]:
    tree = tree_of(module)
    trees = [tree] + [tree_of(helper) for helper in helpers(tree)]
    return {node.value for t in trees for node in ast.walk(t)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def options_read(module: str) -> set[str]:
    """Option keys the module reads from a flow: flow.options.get("k"), flow.options["k"], ctx.secret(flow, "k")."""
    found: set[str] = set()
    for node in ast.walk(tree_of(module)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
            owner = node.func.value
            reads_options = (node.func.attr == "get" and isinstance(owner, ast.Attribute) and owner.attr == "options")
            key = node.args[-1] if node.func.attr == "secret" else node.args[0]
            if (reads_options or node.func.attr == "secret") and isinstance(key, ast.Constant):
                found.add(str(key.value))
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) \
                and node.value.attr == "options" and isinstance(node.slice, ast.Constant):
            found.add(str(node.slice.value))
    return found


def test_every_catalogue_kind_has_one_implementation_in_its_module() -> None:
    for name, info in CATALOGUE.items():
        kind = probes.get(name)
        assert kind.info is info
        assert kind.observe.__module__ == info.module, name


def test_every_probe_module_implements_only_catalogue_kinds(probe_registry: dict[str, ProbeKind]) -> None:
    for module in probe_modules():
        importlib.import_module(module)
    ours = {name: kind for name, kind in probe_registry.items() if kind.observe.__module__.startswith("netcheck.")}
    assert set(ours) == set(CATALOGUE)
    implementing = {kind.observe.__module__ for kind in ours.values()}
    assert implementing == set(probe_modules()) == {info.module for info in CATALOGUE.values()}


@pytest.mark.parametrize("name", sorted(CATALOGUE))
def test_the_implementation_reads_exactly_the_catalogue_options(name: str) -> None:
    info = CATALOGUE[name]
    # Given the implementing module (and the netcheck modules it takes code from),
    # Then every listed option is named there, and every option it reads from a flow is listed.
    assert set(info.options) - strings_in(info.module) == set()
    read = options_read(info.module)
    listed_by_module = {key for other in CATALOGUE.values() if other.module == info.module for key in other.options}
    assert read - listed_by_module == set()


def test_choices_the_snmp_probe_maps_are_the_catalogue_choices() -> None:
    from netcheck.probes import snmp

    assert tuple(snmp.AUTH_PROTOCOLS) == SNMP_AUTH_PROTOCOLS
    assert tuple(snmp.PRIV_PROTOCOLS) == SNMP_PRIV_PROTOCOLS


async def _nothing(flow: Flow, address: str | None, ctx: ProbeContext) -> Observation:
    raise AssertionError("never run")


def test_register_refuses_what_disagrees_with_the_catalogue(probe_registry: dict[str, ProbeKind]) -> None:
    with pytest.raises(RuntimeError, match="not in netcheck.catalogue"):
        register("test-unlisted")(_nothing)
    probe_registry.pop("tcp")
    with pytest.raises(RuntimeError, match="belongs to netcheck.probes.tcp"):
        register("tcp")(_nothing)
    with pytest.raises(RuntimeError, match="register it by name only"):
        register("tcp", transports=("tcp",))(_nothing)
    register("test-own", transports=("udp",), summary="test: a throw-away kind")(_nothing)
    assert probe_registry["test-own"].transports == frozenset({"udp"})
