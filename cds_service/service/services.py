"""The CDS services this product offers, as the discovery endpoint lists them.

CDS Hooks 2.0: a service has exactly one `hook`, and its `id` names the endpoint
`{baseUrl}/cds-services/{id}`. So there is one service per hook, with a unique id (decision 0105).
The id `sirolimus-dosing` of earlier releases keeps answering the two order hooks for one release,
unlisted, dispatching on the request's `hook` (see `resolve`).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from types import MappingProxyType
from typing import Any

from cds_service.clinical.protocols import IHHE_SEQUENTIAL, KHE_GUIDED, KHE_MAINTENANCE, load_protocols, period
from cds_service.service.relevance import gate_templates
from fhir_profiles import load_json

ORDER_SELECT = "sirolimus-order-select"
ORDER_SIGN = "sirolimus-order-sign"
MONITORING = "sirolimus-monitoring"
DEPRECATED_DOSING = "sirolimus-dosing"  # unlisted; answers order-select/order-sign for one more release


class ServiceKind(StrEnum):
    DOSING = "dosing"  # checks the drafted sirolimus order
    MONITORING = "monitoring"  # chart opened: trough due, taper step, eligibility, relapse


@dataclass(frozen=True, kw_only=True)
class CdsService:
    id: str
    hook: str
    kind: ServiceKind
    title: str
    description: str
    prefetch: MappingProxyType[str, str]  # what a decision reads (prefetch first, then fetched)
    advertised: MappingProxyType[str, str] | None = None  # what discovery asks the EHR to prefetch, if less

    @property
    def checks_orders(self) -> bool:
        return self.kind is ServiceKind.DOSING

    def discovery_entry(self) -> dict[str, Any]:
        return {
            "hook": self.hook,
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "prefetch": dict(self.prefetch if self.advertised is None else self.advertised),
            "usageRequirements": (
                "Send fhirServer with fhirAuthorization (or fill every prefetch template). "
                "Calls must carry a JWT signed by a configured issuer."
            ),
        }


def _dosing_description() -> str:
    """What the order hooks check, with the starting dose and target ranges of the protocol data."""
    ihhe, khe = load_protocols()[IHHE_SEQUENTIAL], load_protocols()[KHE_MAINTENANCE]
    return (
        f"Checks the drafted sirolimus order against the IHHE sequential protocol "
        f"({ihhe.starting_dose_mg_per_kg_day:g} mg/kg/day, trough {ihhe.target_low_ng_ml:g}-"
        f"{ihhe.target_high_ng_ml:g} ng/mL) or the KHE maintenance ({khe.target_low_ng_ml:g}-"
        f"{khe.target_high_ng_ml:g} ng/mL) and guided-discontinuation protocols: says whether the draft "
        "follows the protocol, its predicted trough, and proposes the next dose from the latest usable trough."
    )


@cache
def services() -> dict[str, CdsService]:
    """The listed services, by id: one per hook."""
    prefetch = MappingProxyType(dict(load_json("prefetch.json")))
    dosing_description = _dosing_description()
    remission = period(load_protocols()[KHE_GUIDED].eligibility["min_remission_days"])
    listed = (
        CdsService(id=ORDER_SELECT, hook="order-select", kind=ServiceKind.DOSING, prefetch=prefetch,
                   title="Sirolimus dosing for vascular tumours (IHHE, KHE): order being chosen",
                   description=dosing_description),
        CdsService(id=ORDER_SIGN, hook="order-sign", kind=ServiceKind.DOSING, prefetch=prefetch,
                   title="Sirolimus dosing for vascular tumours (IHHE, KHE): order being signed",
                   description=dosing_description),
        CdsService(id=MONITORING, hook="patient-view", kind=ServiceKind.MONITORING, prefetch=prefetch,
                   advertised=gate_templates(),  # every chart opened: 2 small searches, the rest if concerned
                   title="Sirolimus monitoring for vascular tumours (IHHE, KHE)",
                   description=(
                       "When a chart opens: trough due or overdue, taper step due, eligibility for guided "
                       f"discontinuation after {remission} of KHE remission, possible relapse during a taper."
                   )),
    )
    return {service.id: service for service in listed}


def known_ids() -> frozenset[str]:
    """Every id that answers: the listed ones and the deprecated one (feedback, logs)."""
    return frozenset(services()) | {DEPRECATED_DOSING}


def resolve(service_id: str, hook: str) -> CdsService | None:
    """The service that answers `hook` at `service_id`; the deprecated id dispatches on the hook."""
    if service_id == DEPRECATED_DOSING:
        return next((s for s in services().values() if s.checks_orders and s.hook == hook), None)
    service = services().get(service_id)
    return service if service is not None and service.hook == hook else None


def discovery_document() -> dict[str, Any]:
    return {"services": [service.discovery_entry() for service in services().values()]}
