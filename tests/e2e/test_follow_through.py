"""Issue #11 through HTTP: the same children as tests/clinical/test_follow_through.py, seeded in the real
FHIR server and asked by CDS Hooks calls, with the answers the protocol gives (worked out there, by hand).

The children are written as of 2026-11-22 (the core tests' day, `WRITTEN`) and every date is moved to
today (cds_service.synthetic.shift), so "D+14" below is 14 days after the day the suite runs.
Label (clinical-protocol.md 2): "hold a dose for 7-14 days", then measure: follow_up_days = 14 (0015).
"""
from __future__ import annotations

import json
import re
from datetime import date, timedelta
from typing import Any

import pytest

from tests.clinical import fhir as build
from tests.clinical.test_scenarios import baseline, ihhe_infant, taper
from tests.e2e.support import (
    WRITTEN,
    Child,
    call_hook,
    check_dose,
    check_trough,
    day,
    load_request,
    no_dose_offered,
    only_card,
    recommended,
    resource_of,
    seed_children,
)
from tests.toolkit.helpers import run_json

# They talk to the real FHIR server process: out of the inner loop (-m "not slow"), always in CI.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

GUIDED = "khe-guided-discontinuation"


def _relapse_then_new_remission() -> list[dict[str, Any]]:
    """Taper since 2025-06-01: 1.0 -> 0.9 -> 0.82 mg/day; relapse: back to the previously effective
    0.9 mg/day on 2026-08-01 (rule 7), stable 113 days (rule 8: 3 months); the clinician recorded the
    new remission 80 days ago (abatement 2026-09-03); trough 5.0 ng/mL on 2026-11-15, 20 kg; normal liver and
    kidney labs on 2026-11-01 (a step needs them known, 0019)."""
    orders = [(date(2024, 1, 1), 0.5), (date(2025, 6, 1), 0.45), (date(2025, 7, 1), 0.41), (date(2026, 8, 1), 0.45)]
    return [build.weight(20, date(2026, 11, 15)), build.khe(abated=WRITTEN - timedelta(days=80)),
            build.careplan(date(2025, 6, 1)), build.trough(5.0, date(2026, 11, 15)), *build.normal_labs(),
            *build.chain(*[build.sirolimus(on, ml) for on, ml in orders])]


def _boy_now_13() -> list[dict[str, Any]]:
    """Taper begun 2026-06-22 at 12 y 8 m (born 2013-10-22), now 13 y 1 m; 1.0 mg/day since 2024, trough
    6.0 on 2026-11-15, 45 kg, remission since 2023, normal liver and kidney labs on 2026-11-01."""
    return [build.weight(45, date(2026, 11, 15)), build.khe(), build.careplan(date(2026, 6, 22)),
            build.trough(6.0, date(2026, 11, 15)), build.sirolimus(date(2024, 1, 1), 0.5), *build.normal_labs()]


def _two_levels_one_day() -> list[dict[str, Any]]:
    """Baseline girl (1.0 mg/day, 5-7 ng/mL): 10.0 ng/mL at 07:00, repeated as 6.2 at 11:00 (+01:00)."""
    return baseline(None) + [
        build.trough(10.0, date(2026, 11, 15), effectiveDateTime="2026-11-15T07:00:00+01:00"),
        build.trough(6.2, date(2026, 11, 15), effectiveDateTime="2026-11-15T11:00:00+01:00"),
    ]


CHILDREN: dict[str, Child] = {
    "e2e11-new-remission": (date(2020, 6, 1), "female", _relapse_then_new_remission),
    "e2e11-boy-13": (date(2013, 10, 22), "male", _boy_now_13),
    "e2e11-same-day": (date(2020, 6, 1), "female", _two_levels_one_day),
    "e2e11-increase": (date(2020, 6, 1), "female", lambda: baseline(4.0)),
    "e2e11-taper-step": (date(2020, 6, 1), "female",
                         lambda: taper(date(2026, 6, 1), [(date(2024, 1, 1), 0.5)], (date(2026, 11, 15), 6.0))),
    "e2e11-infant": (date(2026, 3, 1), "female", lambda: ihhe_infant()),
    # taper since 2026-06-01, step due, no liver or kidney lab in the record (decision 0019)
    "e2e11-no-labs": (date(2020, 6, 1), "female",
                      lambda: taper(date(2026, 6, 1), [(date(2024, 1, 1), 0.5)], (date(2026, 11, 15), 6.0),
                                    labs=False)),
    # taper since 2026-06-01, ALT 60 U/L on 2026-11-15 (> 25, CALIPER 1-13 y)
    "e2e11-liver": (date(2020, 6, 1), "female",
                    lambda: taper(date(2026, 6, 1), [(date(2024, 1, 1), 0.5)], (date(2026, 11, 15), 6.0),
                                  [build.obs("1742-6", 60, "U/L", date(2026, 11, 15))])),
}


@pytest.fixture(scope="module")
def seeded(fhir: Any) -> Any:
    return seed_children(fhir, CHILDREN)


def _draft(fhir: Any, patient_id: str, mg: float, reason: str = "khe") -> dict[str, Any]:
    return load_request("ehr-order-select-mg.json", patient_id=patient_id, fhir=fhir, dose=mg, frequency=2,
                        dose_text=f"{mg:g} mg ({mg:g} mL) by mouth twice daily", reason=reason)


def _view(fhir: Any, patient_id: str) -> dict[str, Any]:
    return load_request("sandbox-patient-view.json", patient_id=patient_id, fhir=fhir)


# -- item 2: a started taper keeps going ------------------------------------------------------------

@pytest.mark.parametrize(("patient_id", "draft_mg", "step_mg", "rule_words"), [
    # rule 8 after the stabilisation: 0.9 x 0.95 = 0.855 -> 0.43 mg (0.43 mL) twice daily = 0.86 mg/day
    ("e2e11-new-remission", 0.45, 0.43, "5"),
    # rule 1: 1.0 x 0.9 = 0.9 mg/day = 0.45 mg twice daily; "age 0-12" decided only the start
    ("e2e11-boy-13", 0.5, 0.45, "10"),
])
def test_a_started_taper_keeps_going_over_http(app: Any, seeded: Any, patient_id: str, draft_mg: float,
                                              step_mg: float, rule_words: str) -> None:
    client = app.test_client()
    card = only_card(call_hook(client, _draft(seeded, patient_id, draft_mg)))
    assert "not met" not in card["summary"] and "eligib" not in card["summary"].lower()
    best = recommended(card)
    check_dose(resource_of(best, "MedicationRequest", "update"), mg=step_mg, per_day=2, patient_id=patient_id,
               draft_id="draft-sirolimus-1")
    check_trough(resource_of(best, "ServiceRequest", "create"), due=day(14), patient_id=patient_id)
    assert f"{rule_words} %" in card["summary"] or f"{rule_words}%" in card["summary"], card["summary"]

    [step] = [c for c in call_hook(client, _view(seeded, patient_id)) if "step due" in c["summary"]]
    check_dose(resource_of(recommended(step), "MedicationRequest", "create"), mg=step_mg, per_day=2,
               patient_id=patient_id)


def test_a_criterion_that_protects_the_child_pauses_the_taper_and_says_so(app: Any, seeded: Any) -> None:
    """Normal liver function protects the child during the taper (decision 0016): ALT 60 U/L pauses the step
    that is due; the card says which criterion and to keep the current dose, and offers no new dose."""
    cards = call_hook(app.test_client(), _view(seeded, "e2e11-liver"))
    [paused] = [c for c in cards if "paused" in c["summary"]]
    assert paused["summary"] == "KHE taper paused: normal liver function not met; keep the current dose"
    assert "repeat the test" in paused["detail"]
    no_dose_offered(cards)


def test_a_taper_step_with_liver_and_kidney_function_unknown_waits_for_the_labs(app: Any, seeded: Any) -> None:
    """Decision 0019: no liver or kidney lab in the record, the 10 % step due: unknown is never met, so the
    order card proposes no reduction, names both criteria and says which tests would settle them."""
    cards = call_hook(app.test_client(), _draft(seeded, "e2e11-no-labs", 0.5))
    card = only_card(cards)
    assert card["summary"] == "KHE taper paused: normal liver function unknown (+1 more); keep the current dose"
    assert "no ALT, AST, total bilirubin within 90 days" in card["detail"]
    assert "no creatinine within 90 days" in card["detail"]
    no_dose_offered(cards)


def test_a_taper_step_with_infection_status_unknown_is_the_prescriber_s_to_confirm(app: Any, seeded: Any) -> None:
    """Decision 0019: normal labs, no infection on the problem list (unknown): the 10 % step (0.45 mg twice
    daily) is offered, and its label says the prescriber confirms no infectious disease."""
    card = only_card(call_hook(app.test_client(), _draft(seeded, "e2e11-taper-step", 0.5)))
    best = recommended(card)
    assert "prescriber confirms no infectious disease" in best["label"], best["label"]
    check_dose(resource_of(best, "MedicationRequest", "update"), mg=0.45, per_day=2, patient_id="e2e11-taper-step",
               draft_id="draft-sirolimus-1")
    assert "confirm the child has no infectious disease" in card["detail"]


# -- item 3: levels in true time order --------------------------------------------------------------

def test_same_day_levels_returned_oldest_first_use_the_later_one(app: Any, seeded: Any) -> None:
    """The server's order ignored (the prefetch lists 10.0 at 07:00 before 6.2 at 11:00): 6.2 ng/mL is the
    level, within 5-7, so the dose is kept (1.0 mg/day, 0.5 mg twice daily), never cut 40 % from 10.0; the
    card says another level exists that day."""
    request = _draft(seeded, "e2e11-same-day", 0.5)
    levels = request["prefetch"]["sirolimusLevels"]
    levels["entry"].sort(key=lambda e: e["resource"]["effectiveDateTime"])  # oldest first, as the server
    assert [e["resource"]["valueQuantity"]["value"] for e in levels["entry"]] == [10.0, 6.2]
    card = only_card(call_hook(app.test_client(), request))
    assert "6.2 ng/mL" in card["detail"]
    assert "another sirolimus level was drawn" in card["detail"] and "(10 ng/mL)" in card["detail"]
    assert "%" not in card["summary"], card["summary"]  # no change proposed
    for suggestion in card.get("suggestions", []):
        for action in suggestion["actions"]:
            if action.get("resource", {}).get("resourceType") == "MedicationRequest":
                dose = action["resource"]["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"]
                assert dose >= 0.5, "no cut from the older level"


# -- item 4: loading dose and missing-data wording that fit the phase -------------------------------

def test_no_loading_dose_for_a_child_on_sirolimus_over_http(app: Any, seeded: Any) -> None:
    """4.0 ng/mL on 1.0 mg/day: 1.0 x 6/4 = 1.5 mg/day (0.75 mg twice daily, +50 %), no loading dose; trough
    14 days after the change (D+14)."""
    request = _draft(seeded, "e2e11-increase", 0.5)
    card = only_card(call_hook(app.test_client(), request))
    best = recommended(card)
    check_dose(resource_of(best, "MedicationRequest", "update"), mg=0.75, per_day=2, patient_id="e2e11-increase",
               draft_id="draft-sirolimus-1")
    check_trough(resource_of(best, "ServiceRequest", "create"), due=day(14), patient_id="e2e11-increase")
    assert "loading" not in json.dumps(card).lower()


def test_an_infant_not_yet_on_sirolimus_is_told_no_trough_is_missing(app: Any, seeded: Any) -> None:
    """IHHE infant, 6 kg, propranolol given, no sirolimus: patient-view says nothing of a trough; the start
    order (0.1 mg/kg/day = 0.3 mg twice daily) names the first trough, D+14."""
    client = app.test_client()
    for card in call_hook(client, _view(seeded, "e2e11-infant")):
        assert "trough" not in card["summary"].lower() and "missing" not in card["detail"].lower()
    card = only_card(call_hook(client, _draft(seeded, "e2e11-infant", 0.3, reason="ihhe")))
    assert "missing" not in (card["summary"] + card["detail"]).lower()
    assert f"**First trough:** {day(14).isoformat()}" in card["detail"]


# -- item 1: one next-trough date on the card, its ServiceRequest, the decision page and `plan` -----

@pytest.mark.integration
def test_card_page_and_plan_agree_on_the_next_trough(app: Any, seeded: Any,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """Taper since 2026-06-01 (D-184), 1.0 mg/day, 6.0 ng/mL: rule 1 step due today (0.9 mg/day), so the next
    trough is D+14 on the patient-view card, its ServiceRequest, the decision page and `plan`."""
    client = app.test_client()
    [step] = [c for c in call_hook(client, _view(seeded, "e2e11-taper-step")) if "step due" in c["summary"]]
    due = day(14).isoformat()
    check_trough(resource_of(recommended(step), "ServiceRequest", "create"), due=day(14),
                 patient_id="e2e11-taper-step")
    assert f"**Next trough:** {due}" in step["detail"]
    page = client.get(re.sub(r"^https?://[^/]+", "", step["links"][0]["url"]))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert set(re.findall(r"Next trough due</th><td>(\d{4}-\d{2}-\d{2})", html)) == {due}
    plan = run_json(capsys, ["plan", "--fhir-server", seeded.base_url, "--token", seeded.token,
                             "--patient", "e2e11-taper-step", "--quiet"])
    assert plan["next_trough_due"] == due == plan["schedule"][0]["trough_due_on"]
