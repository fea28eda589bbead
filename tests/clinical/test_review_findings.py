"""Scenarios from the independent safety review (taper, relapse, remission), each from the protocol text."""
from datetime import date

import pytest

from cds_service.clinical.decision import MonitoringKind
from tests.clinical import fhir
from tests.clinical.test_scenarios import ELIGIBLE, criteria, run, taper


def test_a_khe_condition_in_remission_set_back_to_active_during_the_taper_is_a_relapse():
    """Section 5: "a Condition for KHE whose clinicalStatus becomes relapse or recurrence (or active)
    after the taper began" -> rule 7: go back to the previously effective dose."""
    # Taper began 2026-09-01 on 0.5 mL bid (1.0 mg/day); reduced to 0.45 mL bid on 2026-10-01.
    # The KHE Condition (remission since 2023, recorded 2020) is now 'active' again.
    reactivated = fhir.khe(status="active", abated=date(2023, 1, 1), recorded=date(2020, 5, 1))
    resources = taper(date(2026, 9, 1), [(date(2024, 1, 1), 0.5), (date(2026, 10, 1), 0.45)],
                      (date(2026, 11, 10), 5.0))
    resources = [r for r in resources if r.get("resourceType") != "Condition"] + [reactivated]
    d = run(resources)
    assert any(m.kind is MonitoringKind.POSSIBLE_RELAPSE for m in d.monitoring)
    assert d.proposed_dose is not None and d.proposed_dose.rule == "relapse_return_to_effective_dose"
    assert d.proposed_dose.daily_dose_mg == pytest.approx(1.0)  # the dose before the reduction


def test_an_active_khe_diagnosis_never_put_in_remission_is_not_a_relapse_signal():
    # The problem list kept the original diagnosis 'active', no abatement: not a change after the taper.
    original = fhir.khe(status="active", abated=None, recorded=date(2020, 5, 1))
    resources = taper(date(2026, 9, 1), [(date(2024, 1, 1), 0.5)], (date(2026, 11, 10), 5.0))
    resources = [r for r in resources if r.get("resourceType") != "Condition"] + [original]
    d = run(resources)
    assert not any(m.kind is MonitoringKind.POSSIBLE_RELAPSE for m in d.monitoring)


def test_remission_counts_from_the_latest_episode():
    """Inclusion: "at least 2 years of remission": an episode resolved in 2019 does not make up for a
    remission that began 200 days ago."""
    old_episode = fhir.khe(status="resolved", abated=date(2019, 1, 1))
    recent = fhir.khe(status="remission", abated=date(2026, 5, 6))
    resources = [r for r in ELIGIBLE if r.get("resourceType") != "Condition"] + [old_episode, recent]
    assert criteria(run(resources))["remission"] == "not_met"


def test_a_careplan_on_hold_pauses_the_taper():
    """Which protocol a child is on is read from the CarePlan; one put on hold proposes no reduction."""
    resources = taper(date(2026, 6, 1), [(date(2024, 1, 1), 0.5)], (date(2026, 11, 10), 5.0))
    for resource in resources:
        if resource["resourceType"] == "CarePlan":
            resource["status"] = "on-hold"
    d = run(resources)
    assert d.arm is not None and d.arm.on_hold
    assert d.proposed_dose is None
    assert any("on hold" in reason for reason in d.no_proposal_reasons)


def test_ihhe_without_propranolol_on_record_is_said_plainly():
    """Section 1A: the service "checks that propranolol was given before ... and says so plainly when it
    finds none" (a warning, not only a row in the eligibility table)."""
    from tests.clinical.test_scenarios import ihhe_infant

    d = run(ihhe_infant(propranolol=False), fhir.draft(0.3, "mL", 2), born=date(2026, 3, 1))
    assert any(f.code == "no-propranolol-on-record" and f.severity == "warning" for f in d.findings)
    with_propranolol = run(ihhe_infant(), fhir.draft(0.3, "mL", 2), born=date(2026, 3, 1))
    assert not any(f.code == "no-propranolol-on-record" for f in with_propranolol.findings)


def test_a_draft_reduction_during_the_stabilisation_is_flagged():
    """Rule 8: "After a 3-month stabilisation at that dose, reductions of at most 5 % a month may be
    considered": a reduction 40 days after the return is too early."""
    from tests.clinical.test_scenarios import RELAPSE_ORDERS

    orders = [*RELAPSE_ORDERS, (date(2026, 10, 13), 0.45)]  # returned to 0.9 mg/day 40 days ago
    d = run(taper(date(2025, 6, 1), orders, (date(2026, 11, 20), 5.0)), fhir.draft(0.43, "mL", 2))
    assert any(f.code == "reduction-during-stabilisation" for f in d.findings)


def test_a_careplan_naming_another_protocol_version_is_followed_and_says_so():
    resources = taper(date(2026, 6, 1), [(date(2024, 1, 1), 0.5)], (date(2026, 11, 10), 5.0))
    for resource in resources:
        if resource["resourceType"] == "CarePlan":
            resource["instantiatesCanonical"] = [fhir.GUIDED.replace("|1.0.0", "|2.0.0")]
    d = run(resources)
    assert d.arm is not None and d.arm.protocol_id == "khe-guided-discontinuation"
    assert "names version 2.0.0" in d.arm.note and "version 1.0.0" in d.arm.note


def test_the_arm_note_names_the_careplan_once():
    """The decision page's "Arm" row read "CarePlan CarePlan/x instantiates ..." (newcomer run)."""
    d = run(taper(date(2026, 6, 1), [(date(2024, 1, 1), 0.5)], (date(2026, 11, 10), 5.0)))
    assert d.arm is not None and d.arm.source_reference is not None
    assert d.arm.note.startswith(f"{d.arm.source_reference} instantiates ") and "CarePlan CarePlan" not in d.arm.note


def test_a_consent_that_only_mentions_discontinuation_is_not_trial_consent():
    from tests.clinical.test_scenarios import ELIGIBLE

    vague = fhir.consent()
    vague["category"] = [{"text": "Consent to discontinuation of parenteral nutrition"}]
    resources = [r for r in ELIGIBLE if r.get("resourceType") != "Consent"] + [vague]
    assert criteria(run(resources))["consent"] != "met"


def test_a_weight_implausible_for_age_gives_no_dose():
    """Decision 0014: 40 kg for a 7-month-old (band 2.5-15 kg) would make the IHHE start 0.1 x 40 = 4 mg/day
    instead of about 0.8: no dose, and the card asks to confirm the weight."""
    from tests.clinical.test_scenarios import ihhe_infant

    resources = [r for r in ihhe_infant() if r.get("code", {}).get("coding", [{}])[0].get("code") != "29463-7"]
    resources.append(fhir.weight(40, date(2026, 11, 18)))
    d = run(resources, fhir.draft(2.0, "mL", 2), born=date(2026, 4, 10))
    assert d.proposed_dose is None
    assert any("outside the plausible" in r for r in d.no_proposal_reasons)
    plausible = [r for r in resources if r is not resources[-1]] + [fhir.weight(7.9, date(2026, 11, 18))]
    assert run(plausible, fhir.draft(0.4, "mL", 2), born=date(2026, 4, 10)).proposed_dose is not None


def test_no_dose_for_a_birth_date_in_the_future_or_a_deceased_patient():
    from cds_service.clinical.decide import decide_monitoring, load_protocols
    from cds_service.clinical.reading.record import build_record

    resources = taper(date(2026, 6, 1), [(date(2024, 1, 1), 0.5)], (date(2026, 11, 10), 5.0))
    baseline = run(resources)
    assert baseline.proposed_dose is not None  # a step is due for this child
    for patient in ({**fhir.patient(date(2027, 12, 1))}, {**fhir.patient(date(2019, 1, 1)), "deceasedBoolean": True}):
        d = decide_monitoring(build_record(patient, resources, date(2026, 11, 22)), load_protocols(),
                              date(2026, 11, 22))
        assert d.proposed_dose is None
        assert any("not plausible for dosing" in r for r in d.no_proposal_reasons)


def test_a_trough_without_a_draw_time_is_not_dated_by_its_report_and_is_listed_unusable():
    from cds_service.clinical.reading.record import build_record

    level = fhir.trough(6.0, date(2026, 11, 15))
    del level["effectiveDateTime"]
    level["issued"] = "2026-11-16T10:00:00Z"  # when the report was released, not when it was drawn
    record = build_record(fhir.patient(date(2019, 1, 1)), [level], date(2026, 11, 22))
    assert record.troughs == ()
    assert any(u.resource == f"Observation/{level['id']}" and "effective date" in u.reason for u in record.unusable)
