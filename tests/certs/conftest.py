"""Fixtures for certificate tests: the standard PKI, a fixed `now`, and helpers that write
certificate files or build Material directly for pure analysis tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from netcheck.certs.checks import Analysis, CheckOptions, analyse
from netcheck.certs.load import KeyState, Material
from netcheck.net.http import FetchResult
from tests.certs.pkifactory import NOW, PASSPHRASE, Pki, standard

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def pki() -> Pki:
    return standard()


def material(leaf: Any, key: Any, chain: tuple[Any, ...] = (), **overrides: Any) -> Material:
    """Material as load_material would build it from PEM files, without files."""
    values: dict[str, Any] = {
        "crt_path": "sensor.crt",
        "leaf": leaf,
        "crt_format": "pem",
        "extra_in_crt": (),
        "key": key,
        "key_state": KeyState.OK,
        "key_encrypted": False,
        "key_source": "--key sensor.key",
        "key_in_crt": False,
        "passphrase_unused": False,
        "chain": chain,
        "chain_source": "--chain chain.pem" if chain else None,
        "bag_attributes": False,
    }
    values.update(overrides)
    return Material(**values)


def crl_ok(url: str, body: bytes, proxy: str | None = None) -> FetchResult:
    return FetchResult(
        url=url,
        error=None,
        detail="HTTP/1.1 200 OK",
        status=200,
        status_line="HTTP/1.1 200 OK",
        headers=(("Content-Type", "application/pkix-crl"),),
        body=body,
        proxy=proxy,
        total_ms=1.0,
    )


def run_analysis(mat: Material, downloads: dict[str, FetchResult] | None = None, **options: Any) -> Analysis:
    now = options.pop("now", NOW)
    options.setdefault("hosts", ("sensor-1.plant.example",))  # the default leaf's name
    return analyse(mat, now=now, options=CheckOptions(**options), downloads=downloads or {})


def codes(analysis: Analysis, severity: str | None = None) -> list[str]:
    return [f.code for f in analysis.findings if severity is None or f.severity.value == severity]


@pytest.fixture
def cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `python -m netcheck cert ...` as a user would; the passphrase env var is set."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, "PYTHONPATH": str(REPO), "CERT_PASS": PASSPHRASE, **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "netcheck", "cert", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=environment,
            timeout=timeout,
            check=False,
        )

    return run
