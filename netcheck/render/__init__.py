"""Renderers: pure functions of a Report. Each format has a file extension and a renderer.

Renderer modules are imported only when their format is asked for, to keep start-up fast.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from netcheck.model import Report

Renderer = Callable[[Report], str]


@dataclass(frozen=True)
class Format:
    name: str
    extension: str
    module: str
    function: str
    help: str

    def renderer(self) -> Renderer:
        render: Renderer = getattr(importlib.import_module(self.module), self.function)
        return render


FORMATS: dict[str, Format] = {
    "table": Format("table", "txt", "netcheck.render.terminal", "render_plain", "the terminal matrix"),
    "json": Format("json", "json", "netcheck.serialize", "dumps", "netcheck.report/1 JSON"),
    "html": Format("html", "html", "netcheck.render.html", "render_html",
                   "a self-contained HTML report for tickets (no external resources)"),
    "junit": Format("junit", "junit.xml", "netcheck.render.junit", "render_junit",
                    "JUnit XML: one testcase per flow, for CI"),
    "markdown": Format("markdown", "md", "netcheck.render.markdown", "render_markdown",
                       "a Markdown table to paste into a ticket"),
    "csv": Format("csv", "csv", "netcheck.render.csv_report", "render_csv", "CSV, one row per flow"),
    "firewall-request": Format("firewall-request", "firewall-request.csv", "netcheck.render.firewall",
                               "render_firewall_csv", "the firewall rules to add, as CSV"),
    "firewall-request-md": Format("firewall-request-md", "firewall-request.md", "netcheck.render.firewall",
                                  "render_firewall_markdown", "the firewall rules to add, as Markdown"),
}
