"""Compiled JSON Schemas of the CDS Hooks wire format (written from the spec's tables).

There is no official JSON Schema for CDS Hooks: the HL7 sources are FHIR logical models. These
schemas follow the 2.0 tables, allow unknown members (including `extension`) as the spec does, and
do not require `Bundle.type` in `draftOrders` (clients are seen omitting it).
"""
from __future__ import annotations

from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
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


def problems(name: str, document: Any, limit: int = 5) -> list[str]:
    """Readable schema violations (`path: message`), deepest first, at most `limit`."""
    errors = sorted(validator(name).iter_errors(document), key=lambda e: (-len(e.absolute_path), e.message))
    return [f"{e.json_path.removeprefix('$.') or '(root)'}: {_short(e.message)}" for e in errors[:limit]]


def _short(message: str, max_length: int = 200) -> str:
    return message if len(message) <= max_length else message[: max_length - 1] + "…"


__all__ = ["PROFILES_DIR", "SCHEMA_NAMES", "problems", "validator"]
