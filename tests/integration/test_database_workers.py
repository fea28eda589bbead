"""Several gunicorn workers on one PostgreSQL database: no connection is shared across the fork.

`sirolimus-cds serve` builds the app (and opens the database) before gunicorn forks its workers; a
connection inherited by two workers corrupts both (psycopg: "can't change autocommit now").
"""
from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import sqlalchemy

from cds_service.audit.database import engine_url
from tests.support.jwt_tokens import bearer, make_es384_key, sandbox_token
from tests.support.service_process import free_port, running_service, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_two_workers_store_40_concurrent_feedback_posts_right_after_boot(tmp_path, postgres_url):
    key, kid, port = make_es384_key(), str(uuid.uuid4()), free_port()
    config = write_config(tmp_path, port, [], key, kid, database_url=postgres_url)
    url = f"http://127.0.0.1:{port}/cds-services/sirolimus-monitoring/feedback"
    cards = [str(uuid.uuid4()) for _ in range(40)]

    def post(card: str) -> int:
        body = {"feedback": [{"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-11-22T10:00:00Z"}]}
        token = sandbox_token(key, kid, aud=url)
        return requests.post(url, json=body, headers={"Authorization": bearer(token)}, timeout=30).status_code

    with running_service(tmp_path, config, port, workers=2) as service, ThreadPoolExecutor(40) as pool:
        statuses = list(pool.map(post, cards))
        log = service.output()

    assert statuses == [200] * 40, log[-3000:]
    engine = sqlalchemy.create_engine(engine_url(postgres_url))
    try:
        with engine.connect() as conn:
            stored = conn.execute(sqlalchemy.text("SELECT card_uuid FROM feedback")).scalars().all()
    finally:
        engine.dispose()
    assert sorted(stored) == sorted(cards)
