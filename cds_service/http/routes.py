"""HTTP <-> core: discovery, hook calls, feedback, health. Parses, authenticates, maps errors."""
from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, RequestEntityTooLarge

from cds_service.errors import (
    BadRequest,
    NotFound,
    PayloadTooLarge,
    ServiceError,
    ServiceUnavailable,
    Unauthorized,
)
from cds_service.http.body import read_hook_body, read_json_body
from cds_service.http.outcome import operation_outcome
from cds_service.service.pipeline import handle_hook
from cds_service.service.protocol_files import plan_definition, protocol_data
from cds_service.service.services import DEPRECATED_DOSING, discovery_document, known_ids, resolve
from cds_service.service.state import AppState, app_state
from fhir_profiles.schemas import hook_request_problems, problems

log = logging.getLogger("sirolimus_cds.http")
blueprint = Blueprint("cds", __name__)

CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Max-Age": "600",
}


def state() -> AppState:
    return app_state()


def audience() -> str:
    """The exact URL called, as the JWT `aud` must name it (behind a proxy: from public_base_url)."""
    base = state().settings.public_base_url or request.host_url.rstrip("/")
    return base + request.path


def authenticate() -> None:
    app_state = state()
    if not app_state.settings.auth.require_jwt:
        return
    if app_state.verifier is None:  # pragma: no cover - create_app always builds one when required
        raise Unauthorized("JWT verification is required but not configured")
    app_state.verifier.verify(request.headers.get("Authorization"), audience())  # type: ignore[attr-defined]


@blueprint.after_app_request
def add_cors(response: Response) -> Response:
    """On every answer, errors and Flask's automatic OPTIONS (the CORS preflight) included."""
    response.headers.update(CORS_HEADERS)
    return response


@blueprint.get("/cds-services")
def discovery() -> Response:
    authenticate()
    return jsonify(discovery_document())


@blueprint.post("/cds-services/<service_id>")
def call_service(service_id: str) -> Response:
    authenticate()
    if service_id not in known_ids():
        raise NotFound(f"no CDS service with id '{service_id}'")
    document, check_prefetch = read_hook_body(request, state().settings.limits)
    found = hook_request_problems(document)
    if found:
        raise BadRequest("the hook request does not follow CDS Hooks 2.0", details=found)
    service = resolve(service_id, document["hook"])
    if service is None:
        raise BadRequest(f"service '{service_id}' does not answer the '{document['hook']}' hook")
    g.hook = service.hook  # for the metrics (the deprecated id answers two hooks)
    if service_id == DEPRECATED_DOSING:
        log.warning("deprecated service id '%s' called for %s: use '%s' (listed in discovery)",
                    DEPRECATED_DOSING, document["hook"], service.id)
    base_url = state().settings.public_base_url or request.host_url.rstrip("/")
    outcome = handle_hook(state(), service, document, base_url, check_prefetch)
    g.hook_instance, g.outcome, g.decision_id = document["hookInstance"], outcome.outcome, outcome.decision_id
    return jsonify(outcome.response)


@blueprint.post("/cds-services/<service_id>/feedback")
def call_feedback(service_id: str) -> Response:
    authenticate()
    if service_id not in known_ids():
        raise NotFound(f"no CDS service with id '{service_id}'")
    document = read_json_body(request, state().settings.limits)
    found = problems("feedback", document)
    if found:
        raise BadRequest("the feedback does not follow CDS Hooks 2.0", details=found)
    app_state = state()
    # For the metrics: each card's outcome once, however often the EHR posts it (decision 0112).
    g.feedback_items = app_state.store.record_feedback(service_id, document["feedback"], app_state.clock())
    return jsonify({})


@blueprint.get("/fhir/PlanDefinition/<protocol_id>")
def get_plan_definition(protocol_id: str) -> Response:
    """The protocols as FHIR PlanDefinitions: what a card's source.url opens. Public documentation
    (no patient data), so no JWT: an EHR user's browser follows the link without one (decision 0107)."""
    found = plan_definition(protocol_id)
    if found is None:
        raise NotFound(f"no PlanDefinition with id '{protocol_id}'")
    return _public_json(found, "application/fhir+json")


@blueprint.get("/protocols/<protocol_id>.json")
def get_protocol_data(protocol_id: str) -> Response:
    """The protocol parameters the service decides with (fhir_profiles/protocols/*.json)."""
    found = protocol_data(protocol_id)
    if found is None:
        raise NotFound(f"no protocol with id '{protocol_id}'")
    return _public_json(found, "application/json")


def _public_json(document: Any, mimetype: str) -> Response:
    response = current_app.response_class(current_app.json.dumps(document), mimetype=mimetype)
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@blueprint.get("/healthz")
def health() -> tuple[Response, int]:
    if not state().store.healthy():
        raise ServiceUnavailable("the database does not answer")
    return jsonify({"status": "ok"}), 200


@blueprint.app_errorhandler(ServiceError)
def service_error(error: ServiceError) -> tuple[Response, int] | Response:
    if isinstance(error, Unauthorized):
        log.warning("refused: %s", error.message)  # the reason only, never the token
        return Response(status=401, headers={"WWW-Authenticate": 'Bearer realm="sirolimus-cds"'})
    if isinstance(error, ServiceUnavailable):
        log.warning("answered 503: %s", error.message)
        response = jsonify(operation_outcome(error))
        response.headers["Retry-After"] = str(error.retry_after_seconds)
        return response, 503
    log.info("answered %s: %s", error.status, error.message)
    return jsonify(operation_outcome(error)), error.status


@blueprint.app_errorhandler(RequestEntityTooLarge)
def too_large(_error: HTTPException) -> tuple[Response, int] | Response:
    return service_error(PayloadTooLarge("the body is larger than the configured cap"))


@blueprint.app_errorhandler(HTTPException)
def http_error(error: HTTPException) -> tuple[Response, int]:
    status = error.code or 400
    wrapped: Any = ServiceError(error.description or error.name)
    wrapped.status, wrapped.issue_code = status, "not-found" if status == 404 else "invalid"
    response = jsonify(operation_outcome(wrapped))
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(sorted(error.valid_methods))  # RFC 9110: a 405 names them
    return response, status


@blueprint.app_errorhandler(Exception)
def unexpected(error: Exception) -> tuple[Response, int]:
    """Last resort: log the type only (the message may hold PHI) and answer an OperationOutcome."""
    log.exception("unexpected %s", type(error).__name__)
    wrapped = ServiceError("the service failed to process this request; it has been logged")
    return jsonify(operation_outcome(wrapped)), 500
