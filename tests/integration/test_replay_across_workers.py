"""Without Redis, `serve` as shipped (2 workers) refuses every replay of a token, whichever worker
receives it: the seen `jti`s are kept in the service's database (decision 0128)."""
from __future__ import annotations

import uuid

import pytest
import requests

from tests.support.jwt_tokens import bearer, make_es384_key, sandbox_token
from tests.support.service_process import free_port, running_service, write_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_twelve_presentations_of_one_token_over_new_connections_are_accepted_once(tmp_path, database_url):
    key, kid, port = make_es384_key(), str(uuid.uuid4()), free_port()
    config = write_config(tmp_path, port, [], key, kid, database_url=database_url)  # no redis_url
    url = f"http://127.0.0.1:{port}/cds-services"
    token = sandbox_token(key, kid, aud=url)

    with running_service(tmp_path, config, port, workers=2):
        statuses = []
        for _ in range(12):
            with requests.Session() as fresh:  # a new TCP connection each time: any worker may answer
                statuses.append(fresh.get(url, headers={"Authorization": bearer(token)}, timeout=30).status_code)
        other = requests.get(url, headers={"Authorization": bearer(sandbox_token(key, kid, aud=url))}, timeout=30)

    assert statuses == [200] + [401] * 11
    assert other.status_code == 200  # another token from the same issuer is still welcome
