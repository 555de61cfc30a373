"""`netcheck endpoints import`, and the scan option --service-tags. Imports nothing heavy: this
module is loaded for every `netcheck` invocation to build the parser."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from netcheck.cloud.servicetags import ServiceTags
    from netcheck.engine import ScanHook
    from netcheck.model import Flow, Result
    from netcheck.probes import ProbeContext
    from netcheck.profiles import Site


def add_parser(commands: Any) -> None:
    from netcheck.cli import ArgumentParser  # loaded already: it is the module calling us

    endpoints = commands.add_parser(
        "endpoints", help="manage the cloud endpoint list of a site file",
        description="Cloud-connected sensors reach the endpoints the cloud portal lists "
                    "(Sites and sensors > More actions > Download endpoint details).")
    actions = endpoints.add_subparsers(dest="action", metavar="ACTION", required=True,
                                       parser_class=ArgumentParser)
    imported = actions.add_parser(
        "import", help="turn a downloaded endpoint list into the site file's endpoints: section",
        description="Read a downloaded endpoint list (JSON list or object, CSV with or without a header, or one "
                    "name per line; names, host:port or https:// URLs) and print the site file's endpoints: "
                    "section, or write it into --site (replacing the section there).")
    imported.add_argument("file", type=Path, help="the downloaded endpoint list")
    imported.add_argument("--site", "-s", type=Path, help="site file whose endpoints: section to replace")
    imported.set_defaults(func=cmd_import)


def add_scan_options(scan: argparse.ArgumentParser) -> None:
    scan.add_argument("--service-tags", type=Path, metavar="FILE",
                      help="service-tag JSON (values[].properties.addressPrefixes): say which tag and prefix "
                           "covers each address a cloud endpoint resolved to; an address outside every "
                           "prefix turns a pass into a warning")


def cmd_import(args: argparse.Namespace) -> int:
    from netcheck.cloud.endpoints import EXPECTED_FILE, parse_list, replace_section, yaml_section
    from netcheck.inputs import CAP_ENDPOINTS, CAP_SITE, read_text

    endpoints = parse_list(read_text(args.file, EXPECTED_FILE, CAP_ENDPOINTS), args.file)
    section = yaml_section(endpoints, str(args.file))
    if args.site is None:
        sys.stdout.write(section)
        return 0
    from netcheck.profiles import SITE_EXPECTED, site_from_doc
    from netcheck.yamldoc import parse_yaml

    updated = replace_section(read_text(args.site, SITE_EXPECTED, CAP_SITE), section)
    site_from_doc(parse_yaml(updated, str(args.site), SITE_EXPECTED))  # never write a site file that fails
    args.site.write_text(updated, encoding="utf-8")
    print(f"netcheck: wrote {len(endpoints)} endpoints into {args.site}", file=sys.stderr)
    return 0


def scan_hooks(args: argparse.Namespace, site: Site) -> list[ScanHook]:
    path = getattr(args, "service_tags", None)
    if path is None:
        return []
    from netcheck.cloud.servicetags import load

    return [ServiceTagHook(load(path))]


class ServiceTagHook:
    """After the scan, names the service tag and prefix of every address a cloud flow resolved."""

    def __init__(self, tags: ServiceTags) -> None:
        self.tags = tags

    def choose(self, flow: Flow) -> str | None:
        return None

    async def after(self, results: list[Result], ctx: ProbeContext) -> list[Result]:
        return [self._annotate(result) for result in results]

    def _annotate(self, result: Result) -> Result:
        from netcheck.cloud.servicetags import annotate, evidence_addresses
        from netcheck.model import Status

        addresses = evidence_addresses(result.evidence)
        if result.flow.probe != "cloud" or not addresses:
            return result
        evidence, clauses, uncovered = annotate(addresses, self.tags)
        status = Status.WARN if uncovered and result.status is Status.PASS else result.status
        return dataclasses.replace(result, status=status, detail=f"{result.detail}; service tags: {'; '.join(clauses)}",
                                   evidence={**result.evidence, "service_tags": evidence})
