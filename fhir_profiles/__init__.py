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
