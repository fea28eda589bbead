"""JSON parsed strictly (RFC 8259, stricter than `json.loads`), for what comes from outside: hook
requests and FHIR server answers. Refused: NaN/Infinity literals, numbers too large for a double,
integers of more than 40 digits, duplicate member names. Every refusal is a `ValueError`."""
from __future__ import annotations

import json
import math
from typing import Any


class Refused(ValueError):
    """Valid to `json.loads`, refused here."""


def loads(text: str | bytes) -> Any:
    """Parse `text`; raises ValueError (Refused, or json.JSONDecodeError) or RecursionError."""
    return json.loads(text, object_pairs_hook=_unique_members, parse_constant=_no_constant,
                      parse_float=_finite_float, parse_int=_bounded_int)


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise Refused(f"duplicate member name '{key[:40]}'")
            seen.add(key)
    return document


def _no_constant(name: str) -> Any:
    raise Refused(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise Refused("a number is too large")
    return value


def _bounded_int(text: str) -> int:
    if len(text) > 40:  # far beyond any clinical value, well inside int()'s 4300-digit limit
        raise Refused("a number has too many digits")
    return int(text)
