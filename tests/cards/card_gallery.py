"""Every kind of card the service gives, from the synthetic patients through the real core: the set the
card budget (summary, detail, height in a browser) is checked on."""
from __future__ import annotations

import copy
from datetime import date
from typing import Any

from cards import build_cards
from cds_service.clinical.decide import decide_dosing, decide_monitoring, load_protocols
from cds_service.clinical.reading.record import build_record
from cds_service.synthetic import load_scenario, scenario_names
from tests.clinical import fhir
from tests.clinical.test_relapse_after_stop import completed_taper, platelets

TODAY = date(2026, 11, 22)
URL = "https://cds.example.org"


def scenario_record(name: str) -> tuple[Any, list[dict[str, Any]]]:
    entries = [e["resource"] for e in load_scenario(name, TODAY)["entry"]]
    patient = next(r for r in entries if r["resourceType"] == "Patient")
    rest = [r for r in entries if r is not patient]
    return build_record(patient, rest, TODAY), rest


def current_order(resources: list[dict[str, Any]]) -> dict[str, Any] | None:
    active = [r for r in resources if r["resourceType"] == "MedicationRequest" and r.get("status") == "active"]
    return copy.deepcopy(active[-1]) if active else None


def solution_draft(per_dose_mg: float, per_day: int) -> dict[str, Any]:
    return {"resourceType": "MedicationRequest", "id": "draft-1", "status": "draft", "intent": "order",
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                      "code": "314230"}]},
            "dosageInstruction": [{"timing": {"repeat": {"frequency": per_day, "period": 1, "periodUnit": "d"}},
                                   "doseAndRate": [{"doseQuantity": {"value": per_dose_mg, "code": "mg",
                                                                     "system": "http://unitsofmeasure.org"}}]}]}


def dosing_decision(name: str) -> Any:
    """The real core's Decision on order-select for a synthetic patient, drafting its current order."""
    record, resources = scenario_record(name)
    draft = current_order(resources) or solution_draft(0.4, 2)
    return decide_dosing(record, draft, load_protocols(), TODAY)


def gallery() -> dict[str, dict[str, Any]]:
    """name -> card, for every synthetic patient on patient-view and on order-select with the current order,
    plus drafts that depart from the protocol, a dangerous one and a start."""
    protocols = load_protocols()
    cards: dict[str, dict[str, Any]] = {}

    def add(name: str, decision: Any, hook: str, draft: dict[str, Any] | None) -> None:
        made = build_cards(decision, hook=hook, draft=draft, decision_url=f"{URL}/decisions/1", today=TODAY,
                           service_url=URL)
        for index, card in enumerate(made):
            cards[f"{name}-{hook}-{index}"] = card

    for name in scenario_names():
        record, resources = scenario_record(name)
        add(name, decide_monitoring(record, protocols, TODAY), "patient-view", None)
        draft = current_order(resources) or solution_draft(0.4, 2)
        add(name, decide_dosing(record, draft, protocols, TODAY), "order-select", draft)
    record, _ = scenario_record("khe-maintenance-high")
    for label, draft in {"doubled": solution_draft(1.0, 2), "halved-once-daily": solution_draft(0.47, 1),
                         "tenfold": solution_draft(10, 2)}.items():
        add(f"khe-maintenance-high-{label}", decide_dosing(record, draft, protocols, TODAY), "order-select", draft)
    for label, sign_on in {"relapse-after-stop": date(2026, 11, 20), "relapse-after-stop-stale": date(2026, 10, 20)
                           }.items():  # decision 0018: a completed taper, then platelets 80
        stopped = build_record(fhir.patient(date(2020, 6, 1)), completed_taper(platelets(80, sign_on)), TODAY)
        add(label, decide_monitoring(stopped, protocols, TODAY), "patient-view", None)
        add(label, decide_dosing(stopped, solution_draft(0.13, 2), protocols, TODAY), "order-select",
            solution_draft(0.13, 2))
    return cards
