"""Probes and metrics for operations: /livez, /readyz, /metrics, and the counting of hook calls and feedback.

- `/livez`: the process answers (no dependency checked: a database outage must not get it restarted).
- `/readyz`: the database answers, and Redis when `redis_url` is configured; otherwise 503 with an
  OperationOutcome naming what does not answer (take it out of the load balancer, do not restart it).
- `/metrics`: the Prometheus text format, answered only on the metrics listener (`serve
  --metrics-port`), never on the port the EHR calls; no JWT (decision 0122). The probes answer on both.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from sqlalchemy import event, select
from sqlalchemy.engine import ExceptionContext

from cds_service.errors import NotFound, ServiceUnavailable
from cds_service.http import metrics
from cds_service.service.services import DEPRECATED_DOSING, known_ids, services
from cds_service.service.state import app_state

log = logging.getLogger("sirolimus_cds.http")
operations = Blueprint("operations", __name__)

METRICS_PORT = "SIROLIMUS_CDS_METRICS_PORT"  # app.config key: the metrics listener's port, when there is one
_ON_BOTH_LISTENERS = frozenset({"operations.live", "operations.ready", "operations.prometheus", "cds.health"})
_HOOK_RULE = "/cds-services/<service_id>"
_FEEDBACK_RULE = "/cds-services/<service_id>/feedback"
_REDIS = "sirolimus_cds.readiness_redis"
_INSTALLED = "sirolimus_cds.metrics"


def install_metrics(app: Flask) -> None:
    """Count hook calls and feedback after each request, and database errors as the engine sees them."""
    if app.extensions.get(_INSTALLED):
        return
    app.extensions[_INSTALLED] = True
    metrics.instruments()
    app.before_request(_start)
    app.after_request(_count)
    event.listen(app_state(app).store.engine, "handle_error", _database_error)


def _on_metrics_listener() -> bool:
    port = current_app.config.get(METRICS_PORT)
    return port is not None and request.environ.get("SERVER_PORT") == str(port)


def _start() -> None:
    g.metrics_started = time.perf_counter()
    if _on_metrics_listener() and request.endpoint not in _ON_BOTH_LISTENERS:
        raise NotFound("the metrics listener answers /metrics, /livez, /readyz and /healthz only")


@operations.get("/livez")
def live() -> Response:
    return jsonify({"status": "ok"})


@operations.get("/readyz")
def ready() -> Response:
    state = app_state()
    down = [] if state.store.healthy() else ["the database does not answer"]
    if state.settings.redis_url and not _redis_answers(state.settings.redis_url):
        down.append("Redis (the JWT replay store) does not answer")
    if down:
        raise ServiceUnavailable(down[0], details=down[1:])  # 503, Retry-After, an OperationOutcome
    return jsonify({"status": "ready"})


def _redis_answers(url: str) -> bool:
    import redis

    client = current_app.extensions.get(_REDIS)
    if client is None:
        client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        current_app.extensions[_REDIS] = client
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False


@operations.get("/metrics")
def prometheus() -> Response:
    if not _on_metrics_listener():
        raise NotFound("metrics are served on the metrics listener only (serve --metrics-port)")
    return Response(metrics.exposition(), mimetype=None, content_type=metrics.CONTENT_TYPE)


# -- counting ---------------------------------------------------------------------------------


def _count(response: Response) -> Response:
    """After a hook call or a feedback post: its metrics. A failure here never fails the answer."""
    rule = request.url_rule.rule if request.url_rule is not None else None
    if request.method != "POST" or rule not in (_HOOK_RULE, _FEEDBACK_RULE) or _on_metrics_listener():
        return response  # a hook posted to the metrics listener was not a hook call: refused, not counted
    service_id = (request.view_args or {}).get("service_id")
    service = service_id if service_id in known_ids() else metrics.UNKNOWN
    try:
        if rule == _HOOK_RULE:
            hook, outcome = _hook_of(service), metrics.hook_outcome(response.status_code, g.get("outcome"))
            metrics.instruments().hook_calls.labels(service, hook, outcome).inc()
            elapsed = time.perf_counter() - g.metrics_started
            metrics.instruments().hook_call_seconds.labels(service, hook).observe(elapsed)
        elif response.status_code == 200:
            _count_feedback(service, g.get("feedback_items") or [])
    except Exception:  # noqa: BLE001 - counting is best effort; the clinician's answer comes first
        log.exception("metrics not recorded")
    return response


def _hook_of(service: str) -> str:
    if service in services():
        return services()[service].hook
    hook = g.get("hook")  # the deprecated id answers both order hooks: the route notes which
    return hook if service == DEPRECATED_DOSING and hook in ("order-select", "order-sign") else metrics.UNKNOWN


def _count_feedback(service: str, items: list[dict[str, Any]]) -> None:
    kinds = _card_kinds([item["card"] for item in items])
    for item in items:
        outcome = item["outcome"] if item["outcome"] in ("accepted", "overridden") else metrics.UNKNOWN
        metrics.instruments().card_feedback.labels(service, kinds.get(item["card"], metrics.UNKNOWN), outcome).inc()


def _card_kinds(card_uuids: list[str]) -> dict[str, str]:
    """The kind (cards.common.CardKind) each card was built as, from the audit trail; unknown ones left out."""
    from cards.common import card_kind
    from cds_service.audit.store import decision_cards, decisions

    store = app_state().store
    query = (select(decision_cards.c.card_uuid, decisions.c.cards)
             .join(decisions, decisions.c.id == decision_cards.c.decision_id)
             .where(decision_cards.c.card_uuid.in_(card_uuids)))
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    kinds: dict[str, str] = {}
    for card_uuid, cards in rows:
        for card in cards or []:
            kind = card_kind(card) if isinstance(card, dict) and card.get("uuid") == card_uuid else None
            if kind is not None:
                kinds[card_uuid] = kind.value
    return kinds


def _database_error(context: ExceptionContext) -> None:
    if not context.is_pre_ping:  # a failed pre-ping is retried on a new connection: not an error yet
        error = context.sqlalchemy_exception
        metrics.count_database_error(type(error).__name__ if error is not None else "DBAPIError")
