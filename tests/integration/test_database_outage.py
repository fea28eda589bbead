"""A PostgreSQL that stops answering: 503 with an OperationOutcome and Retry-After, bounded by the
`[database]` timeouts, never a 500 and never a card without its audit record; recovery without a restart.

The database is the real local server behind a TCP proxy that this test freezes (tests/support/
freezable_proxy.py): the shared server itself is never stopped.
"""
from __future__ import annotations

import time
import uuid

import pytest
import requests
import sqlalchemy
from sqlalchemy.engine import make_url

from cds_service.audit.database import engine_url
from cds_service.config import DatabaseSettings
from cds_service.synthetic.seed import seed
from tests.support.app import hook_request, make_app
from tests.support.freezable_proxy import FreezableProxy
from tests.support.jwt_tokens import bearer, make_es384_key, sandbox_token
from tests.support.service_process import free_port, running_service, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PATIENT = "khe-taper-step-due"  # a taper step is due: a decision with a card
BOUNDS = DatabaseSettings(connect_timeout_seconds=2, pool_timeout_seconds=1, statement_timeout_seconds=1)
BOUNDS_TOML = "[database]\nconnect_timeout_seconds = 2\npool_timeout_seconds = 1\nstatement_timeout_seconds = 1\n"
# The longest a request may wait on a frozen database: a pooled connection's ping (statement bound
# + 0.5 s), then one new connection (connect bound), with slack for a busy machine. A hang fails.
CLIENT_TIMEOUT_S = 20


@pytest.fixture
def proxy(postgres_url):
    url = make_url(postgres_url)
    with FreezableProxy(url.host or "127.0.0.1", url.port or 5432) as running:
        yield running, url.set(host="127.0.0.1", port=running.port).render_as_string(hide_password=False)


def _assert_unavailable(status: int, headers, body: dict) -> None:
    assert status == 503
    assert int(headers["Retry-After"]) > 0
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "transient"


def _feedback(card: str) -> dict:
    return {"feedback": [{"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-11-22T10:00:00Z"}]}


def _audit_rows(database_url: str) -> int:
    engine = sqlalchemy.create_engine(engine_url(database_url))
    try:
        with engine.connect() as conn:
            return int(conn.execute(sqlalchemy.text("SELECT count(*) FROM decisions")).scalar_one())
    finally:
        engine.dispose()


def test_a_hook_call_whose_audit_record_cannot_be_written_gets_503_and_no_card(tmp_path, fhir_server, proxy,
                                                                              postgres_url):
    seed(fhir_server.base_url, fhir_server.token, names=[PATIENT])
    frozen, proxied_url = proxy
    client = make_app(tmp_path, fhir_servers=(fhir_server.base_url,), database_url=proxied_url,
                      database=BOUNDS).test_client()
    call = hook_request("patient-view", PATIENT, fhir_server.base_url, fhir_server.token)
    answered = client.post("/cds-services/sirolimus-monitoring", json=call)
    assert answered.status_code == 200 and answered.get_json()["cards"], "the patient gets a card normally"
    assert _audit_rows(postgres_url) == 1

    frozen.freeze()
    refused = client.post("/cds-services/sirolimus-monitoring", json={**call, "hookInstance": str(uuid.uuid4())})
    _assert_unavailable(refused.status_code, refused.headers, refused.get_json())
    assert "cards" not in refused.get_json()  # no decision is answered without its audit record (0126)
    health = client.get("/healthz")
    assert health.status_code == 503

    frozen.resume()
    again = client.post("/cds-services/sirolimus-monitoring", json={**call, "hookInstance": str(uuid.uuid4())})
    assert again.status_code == 200 and again.get_json()["cards"]
    assert _audit_rows(postgres_url) == 2  # every answered call, and only those, has its record


def test_two_workers_answer_503_while_the_database_is_frozen_and_recover_without_restart(tmp_path, proxy,
                                                                                        postgres_url):
    frozen, proxied_url = proxy
    key, kid, port = make_es384_key(), str(uuid.uuid4()), free_port()
    config = write_config(tmp_path, port, [], key, kid, extra=BOUNDS_TOML, database_url=proxied_url)
    url = f"http://127.0.0.1:{port}/cds-services/sirolimus-monitoring/feedback"

    def post(card: str) -> requests.Response:
        token = sandbox_token(key, kid, aud=url)
        return requests.post(url, json=_feedback(card), headers={"Authorization": bearer(token)},
                             timeout=CLIENT_TIMEOUT_S)

    with running_service(tmp_path, config, port, workers=2) as service:
        assert post("before").status_code == 200
        frozen.freeze()
        for card in ("during-1", "during-2", "during-3", "during-4"):  # both workers, pooled and new connections
            refused = post(card)
            _assert_unavailable(refused.status_code, refused.headers, refused.json())
        health = requests.get(f"{service.base_url}/healthz", timeout=CLIENT_TIMEOUT_S)
        assert health.status_code == 503
        frozen.resume()
        deadline = time.monotonic() + 60
        while requests.get(f"{service.base_url}/healthz", timeout=CLIENT_TIMEOUT_S).status_code != 200:
            assert time.monotonic() < deadline, "the service did not recover after the database came back"
            time.sleep(0.2)
        after = [post(f"after-{n}").status_code for n in range(6)]
        pid_unchanged = service.process.poll() is None
        log = service.output()

    assert after == [200] * 6
    assert pid_unchanged
    assert '"status": 500' not in log
    engine = sqlalchemy.create_engine(engine_url(postgres_url))
    with engine.connect() as conn:
        stored = set(conn.execute(sqlalchemy.text("SELECT card_uuid FROM feedback")).scalars())
    engine.dispose()
    assert stored == {"before"} | {f"after-{n}" for n in range(6)}
