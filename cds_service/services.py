"""The CDS services this product offers, as the discovery endpoint lists them."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from types import MappingProxyType
from typing import Any

from fhir_profiles import load_json

DOSING = "sirolimus-dosing"
MONITORING = "sirolimus-monitoring"


@dataclass(frozen=True)
class CdsService:
    id: str
    hooks: tuple[str, ...]
    title: str
    description: str
    prefetch: MappingProxyType[str, str]

    def discovery_entries(self) -> list[dict[str, Any]]:
        """One discovery entry per hook: the spec lists a service once for each hook it answers."""
        return [
            {
                "hook": hook,
                "id": self.id,
                "title": self.title,
                "description": self.description,
                "prefetch": dict(self.prefetch),
                "usageRequirements": (
                    "Send fhirServer with fhirAuthorization (or fill every prefetch template). "
                    "Calls must carry a JWT signed by a configured issuer."
                ),
            }
            for hook in self.hooks
        ]


@cache
def services() -> dict[str, CdsService]:
    prefetch = MappingProxyType(dict(load_json("prefetch.json")))
    return {
        DOSING: CdsService(
            id=DOSING,
            hooks=("order-select", "order-sign"),
            title="Sirolimus dosing for vascular tumours (IHHE, KHE)",
            description=(
                "Checks a sirolimus order against the IHHE sequential protocol (0.1 mg/kg/day, trough "
                "8-15 ng/mL) or the KHE maintenance (5-7 ng/mL) and guided-discontinuation protocols, and "
                "proposes the next dose from the latest usable trough."
            ),
            prefetch=prefetch,
        ),
        MONITORING: CdsService(
            id=MONITORING,
            hooks=("patient-view",),
            title="Sirolimus monitoring for vascular tumours (IHHE, KHE)",
            description=(
                "When a chart opens: trough due or overdue, taper step due, eligibility for guided "
                "discontinuation after 2 years of KHE remission, possible relapse during a taper."
            ),
            prefetch=prefetch,
        ),
    }


def discovery_document() -> dict[str, Any]:
    return {"services": [entry for service in services().values() for entry in service.discovery_entries()]}
