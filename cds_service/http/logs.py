"""Structured request logs: one JSON line per request, with nothing a log reader should not see.

    {"ts": "...", "level": "INFO", "logger": "sirolimus_cds.access", "message": "POST /cds-services/<service_id> 412",
     "request_id": "...", "method": "POST", "path": "/cds-services/<service_id>", "service": "sirolimus-dosing",
     "hookInstance": "...", "status": 412, "duration_ms": 12.3, "outcome": "incomplete", "cards": 0}

What is never logged, and why not: the Authorization header and the JWT (a bearer credential), the
`fhirAuthorization` token (the EHR's access to the patient's record), patient names or birth dates
(PHI), error diagnostics (a schema error quotes the offending value, which may be a name) and
exception messages (`KeyError('Jane Doe')`): an error is logged by its type and stack only. Resource
ids (patientId, hookInstance) are allowed at info level.

Route handlers add what only they know through `flask.g`, read here with defaults:
`g.hook_instance`, `g.outcome` (a short word: "no-cards", "2 card(s)", ...), `g.cards` (a count),
`g.timings_ms` (a dict of numbers).
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import re
import sys
import time
import traceback
import uuid
from typing import Any

from flask import Flask, Response, g, request

from cds_service.service.services import known_ids

ACCESS_LOGGER = "sirolimus_cds.access"
REQUEST_ID_HEADER = "X-Request-Id"
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_INSTALLED = "sirolimus_cds.request_logging"

access_log = logging.getLogger(ACCESS_LOGGER)


def install_request_logging(app: Flask) -> None:
    """Log every request of `app` as one JSON-ready record on `sirolimus_cds.access` (idempotent)."""
    if app.extensions.get(_INSTALLED):
        return
    app.extensions[_INSTALLED] = True
    app.before_request(_start)
    app.after_request(_finish)


def request_id_from(header: str | None) -> str:
    """The caller's request id when it is a sane token (safe in logs and headers), else a new uuid4."""
    if header and _SANE_REQUEST_ID.fullmatch(header):
        return header
    return str(uuid.uuid4())


def remember_hook_instance(document: Any) -> None:
    """Note a request body's hookInstance for the access log, if it is a UUID (nothing else is kept)."""
    value = document.get("hookInstance") if isinstance(document, dict) else None
    if isinstance(value, str) and _UUID.fullmatch(value):
        g.hook_instance = value


def _start() -> None:
    g.request_started = time.perf_counter()
    g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))


def _finish(response: Response) -> Response:
    request_id = g.get("request_id") or request_id_from(None)
    response.headers[REQUEST_ID_HEADER] = request_id
    started = g.get("request_started", time.perf_counter())
    fields: dict[str, Any] = {
        "request_id": request_id,
        "method": request.method,
        "path": request.url_rule.rule if request.url_rule is not None else request.path[:200],
        "service": _service(),
        "hookInstance": g.get("hook_instance"),
        "status": response.status_code,
        "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        "outcome": g.get("outcome") or _outcome(response),
    }
    if g.get("cards") is not None:
        fields["cards"] = g.get("cards")
    timings = g.get("timings_ms")
    if isinstance(timings, dict):
        fields["timings_ms"] = {str(k): v for k, v in timings.items() if isinstance(v, int | float)}
    access_log.info("%s %s %s", fields["method"], fields["path"], fields["status"], extra={"fields": fields})
    return response


def _service() -> str | None:
    """The service id named in the URL, only when it is one of ours (an unknown id is caller text)."""
    service_id = (request.view_args or {}).get("service_id")
    return service_id if service_id in known_ids() else None


def _outcome(response: Response) -> str:
    """A short word for the log: the OperationOutcome's issue code for an error, else "ok"."""
    if response.status_code == 401:
        return "unauthorized"
    if response.status_code < 400:
        return "ok"
    try:
        body = response.get_json(silent=True) if response.is_json and not response.is_streamed else None
    except Exception:  # noqa: BLE001 - a log line must never fail the response it describes
        body = None
    if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
        issues = body.get("issue") or [{}]
        code = issues[0].get("code") if isinstance(issues[0], dict) else None
        if isinstance(code, str):
            return code
    return "error"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts, level, logger, message, the record's `fields`, and for an
    exception its type and stack but not its message (the message may quote patient data)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update({key: value for key, value in fields.items() if key not in line})
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, _, tb = record.exc_info
            line["exc_type"] = exc_type.__name__
            line["stack"] = "".join(traceback.format_tb(tb))
        return json.dumps(line, default=str, ensure_ascii=False)


def configure_logging(level: str | int = "INFO") -> None:
    """JSON lines on stderr for the `sirolimus_cds` logger tree (the CLI's `serve` calls this)."""
    root = logging.getLogger("sirolimus_cds")
    for handler in list(root.handlers):
        if getattr(handler, "_sirolimus_json", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._sirolimus_json = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    root.propagate = False  # one line per record, even when a server also configures the root logger
