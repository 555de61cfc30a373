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
}
