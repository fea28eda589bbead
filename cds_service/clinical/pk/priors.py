"""Prior data files (fhir_profiles/pk-priors/*.json), validated against their schema on load."""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

from fhir_profiles import load_json, schema_problems

from ..errors import ProtocolDataError
from ..pharmacology import load_pharmacology, refuse_own_copy

PRIOR_IDS = ("chen-2020-khe", "fan-2024")


@dataclass(frozen=True, kw_only=True)
class Prior:
    prior_id: str
    source: str
    population: str  # whom it was fitted in, in words ("KHE children")
    fitted_in_diseases: tuple[str, ...]  # disease_valueset names; () when the source does not say
    ka_per_h: float
    cl_l_per_h: float
    v_l: float
    reference_weight_kg: float
    cl_weight_exponent: float
    v_weight_exponent: float
    cyp3a5_effect: float
    cyp3a5_share_unknown: float
    omega_cl: float
    proportional_error: float
    additive_error_ng_ml: float
    bioavailability: dict[str, float]
    tm50_years: float
    hill: float
    reference_age_years: float
    weight_range_kg: tuple[float, float]
    age_range_years: tuple[float, float]

    def maturation(self, age_years: float) -> float:
        """Emoto 2015 sigmoid maturation of clearance, relative to the prior's reference age."""
        def mf(age: float) -> float:
            return float(age**self.hill / (age**self.hill + self.tm50_years**self.hill))
        return float(mf(age_years) / mf(self.reference_age_years))

    def typical_cl(self, weight_kg: float, age_years: float, cyp3a5_expresser: bool | None) -> float:
        """Typical CL/F (L/h) for this child; with genotype unknown, the geometric centre of the
        expresser/non-expresser mixture (decision 0162)."""
        cl = self.cl_l_per_h * (weight_kg / self.reference_weight_kg) ** self.cl_weight_exponent
        cl *= self.maturation(age_years)
        if cyp3a5_expresser is True:
            cl *= 1 + self.cyp3a5_effect
        elif cyp3a5_expresser is None and self.cyp3a5_effect > 0:
            cl *= (1 + self.cyp3a5_effect) ** self.cyp3a5_share_unknown
        return float(cl)

    def omega(self, cyp3a5_expresser: bool | None) -> float:
        """Between-child SD of log CL; inflated by the genotype mixture when genotype is unknown."""
        if cyp3a5_expresser is None and self.cyp3a5_effect > 0:
            p = self.cyp3a5_share_unknown
            return math.sqrt(self.omega_cl**2 + p * (1 - p) * math.log(1 + self.cyp3a5_effect) ** 2)
        return self.omega_cl

    def typical_v(self, weight_kg: float) -> float:
        return float(self.v_l * (weight_kg / self.reference_weight_kg) ** self.v_weight_exponent)

    def out_of_range(self, weight_kg: float, age_years: float) -> str | None:
        """Why this prior does not cover the child, or None when it does."""
        lo, hi = self.weight_range_kg
        if not lo <= weight_kg <= hi:
            return f"weight {weight_kg:g} kg is outside the model's range {lo:g}-{hi:g} kg"
        lo, hi = self.age_range_years
        if not lo <= age_years <= hi:
            return f"age {age_years:.2f} y is outside the model's range {lo:g}-{hi:g} y"
        return None


def parse_prior(data: dict[str, Any]) -> Prior:
    """Validate a prior against its schema; the tablet's relative bioavailability is the pharmacology
    file's tablet/solution exposure (decision 0023), never the prior's own."""
    refuse_own_copy(data, ("relative_bioavailability",), f"PK prior {data.get('prior_id', '?')}")
    problems = schema_problems(data, "pk-priors/schema.json")
    if problems:
        raise ProtocolDataError(f"PK prior {data.get('prior_id', '?')} is invalid", details=problems)
    p, c, m, r = data["parameters"], data["covariates"], data["maturation"], data["covariate_range"]
    return Prior(
        prior_id=data["prior_id"], source=data["source"], population=data.get("population", "children"),
        fitted_in_diseases=tuple(data.get("fitted_in_diseases", ())),
        ka_per_h=p["ka_per_h"], cl_l_per_h=p["cl_l_per_h"], v_l=p["v_l"],
        reference_weight_kg=c["reference_weight_kg"], cl_weight_exponent=c["cl_weight_exponent"],
        v_weight_exponent=c["v_weight_exponent"],
        cyp3a5_effect=c.get("cyp3a5_expresser_cl_effect", 0.0),
        cyp3a5_share_unknown=c.get("cyp3a5_expresser_share_when_unknown", 0.5),
        omega_cl=data["variability"]["omega_cl"],
        proportional_error=data["residual_error"]["proportional"],
        additive_error_ng_ml=data["residual_error"]["additive_ng_ml"],
        bioavailability=load_pharmacology().relative_bioavailability,
        tm50_years=m["tm50_years"], hill=m["hill"], reference_age_years=m["reference_age_years"],
        weight_range_kg=(r["weight_kg"][0], r["weight_kg"][1]),
        age_range_years=(r["age_years"][0], r["age_years"][1]),
    )


@cache
def load_prior(prior_id: str = "chen-2020-khe") -> Prior:
    """The named prior (one of PRIOR_IDS), validated; raises ProtocolDataError when invalid."""
    if prior_id not in PRIOR_IDS:
        raise ProtocolDataError(f"unknown PK prior {prior_id!r}", details=[f"known: {', '.join(PRIOR_IDS)}"])
    return parse_prior(load_json(f"pk-priors/{prior_id}.json"))
