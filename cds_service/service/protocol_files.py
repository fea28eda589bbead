"""The protocol documents the service publishes: PlanDefinitions (FHIR) and protocol data (JSON).

Only the shipped files, by a known id: an id is never turned into a path.
"""
from __future__ import annotations

from functools import cache
from typing import Any

from fhir_profiles import PROFILES_DIR, load_json


@cache
def _ids(folder: str) -> frozenset[str]:
    return frozenset(f.stem for f in (PROFILES_DIR / folder).glob("*.json") if f.name != "schema.json")


def plan_definition(protocol_id: str) -> Any | None:
    return load_json(f"plandefinitions/{protocol_id}.json") if protocol_id in _ids("plandefinitions") else None


def protocol_data(protocol_id: str) -> Any | None:
    return load_json(f"protocols/{protocol_id}.json") if protocol_id in _ids("protocols") else None


def plan_definition_url(base_url: str, protocol_id: str) -> str:
    """Where this service serves the protocol's PlanDefinition (absolute)."""
    return f"{base_url.rstrip('/')}/fhir/PlanDefinition/{protocol_id}"
