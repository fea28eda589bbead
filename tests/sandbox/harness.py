"""What the public CDS Hooks sandbox does, reproduced over real HTTP against real processes.

- `start_open_fhir_server()`: sekmet-fhir with no authentication, like the sandbox's own FHIR server
  (the sandbox sends no `fhirAuthorization`, so the service reads without a token), with its inbound
  traffic log on so a test can count what the service read (`ReadCounter`).
- the service runs as `sirolimus-cds serve` (tests/support/service_process.py), its TOML config pinning
  the test's public key for the sandbox issuer.
- `Sandbox`: the browser app. Every call is preceded by a CORS preflight from the sandbox's origin and
  carries a fresh ES384 JWT in the sandbox's exact shape (`aud` = the exact URL called); prefetch is
  filled the way the sandbox fills it (a GET per template, each query value `encodeURIComponent`-ed,
  keys sorted; a key whose GET failed is left out).
- `load_request(name, ...)`: a fixture from tests/fixtures/sandbox/, retargeted to a seeded patient,
  the test's FHIR server and today.
"""
from __future__ import annotations

import json
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

import requests

from tests.support.fhir_server import FhirServer, start_fhir_server
from tests.support.jwt_tokens import jwks_for, make_es384_key, sandbox_token

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sandbox"
SANDBOX_ORIGIN = "https://sandbox.cds-hooks.org"
SANDBOX_USER_AGENT = "cds-hooks-sandbox-test (prefetch)"  # tells the sandbox's own reads apart in the log
RECORDED_PATIENT = "khe-demo"
RECORDED_FHIR = "http://127.0.0.1:8091/fhir"


# ---------------------------------------------------------------------------------------------
# The sandbox's FHIR server: open, with a traffic log


def start_open_fhir_server(timeout_s: float = 30.0) -> FhirServer:
    """sekmet-fhir on loopback accepting requests without credentials, logging inbound traffic."""
    return start_fhir_server(timeout_s, token=None, log_inbound=True)


@dataclass
class ReadCounter:
    """Counts the FHIR requests sekmet logged from anyone but the sandbox's own prefetch reads.

    sekmet writes a log row after it has sent the response, so `settled()` waits until the count
    stops moving before reporting it.
    """

    server: FhirServer

    def _count(self) -> int:
        database = self.server.workdir / "data" / "sekmet.db"
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as conn:
            (count,) = conn.execute(
                "SELECT count(*) FROM traffic WHERE direction = 'inbound' AND url LIKE '/fhir/%' "
                "AND url NOT LIKE '/fhir/metadata%' AND coalesce(peer, '') != ?",
                (SANDBOX_USER_AGENT,),
            ).fetchone()
        return int(count)

    def urls_since(self, row_count: int) -> list[str]:
        database = self.server.workdir / "data" / "sekmet.db"
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as conn:
            rows = conn.execute(
                "SELECT method, url FROM traffic WHERE direction = 'inbound' AND url LIKE '/fhir/%' "
                "AND url NOT LIKE '/fhir/metadata%' AND coalesce(peer, '') != ? ORDER BY id",
                (SANDBOX_USER_AGENT,),
            ).fetchall()
        return [f"{method} {url}" for method, url in rows[row_count:]]

    def settled(self, quiet_s: float = 0.4, limit_s: float = 5.0) -> int:
        deadline = time.monotonic() + limit_s
        last, since = self._count(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.05)
            now = self._count()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                break
        return last


# ---------------------------------------------------------------------------------------------
# The sandbox app


@dataclass
class Exchange:
    """One sandbox call: its preflight answer and the call's answer."""

    preflight: requests.Response
    response: requests.Response
    token: str


@dataclass
class Sandbox:
    """The sandbox's browser side: preflight, then the call with a fresh JWT; prefetch by GET."""

    service_base: str
    kid: str = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"
    key: Any = field(default_factory=make_es384_key)
    http: requests.Session = field(default_factory=requests.Session)

    def jwks(self) -> dict[str, Any]:
        return jwks_for(self.key, self.kid)

    def token(self, url: str) -> str:
        return sandbox_token(self.key, self.kid, aud=url)

    def _preflight(self, url: str, method: str) -> requests.Response:
        return self.http.options(url, headers={
            "Origin": SANDBOX_ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization,content-type",
        }, timeout=10)

    def call(self, method: str, path: str, body: Any = None, *, token: str | None = None) -> Exchange:
        """What the sandbox's axios call does: preflight, then the request with its JWT."""
        url = self.service_base + path
        preflight = self._preflight(url, method)
        token = token or self.token(url)
        headers = {"Origin": SANDBOX_ORIGIN, "Accept": "application/json", "Authorization": f"Bearer {token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        response = self.http.request(method, url, headers=headers,
                                     data=None if body is None else json.dumps(body), timeout=30)
        return Exchange(preflight, response, token)

    def discover(self) -> Exchange:
        return self.call("GET", "/cds-services")

    def hook(self, service_id: str, request: dict[str, Any], **kwargs: Any) -> Exchange:
        return self.call("POST", f"/cds-services/{service_id}", request, **kwargs)

    def feedback(self, service_id: str, body: dict[str, Any]) -> Exchange:
        return self.call("POST", f"/cds-services/{service_id}/feedback", body)


def sandbox_query(template: str, patient_id: str) -> str:
    """A prefetch template filled and encoded as the sandbox does (query-string parse, every value
    `encodeURIComponent`-ed, keys sorted by query-string's stringify)."""
    filled = template.replace("{{context.patientId}}", patient_id)
    if "?" not in filled:
        return filled
    path, query = filled.split("?", 1)
    pairs = sorted(parse_qsl(query, keep_blank_values=True))
    return path + "?" + "&".join(f"{k}={quote(v, safe=chr(39) + '-_.!~*()')}" for k, v in pairs)


def sandbox_prefetch(fhir_base_url: str, templates: dict[str, str], patient_id: str,
                     keys: list[str] | None = None) -> dict[str, Any]:
    """The prefetch the sandbox would send for `keys` (default: all): a GET each, failures left out."""
    filled: dict[str, Any] = {}
    for key in keys if keys is not None else list(templates):
        try:
            response = requests.get(f"{fhir_base_url}/{sandbox_query(templates[key], patient_id)}", timeout=10,
                                    headers={"Accept": "application/json+fhir", "User-Agent": SANDBOX_USER_AGENT})
        except requests.RequestException:
            continue
        if response.ok and response.content and response.json():
            filled[key] = response.json()
    return filled


# ---------------------------------------------------------------------------------------------
# Fixtures


def load_json(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def load_request(name: str, *, patient_id: str, fhir_base_url: str, today: date,
                 prefetch: dict[str, Any] | None = None) -> dict[str, Any]:
    """A recorded-shape request retargeted: patient id, FHIR base URL and authoredOn substituted; the
    `{{prefetch}}` placeholder replaced by `prefetch` (the sandbox sends no `prefetch` member when it
    filled nothing). A fresh hookInstance, as each sandbox call has."""
    text = (FIXTURES / name).read_text(encoding="utf-8")
    text = (text.replace("{{patientId}}", patient_id).replace("{{fhirServer}}", fhir_base_url)
            .replace("{{today}}", today.isoformat()))
    request = json.loads(text)
    if request.pop("prefetch", None) is not None and prefetch:
        request["prefetch"] = prefetch
    request["hookInstance"] = str(uuid.uuid4())
    return request
