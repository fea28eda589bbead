"""A resource or draft whose elements have the wrong JSON shape never crashes a decision (never a 500):
it is set aside as unusable, with its id, or its dose is reported as unreadable."""
import copy
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cards import build_cards
from cds_service.clinical.decide import decide_dosing, decide_monitoring, load_protocols
from cds_service.clinical.reading.record import build_record
from cds_service.synthetic import load_scenario

TODAY = date(2026, 11, 22)
SCENARIOS = ["khe-taper-step-due", "khe-maintenance-high", "ihhe-trough-low"]
ODD_VALUES = st.one_of(st.integers(-5, 10**6), st.floats(allow_nan=False), st.text(max_size=5),
                       st.lists(st.integers(), max_size=2), st.just({}), st.just(None), st.just([{"x": 1}]))
FIELDS = ["status", "intent", "code", "coding", "valueQuantity", "effectiveDateTime", "dosageInstruction",
          "timing", "repeat", "doseAndRate", "doseQuantity", "medicationCodeableConcept", "clinicalStatus",
          "subject", "period", "instantiatesCanonical", "reasonCode", "value", "frequency", "boundsPeriod"]


def _resources(name: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    entries = [e["resource"] for e in load_scenario(name, TODAY)["entry"]]
    patient = next(r for r in entries if r["resourceType"] == "Patient")
    return patient, [r for r in entries if r is not patient]


def _mutate(node: Any, field: str, value: Any) -> bool:
    """Replace the first occurrence of `field` anywhere below `node` (depth-first); True if found."""
    if isinstance(node, dict):
        if field in node:
            node[field] = value
            return True
        return any(_mutate(child, field, value) for child in node.values())
    if isinstance(node, list):
        return any(_mutate(child, field, value) for child in node)
    return False


@pytest.mark.slow
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SCENARIOS), st.data())
def test_a_malformed_element_never_crashes_the_decision(name: str, data: st.DataObject) -> None:
    patient, resources = _resources(name)
    target = data.draw(st.integers(0, len(resources) - 1))
    field = data.draw(st.sampled_from(FIELDS))
    broken = copy.deepcopy(resources)
    if not _mutate(broken[target], field, data.draw(ODD_VALUES)):
        return
    record = build_record(patient, broken, TODAY)
    protocols = load_protocols()
    draft = next((copy.deepcopy(r) for r in resources if r["resourceType"] == "MedicationRequest"
                  and r.get("status") == "active"), None)
    if draft is not None:
        _mutate(draft, data.draw(st.sampled_from(FIELDS)), data.draw(ODD_VALUES))
    for decision in (decide_monitoring(record, protocols, TODAY), decide_dosing(record, draft, protocols, TODAY)):
        build_cards(decision, hook="order-select", draft=draft, decision_url="https://cds.example/d/1", today=TODAY)


def test_a_malformed_observation_is_set_aside_with_its_id():
    patient, resources = _resources("khe-taper-step-due")
    trough = next(r for r in resources if r["resourceType"] == "Observation"
                  and r["code"]["coding"][0]["code"] == "29247-4")
    trough["status"] = ["final"]  # a list where R4 has a code
    record = build_record(patient, resources, TODAY)
    assert any(u.resource == f"Observation/{trough['id']}" for u in record.unusable)
    assert all(t.resource != f"Observation/{trough['id']}" for t in record.troughs)
