"""Turn a profile and a site into concrete flows: one per documented row and peer host."""

from __future__ import annotations

from collections.abc import Mapping

from netcheck.catalogue import CATALOGUE
from netcheck.model import Direction, Flow, JsonValue
from netcheck.profiles import CLOUD_PEER, URL_PEERS, FlowSpec, Profile, Site, url_port


def plan(profile: Profile, site: Site) -> list[Flow]:
    """Every flow of `profile` applied to the hosts `site` names for its peer.

    Outbound flows get one Flow per peer host, or one with host "" when the site
    names none (reported as skipped). Inbound flows are tested on this host, so
    they get exactly one Flow whatever the peers.
    """
    flows: list[Flow] = []
    chosen: dict[tuple[str, str], dict[str, object]] = {}  # (probe, peer) -> the site settings that probe takes
    for spec in profile.flows:
        if spec.switch and not site.peers.get(spec.peer):
            continue
        site_options = chosen.get((spec.probe, spec.peer))
        if site_options is None:
            accepted = CATALOGUE[spec.probe].options
            site_options = chosen[spec.probe, spec.peer] = {
                k: v for k, v in site.settings.get(spec.peer, {}).items() if k in accepted}
        options = {**spec.options, **site_options}
        if spec.direction is Direction.IN:
            flows.append(_flow(spec, profile, "", spec.port, options, site))
            continue
        hosts = site.peers.get(spec.peer, ())
        if not hosts:
            flows.append(_flow(spec, profile, "", spec.port, options, site))
        for host in hosts:
            port = spec.port
            if spec.peer in URL_PEERS:
                port = url_port(host, spec.peer)
            elif spec.peer == CLOUD_PEER:
                host, port = _endpoint(host)
            flows.append(_flow(spec, profile, host, port, options, site))
    return flows


def _endpoint(entry: str) -> tuple[str, int]:
    from netcheck.cloud.endpoints import parse_entry

    endpoint = parse_entry(entry)
    return endpoint.name, endpoint.port


def _flow(spec: FlowSpec, profile: Profile, host: str, port: object, options: Mapping[str, JsonValue],
          site: Site) -> Flow:
    override = site.ports.get(spec.id)
    return Flow(
        id=spec.id,
        purpose=spec.purpose,
        protocol=spec.protocol,
        transport=spec.transport,
        port=override if override is not None else port,  # type: ignore[arg-type]
        direction=spec.direction,
        peer=spec.peer,
        host=host,
        probe=spec.probe,
        required=spec.required,
        role=profile.role,
        source=spec.source,
        destination=spec.destination,
        note=spec.note,
        options=options,
    )
