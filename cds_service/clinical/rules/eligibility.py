"""Eligibility, three-valued, with evidence: KHE guided discontinuation and IHHE sequential sirolimus.

"Every criterion has three possible answers: met, not met, or unknown (the record does not say).
Unknown is never silently treated as met: the card lists what is unknown and what would settle it."
(clinical-protocol.md 1.B). For an exclusion, "met" means the excluding condition is absent.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from ..decision import Answer, CriterionResult, Eligibility, Evidence
from ..protocols import IHHE_SEQUENTIAL, KHE_GUIDED, Protocol, period
from ..reading.observations import LOINC_ALT, LOINC_AST, LOINC_BILIRUBIN, LOINC_CREATININE_MOLES
from ..reading.record import PatientRecord

REMISSION_STATUSES = {"remission", "inactive", "resolved"}
_EXCLUSION_TEXT = {
    "other_haematological_disease": "other haematological disease",
    "other_solid_tumour": "other solid tumour",
    "hypertension": "hypertension",
    "diabetes": "diabetes",
    "adrenal_insufficiency": "adrenal insufficiency",
    "neurological_disease": "neurological disease",
    "cardiopulmonary_insufficiency": "cardiopulmonary insufficiency",
    "infectious_disease": "infectious disease",
}


def combine(criteria: tuple[CriterionResult, ...]) -> Answer:
    """not_met if any criterion is not met; else unknown if any is unknown; else met."""
    answers = {c.answer for c in criteria}
    return "not_met" if "not_met" in answers else "unknown" if "unknown" in answers else "met"


def has_diagnosis(record: PatientRecord, valueset: str, cid: str, text: str) -> CriterionResult:
    """Diagnosis from a Condition matching the ValueSet; a broad code alone leaves it unknown."""
    found = [c for c in record.conditions if valueset in c.valuesets and c.verification_status != "refuted"]
    if found:
        ev = tuple(Evidence(c.resource, c.how, None, c.recorded_on, "recognised by " + c.how) for c in found)
        return CriterionResult(cid, text, "inclusion", "met", ev)
    broad = [c for c in record.conditions if c.broad_without_text]
    if broad:
        ev = tuple(Evidence(c.resource, c.broad_without_text, None, c.recorded_on,
                            "a broad code only, which also covers other diseases") for c in broad)
        return CriterionResult(cid, text, "inclusion", "unknown", ev,
                               "record the specific diagnosis (e.g. Orphanet code) on the Condition")
    return CriterionResult(cid, text, "inclusion", "unknown", (),
                           f"record the {valueset.upper()} diagnosis as a Condition")


def age_0_to_12(record: PatientRecord, params: dict[str, Any], today: date) -> CriterionResult:
    """Inclusion: "age 0-12 years"."""
    text = f"age {params['min_age_years']}-{params['max_age_years']} years"
    years = record.age_years(today)
    if years is None:
        return CriterionResult("age", text, "inclusion", "unknown", (), "record the date of birth")
    ok = params["min_age_years"] <= years <= params["max_age_years"]
    return CriterionResult("age", text, "inclusion", "met" if ok else "not_met",
                           (Evidence(f"Patient/{record.patient_id}", years, "years", record.birth_date, "birthDate"),))


def remission_two_years(record: PatientRecord, params: dict[str, Any], today: date) -> CriterionResult:
    """Inclusion: "at least 2 years of remission" (KHE Condition in remission, abatementDateTime)."""
    days = params["min_remission_days"]
    text = f"at least {period(days)} of remission"
    khe = [c for c in record.conditions if "khe" in c.valuesets]
    if not khe:
        return CriterionResult("remission", text, "inclusion", "unknown", (),
                               "record the KHE Condition with its clinical status and remission date")
    active = [c for c in khe if c.clinical_status not in REMISSION_STATUSES]
    if active:
        return CriterionResult("remission", text, "inclusion", "not_met", tuple(
            Evidence(c.resource, c.clinical_status, None, c.recorded_on) for c in active))
    dated = [c for c in khe if c.abatement_on is not None]
    if not dated:
        return CriterionResult("remission", text, "inclusion", "unknown", tuple(
            Evidence(c.resource, c.clinical_status, None, None) for c in khe),
            "record when remission began (Condition.abatementDateTime)")
    # The latest remission start counts: an older, resolved episode says nothing of the current one.
    since = max(c.abatement_on for c in dated if c.abatement_on is not None)
    held = (today - since).days
    ev = tuple(Evidence(c.resource, c.clinical_status, None, c.abatement_on, f"remission since {since}") for c in dated)
    return CriterionResult("remission", text, "inclusion", "met" if held >= days else "not_met", ev)


NO_TOXICITY = "no_toxicity"


def no_earlier_toxicity(record: PatientRecord) -> CriterionResult:
    """Inclusion: "no earlier sirolimus toxicity or adverse event"."""
    text = "no earlier sirolimus toxicity or adverse event"
    if record.toxicities:
        return CriterionResult(NO_TOXICITY, text, "inclusion", "not_met", tuple(
            Evidence(t.resource, t.what, None, t.on) for t in record.toxicities))
    # A "no known allergy" statement is not evidence about toxicity (mucositis, hyperlipidaemia,
    # myelosuppression are not allergies): it settles nothing here; the prescriber may confirm (0010).
    return CriterionResult(NO_TOXICITY, text, "inclusion", "unknown", (),
                           "confirm that sirolimus caused no toxicity (AllergyIntolerance / AdverseEvent)")


_LAB_NAMES = {LOINC_ALT: "ALT", LOINC_AST: "AST", LOINC_BILIRUBIN: "total bilirubin",
              LOINC_CREATININE_MOLES: "creatinine"}


def _upper_limit(protocol: Protocol, record: PatientRecord, loinc: str, on: date) -> float | None:
    age = record.age_days(on)
    if age is None:
        return None
    for row in protocol.eligibility.get("reference_intervals", []):
        if row["loinc"] == loinc and row["age_from_days"] <= age < row["age_to_days"] \
                and row.get("sex") in (None, record.sex):
            return float(row["high"])
    return None


def organ_function(record: PatientRecord, protocol: Protocol, today: date, cid: str, text: str,
                   loincs: tuple[str, ...], kind: str) -> CriterionResult:
    """Normal function: every lab at most (choice) `upper_limit_multiple` x its upper limit; the lab's
    own referenceRange first, else the CALIPER interval for age (and sex)."""
    params = protocol.eligibility
    max_age = params["lab_max_age_days"]
    evidence, unknown, abnormal = [], [], False
    for loinc in loincs:
        lab = record.latest_lab(loinc, today)
        if lab is None or (today - lab.on).days > max_age:
            unknown.append(loinc)
            continue
        upper = lab.ref_high if lab.ref_high is not None else _upper_limit(protocol, record, loinc, lab.on)
        if upper is None:
            unknown.append(loinc)
            continue
        limit = upper * params["upper_limit_multiple"]
        high = lab.value > limit
        abnormal = abnormal or high
        evidence.append(Evidence(lab.resource, lab.value, lab.unit, lab.on,
                                 f"{'above' if high else 'within'} the upper limit {limit:g}"))
    if abnormal:
        return CriterionResult(cid, text, "inclusion", "not_met", tuple(evidence))
    if unknown:
        return CriterionResult(cid, text, "inclusion", "unknown", tuple(evidence),
                               f"no {', '.join(_LAB_NAMES.get(c, c) for c in unknown)} within {max_age} days: "
                               f"order {kind} tests (LOINC {', '.join(unknown)})")
    return CriterionResult(cid, text, "inclusion", "met", tuple(evidence))


def consent_signed(record: PatientRecord) -> CriterionResult:
    """Inclusion: "guardian's signed informed consent (a FHIR Consent resource)"."""
    text = "guardian's signed informed consent"
    active = [c for c in record.consents if c.status == "active" and c.names_trial]
    if active:
        return CriterionResult("consent", text, "inclusion", "met", tuple(
            Evidence(c.resource, c.status, None, c.on) for c in active))
    refused = [c for c in record.consents if c.status in {"rejected", "inactive"} and c.names_trial]
    if refused:
        return CriterionResult("consent", text, "inclusion", "not_met", tuple(
            Evidence(c.resource, c.status, None, c.on) for c in refused))
    return CriterionResult("consent", text, "inclusion", "unknown", (),
                           "record the guardian's signed consent (Consent, status active)")


def exclusion_absent(record: PatientRecord, key: str, valueset: str, absence_is: Answer) -> CriterionResult:
    """Exclusion: an active Condition in the ValueSet -> not met; none -> `problem_list_absence_is`."""
    disease = _EXCLUSION_TEXT.get(key, key)
    text = f"no {disease}"
    present = [c for c in record.conditions if valueset in c.valuesets
               and c.clinical_status in {"active", "recurrence", "relapse", None}
               and c.verification_status not in {"refuted", "entered-in-error"}]
    if present:
        return CriterionResult(key, text, "exclusion", "not_met", tuple(
            Evidence(c.resource, c.how, None, c.recorded_on) for c in present), condition=disease)
    note = f"no such active Condition among {record.conditions_read} on the problem list"
    answer: Answer = absence_is if record.conditions_read else "unknown"
    return CriterionResult(key, text, "exclusion", answer, (Evidence(None, None, None, None, note),),
                           None if answer == "met" else f"confirm the child has no {disease}", condition=disease)


def guided_discontinuation(record: PatientRecord, protocol: Protocol, today: date) -> Eligibility:
    params = protocol.eligibility
    absence: Answer = params["problem_list_absence_is"]
    checks: list[Callable[[], CriterionResult]] = [
        lambda: has_diagnosis(record, "khe", "diagnosis", "KHE, with or without Kasabach-Merritt phenomenon"),
        lambda: age_0_to_12(record, params, today),
        lambda: remission_two_years(record, params, today),
        lambda: no_earlier_toxicity(record),
        lambda: organ_function(record, protocol, today, "liver_function", "normal liver function",
                               (LOINC_ALT, LOINC_AST, LOINC_BILIRUBIN), "liver function"),
        lambda: organ_function(record, protocol, today, "kidney_function", "normal kidney function",
                               (LOINC_CREATININE_MOLES,), "creatinine"),
        lambda: consent_signed(record),
    ]
    criteria = [check() for check in checks]
    criteria += [exclusion_absent(record, key, vs, absence) for key, vs in params["exclusion_valuesets"].items()]
    return Eligibility(KHE_GUIDED, combine(tuple(criteria)), tuple(criteria),
                       tuple(params.get("prescriber_can_confirm", ())))


def propranolol_before(record: PatientRecord, today: date) -> CriterionResult:
    """IHHE: "checks that propranolol was given before (a MedicationRequest for propranolol)"."""
    text = "propranolol given before sirolimus (first-line)"
    given = [p for p in record.propranolol if p.start is None or p.start <= today]
    if given:
        return CriterionResult("propranolol_before", text, "inclusion", "met", tuple(
            Evidence(p.resource, p.name, None, p.start, p.how) for p in given))
    return CriterionResult("propranolol_before", text, "inclusion", "unknown", (),
                           "no propranolol order was found: record the propranolol given before sirolimus")


def ihhe_sequential(record: PatientRecord, protocol: Protocol, today: date, sirolimus_ordered: bool
                    ) -> Eligibility:
    """IHHE sequential sirolimus: diagnosis, propranolol first, resistance (the clinician's judgement)."""
    resistance = CriterionResult(
        "propranolol_resistant", "IHHE not responding to propranolol (clinician's judgement from imaging)",
        "inclusion", "met" if sirolimus_ordered else "unknown",
        (Evidence(None, "sirolimus ordered", None, today, "the order is taken as that judgement"),)
        if sirolimus_ordered else (), None if sirolimus_ordered else "the prescriber's judgement from imaging")
    criteria = (has_diagnosis(record, "ihhe", "diagnosis", "infantile hepatic hemangioendothelioma"),
                propranolol_before(record, today), resistance)
    return Eligibility(IHHE_SEQUENTIAL, combine(criteria), criteria)
