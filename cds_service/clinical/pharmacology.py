"""Facts of the medicine that every protocol and PK prior share, kept once (decision 0023).

"Tablets and solution are not bioequivalent (tablets about 27 % higher exposure)" (clinical-protocol.md
section 2) is a property of sirolimus, not of a protocol or a population model: the draft check, the
solution proposals (protocols) and the PK model's relative bioavailability (priors) read the one number in
fhir_profiles/pharmacology/sirolimus.json. A protocol or prior file that still carries its own copy is
refused at start-up, in one line naming this file.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from fhir_profiles import load_json, schema_problems

from .errors import ProtocolDataError

PHARMACOLOGY_FILE = "pharmacology/sirolimus.json"


@dataclass(frozen=True, kw_only=True)
class Pharmacology:
    tablet_exposure_vs_solution: float  # trough on tablets / trough on the same mg of oral solution
    exposure_source: str

    @property
    def relative_bioavailability(self) -> dict[str, float]:
        """The PK model's F per formulation, the oral solution being the reference."""
        return {"solution": 1.0, "tablet": self.tablet_exposure_vs_solution}


def parse_pharmacology(data: dict[str, Any]) -> Pharmacology:
    problems = schema_problems(data, "pharmacology/schema.json")
    if problems:
        raise ProtocolDataError("the pharmacology file is invalid", details=problems)
    return Pharmacology(tablet_exposure_vs_solution=float(data["tablet_exposure_vs_solution"]),
                        exposure_source=data["exposure_source"])


@cache
def load_pharmacology() -> Pharmacology:
    return parse_pharmacology(load_json(PHARMACOLOGY_FILE))


def refuse_own_copy(data: dict[str, Any], key_path: tuple[str, ...], what: str) -> None:
    """A protocol or prior file carrying its own copy of a shared fact: one actionable line."""
    value: Any = data
    for key in key_path:
        value = value.get(key) if isinstance(value, dict) else None
    if value is not None:
        raise ProtocolDataError(f"{what} keeps its own {'/'.join(key_path)}", details=[
            f"{'/'.join(key_path)}: the tablet/solution exposure is kept once, in fhir_profiles/{PHARMACOLOGY_FILE} "
            "(decision 0023): remove it here, and change it there if your site's figure differs"])
