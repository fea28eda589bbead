"""Start-up check of the shipped data files (protocols, PK priors): the first problem as one line.

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
    from cds_service.clinical.pk.priors import PRIOR_IDS, parse_prior
    from cds_service.clinical.protocols import PROTOCOL_IDS, parse_protocol

    return [("protocols", PROTOCOL_IDS, parse_protocol), ("pk-priors", PRIOR_IDS, parse_prior)]


def first_data_problem(root: Path = PROFILES_DIR) -> str | None:
    """`<file>: <key>: <what is wrong>` for the first unusable data file under `root`, else None."""
    parsed: dict[Path, object] = {}
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
                parsed[path] = parse(data)
            except ProtocolDataError as exc:
                return f"{path}: {_first_problems(exc)}"
            except (KeyError, TypeError, ValueError, IndexError) as exc:
                return f"{path}: unusable value ({type(exc).__name__}: {exc})"
    return _exposure_disagreement(parsed)


def _exposure_disagreement(parsed: dict[Path, object]) -> str | None:
    """The tablet/solution exposure is one number: each protocol's `measuring.tablet_exposure_vs_solution`
    (draft check, solution proposals) equals each PK prior's tablet/solution relative bioavailability."""
    from cds_service.clinical.pk.priors import Prior
    from cds_service.clinical.protocols import Protocol

    priors = [(p, v.bioavailability["tablet"] / v.bioavailability["solution"])
              for p, v in parsed.items() if isinstance(v, Prior)]
    for path, protocol in parsed.items():
        if not isinstance(protocol, Protocol):
            continue
        factor = protocol.measuring.tablet_exposure_vs_solution
        for prior_path, ratio in priors:
            if abs(factor - ratio) > 1e-9:
                return (f"{path}: measuring/tablet_exposure_vs_solution is {factor:g} but {prior_path.name}'s "
                        f"relative_bioavailability gives tablet/solution {ratio:g}: one number, change both")
    return None


def _first_problems(exc: ProtocolDataError) -> str:
    """The first problem and the others at the same key, in one line: a misspelt key is both a key
    not allowed and a required key missing, and the person needs both halves to see the typo."""
    if not exc.details:
        return exc.message
    key = exc.details[0].split(": ", 1)[0]
    return "; ".join(d if i == 0 else d.split(": ", 1)[-1]
                     for i, d in enumerate(exc.details) if d.split(": ", 1)[0] == key)

