"""Refusals from a real `sirolimus-cds serve` (gunicorn, 2 workers), whatever layer makes them (issue #13).

Gunicorn refuses a 20 KB header or a 10 KB request line before the app sees it: the answer is still a
JSON OperationOutcome, not gunicorn's HTML page. A token living longer than the configured cap (24 hours
here, against the default 5 minutes) is refused with the bare 401 of CDS Hooks.
"""
from __future__ import annotations

import json
import socket
import uuid

import pytest
import requests

from fhir_profiles.schemas import problems
from tests.support.jwt_tokens import SANDBOX_ISSUER, bearer, claims_for, make_es384_key, mint, sandbox_token
from tests.support.service_process import ServiceProcess, free_port, running_service, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("refusals")
    key, kid, port = make_es384_key(), str(uuid.uuid4()), free_port()
    config = write_config(workdir, port, [], key, kid)
    with running_service(workdir, config, port, workers=2) as running:
        running.key, running.kid = key, kid  # type: ignore[attr-defined]
        yield running


def _outcome(response: requests.Response) -> dict:
    assert response.headers["Content-Type"].startswith("application/json"), response.text[:300]
    body = response.json()
    assert problems("operation-outcome", body) == [], body
    return body


def _raw(service: ServiceProcess, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send bytes as they are (requests would refuse to build some of these) and read the answer."""
    port = int(service.base_url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(request)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def test_a_20_kb_authorization_header_gets_a_json_431(service):
    response = requests.get(f"{service.base_url}/cds-services",
                            headers={"Authorization": "Bearer " + "a" * 20 * 1024}, timeout=10)
    assert response.status_code == 431
    assert _outcome(response)["issue"][0]["code"] == "too-long"
    assert "<html" not in response.text.lower()


def test_a_10_kb_request_line_gets_a_json_414(service):
    response = requests.get(f"{service.base_url}/cds-services?x={'y' * 10 * 1024}", timeout=10)
    assert response.status_code == 414
    assert _outcome(response)["issue"][0]["code"] == "too-long"


@pytest.mark.parametrize("request_bytes", [
    b"GET /cds-services HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET /cds-services\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /cds-services HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n",
], ids=["http-version", "nul-in-line", "space-in-header-name"])
def test_a_malformed_request_gets_a_json_4xx(service, request_bytes):
    status, headers, body = _raw(service, request_bytes)
    assert 400 <= status < 500
    assert headers["Content-Type"] == "application/json"
    assert problems("operation-outcome", json.loads(body)) == []


def test_a_24_hour_token_is_refused_and_a_5_minute_one_accepted(service):
    url = f"{service.base_url}/cds-services"
    claims = claims_for(SANDBOX_ISSUER, url, lifetime=24 * 3600)
    refused = requests.get(url, headers={"Authorization": bearer(mint(service.key, service.kid, "ES384", claims))},
                           timeout=10)
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert refused.content == b""  # CDS Hooks: a bare 401
    accepted = requests.get(url, headers={"Authorization": bearer(sandbox_token(service.key, service.kid, url))},
                            timeout=10)
    assert accepted.status_code == 200
    assert "lifetime (exp - iat) longer than max_token_lifetime_seconds" in service.output()
