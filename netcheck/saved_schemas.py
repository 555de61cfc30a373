"""JSON Schemas of what netcheck saves and reads back: scan reports (netcheck.report/1) and
listener receipts (netcheck.receipt/1). Generated here from the model, published as
schema/report.schema.json and schema/receipt.schema.json (`netcheck schema report|receipt`;
a test keeps the copies in step), and enforced by netcheck/jsonload.py before any
renderer or join sees a saved file."""

from __future__ import annotations

from typing import Any

from netcheck.cloud.categories import CATEGORIES
from netcheck.model import Reason, Status

DRAFT = "https://json-schema.org/draft/2020-12/schema"
BASE = "https://netcheck.invalid/schema"
REPORT_SCHEMA_ID = "netcheck.report/1"
RECEIPT_SCHEMA_ID = "netcheck.receipt/1"
MAX_LATENCY_MS = 86_400_000  # one day: any real probe ends long before
TEXT: dict[str, Any] = {"type": "string"}
# Names netcheck itself validated when it wrote them: never a control character.
NAME: dict[str, Any] = {"type": "string", "pattern": "^[^\\x00-\\x1f\\x7f-\\x9f]*$"}
COUNT: dict[str, Any] = {"type": "integer", "minimum": 0}
PORT: dict[str, Any] = {"type": "integer", "minimum": 0, "maximum": 65535}
TIME: dict[str, Any] = {
    "type": "string",
    "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$",
    "description": "ISO 8601, UTC",
}


def _text(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def _object(properties: dict[str, Any], *, optional: tuple[str, ...] = (), description: str | None = None,
            ) -> dict[str, Any]:
    """A closed object: every property listed, all required but `optional`."""
    schema: dict[str, Any] = {"type": "object"}
    if description:
        schema["description"] = description
    schema["required"] = [name for name in properties if name not in optional]
    schema["additionalProperties"] = False
    schema["properties"] = properties
    return schema


def _result() -> dict[str, Any]:
    return _object({
        "flow": {**NAME, "description": "the profile's flow id"},
        "purpose": TEXT,
        "protocol": _text("application protocol (HTTPS, NTP, ...)"),
        "transport": {"enum": ["tcp", "udp"]},
        "port": {"$ref": "#/$defs/port"},
        "direction": {"enum": ["out", "in"], "description": "out: this host initiates; in: this host must accept"},
        "peer": _text("the site-file peer key (console, ntp, ...)"),
        "destination": _text("the peer host as written in the site file (a URL for crl and proxy); "
                             "empty when not configured or inbound"),
        "address": {"type": ["string", "null"], "description": "the IP actually used"},
        "status": {"enum": [status.value for status in Status]},
        "reason": {"enum": [reason.value for reason in Reason]},
        "latency_ms": {"type": ["number", "null"], "minimum": 0, "maximum": MAX_LATENCY_MS},
        "detail": TEXT,
        "evidence": {"type": "object", "description": "raw facts the probe recorded (ICMP sender, TLS, banners, ...)"},
        "probe": _text("the registered probe kind"),
        "required": {"type": "boolean"},
        "role": TEXT,
        "documented_source": TEXT,
        "documented_destination": TEXT,
        "note": TEXT,
        "options": {"type": "object"},
        "category": {"enum": list(CATEGORIES),
                     "description": "cloud flows: the sensor's own troubleshooting category of a failure (optional)"},
        "expected": _text("the rule the judge held the result to, e.g. 'offset <= 1 s' (optional: only results "
                          "with a site expectation)"),
        "found": _text("what the probe found against that rule, e.g. 'offset +1.730 s' (optional, with expected)"),
    }, optional=("category", "expected", "found"))


def report_schema() -> dict[str, Any]:
    counts = _object({status.value: COUNT for status in (Status.PASS, Status.WARN, Status.FAIL, Status.SKIP,
                                                          Status.ERROR)})
    run = _object({
        "id": {**NAME, "description": "random id of the run; probes carry it as their token"},
        "host": _object({
            "name": {**NAME, "description": "host name of the machine that ran the scan"},
            "addresses": {"type": "array", "items": TEXT, "description": "its unicast addresses, loopback last"},
        }),
        "profile": NAME, "role": NAME, "site": NAME, "site_file": NAME,
        "started": {"$ref": "#/$defs/time"}, "finished": {"$ref": "#/$defs/time"},
        "options": {"type": "object", "description": "the scan's options (timeout_s, deadline_s, strict, ...); "
                                                     "receipt: the listener receipt joined into the report"},
    })
    body = _object({
        "schema": {"const": REPORT_SCHEMA_ID},
        "netcheck": _object({"version": TEXT}),
        "run": run,
        "summary": _object({"counts": counts, "verdict": {"enum": ["pass", "fail", "error"]}}),
        "results": {"type": "array", "items": {"$ref": "#/$defs/result"}},
        "certificates": {"$ref": "#/$defs/certificates"},
    }, optional=("certificates",))
    return {
        "$schema": DRAFT,
        "$id": f"{BASE}/report.schema.json",
        "title": "netcheck report",
        "description": f"One scan: run metadata, summary and one result per flow (schema {REPORT_SCHEMA_ID}, "
                       "written by netcheck/serialize.py).",
        **body,
        "$defs": {
            "time": TIME,
            "port": {"oneOf": [
                PORT,
                {"type": "string", "pattern": "^[0-9]{1,5}-[0-9]{1,5}$",
                 "description": "an inclusive range such as 1025-65535"},
            ]},
            "result": _result(),
            **_certificates(),
        },
    }


def _certificates() -> dict[str, Any]:
    """netcheck.cert/1 in site mode, as netcheck/serialize.py writes Report.certificates."""
    maybe_text = {"type": ["string", "null"]}
    facts = {"type": "object", "description": "facts of one certificate (subject, issuer, validity, key, ...)"}
    counts = _object({"error": COUNT, "warning": COUNT, "info": COUNT})
    findings = {"type": "array", "items": {"$ref": "#/$defs/certificate_finding"}}
    texts = {"type": "array", "items": TEXT}
    appliance = _object({
        "name": maybe_text,
        "ok": {"type": "boolean", "description": "the appliance would accept this certificate"},
        "inputs": _object({"crt": TEXT, "key": maybe_text, "chain": maybe_text, "root": maybe_text,
                           "passphrase_given": {"type": "boolean"}, "hosts": texts}),
        "validation": {"type": "boolean", "description": "certificate validation was on"},
        "proxy": {**maybe_text, "description": "the proxy the CRLs were fetched through"},
        "error": {**maybe_text, "description": "why the files could not be used at all"},
        "certificate": {"type": ["object", "null"], "description": "facts of the leaf certificate"},
        "chain": {"type": "array", "items": facts},
        "path": {**texts, "description": "subjects from the leaf to the last issuer found"},
        "crl": {"type": "array", "items": {"type": "object"},
                "description": "per CRL distribution point: url, download, crl facts, usable"},
        "findings": findings,
        "passed": {**texts, "description": "the checks that found nothing"},
        "counts": counts,
    })
    return {
        "certificates": _object({
            "schema": {"const": "netcheck.cert/1"},
            "mode": {"const": "site"},
            "site": TEXT,
            "ok": {"type": "boolean", "description": "every certificate would be accepted"},
            "appliances": {"type": "array", "items": appliance},
            "findings": {**findings, "description": "across the site (shared certificates or keys)"},
            "counts": counts,
        }, description="the site's certificate verdicts when the site file lists appliance certificates"),
        "certificate_finding": _object({
            "code": TEXT,
            "severity": {"enum": ["error", "warning", "info"]},
            "message": TEXT,
            "appliance_message": {**maybe_text, "description": "the appliance's own words"},
            "fix": maybe_text,
            "subject": maybe_text,
            "downgraded": {"type": "boolean", "description": "an error reported as a warning (validation off)"},
        }),
    }


def receipt_schema() -> dict[str, Any]:
    listener = _object({
        "id": _text("random id of this listener run"),
        "host": _text("host name of the listening machine"),
        "profile": TEXT, "role": TEXT, "site": TEXT,
        "addresses": {"type": "array", "items": TEXT, "description": "the addresses it listened on"},
        "keyed": {"type": "boolean", "description": "NETCHECK_LISTENER_KEY was set: only keyed probes answered"},
        "started": _text("ISO 8601, UTC; empty when the listener never opened"),
        "finished": _text("ISO 8601, UTC; empty when the listener never closed"),
        "duration_s": {"type": "number", "minimum": 0, "maximum": 86_400},
    })
    endpoint = _object({
        "address": TEXT, "transport": {"enum": ["tcp", "udp"]}, "port": PORT,
        "state": _text("listening, in-use, no-permission, not-local or error"),
        "detail": TEXT,
        "flows": {"type": "array", "items": TEXT},
    })
    probe = _object({
        "source": _text("the address the probe came from"), "source_port": PORT,
        "transport": {"enum": ["tcp", "udp"]}, "address": TEXT, "port": PORT,
        "token": _text("the scan's token for one flow"), "run_id": TEXT, "sent_port": PORT,
        "keyed": {"type": "boolean"},
        "first_seen": {"$ref": "#/$defs/time"}, "last_seen": {"$ref": "#/$defs/time"},
        "count": COUNT, "answered": COUNT, "rate_limited": COUNT,
    })
    ignored = _object({
        "rejected": {"type": "object", "additionalProperties": COUNT, "description": "why -> datagrams/connections"},
        "rejected_by_source": {"type": "object", "additionalProperties": COUNT},
        "handshakes_without_token": COUNT, "busy_refusals": COUNT, "records_dropped": COUNT,
    })
    body = _object({
        "schema": {"const": RECEIPT_SCHEMA_ID},
        "netcheck": _object({"version": TEXT}),
        "listener": listener,
        "endpoints": {"type": "array", "items": endpoint},
        "notes": {"type": "array", "items": TEXT},
        "probes": {"type": "array", "items": probe},
        "ignored": ignored,
    })
    return {
        "$schema": DRAFT,
        "$id": f"{BASE}/receipt.schema.json",
        "title": "netcheck listener receipt",
        "description": f"What `netcheck listen` saw (schema {RECEIPT_SCHEMA_ID}, written by "
                       "netcheck/listen/receipt.py).",
        **body,
        "$defs": {"time": TIME},
    }
