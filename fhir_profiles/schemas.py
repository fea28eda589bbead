"""Compiled JSON Schemas of the CDS Hooks wire format (written from the spec's tables).

There is no official JSON Schema for CDS Hooks: the HL7 sources are FHIR logical models. These
schemas follow the 2.0 tables, allow unknown members (including `extension`) as the spec does, and
do not require `Bundle.type` in `draftOrders` (clients are seen omitting it).
"""
from __future__ import annotations

from functools import cache
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from referencing import Registry, Resource

from fhir_profiles import PROFILES_DIR, load_json

SCHEMA_NAMES = ("hook-request", "feedback", "card", "hook-response", "discovery", "operation-outcome")
_BASE = "https://sirolimus-cds.org/schemas/"


@cache
def _registry() -> Registry:
    resources = []
    for name in SCHEMA_NAMES:
        contents = load_json(f"schemas/{name}.schema.json")
        resources.append((f"{_BASE}{name}.schema.json", Resource.from_contents(contents)))
    return Registry().with_resources(resources)


@cache
def validator(name: str) -> Draft202012Validator:
    """The compiled validator for schema `name` (one of SCHEMA_NAMES)."""
    schema = load_json(f"schemas/{name}.schema.json")
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=_registry())


# Messages that name only schema facts (property names, types): safe to echo in an error body.
_SAFE_MESSAGES = {"required", "dependentRequired"}


def problems(name: str, document: Any, limit: int = 5) -> list[str]:
    """Readable schema violations (`path: what is wrong`), deepest first, at most `limit`.

    The offending value is never quoted: it may be a token or PHI that an error body, and the logs
    that record it, must not repeat. The message says what the schema expects instead.
    """
    errors = sorted(validator(name).iter_errors(document), key=lambda e: (-len(e.absolute_path), e.message))
    return [f"{_where(e)}: {_what(e)}" for e in errors[:limit]]


# The hook-request schema says of `prefetch` only this (its own property, named by no other keyword):
# an object whose every member is an object naming its resourceType, or null.
PREFETCH_MEMBER_SCHEMA = {"anyOf": [{"type": "object", "required": ["resourceType"]}, {"type": "null"}]}


def hook_request_problems(document: Any) -> list[str]:
    """`problems("hook-request", document)`, without walking the schema over every prefetch member.

    The schema constrains `prefetch` by its own property only (PREFETCH_MEMBER_SCHEMA; no other keyword of
    the schema names it or counts the body's members), so a body is valid exactly when the body without
    `prefetch` is and each prefetch member is null or an object with a resourceType, which plain Python
    checks here as the schema's types do (a dict, None). Anything else, and any violation, is validated
    whole by the schema: the same refusals, with the same messages (issue #15, decision 0140).
    """
    if isinstance(document, dict) and _members_fit_prefetch(document.get("prefetch", {})):
        rest = {key: value for key, value in document.items() if key != "prefetch"}
        if validator("hook-request").is_valid(rest):
            return []
    return problems("hook-request", document)


def _members_fit_prefetch(prefetch: Any) -> bool:
    return isinstance(prefetch, dict) and all(
        value is None or (isinstance(value, dict) and "resourceType" in value) for value in prefetch.values())


def _where(error: ValidationError) -> str:
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
    return path or "(root)"


def _what(error: ValidationError) -> str:
    if error.validator in _SAFE_MESSAGES:
        return error.message
    expected = error.validator_value
    if error.validator == "type":
        return f"must be of type {expected}"
    if error.validator == "pattern":
        return f"does not have the expected form ({expected})"
    if error.validator in ("enum", "const"):
        return f"must be one of {expected if isinstance(expected, list) else [expected]}"
    if error.validator in ("minLength", "maxLength", "minItems", "maxItems", "minimum", "maximum"):
        return f"breaks {error.validator} = {expected}"
    return f"does not satisfy '{error.validator}'"


__all__ = ["PROFILES_DIR", "SCHEMA_NAMES", "hook_request_problems", "problems", "validator"]
