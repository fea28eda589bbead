"""The FHIR resources suggestions carry: valid R4, the draft kept, the Decision's dose written as FHIR."""

from __future__ import annotations

from datetime import date

from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest
from hypothesis import given
from hypothesis import strategies as st

from cards.resources import dosage, trough_request, updated_medication_request
from cds_service.clinical.decision import DoseRegimen
from tests.cards.factories import sandbox_draft, solution, tablet


def test_mixed_tablet_strengths_are_ordered_in_mg_with_the_tablets_in_the_text():
    mixed = DoseRegimen(mg_per_administration=1.5, administrations_per_day=2, formulation="tablet", strength_mg=1.0,
                        tablets_per_administration=2, tablet_strengths_mg=(1.0, 0.5))
    written = dosage(mixed)
    assert written["doseAndRate"][0]["doseQuantity"]["code"] == "mg"
    assert written["doseAndRate"][0]["doseQuantity"]["value"] == 1.5
    assert written["text"] == "1.5 mg (one 1 mg + one 0.5 mg tablet) by mouth twice daily"


def test_another_tablet_strength_changes_the_product_code():
    resource = updated_medication_request(
        sandbox_draft(), tablet(1.0, 1), patient_id="khe-demo", draft_formulation="tablet", draft_strength_mg=0.5
    )
    MedicationRequest.model_validate(resource)
    assert resource["medicationCodeableConcept"]["coding"][0]["code"] == "349208"


def test_trough_request_is_valid_r4():
    ServiceRequest.model_validate(trough_request("khe-demo", date(2026, 12, 6)))


@given(
    extra=st.dictionaries(
        st.sampled_from(["courseOfTherapyType", "priority", "doNotPerform", "groupIdentifier", "note"]),
        st.just(None),
        max_size=3,
    ),
    regimen=st.sampled_from([solution(0.72), solution(0.05, 1), tablet(0.5, 2), tablet(2.0, 1, 1)]),
)
def test_every_draft_element_is_kept_and_only_the_dosage_changes(extra, regimen):
    draft = sandbox_draft()
    values = {
        "courseOfTherapyType": {"text": "continuous"},
        "priority": "routine",
        "doNotPerform": False,
        "groupIdentifier": {"value": "g-1"},
        "note": {"text": "sandbox sends single objects"},
    }
    draft.update({key: values[key] for key in extra})
    resource = updated_medication_request(
        draft, regimen, patient_id="khe-demo", draft_formulation="tablet", draft_strength_mg=0.5
    )
    MedicationRequest.model_validate(resource)
    for key, value in draft.items():
        if key in {"dosageInstruction", "medicationCodeableConcept"}:
            continue
        assert resource[key] == (value if key not in {"reasonCode", "category", "note"} else [value])
    assert resource["dosageInstruction"] == [dosage(regimen)]
