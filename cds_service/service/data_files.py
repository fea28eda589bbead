"""Start-up check of the shipped data files (pharmacology, protocols, PK priors): the first problem as one line.

`serve`, `check`, `plan` call this before anything else, so that a broken file stops them at once,
naming the file, the key and what is wrong (issue #12), instead of a service that answers 500 later.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cds_service.clinical.errors import ProtocolDataError
from fhir_profiles import PROFILES_DIR


def _parsers() -> list[tuple[str, tuple[str, ...], Callable[[dict[str, Any]], object]]]:
    from cds_service.clinical.pharmacology import parse_pharmacology
    from cds_service.clinical.pk.priors import PRIOR_IDS, parse_prior
    from cds_service.clinical.protocols import PROTOCOL_IDS, parse_protocol

    # The shared pharmacology first: protocols and priors read their tablet/solution exposure from it (0023).
    return [("pharmacology", ("sirolimus",), parse_pharmacology), ("protocols", PROTOCOL_IDS, parse_protocol),
            ("pk-priors", PRIOR_IDS, parse_prior)]


def first_data_problem(root: Path = PROFILES_DIR) -> str | None:
    """`<file>: <key>: <what is wrong>` for the first unusable data file under `root`, else None."""
    for folder, ids, parse in _parsers():
        for file_id in ids:
            path = root / folder / f"{file_id}.json"
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except OSError as exc:
                return f"{path}: cannot be read ({exc.strerror or exc})"
            except json.JSONDecodeError as exc:
                return f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            try:
                parse(data)
            except ProtocolDataError as exc:
                return f"{path}: {_first_problems(exc)}"
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                return f"{path}: unusable value ({type(exc).__name__}: {exc})"
    return None


def _first_problems(exc: ProtocolDataError) -> str:
    """The first problem and the others at the same key, in one line: a misspelt key is both a key
    not allowed and a required key missing, and the person needs both halves to see the typo."""
    if not exc.details:
        return exc.message
    key = exc.details[0].split(": ", 1)[0]
    return "; ".join(d if i == 0 else d.split(": ", 1)[-1]
                     for i, d in enumerate(exc.details) if d.split(": ", 1)[0] == key)

