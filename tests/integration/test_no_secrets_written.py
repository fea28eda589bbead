"""Neither the caller's JWT nor the FHIR access token is ever written: not to the logs, not to the
audit trail, not to an error body. A whole session runs against a real `sirolimus-cds serve`
process, then everything it wrote is searched for them."""
import uuid

import pytest
import requests

from cds_service.synthetic.seed import seed
from tests.support.jwt_tokens import bearer, make_es384_key, sandbox_token
from tests.support.service_process import free_port, running_service, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PATIENT = "khe-taper-step-due"


def test_a_session_writes_no_token_anywhere(tmp_path, fhir_server):
    seed(fhir_server.base_url, fhir_server.token, names=[PATIENT])
    key, kid, port = make_es384_key(), str(uuid.uuid4()), free_port()
    config = write_config(tmp_path, port, [fhir_server.base_url], key, kid)
    jwts: list[str] = []

    def call(method: str, path: str, body: object | None = None) -> requests.Response:
        url = f"http://127.0.0.1:{port}{path}"
        token = sandbox_token(key, kid, aud=url)
        jwts.append(token)
        return requests.request(method, url, json=body, headers={"Authorization": bearer(token)}, timeout=30)

    hook = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": fhir_server.base_url,
        "fhirAuthorization": {"access_token": fhir_server.token, "token_type": "Bearer", "expires_in": 300,
                              "scope": "patient/*.read", "subject": "sirolimus-cds"},
        "context": {"userId": "Practitioner/1", "patientId": PATIENT},
    }
    bodies = []
    with running_service(tmp_path, config, port) as service:
        assert call("GET", "/cds-services").status_code == 200
        answered = call("POST", "/cds-services/sirolimus-monitoring", hook)
        assert answered.status_code == 200
        cards = answered.json()["cards"]
        assert cards, "a taper step is due for this patient: the session must have produced a card"
        bodies.append(answered.text)
        # Error paths: a refused FHIR token (412), a malformed call (400), a replayed JWT (401).
        wrong = {**hook, "hookInstance": str(uuid.uuid4()),
                 "fhirAuthorization": {**hook["fhirAuthorization"], "access_token": "wrong-" + fhir_server.token}}
        refused = call("POST", "/cds-services/sirolimus-monitoring", wrong)
        assert refused.status_code == 412
        bodies.append(refused.text)
        malformed = call("POST", "/cds-services/sirolimus-monitoring", {**hook, "hookInstance": fhir_server.token})
        assert malformed.status_code == 400
        bodies.append(malformed.text)
        replay = requests.get(f"{service.base_url}/cds-services", headers={"Authorization": bearer(jwts[0])},
                              timeout=10)
        assert replay.status_code == 401
        bodies.append(replay.text)
        feedback = {"feedback": [{"card": cards[0]["uuid"], "outcome": "overridden",
                                  "outcomeTimestamp": "2026-11-22T10:00:00Z"}]}
        assert call("POST", "/cds-services/sirolimus-monitoring/feedback", feedback).status_code == 200
        page = requests.get(cards[0]["links"][0]["url"], timeout=10)
        assert page.status_code == 200
        bodies.append(page.text)

    written = [service.output()] + bodies
    written += [path.read_bytes().decode("latin-1") for path in tmp_path.rglob("*") if path.is_file()
                and path.name not in {"jwks.json", "cds.toml"}]
    secrets = [fhir_server.token, *jwts] + [jwt.split(".")[2] for jwt in jwts]  # signatures alone, too
    for text in written:
        for secret in secrets:
            assert secret not in text
    assert any("cds.db" in str(p) for p in tmp_path.rglob("*")), "the audit database was written and searched"
