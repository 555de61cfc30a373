"""Documentation generations of the built-in profiles: list them, show where each flow comes
from, and what changed from one generation to the next (`netcheck profiles --diff 2021 current`).

2021 is the seed document's table (profiles/*.yaml, the default); current is today's pages
(profiles/current/*.yaml: cloud-connected sensors, no management console, switchable rows).
A flow's `doc` says which pages it comes from: 2021, later (2022-2023) or current (2024-2025).
"""

from __future__ import annotations

from netcheck.errors import UsageError
from netcheck.profiles import GENERATIONS, FlowSpec, Profile, builtin_profiles, generation_of, load_profile

# The identity of a documented row across generations (ids and wording may differ).
RowKey = tuple[str, str, str, str, str]


def _load(generation: str) -> list[Profile]:
    return [load_profile(str(path)) for path in builtin_profiles(generation).values()]


def listing() -> list[str]:
    """One line per built-in profile, grouped by generation."""
    lines = []
    for generation in GENERATIONS:
        suffix = " (default)" if generation == GENERATIONS[0] else ""
        lines.append(f"generation {generation}{suffix}:")
        for name, path in builtin_profiles(generation).items():
            profile = load_profile(str(path))
            lines.append(f"  {name:<20} {len(profile.flows):>2} flows  {profile.description}")
    return lines


def flow_lines(profile: Profile) -> list[str]:
    """The flows of one profile, each with the documentation it comes from."""
    generation = generation_of(profile.path)
    lines = [f"{profile.name} (role {profile.role}, generation {generation}): {profile.description}",
             "  doc: the pages a row comes from (2021 table, later 2022-2023, current 2024-2025)"]
    for flow in profile.flows:
        marks = ("" if flow.required else " (optional)") + (f" (switch: peers.{flow.peer})" if flow.switch else "")
        lines.append(f"  {flow.id:<18} {flow.direction.value:<3} {flow.transport}/{str(flow.port):<11} "
                     f"peer {flow.peer:<11} probe {flow.probe:<14} doc {flow.doc:<7} {flow.purpose}{marks}")
    return lines


def _row_key(profile: Profile, flow: FlowSpec) -> RowKey:
    return (profile.role, flow.direction.value, f"{flow.transport}/{flow.port}", flow.peer, flow.probe)


def _rows(generation: str) -> dict[RowKey, tuple[Profile, FlowSpec]]:
    rows: dict[RowKey, tuple[Profile, FlowSpec]] = {}
    for profile in _load(generation):
        for flow in profile.flows:
            rows.setdefault(_row_key(profile, flow), (profile, flow))
    return rows


def diff(old: str, new: str) -> list[str]:
    """Rows removed (-) and added (+) from generation `old` to `new`, by role, direction,
    transport/port, peer and probe; rows present in both are not listed."""
    for name in (old, new):
        if name not in GENERATIONS:
            raise UsageError(f"unknown generation '{name}'", hint=f"generations: {', '.join(GENERATIONS)}")
    before, after = _rows(old), _rows(new)
    lines = [f"profiles {old} -> {new}: roles {_roles(old)} -> {_roles(new)}"]
    roles_before, roles_after = {key[0] for key in before}, {key[0] for key in after}
    for sign, gone, rows in (("-", roles_before - roles_after, before), ("+", roles_after - roles_before, after)):
        for role in sorted(gone):
            count = sum(1 for key in rows if key[0] == role)
            lines.append(f"{sign} {role:<7} the whole role ({count} rows)"
                         + (": the on-premises management console was retired on 2025-01-01"
                            if role == "console" and sign == "-" else ""))
    for sign, keys, rows in (("-", [k for k in before if k not in after and k[0] in roles_after], before),
                             ("+", [k for k in after if k not in before and k[0] in roles_before], after)):
        for key in sorted(keys):
            profile, flow = rows[key]
            role, direction, port, peer, probe = key
            switch = " (switch)" if flow.switch else ""
            lines.append(f"{sign} {role:<7} {direction:<3} {port:<15} peer {peer:<11} probe {probe:<8} "
                         f"[{profile.name}: {flow.id}] {flow.purpose}{switch}")
    if len(lines) == 1:
        lines.append("  no change")
    return lines


def _roles(generation: str) -> str:
    return ", ".join(sorted({profile.role for profile in _load(generation)}))
