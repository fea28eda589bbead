"""Conditions, CarePlans, ResearchSubjects, Consents and earlier-toxicity records -> facts."""
from __future__ import annotations

from typing import Any

from ..protocols import KHE_GUIDED, load_protocols
from .facts import CarePlanFact, ConditionFact, ConsentFact, ResearchSubjectFact, ToxicityFact, Unusable
from .validate import codes, is_valid, parse_date, ref, status_code
from .valuesets import broad_code_without_text, match_concept

DIAGNOSIS_VALUESETS = ("khe", "kmp", "ihhe")
EXCLUSION_VALUESETS = (
    "excl-haematological", "excl-solid-tumour", "excl-hypertension", "excl-diabetes",
    "excl-adrenal-insufficiency", "excl-neurological", "excl-cardiopulmonary", "excl-infection",
)


def read_conditions(conditions: list[dict[str, Any]], unusable: list[Unusable]
                    ) -> tuple[tuple[ConditionFact, ...], int]:
    """Conditions whose code matches a diagnosis or exclusion ValueSet (plus how many were read)."""
    result = []
    read = 0
    for condition in conditions:
        if status_code(condition.get("verificationStatus")) == "entered-in-error":
            continue
        read += 1
        code = condition.get("code")
        matches = [m for name in DIAGNOSIS_VALUESETS + EXCLUSION_VALUESETS if (m := match_concept(name, code))]
        broad = next((b for name in DIAGNOSIS_VALUESETS if (b := broad_code_without_text(name, code))), None)
        if not matches and broad is None:
            continue
        if not is_valid(condition, unusable):
            continue
        diagnosis = next((m for m in matches if m.valueset in DIAGNOSIS_VALUESETS), None)
        names = tuple(m.valueset for m in matches)
        # A KMP code (D69.5, D75.8) is KHE's own complication, not "other haematological disease".
        if diagnosis is not None:
            names = tuple(n for n in names if n in DIAGNOSIS_VALUESETS)
        first = diagnosis or (matches[0] if matches else None)
        result.append(ConditionFact(
            resource=ref(condition), valuesets=names,
            how=first.how if first else (broad or ""),
            specific=bool(first and first.specific),
            clinical_status=status_code(condition.get("clinicalStatus")),
            verification_status=status_code(condition.get("verificationStatus")),
            recorded_on=parse_date(condition.get("recordedDate")) or parse_date(condition.get("onsetDateTime")),
            abatement_on=parse_date(condition.get("abatementDateTime")),
            broad_without_text=broad if not matches else None,
        ))
    return tuple(result), read


def read_careplans(careplans: list[dict[str, Any]], unusable: list[Unusable]) -> tuple[CarePlanFact, ...]:
    result = []
    for plan in careplans:
        canonicals = plan.get("instantiatesCanonical") or []
        if isinstance(canonicals, str):
            canonicals = [canonicals]
        if not canonicals or not is_valid(plan, unusable):
            continue
        period = p if isinstance(p := plan.get("period"), dict) else {}
        result.append(CarePlanFact(resource=ref(plan), canonicals=tuple(str(c) for c in canonicals),
                                   status=str(plan.get("status")), period_start=parse_date(period.get("start")),
                                   period_end=parse_date(period.get("end"))))
    return tuple(result)


def read_research_subjects(subjects: list[dict[str, Any]], unusable: list[Unusable]
                           ) -> tuple[ResearchSubjectFact, ...]:
    result = []
    for subject in subjects:
        if not is_valid(subject, unusable):
            continue
        study = s if isinstance(s := subject.get("study"), dict) else {}
        identifier = i if isinstance(i := study.get("identifier"), dict) else {}
        period = p if isinstance(p := subject.get("period"), dict) else {}
        result.append(ResearchSubjectFact(
            resource=ref(subject), arm=subject.get("assignedArm"), status=str(subject.get("status")),
            study=identifier.get("value") or study.get("display") or study.get("reference"),
            period_start=parse_date(period.get("start")),
        ))
    return tuple(result)


def _names_trial(consent: dict[str, Any], names: tuple[str, ...]) -> bool:
    """The Consent names the trial (its registration id) or the guided-discontinuation PlanDefinition;
    a free-text word such as "discontinuation" is not enough (it may be about anything)."""
    text = str(consent)
    return any(name in text for name in names)


def _guided_trial_names() -> tuple[str, ...]:
    """The consent studies of the guided-discontinuation protocol (else its registration) and its
    PlanDefinition URL, from the protocol data."""
    guided = load_protocols()[KHE_GUIDED]
    studies = tuple(guided.eligibility.get("consent_studies") or (guided.ref.registration,))
    return (*studies, guided.ref.plan_definition_url)


def read_consents(consents: list[dict[str, Any]], unusable: list[Unusable]) -> tuple[ConsentFact, ...]:
    names = _guided_trial_names()
    result = []
    for consent in consents:
        if not is_valid(consent, unusable):
            continue
        result.append(ConsentFact(ref(consent), str(consent.get("status")), parse_date(consent.get("dateTime")),
                                  _names_trial(consent, names)))
    return tuple(result)


def read_toxicities(allergies: list[dict[str, Any]], events: list[dict[str, Any]],
                    unusable: list[Unusable]) -> tuple[ToxicityFact, ...]:
    """Earlier sirolimus toxicity: AllergyIntolerance/AdverseEvent naming sirolimus. A "no known allergy"
    statement settles nothing about toxicity (eligibility.no_earlier_toxicity), so it is not read."""
    toxicities: list[ToxicityFact] = []
    for allergy in allergies:
        if status_code(allergy.get("verificationStatus")) in {"entered-in-error", "refuted"}:
            continue
        if not is_valid(allergy, unusable):
            continue
        code = allergy.get("code")
        if match_concept("sirolimus-toxicity", code) or match_concept("sirolimus", code):
            toxicities.append(ToxicityFact(ref(allergy), "AllergyIntolerance naming sirolimus",
                                           parse_date(allergy.get("recordedDate"))))
    for event in events:
        if not is_valid(event, unusable):
            continue
        for entity in event.get("suspectEntity") or []:
            instance = entity.get("instance") if isinstance(entity, dict) else None
            concept = (instance or {}).get("concept") or {"coding": [], "text": (instance or {}).get("display")}
            names = str((instance or {}).get("display", "")).lower()
            if match_concept("sirolimus", concept) or "sirolimus" in names or any(
                c == "35302" for _, c in codes(concept)
            ):
                toxicities.append(ToxicityFact(ref(event), "AdverseEvent with sirolimus as suspect",
                                               parse_date(event.get("date"))))
                break
    return tuple(toxicities)
