"""A new gunicorn worker opens its first database connection before it serves (issue #15, scenario f):
the first clinician's call does not pay for it. A database that does not answer at that moment stops
nothing: the worker starts, and the call that needs the database answers 503 as always."""
from __future__ import annotations

import socket

from cds_service.audit.store import Store
from cds_service.config import DatabaseSettings


def test_a_worker_starts_with_one_open_connection_in_its_pool(tmp_path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'audit.db'}")
    store.engine.dispose(close=False)
    assert store.engine.pool.checkedin() == 0  # what a fresh worker had before: nothing open
    store.after_fork()  # gunicorn's post_fork in every worker (cli/serve.py)
    assert store.engine.pool.checkedin() == 1  # opened, and back in the pool for the first call
    store.close()


def test_a_database_that_does_not_answer_does_not_stop_the_worker() -> None:
    with socket.socket() as closed:  # a port nobody listens on: connection refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    store = Store(f"postgresql+psycopg://nobody@127.0.0.1:{port}/test",
                  DatabaseSettings(connect_timeout_seconds=2.0))
    store.after_fork()  # no exception: the worker starts
    assert store.connect_ahead() is False
    assert store.engine.pool.checkedin() == 0
