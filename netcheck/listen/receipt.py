"""The listener's JSON receipt (schema netcheck.receipt/1), and joining it into a scan report.

`join_receipt(report, receipt)` is pure: it returns a new Report in which every flow the scan
tested through the listener also says what the far end saw (arrived or not, from which source
address), so one report shows both ends: `netcheck report RESULT.json --receipt RECEIPT.json`.
"""

from __future__ import annotations

import dataclasses
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from netcheck import __version__
from netcheck.errors import ConfigError
from netcheck.listen.server import Listener
from netcheck.model import Reason, Report, Result, Status

SCHEMA = "netcheck.receipt/1"
EXPECTED = f"a listener receipt (JSON, schema {SCHEMA})"


def receipt_dict(listener: Listener, *, listener_id: str, host: str, profile: str, role: str, site: str,
                 duration_s: float, notes: list[str]) -> dict[str, Any]:
    ledger = listener.ledger
    return {
        "schema": SCHEMA,
        "netcheck": {"version": __version__},
        "listener": {
            "id": listener_id, "host": host, "profile": profile, "role": role, "site": site,
            "addresses": list(listener.addresses), "keyed": listener.key is not None,
            "started": listener.started, "finished": listener.finished, "duration_s": duration_s,
        },
        "endpoints": [dataclasses.asdict(outcome) for outcome in listener.outcomes],
        "notes": notes,
        "probes": [dataclasses.asdict(record) for record in ledger.records.values()],
        "ignored": {
            "rejected": dict(sorted(ledger.rejected.items())),
            "rejected_by_source": dict(sorted(ledger.rejected_by_source.items())),
            "handshakes_without_token": ledger.handshakes_without_token,
            "busy_refusals": ledger.busy_refusals,
            "records_dropped": ledger.records_dropped,
        },
    }


def write_receipt(path: Path, data: Mapping[str, Any]) -> None:
    """Atomically (netcheck.outputs): a listener stopped by a signal never leaves half a receipt."""
    from netcheck.outputs import write_text_file

    write_text_file(path, json.dumps(data, indent=2) + "\n", "receipt")


def load_receipt(path: Path) -> dict[str, Any]:
    """A receipt file through the one input gate, held to schema/receipt.schema.json."""
    from netcheck.inputs import CAP_RECEIPT
    from netcheck.jsonload import load_json

    data = load_json(path, EXPECTED, CAP_RECEIPT)
    check_receipt(data, str(path))
    return data


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    from netcheck.saved_schemas import receipt_schema

    return receipt_schema()


def check_receipt(data: Any, source: str) -> None:
    """ConfigError unless `data` is a receipt that follows its published schema."""
    from netcheck.jsonload import check_schema

    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ConfigError(source, f"not a listener receipt (schema {str(found)[:40]!r})", expected=f"schema {SCHEMA}")
    check_schema(data, _schema(), source)


def _check_shape(data: Any, source: str) -> None:
    """The little join_receipt relies on (receipts read from files passed check_receipt already)."""
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ConfigError(source, f"not a listener receipt (schema {str(found)[:40]!r})", expected=f"schema {SCHEMA}")
    if not isinstance(data.get("listener"), dict) or not isinstance(data.get("probes"), list) \
            or not isinstance(data.get("endpoints"), list):
        raise ConfigError(source, "malformed receipt", expected="listener, endpoints and probes")


def _why_it_never_arrived(reason: Reason) -> str:
    """What the probe's own reason says about where the token stopped (a reset is not a drop)."""
    if reason is Reason.REFUSED:
        return ("the path is open, but nothing accepted the connection on that port (a reset: no listener, "
                "or a firewall rejecting with a reset)")
    if reason in (Reason.PROHIBITED, Reason.UNREACHABLE):
        return "a router or firewall rejected it on the way there"
    return "dropped on the way there"


def _tokens_of(result: Result) -> list[str]:
    listener = result.evidence.get("listener")
    if not isinstance(listener, Mapping):
        return []
    if isinstance(listener.get("token"), str):
        return [listener["token"]]
    per_port = listener.get("tokens")
    return [t for t in per_port.values() if isinstance(t, str)] if isinstance(per_port, Mapping) else []


def _port_state(receipt: Mapping[str, Any], result: Result) -> str | None:
    """How the listener fared binding this flow's port on the flow's destination address."""
    for endpoint in receipt.get("endpoints", []):
        if (endpoint.get("transport"), endpoint.get("port")) == (result.flow.transport, result.flow.port) \
                and endpoint.get("address") in (result.address, "0.0.0.0", "::"):
            return str(endpoint.get("state"))
    return None


def join_receipt(report: Report, receipt: Mapping[str, Any]) -> Report:
    """The report with the listener's view added to every flow tested through the listener.

    Per flow (evidence["receipt"], and a clause appended to the detail):
    - confirmed and seen: where the listener saw it from (a NAT shows as a foreign source);
    - failed but seen: the token arrived, the echo did not come back - the return path is blocked;
    - failed and not seen: confirms the drop happened on the way there;
    - handshake without echo, on a port the listener found in use: the real service answered (pass).
    Raises ConfigError when the receipt does not cover the scan's time.
    """
    _check_shape(receipt, "receipt")
    meta = receipt["listener"]
    started, finished = str(meta.get("started", "")), str(meta.get("finished", "") or "9999")
    if started > report.info.finished or finished < report.info.started:
        raise ConfigError("receipt", f"the listener ran {started} - {finished}, "
                                     f"the scan {report.info.started} - {report.info.finished}",
                          expected="the receipt of a listener that ran during this scan")
    probes = [p for p in receipt["probes"] if isinstance(p, Mapping)]
    by_token: dict[str, list[Mapping[str, Any]]] = {}
    for probe in probes:
        by_token.setdefault(str(probe.get("token")), []).append(probe)
    results = [_join_one(result, by_token, receipt, report.info.host_addresses) for result in report.results]
    options = {**report.info.options, "receipt": {"listener": meta.get("id"), "host": meta.get("host"),
                                                  "started": started, "finished": meta.get("finished")}}
    return Report.build(dataclasses.replace(report.info, options=options), results, report.certificates)


def _join_one(result: Result, by_token: Mapping[str, list[Mapping[str, Any]]], receipt: Mapping[str, Any],
              own_addresses: tuple[str, ...]) -> Result:
    tokens = _tokens_of(result)
    if not tokens:
        return result
    seen = [probe for token in tokens for probe in by_token.get(token, [])]
    evidence: dict[str, Any] = {"seen": bool(seen), "listener": receipt["listener"].get("id")}
    status, reason, detail = result.status, result.reason, result.detail
    if seen:
        sources = sorted({str(p.get("source")) for p in seen})
        evidence.update(sources=sources, first_seen=min(str(p.get("first_seen")) for p in seen),
                        answered=sum(int(p.get("answered", 0)) for p in seen),
                        rate_limited=sum(int(p.get("rate_limited", 0)) for p in seen))
        clause = f"the listener saw it from {', '.join(sources)}"
        foreign = [s for s in sources if s not in own_addresses]
        if foreign and own_addresses:
            clause += " (not an address of the scanning host: a NAT rewrites the source)"
        if status is Status.FAIL:
            if evidence["answered"] == 0 and evidence["rate_limited"]:
                clause = f"the token arrived ({clause}) but the listener rate-limited it"
            else:
                clause = (f"the token arrived ({clause}) but its echo never came back: "
                          "the return path drops it (an asymmetric rule or route)")
    elif status is Status.FAIL:
        clause = f"the receipt shows the token never arrived: {_why_it_never_arrived(reason)}"
    elif reason is Reason.UNCONFIRMED and _port_state(receipt, result) == "in-use":
        status, reason = Status.PASS, Reason.OPEN
        clause = "the listener found the port in use there: the handshake reached the real service"
    elif reason is Reason.CONFIRMED:
        clause = "not in this receipt: another listener answered?"
    else:
        clause = "the listener never saw the token"
    return dataclasses.replace(result, status=status, reason=reason, detail=f"{detail}; {clause}",
                               evidence={**result.evidence, "receipt": evidence})
