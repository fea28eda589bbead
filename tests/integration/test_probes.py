"""/livez and /readyz against real PostgreSQL and Redis (issue #13, item 6).

/livez says only that the process answers; /readyz that the database answers and, when `redis_url`
is configured, Redis too: otherwise 503 with an OperationOutcome naming what does not answer.
"""
from __future__ import annotations

import socket

import pytest
import sqlalchemy

from cds_service.http import metrics
from fhir_profiles.schemas import problems
from tests.conftest import require_service
from tests.support.app import make_app

pytestmark = [pytest.mark.integration]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _redis_up() -> None:
    import redis

    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_timeout=1).ping()
    except redis.RedisError as exc:
        require_service("Redis", f"127.0.0.1:6379: {type(exc).__name__}")


def _not_ready(response) -> str:
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    body = response.get_json()
    assert problems("operation-outcome", body) == [], body
    return " | ".join(issue["diagnostics"] for issue in body["issue"])


def test_ready_with_the_database_and_redis_answering(tmp_path):
    _redis_up()
    client = make_app(tmp_path, redis_url="redis://127.0.0.1:6379/0").test_client()
    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").get_json() == {"status": "ready"}


def test_redis_not_answering_is_not_ready_but_alive(tmp_path):
    client = make_app(tmp_path, redis_url=f"redis://127.0.0.1:{_closed_port()}/0").test_client()
    assert "Redis (the JWT replay store) does not answer" in _not_ready(client.get("/readyz"))
    assert client.get("/livez").status_code == 200


def test_a_dropped_database_is_not_ready_and_counted_as_a_database_error(tmp_path, postgres_url, postgres_admin):
    client = make_app(tmp_path, database_url=postgres_url).test_client()
    assert client.get("/readyz").status_code == 200
    errors_before = _database_errors()
    name = postgres_url.rsplit("/", 1)[1]
    with postgres_admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    assert "the database does not answer" in _not_ready(client.get("/readyz"))
    assert client.get("/livez").status_code == 200
    assert _database_errors() > errors_before


def _database_errors() -> float:
    from prometheus_client.parser import text_string_to_metric_families

    metrics.instruments()
    return sum(sample.value for family in text_string_to_metric_families(metrics.exposition().decode())
               for sample in family.samples if sample.name == "sirolimus_cds_database_errors_total")
