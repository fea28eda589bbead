"""Reading a JSON request body defensively: media type, size, parse, then structural caps.

The caps (nesting depth, array length, string length, Bundle entries) stop a hostile body from
costing more than a normal one before it reaches schema validation.
"""
from __future__ import annotations

import json
from typing import Any

from flask import Request

from cds_service.config import LimitSettings
from cds_service.errors import BadRequest, PayloadTooLarge, UnsupportedMedia

_JSON_TYPES = ("application/json", "application/fhir+json")


def read_json_body(request: Request, limits: LimitSettings) -> Any:
    media_type = (request.mimetype or "").lower()
    if media_type not in _JSON_TYPES:
        raise UnsupportedMedia("the body must be JSON (Content-Type: application/json)")
    length = request.content_length
    if length is not None and length > limits.max_body_bytes:
        raise PayloadTooLarge(f"the body is larger than {limits.max_body_bytes} bytes")
    raw = request.stream.read(limits.max_body_bytes + 1)
    if len(raw) > limits.max_body_bytes:
        raise PayloadTooLarge(f"the body is larger than {limits.max_body_bytes} bytes")
    try:
        document = json.loads(raw)
    except RecursionError as exc:
        raise BadRequest("the body is nested too deeply") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not valid JSON: {_reason(exc)}") from exc
    check_shape(document, limits)
    return document


def _reason(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    return "it is not UTF-8 text"


def check_shape(document: Any, limits: LimitSettings) -> None:
    """Reject documents deeper, longer or wider than the configured caps (iteratively: no recursion)."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limits.max_json_depth:
            raise BadRequest(f"the body is nested deeper than {limits.max_json_depth} levels")
        if isinstance(node, dict):
            if node.get("resourceType") == "Bundle" and len(node.get("entry") or []) > limits.max_bundle_entries:
                raise BadRequest(f"a Bundle holds more than {limits.max_bundle_entries} entries")
            if len(node) > limits.max_array_length:
                raise BadRequest(f"an object has more than {limits.max_array_length} members")
            for key, value in node.items():
                if len(key) > limits.max_string_length:
                    raise BadRequest(f"a member name is longer than {limits.max_string_length} characters")
                stack.append((value, depth + 1))
        elif isinstance(node, list):
            if len(node) > limits.max_array_length:
                raise BadRequest(f"an array has more than {limits.max_array_length} items")
            stack.extend((item, depth + 1) for item in node)
        elif isinstance(node, str) and len(node) > limits.max_string_length:
            raise BadRequest(f"a string is longer than {limits.max_string_length} characters")
