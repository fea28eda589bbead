"""Data the service matches on and validates against: JSON Schemas, ValueSets, protocol parameter
files and PlanDefinitions. Code loads them through here, once, at start-up."""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

PROFILES_DIR = Path(__file__).resolve().parent


@cache
def load_json(relative_path: str) -> Any:
    """Parse a JSON file under fhir_profiles/ (cached: these files never change at run time)."""
    return json.loads((PROFILES_DIR / relative_path).read_text(encoding="utf-8"))


@cache
def _data_validator(schema_path: str) -> Any:
    from jsonschema import Draft202012Validator

    schema = load_json(schema_path)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_problems(data: Any, schema_path: str) -> list[str]:
    """Every way a data file (protocol, PK prior) breaks its JSON Schema, as "path: message", in path order.

    One mechanism for every data file the clinical core loads: the loader turns the list into its error.
    """
    errors = sorted(_data_validator(schema_path).iter_errors(data), key=lambda e: list(e.path))
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors]
