"""Assertions shared by the sandbox tests: CORS as a browser needs it, wire-format schemas, card text."""
from __future__ import annotations

from typing import Any

import requests

from fhir_profiles.schemas import problems
from tests.sandbox.harness import SANDBOX_ORIGIN, Exchange


def assert_cors(response: requests.Response) -> None:
    """The browser reads the answer only if it is allowed for the sandbox's origin."""
    allowed = response.headers.get("Access-Control-Allow-Origin")
    assert allowed in ("*", SANDBOX_ORIGIN), f"{response.request.method} {response.url}: Allow-Origin {allowed!r}"


def assert_preflight_allows(exchange: Exchange, method: str) -> None:
    preflight = exchange.preflight
    assert 200 <= preflight.status_code < 300, f"preflight answered {preflight.status_code}"
    assert_cors(preflight)
    methods = {m.strip().upper() for m in preflight.headers.get("Access-Control-Allow-Methods", "").split(",")}
    assert method in methods or "*" in methods, methods
    headers = {h.strip().lower() for h in preflight.headers.get("Access-Control-Allow-Headers", "").split(",")}
    assert {"authorization", "content-type"} <= headers or "*" in headers, headers


def answered(exchange: Exchange, method: str, schema: str | None) -> Any:
    """The JSON of a 200 answer, after checking preflight, CORS and (when given) the schema."""
    assert_preflight_allows(exchange, method)
    response = exchange.response
    assert response.status_code == 200, f"{response.status_code}: {response.text[:2000]}"
    assert_cors(response)
    body = response.json()
    if schema:
        assert problems(schema, body) == [], problems(schema, body)
    return body


def refused(exchange: Exchange) -> None:
    """A bare 401 the browser can still read (CORS on the error too)."""
    assert exchange.response.status_code == 401, exchange.response.text[:500]
    assert exchange.response.content == b""
    assert_cors(exchange.response)


def card_text(card: dict[str, Any]) -> str:
    """Everything a clinician reads on a card: summary, detail, suggestion labels and descriptions."""
    parts = [card.get("summary", ""), card.get("detail", "")]
    for suggestion in card.get("suggestions", []):
        parts.append(suggestion.get("label", ""))
        parts.extend(action.get("description", "") for action in suggestion.get("actions", []))
    return "\n".join(parts)


def update_actions(card: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(suggestion, action) for every `update` action of the card."""
    return [(s, a) for s in card.get("suggestions", []) for a in s.get("actions", []) if a.get("type") == "update"]


def rxnorm_codes(resource: dict[str, Any]) -> set[str]:
    concept = resource.get("medicationCodeableConcept") or {}
    return {c.get("code") for c in concept.get("coding", []) if "rxnorm" in str(c.get("system", ""))}


def dose_and_timing(resource: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    dosage = resource["dosageInstruction"][0]
    return dosage["doseAndRate"][0]["doseQuantity"], dosage["timing"]["repeat"]
