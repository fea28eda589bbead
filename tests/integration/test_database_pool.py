"""A worker whose connection pool is exhausted (every connection checked out, none freed within
`pool_timeout_seconds`) answers like a database that does not answer: 503 with Retry-After and an
OperationOutcome, and the wait is counted as a database error (decision 0126). A real SQLAlchemy pool,
on SQLite and on the real PostgreSQL server."""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.exc import TimeoutError as PoolTimeout

from cds_service.config import AuthSettings, DatabaseSettings, Issuer
from cds_service.http import metrics
from fhir_profiles.schemas import problems
from tests.support.app import make_app
from tests.support.jwt_tokens import bearer, claims_for, jwks_for, make_es384_key, mint
from tests.test_feedback import ACCEPTED

pytestmark = [pytest.mark.integration]
BOUNDS = DatabaseSettings(pool_timeout_seconds=0.3)


def _pool_timeouts() -> float:
    from prometheus_client.parser import text_string_to_metric_families

    metrics.instruments()
    return sum(sample.value for family in text_string_to_metric_families(metrics.exposition().decode())
               for sample in family.samples
               if sample.name == "sirolimus_cds_database_errors_total" and sample.labels["error"] == "TimeoutError")


@contextmanager
def every_connection_taken(engine: Engine) -> Iterator[int]:
    """Check out connections until the pool has none left to give (its own timeout says so)."""
    taken = 0
    with ExitStack() as held:
        while True:
            try:
                held.enter_context(engine.connect())
            except PoolTimeout:
                break
            taken += 1
        yield taken


def test_an_exhausted_pool_is_a_counted_503_with_an_operation_outcome(tmp_path, database_url, caplog):
    app = make_app(tmp_path, database_url=database_url, database=BOUNDS)
    client = app.test_client()
    engine = app.extensions["sirolimus_cds"].store.engine
    before = _pool_timeouts()

    with every_connection_taken(engine) as taken, caplog.at_level(logging.WARNING, "sirolimus_cds.http"):
        assert taken >= 5  # a real pool, not one connection
        answered = client.post("/cds-services/sirolimus-order-select/feedback", json=ACCEPTED)
        ready = client.get("/readyz")

    assert answered.status_code == 503 and answered.headers["Retry-After"]
    outcome = answered.get_json()
    assert problems("operation-outcome", outcome) == []
    assert "no free connection for storing feedback" in outcome["issue"][0]["diagnostics"]
    assert "answered 503: the database is busy" in caplog.text
    assert ready.status_code == 503  # out of the load balancer while it lasts
    assert _pool_timeouts() >= before + 2  # the feedback's wait and the probe's, each counted
    # The connections given back, the same worker answers again: nothing was left broken.
    assert client.post("/cds-services/sirolimus-order-select/feedback", json=ACCEPTED).status_code == 200
    assert client.get("/readyz").status_code == 200


def test_a_token_whose_replay_check_finds_no_free_connection_is_a_counted_503(tmp_path, caplog):
    """Without Redis the seen `jti`s live in the service's database (decision 0128): the same pool."""
    key = make_es384_key()
    jwks_file = tmp_path / "ehr-jwks.json"
    jwks_file.write_text(json.dumps(jwks_for(key, "ehr-1")))
    base, iss = "https://cds.example.org", "https://ehr.example.org"
    auth = AuthSettings(issuers=(Issuer(iss=iss, jwks_file=jwks_file),))
    app = make_app(tmp_path, auth=auth, database=BOUNDS, public_base_url=base)
    client = app.test_client()
    path = "/cds-services/sirolimus-order-select/feedback"

    def token() -> dict[str, str]:
        return {"Authorization": bearer(mint(key, "ehr-1", "ES384", claims_for(iss, base + path)))}

    before = _pool_timeouts()
    with every_connection_taken(app.extensions["sirolimus_cds"].store.engine):
        answered = client.post(path, json=ACCEPTED, headers=token())

    assert answered.status_code == 503 and answered.headers["Retry-After"]  # not 401: the token may be fine
    assert problems("operation-outcome", answered.get_json()) == []
    assert "replay store unavailable" in answered.get_json()["issue"][0]["diagnostics"]
    assert _pool_timeouts() == before + 1
    assert client.post(path, json=ACCEPTED, headers=token()).status_code == 200  # connections back: answered
