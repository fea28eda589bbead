"""Run the app under gunicorn (a production WSGI server), configured from code, not a file.

Gunicorn refuses some requests before the app sees them (a header over `limit_request_field_size`, a
request line over `limit_request_line`, a malformed request) and answers those with an HTML page.
`JsonErrorWorker` answers them as the app answers everything else: a JSON OperationOutcome, logged as
one access line with the error's type only (gunicorn's own message may quote a header: a token).
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from flask import Flask
from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from gunicorn.http import errors as refused
from gunicorn.util import write_nonblock
from gunicorn.workers.gthread import ThreadWorker

from cds_service.errors import ServiceError
from cds_service.http.logs import JsonFormatter
from cds_service.http.outcome import operation_outcome

_BAD_REQUEST = (400, "Bad Request", "invalid", "the request is malformed")
# gunicorn's refusal -> status, reason phrase, OperationOutcome issue code, what to tell the caller
_REFUSALS: tuple[tuple[type[BaseException], tuple[int, str, str, str]], ...] = (
    (refused.LimitRequestHeaders,
     (431, "Request Header Fields Too Large", "too-long", "a request header, or the headers together, are too large")),
    (refused.LimitRequestLine, (414, "URI Too Long", "too-long", "the request line is too long")),
    (refused.UnsupportedTransferCoding, (501, "Not Implemented", "not-supported", "unsupported transfer coding")),
    (refused.ForbiddenProxyRequest, (403, "Forbidden", "forbidden", "request forbidden")),
    (refused.ParseException, _BAD_REQUEST),
)
access_log = logging.getLogger("sirolimus_cds.access")
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's name


@contextlib.contextmanager
def metrics_directory() -> Iterator[Path]:
    """A fresh PROMETHEUS_MULTIPROC_DIR for one `serve`, removed when it stops (cds_service.http.metrics).

    Entered before anything imports prometheus_client, which picks its value store on import. Only the
    process that made the directory removes it: a gunicorn worker exits through the same stack.
    """
    owner, previous = os.getpid(), os.environ.get(MULTIPROC_ENV)
    directory = Path(tempfile.mkdtemp(prefix="sirolimus-cds-metrics-"))
    os.environ[MULTIPROC_ENV] = str(directory)
    try:
        yield directory
    finally:
        if os.getpid() == owner:
            shutil.rmtree(directory, ignore_errors=True)
            if previous is None:
                os.environ.pop(MULTIPROC_ENV, None)
            else:
                os.environ[MULTIPROC_ENV] = previous


def refusal_for(error: BaseException) -> tuple[int, str, str, str]:
    """(status, reason phrase, issue code, diagnostics) for an error gunicorn raised outside the app."""
    for kind, answer in _REFUSALS:
        if isinstance(error, kind):
            return answer
    return 500, "Internal Server Error", "exception", "the server failed to read this request; it has been logged"


def json_error_bytes(error: BaseException) -> tuple[int, bytes]:
    """The whole HTTP/1.1 answer for `error`: status line, headers, OperationOutcome body."""
    status, reason, code, diagnostics = refusal_for(error)
    problem = ServiceError(diagnostics)
    problem.issue_code = code
    body = json.dumps(operation_outcome(problem)).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\nConnection: close\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n")
    return status, head.encode("latin-1") + body


class JsonErrorWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's threaded worker, answering its own refusals with a JSON OperationOutcome."""

    def handle_error(self, req: Any, client: socket.socket, addr: Any, exc: BaseException) -> None:
        status, payload = json_error_bytes(exc)
        fields = {"status": status, "outcome": "refused-by-server", "error": type(exc).__name__}
        if status >= 500:
            access_log.error("request failed in the server: %s", type(exc).__name__, extra={"fields": fields})
        else:
            access_log.warning("refused before the app: %s %s", status, type(exc).__name__, extra={"fields": fields})
        with contextlib.suppress(OSError):  # the client has gone: nothing to answer
            write_nonblock(client, payload)


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


class JsonLogger(glogging.Logger):  # type: ignore[misc]
    """gunicorn's own lines (booting, worker exits, errors) as the app's: one JSON object per line."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())


def run(app: Flask, host: str, port: int, workers: int, threads: int = 4, *, log_level: str = "INFO",
        when_ready: Callable[[], None] | None = None) -> None:
    """Serve `app` with `workers` pre-forked processes of `threads` threads each, and a second listener
    for /metrics and the probes when the app names its port (`serve --metrics-port`).

    Threads because a hook call mostly waits on the FHIR server; the app is built before forking,
    so configuration errors stop the command before any worker starts. No database connection
    crosses the fork: the master closes its pool, and each worker opens its own first one before it
    serves (`Store.connect_ahead`, scenario f of issue #15).
    `when_ready` is called once the port is bound, as the workers start.
    """
    from cds_service.http.metrics import worker_exited
    from cds_service.http.operations import METRICS_PORT

    hooks: dict[str, Any] = {"when_ready": lambda _arbiter: when_ready()} if when_ready else {}
    metrics_port = app.config.get(METRICS_PORT)
    store = app.extensions["sirolimus_cds"].store
    store.close()
    GunicornServer(
        app,
        {
            **hooks,
            "bind": [f"{host}:{port}", *([f"{host}:{metrics_port}"] if metrics_port else [])],
            "logger_class": "cds_service.cli.serve.JsonLogger",
            "loglevel": log_level.lower(),
            "workers": workers,
            "threads": threads,
            "worker_class": "cds_service.cli.serve.JsonErrorWorker",
            "timeout": 30,
            "graceful_timeout": 10,
            "keepalive": 5,
            "accesslog": None,  # the app writes its own structured request log, without tokens
            "limit_request_field_size": 16384,
            "post_fork": lambda _server, _worker: store.after_fork(),
            "child_exit": lambda _server, worker: worker_exited(worker.pid),
        },
    ).run()
