"""Every format is registered, lazily imported, and renders the sample report."""

from __future__ import annotations

import subprocess
import sys

from netcheck.render import FORMATS
from tests.render.sample import sample_report


def test_every_format_has_a_renderer_and_a_unique_extension() -> None:
    assert {"table", "json", "html", "junit", "markdown", "csv", "firewall-request"} <= set(FORMATS)
    extensions = [fmt.extension for fmt in FORMATS.values()]
    assert len(extensions) == len(set(extensions)), "two formats would overwrite each other's file"
    for name, fmt in FORMATS.items():
        assert fmt.name == name and fmt.help
        assert isinstance(fmt.renderer()(sample_report()), str)


def test_renderers_are_not_imported_at_start_up() -> None:
    code = ("import sys; from netcheck.cli import build_parser; build_parser(); "
            "heavy = [m for m in ('jinja2', 'netcheck.render.html', 'netcheck.render.fleet', 'csv', "
            "'xml.etree.ElementTree', 'netcheck.remediation') if m in sys.modules]; print(heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
