"""Reading a JSON request body defensively: media type, size, parse, then structural caps.

The caps (nesting depth, array length, string length, Bundle entries) stop a hostile body from
costing more than a normal one before it reaches schema validation.

Parsing is strict RFC 8259, stricter than `json.loads`: UTF-8 only (no UTF-16/32 guessing, no BOM),
no NaN/Infinity literals, no number too large for a double (`1e999999` would become infinity), no
duplicate member names (two parsers could read a different `patientId`), no NUL or other C0 control
characters nor lone surrogates inside strings (PostgreSQL's JSONB and most EHR logs refuse them), and
a JSON object at the top.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from flask import Request

from cds_service.config import LimitSettings
from cds_service.errors import BadRequest, PayloadTooLarge, UnsupportedMedia
from cds_service.http import strict_json
from cds_service.http.logs import remember_hook_instance

_JSON_TYPES = ("application/json", "application/fhir+json")


def read_json_body(request: Request, limits: LimitSettings) -> Any:
    """The body as a JSON object, or UnsupportedMedia (415), PayloadTooLarge (413), BadRequest (400)."""
    document, characters = _read_object(request, limits)
    check_shape(document, limits, characters=characters)
    return document


def read_hook_body(request: Request, limits: LimitSettings) -> tuple[dict[str, Any], Callable[[], None]]:
    """A hook call's body as read_json_body reads it, but the shape of its `prefetch` is checked only
    when the returned function is called: a call that turns out not to concern the service (another
    drug drafted, a chart without sirolimus) is answered without walking the whole record. A body
    that may hold a NUL or a lone surrogate anywhere is checked whole at once (decision 0132)."""
    document, characters = _read_object(request, limits)
    if characters or not isinstance(document.get("prefetch"), dict):
        check_shape(document, limits, characters=characters)
        return document, _nothing_left
    check_shape(document, limits, characters=False, skip="prefetch")
    return document, lambda: check_shape(document["prefetch"], limits, characters=False, depth=2)


def _read_object(request: Request, limits: LimitSettings) -> tuple[dict[str, Any], bool]:
    """The parsed JSON object, and whether its text may hold a NUL or a lone surrogate."""
    media_type = (request.mimetype or "").lower()
    if media_type not in _JSON_TYPES:
        raise UnsupportedMedia("the body must be JSON (Content-Type: application/json)")
    length = request.content_length
    if length is not None and length > limits.max_body_bytes:
        raise PayloadTooLarge(f"the body is larger than {limits.max_body_bytes} bytes")
    text = _utf8(_read_capped(request, limits.max_body_bytes))
    document = parse_strict_json(text)
    if not isinstance(document, dict):
        raise BadRequest(f"the body must be a JSON object, not {_kind(document)}")
    remember_hook_instance(document)  # for the access log, even when the call then fails
    return document, _may_hold_forbidden(text)


def _nothing_left() -> None:
    """The whole body was checked already."""


def _read_capped(request: Request, max_bytes: int) -> bytes:
    """Read to the end, a read at a time: a chunked body arrives one chunk per read, not all at once."""
    raw = bytearray()
    while True:
        chunk = request.stream.read(max_bytes + 1 - len(raw))
        if not chunk:
            return bytes(raw)
        raw.extend(chunk)
        if len(raw) > max_bytes:
            raise PayloadTooLarge(f"the body is larger than {max_bytes} bytes")


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest("the body is not valid JSON: it is not UTF-8 text") from exc


def parse_strict_json(raw: bytes | str) -> Any:
    """Parse UTF-8 JSON strictly (see the module docstring); any failure is a BadRequest."""
    text = _utf8(raw) if isinstance(raw, bytes) else raw
    try:
        return strict_json.loads(text)
    except RecursionError as exc:
        raise BadRequest("the body is nested too deeply") from exc
    except strict_json.Refused as exc:
        raise BadRequest(f"the body is not acceptable JSON: {exc}") from exc
    except ValueError as exc:  # JSONDecodeError, and int() past the digit limit
        raise BadRequest(f"the body is not valid JSON: {_reason(exc)}") from exc


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")


def _reason(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} at line {exc.lineno} column {exc.colno}"
    return type(exc).__name__


# "\u0000" and an unpaired "\ud800" are valid JSON escapes but not text anything downstream stores.
_FORBIDDEN_CHARS = re.compile(r"[\x00\ud800-\udfff]")
# In the body's text, JSON can carry either only as a \u escape: json.loads refuses a raw control
# character in a string, and UTF-8 decoding refuses an encoded surrogate. A text without such an
# escape (the usual case) holds neither, so its strings need no search one by one.
_FORBIDDEN_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


def _may_hold_forbidden(text: str) -> bool:
    return "\\u" in text and _FORBIDDEN_ESCAPE.search(text) is not None


def check_shape(document: Any, limits: LimitSettings, *, characters: bool = True, skip: str | None = None,
                depth: int = 1) -> None:
    """Reject documents deeper, longer or wider than the configured caps (level by level: no
    recursion), and, with `characters`, strings holding a NUL character or a lone surrogate.

    `skip` names a member of the top object whose value is left unchecked (read_hook_body's prefetch);
    `depth` is the depth of `document` itself (2 for a member of the body)."""
    level = [document]
    while level:
        if depth > limits.max_json_depth:
            raise BadRequest(f"the body is nested deeper than {limits.max_json_depth} levels")
        below: list[Any] = []
        for node in level:
            kind = type(node)
            if kind is dict:
                _check_object(node, limits, characters)
                if skip is not None and depth == 1:
                    below.extend(value for key, value in node.items() if key != skip)
                else:
                    below.extend(node.values())
            elif kind is list:
                if len(node) > limits.max_array_length:
                    raise BadRequest(f"an array has more than {limits.max_array_length} items")
                below.extend(node)
            elif kind is str:
                if len(node) > limits.max_string_length:
                    raise BadRequest(f"a string is longer than {limits.max_string_length} characters")
                if characters:
                    _check_characters(node)
        level = below
        depth += 1


def _check_object(node: dict[str, Any], limits: LimitSettings, characters: bool) -> None:
    if node.get("resourceType") == "Bundle" and "entry" in node:
        entries = node["entry"]
        if not isinstance(entries, list):
            raise BadRequest("a Bundle's entry is not an array")
        if len(entries) > limits.max_bundle_entries:
            raise BadRequest(f"a Bundle holds more than {limits.max_bundle_entries} entries")
    if len(node) > limits.max_array_length:
        raise BadRequest(f"an object has more than {limits.max_array_length} members")
    for key in node:
        if len(key) > limits.max_string_length:
            raise BadRequest(f"a member name is longer than {limits.max_string_length} characters")
        if characters:
            _check_characters(key)


def _check_characters(text: str) -> None:
    found = _FORBIDDEN_CHARS.search(text)
    if found:
        what = "a lone surrogate" if "\ud800" <= found.group() <= "\udfff" else "a NUL character"
        raise BadRequest(f"a string holds {what} (U+{ord(found.group()):04X})")
