"""A FHIR server process that misbehaves on purpose, one way per path prefix.

Run as `python -m tests.support.misbehaving_fhir --port 0`: it binds 127.0.0.1, prints the port it
got on the first line of stdout, and serves until killed. A base URL is
`http://127.0.0.1:PORT/<mode>/<tag>/fhir`; `<tag>` is any string a test picks so that its requests
can be told apart in the request log (`GET /__log__?prefix=/<mode>/<tag>/`).

Modes (what every request under the prefix gets):

    ok                 a small valid record (Patient read, searchset Bundles)
    slow               nothing for 30 s, then a valid answer
    drip               valid headers (Content-Length), then one body byte every 0.5 s
    401, 403, 404      that status with an OperationOutcome
    500, 503           that status with an HTML error page
    429                429 Retry-After: 1 on the first request for each URL, then as `ok`
    429-always         429 Retry-After: 1 on every request
    429-long           429 Retry-After: 120
    badjson            200, Content-Type fhir+json, a truncated JSON document
    notfhir            200, valid JSON that is not a resource (a list of numbers)
    not-resources      a searchset Bundle whose entries hold no resources (strings, numbers, {})
    invalid-resources  a searchset Bundle whose entries are resources that fail FHIR validation
    endless-next       every page links to a fresh `next` page
    huge               a 50 MB body declared in Content-Length
    huge-stream        a 50 MB body without Content-Length (close-delimited)
    gzip-bomb          Content-Encoding: gzip, 50 KB on the wire that inflate to 50 MB
    redirect           302 to http://localhost:PORT/ok/stolen/... (another host name)
    moved              307 from <base>/X to <base>/v2/X (inside the base), which answers as `ok`
    redirect-loop      307 to the same URL, for ever
    next-escape        searches: an empty page whose `next` link climbs out of the base, spelled as
                       ESCAPES[i] for a tag `v<i>-...` (a Patient read answers as `ok`)
    redirect-escape    302 to a Location that climbs out of the base, spelled as ESCAPES[i] (tag `v<i>-...`)
"""
from __future__ import annotations

import argparse
import gzip
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

HUGE_BYTES = 50 * 1024 * 1024
_BLOCK = b" " * (64 * 1024)

# Ways to write "leave the base and go to <parent>/admin": dot segments, encoded and mixed-case dots,
# duplicate slashes, a Tomcat path parameter, encoded separators, a double encoding, backslashes.
ESCAPES = (
    "/../admin", "/%2e%2e/admin", "/%2E%2E/admin", "/.%2e/admin", "/%2e./admin", "/./../admin",
    "//..//admin", "/..;/admin", "/%2e%2e%2fadmin", "/%2e%2e%5cadmin", "/%252e%252e/admin", "\\..\\admin",
    "/Patient/..//../admin", "/..%2fadmin", "/%2e%2e/%2e%2e/%2e%2e/admin",
)

_log: list[dict[str, Any]] = []
_log_lock = threading.Lock()
_seen_429: set[str] = set()
_gzip_bomb: list[bytes] = []


def _resource_path(path: str) -> tuple[str, str]:
    """(`/<mode>/<tag>/fhir` prefix's mode, the part after `/fhir/`)."""
    segments = path.split("/")
    mode = segments[1] if len(segments) > 1 else ""
    _, _, rest = path.partition("/fhir/")
    return mode, rest


def _patient_id(rest: str, query: dict[str, list[str]]) -> str:
    if rest.startswith("Patient/"):
        return rest.split("/", 1)[1]
    return (query.get("patient") or ["unknown"])[0]


def _good_answer(rest: str, query: dict[str, list[str]]) -> dict[str, Any]:
    patient_id = _patient_id(rest, query)
    if rest.startswith("Patient/"):
        return {"resourceType": "Patient", "id": patient_id, "birthDate": "2021-03-04", "gender": "male",
                "name": [{"family": "Misbehaving", "given": ["Test"]}]}
    entries = []
    if rest.startswith("Observation") and "29463-7" in (query.get("code") or [""])[0]:
        entries.append({"resource": {
            "resourceType": "Observation", "id": f"{patient_id}-wt", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
            "subject": {"reference": f"Patient/{patient_id}"}, "effectiveDateTime": "2026-11-01",
            "valueQuantity": {"value": 14.2, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}})
    return {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}


def _invalid_resources(rest: str, query: dict[str, list[str]]) -> dict[str, Any]:
    """Resources with a resourceType and an id, but values FHIR R4 does not allow."""
    patient_id = _patient_id(rest, query)
    if rest.startswith("Patient/"):
        return {"resourceType": "Patient", "id": patient_id, "birthDate": "last spring", "gender": 7}
    resource_type = rest.split("?", 1)[0] or "Observation"
    # The code is right (a search would select the resource on it); the values are not FHIR R4.
    system, _, code = (query.get("code") or ["http://loinc.org|29247-4"])[0].split(",")[0].rpartition("|")
    broken = {
        "resourceType": resource_type, "id": f"{patient_id}-broken-{resource_type.lower()}", "status": "final",
        "subject": {"reference": f"Patient/{patient_id}"}, "effectiveDateTime": "2026-11-10T08:00:00Z",
        "code": {"coding": [{"system": system, "code": code}]}, "issued": 42,
        "valueQuantity": {"value": "high", "unit": ["ng/mL"], "code": "ng/mL"},
        "dosageInstruction": {"doseAndRate": "lots"}, "authoredOn": "2026-13-45",
    }
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": broken}]}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "MisbehavingFHIR/1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return  # quiet: tests read the request log through /__log__

    # -- helpers ------------------------------------------------------------------------------

    def _send_json(self, status: int, document: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(document).encode()
        self._send_bytes(status, body, "application/fhir+json", headers)

    def _send_bytes(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _outcome(self, status: int, code: str) -> None:
        self._send_json(status, {"resourceType": "OperationOutcome",
                                 "issue": [{"severity": "error", "code": code}]})

    def _stream(self, total: int) -> None:
        sent = 0
        try:
            self.wfile.write(b'{"resourceType": "Bundle", "type": "searchset", "entry": [')
            while sent < total:
                self.wfile.write(_BLOCK)
                sent += len(_BLOCK)
        except OSError:
            pass  # the client gave up: that is the point
        self.close_connection = True

    # -- dispatch -----------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        parts = urlsplit(self.path)
        if parts.path == "/__log__":
            prefix = (parse_qs(parts.query).get("prefix") or [""])[0]
            with _log_lock:
                entries = [entry for entry in _log if entry["path"].startswith(prefix)]
            self._send_json(200, entries)
            return
        with _log_lock:
            _log.append({"path": self.path, "authorization": self.headers.get("Authorization"),
                         "host": self.headers.get("Host")})
        mode, rest = _resource_path(parts.path)
        query = parse_qs(parts.query)
        try:
            self._answer(mode, rest, query)
        except OSError:
            self.close_connection = True

    def _answer(self, mode: str, rest: str, query: dict[str, list[str]]) -> None:
        if mode == "ok":
            self._send_json(200, _good_answer(rest, query))
        elif mode == "slow":
            time.sleep(30)
            self._send_json(200, _good_answer(rest, query))
        elif mode == "drip":
            body = json.dumps(_good_answer(rest, query)).encode().ljust(200)
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for index in range(len(body)):
                self.wfile.write(body[index:index + 1])
                self.wfile.flush()
                time.sleep(0.5)
        elif mode in ("401", "403", "404"):
            self._outcome(int(mode), {"401": "login", "403": "forbidden", "404": "not-found"}[mode])
        elif mode in ("500", "503"):
            self._send_bytes(int(mode), b"<html><body>Internal trouble</body></html>", "text/html")
        elif mode == "429":
            with _log_lock:
                first = self.path not in _seen_429
                _seen_429.add(self.path)
            if first:
                self._outcome_429("1")
            else:
                self._send_json(200, _good_answer(rest, query))
        elif mode == "429-always":
            self._outcome_429("1")
        elif mode == "429-long":
            self._outcome_429("120")
        elif mode == "badjson":
            self._send_bytes(200, b'{"resourceType": "Bundle", "entry": [{"resource": {"resourceTy',
                             "application/fhir+json")
        elif mode == "notfhir":
            self._send_json(200, [1, 2, 3])
        elif mode == "not-resources":
            self._send_json(200, {"resourceType": "Bundle", "type": "searchset",
                                  "entry": ["Patient/1", 42, {}, {"resource": "Observation/2"}]})
        elif mode == "invalid-resources":
            self._send_json(200, _invalid_resources(rest, query))
        elif mode == "endless-next":
            page = int((query.get("page") or ["0"])[0]) + 1
            host = f"http://127.0.0.1:{self.server.server_address[1]}"
            prefix = urlsplit(self.path).path
            self._send_json(200, {"resourceType": "Bundle", "type": "searchset", "entry": [],
                                  "link": [{"relation": "next", "url": f"{host}{prefix}?page={page}"}]})
        elif mode == "huge":
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(HUGE_BYTES))
            self.end_headers()
            self._stream(HUGE_BYTES)
        elif mode == "huge-stream":
            self.send_response(200)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Connection", "close")
            self.end_headers()
            self._stream(HUGE_BYTES)
        elif mode == "gzip-bomb":
            self._send_bytes(200, _gzip_bomb[0], "application/fhir+json", {"Content-Encoding": "gzip"})
        elif mode == "redirect":
            port = self.server.server_address[1]
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{port}/ok/stolen/fhir/{rest}")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif mode in ("moved", "redirect-loop"):
            self._moved(mode, rest, query)
        elif mode in ("next-escape", "redirect-escape"):
            self._escape(mode, rest, query)
        else:
            self._outcome(404, "not-found")

    def _moved(self, mode: str, rest: str, query: dict[str, list[str]]) -> None:
        if mode == "moved" and rest.startswith("v2/"):
            self._send_json(200, _good_answer(rest.removeprefix("v2/"), query))
            return
        parts = urlsplit(self.path)
        base = parts.path.partition("/fhir/")[0] + "/fhir/"
        target = base + ("v2/" if mode == "moved" else "") + rest + (f"?{parts.query}" if parts.query else "")
        self.send_response(307)
        self.send_header("Location", target)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _escape(self, mode: str, rest: str, query: dict[str, list[str]]) -> None:
        base = urlsplit(self.path).path.partition("/fhir")[0] + "/fhir"
        tag = base.split("/")[2]
        escape = ESCAPES[int(tag.split("-")[0].removeprefix("v"))]
        target = f"http://127.0.0.1:{self.server.server_address[1]}{base}{escape}/secret"
        if mode == "redirect-escape":
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif rest.startswith("Patient/") or "admin" in self.path:
            self._send_json(200, _good_answer(rest, query))
        else:
            self._send_json(200, {"resourceType": "Bundle", "type": "searchset", "entry": [],
                                  "link": [{"relation": "next", "url": target}]})

    def _outcome_429(self, retry_after: str) -> None:
        outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "throttled"}]}
        self._send_json(429, outcome, {"Retry-After": retry_after})


@dataclass
class MisbehavingServer:
    """The running process, seen from a test."""

    port: int
    process: subprocess.Popen[str]

    def base_url(self, mode: str, tag: str = "t") -> str:
        return f"http://127.0.0.1:{self.port}/{mode}/{tag}/fhir"

    def requests_under(self, prefix: str) -> list[dict[str, Any]]:
        """The requests the server received whose path starts with `prefix` (`/<mode>/<tag>/`)."""
        import requests

        response = requests.get(f"http://127.0.0.1:{self.port}/__log__", params={"prefix": prefix}, timeout=5)
        response.raise_for_status()
        return list(response.json())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_misbehaving_server(timeout_s: float = 10.0) -> MisbehavingServer:
    """Start the process (this module, run as a script) and wait for the port it prints."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.misbehaving_fhir", "--port", "0"],
        cwd=root, stdout=subprocess.PIPE, text=True,
    )
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: found.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    found: list[str] = []
    reader.start()
    reader.join(timeout_s)
    if not found or not found[0].strip().isdigit():
        process.kill()
        raise RuntimeError("the misbehaving FHIR server did not start")
    return MisbehavingServer(port=int(found[0]), process=process)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on stdout)")
    args = parser.parse_args(argv)
    ThreadingHTTPServer.request_queue_size = 128  # the default backlog (5) drops concurrent SYNs: 1 s stalls
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    inflated = b'{"resourceType": "Bundle", "entry": [' + b" " * HUGE_BYTES + b"]}"
    _gzip_bomb.append(gzip.compress(inflated, compresslevel=1))  # once, before answering anything
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:  # pragma: no cover - interactive use
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main(sys.argv[1:])
