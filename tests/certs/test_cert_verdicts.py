"""Report.certificates as a typed model: written by the one serializer in the shape saved reports
have, read back typed, refused with one line when malformed, and light enough for the model."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from netcheck.certs.findings import Severity
from netcheck.errors import ConfigError
from netcheck.serialize import dumps, loads
from tests.certs.conftest import REPO
from tests.render.sample import hostile_report, sample_report


@pytest.mark.parametrize("make", [sample_report, hostile_report])
def test_a_saved_report_reads_back_its_certificates_typed(make: object) -> None:
    report = make()  # type: ignore[operator]
    loaded = loads(dumps(report), "report.json")
    assert loaded.certificates == report.certificates
    assert loaded.certificates is not None and loaded.certificates.appliances[0].findings[0].severity is Severity.ERROR


def test_the_certificates_json_keeps_the_shape_of_netcheck_cert_1() -> None:
    data = json.loads(dumps(sample_report()))["certificates"]
    assert list(data) == ["schema", "mode", "site", "ok", "appliances", "findings", "counts"]
    assert (data["schema"], data["mode"], data["ok"]) == ("netcheck.cert/1", "site", False)
    assert list(data["appliances"][0]) == ["name", "ok", "inputs", "validation", "proxy", "error", "certificate",
                                           "chain", "path", "crl", "findings", "passed", "counts"]
    assert list(data["appliances"][0]["findings"][0]) == ["code", "severity", "message", "appliance_message", "fix",
                                                          "subject", "downgraded"]


@pytest.mark.parametrize(("change", "where"), [
    (lambda c: c.pop("appliances"), "certificates"),
    (lambda c: c["appliances"][0]["findings"][0].update(severity="fatal"), "certificates.appliances[0].findings[0]"),
    (lambda c: c.update(ok="no"), "certificates.ok"),
])
def test_malformed_certificates_are_one_line_naming_the_place(change: object, where: str) -> None:
    data = json.loads(dumps(sample_report()))
    change(data["certificates"])  # type: ignore[operator]
    with pytest.raises(ConfigError) as refused:
        loads(json.dumps(data), "report.json")
    line = refused.value.one_line()
    assert "report.json" in line and where in line and "\n" not in line


def test_the_model_and_serializer_do_not_import_cryptography() -> None:
    code = "import sys, netcheck.model, netcheck.serialize, netcheck.render.certificates; " \
           "print('cryptography' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                         env={"PYTHONPATH": str(REPO)}, check=True)
    assert run.stdout.strip() == "False"
