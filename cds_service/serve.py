"""Run the app under gunicorn (a production WSGI server), configured from code, not a file."""
from __future__ import annotations

from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


class GunicornServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.application = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.application


def run(app: Flask, host: str, port: int, workers: int, threads: int = 4) -> None:
    """Serve `app` with `workers` pre-forked processes of `threads` threads each.

    Threads because a hook call mostly waits on the FHIR server; the app is built before forking,
    so configuration errors stop the command before any worker starts. No database connection
    crosses the fork: the master closes its pool, and each worker starts with an empty one.
    """
    store = app.extensions["sirolimus_cds"].store
    store.close()
    GunicornServer(
        app,
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            "timeout": 30,
            "graceful_timeout": 10,
            "keepalive": 5,
            "accesslog": None,  # the app writes its own structured request log, without tokens
            "limit_request_field_size": 16384,
            "post_fork": lambda _server, _worker: store.after_fork(),
        },
    ).run()
