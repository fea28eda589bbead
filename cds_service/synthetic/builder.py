"""Building blocks for the synthetic patients: FHIR R4 resources as plain JSON dicts.

Used only to (re)write the shipped bundles (`python -m cds_service.synthetic.scenarios`); the
service and the seed command read the JSON files, never this module. Everything here follows the
reading conventions of docs/architecture.md ("What the service reads from FHIR"), so the clinical
core interprets each patient as its scenario intends.

Models behind the numbers (synthetic, plausible, not a clinical reference):
- growth: WHO median weight and length/height for age, scaled per child;
- trough level: proportional to the daily dose (the protocol's "linear relation between dose and
  concentration") with a per-child factor that falls slowly as the child grows (weight^-0.5), tablets
  giving about 27 % more exposure than the oral solution (clinical-protocol.md 2);
- liver and kidney labs: inside the CALIPER interval for the age at the draw (clinical-protocol.md 4),
  written with that interval as `referenceRange`.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Any

from cds_service.clinical.pharmacology import load_pharmacology

UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC = "http://www.whocc.no/atc"
SNOMED = "http://snomed.info/sct"
ORPHANET = "http://www.orpha.net"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
MRN_SYSTEM = "https://sirolimus-cds.org/fhir/synthetic-mrn"
SCENARIO_TAG_SYSTEM = "https://sirolimus-cds.org/fhir/synthetic-scenario"
PLAN_BASE = "https://sirolimus-cds.org/fhir/PlanDefinition/"
PROTOCOL_VERSION = "1.0.0"

TROUGH_TIME = "T07:30:00Z"  # drawn before the 08:00 dose
DOSE_TIMES = {2: ["08:00:00", "20:00:00"], 3: ["08:00:00", "14:00:00", "20:00:00"]}

SIROLIMUS_PRODUCTS = {
    "solution": ("314230", "sirolimus 1 MG/ML Oral Solution", None),
    "tablet-0.5": ("905158", "sirolimus 0.5 MG Oral Tablet", Decimal("0.5")),
    "tablet-1": ("349208", "sirolimus 1 MG Oral Tablet", Decimal("1")),
}

# WHO child growth standards, boys' medians: age in months -> (weight kg, length/height cm).
_WHO = [
    (0, 3.3, 49.9), (1, 4.5, 54.7), (2, 5.6, 58.4), (3, 6.4, 61.4), (4, 7.0, 63.9), (5, 7.5, 65.9),
    (6, 7.9, 67.6), (9, 8.9, 72.0), (12, 9.6, 75.7), (18, 10.9, 82.3), (24, 12.2, 87.1),
    (36, 14.3, 96.1), (48, 16.3, 103.3), (60, 18.3, 110.0), (72, 20.5, 116.0), (84, 22.9, 121.7),
    (96, 25.4, 127.3), (108, 28.1, 132.6), (120, 31.2, 137.8), (132, 35.0, 143.1), (144, 39.5, 149.1),
]

# CALIPER reference intervals (Colantonio 2012; clinical-protocol.md 4): (age up to days, low, high).
CALIPER = {
    "1742-6": [(365, 5, 33), (4748, 9, 25)],
    "1920-8": [(15, 32, 162), (365, 20, 67), (2557, 21, 44), (4383, 18, 36)],
    "1975-2": [(15, 3.3, 283.8), (365, 0.8, 11.7), (3287, 0.8, 6.8), (4383, 0.8, 9.4)],
    "14682-9": [(15, 29, 82), (730, 9, 32), (1826, 18, 38), (4383, 27, 54)],
}
LAB_CODES = {
    "777-3": ("Platelets [#/volume] in Blood by Automated count", "10*9/L", (150, 450)),
    "3255-7": ("Fibrinogen [Mass/volume] in Platelet poor plasma by Coagulation assay", "g/L", (1.5, 4.0)),
    "1742-6": ("Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "U/L", None),
    "1920-8": ("Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "U/L", None),
    "1975-2": ("Bilirubin.total [Mass/volume] in Serum or Plasma", "umol/L", None),
    "14682-9": ("Creatinine [Moles/volume] in Serum or Plasma", "umol/L", None),
}
# Where each normal value sits inside its interval, cycling per draw: labs vary a little.
_NORMAL_POSITIONS = [0.42, 0.5, 0.36, 0.47, 0.55, 0.4, 0.45]


def coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def concept(*codings: dict[str, str], text: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"coding": list(codings)}
    if text:
        out["text"] = text
    return out


def quantity(value: float | Decimal, code: str, unit: str | None = None) -> dict[str, Any]:
    number = float(value)
    return {"value": int(number) if number.is_integer() else number,
            "unit": unit or code, "system": UCUM, "code": code}


def caliper_interval(loinc: str, age_days: int) -> tuple[float, float]:
    for upto, low, high in CALIPER[loinc]:
        if age_days < upto:
            return low, high
    raise ValueError(f"no CALIPER interval for {loinc} at {age_days} days")


def who_median(age_days: int) -> tuple[float, float]:
    """WHO median (weight kg, height cm) at an age, interpolated linearly between table rows."""
    months = age_days / 30.4375
    for (m0, w0, h0), (m1, w1, h1) in zip(_WHO, _WHO[1:], strict=False):
        if m0 <= months <= m1:
            f = (months - m0) / (m1 - m0)
            return w0 + f * (w1 - w0), h0 + f * (h1 - h0)
    raise ValueError(f"age {age_days} days outside the growth table")


def round_to(value: float | Decimal, step: str, rounding: str = ROUND_HALF_UP) -> Decimal:
    return (Decimal(str(value)) / Decimal(step)).quantize(Decimal(1), rounding=rounding) * Decimal(step)


def taper_step(dose_mg: Decimal) -> Decimal:
    """The next taper dose: 90 % of the dose, rounded UP to 0.01 mg so a step never exceeds 10 %."""
    return round_to(dose_mg * Decimal("0.9"), "0.01", ROUND_CEILING)


@dataclass(frozen=True)
class DoseStep:
    """One sirolimus order: from `start`, `dose` per administration (mg, or tablets for a tablet)."""

    start: date
    dose: Decimal
    product: str = "solution"
    per_day: int = 2
    why: str = ""

    @property
    def daily_mg(self) -> Decimal:
        strength = SIROLIMUS_PRODUCTS[self.product][2]
        return self.dose * (strength or 1) * self.per_day

    @property
    def solution_equivalent_daily_mg(self) -> float:
        factor = load_pharmacology().tablet_exposure_vs_solution if self.product != "solution" else 1.0
        return float(self.daily_mg) * factor


class ScenarioBuilder:
    """Collects the resources of one synthetic patient and writes them as a transaction Bundle."""

    def __init__(self, scenario_id: str, *, anchor: date, mrn: str, given: str, gender: str,
                 birth_date: date, size_factor: float = 1.0, level_factor: float = 1.0) -> None:
        self.id = scenario_id
        self.anchor = anchor
        self.birth_date = birth_date
        self.gender = gender
        self.size_factor = size_factor  # this child's size relative to the WHO median
        self.level_factor = level_factor  # this child's exposure relative to the model
        self.resources: list[dict[str, Any]] = []
        self.doses: list[DoseStep] = []
        self._counters: Counter[str] = Counter()
        self._lab_draws = 0
        self.subject = {"reference": f"Patient/{scenario_id}"}
        self.add({
            "resourceType": "Patient", "id": scenario_id,
            "identifier": [{"use": "usual", "type": concept(coding(
                "http://terminology.hl7.org/CodeSystem/v2-0203", "MR", "Medical record number")),
                "system": MRN_SYSTEM, "value": mrn}],
            "active": True,
            "name": [{"use": "official", "family": "Synthetic", "given": [given]}],
            "gender": gender,
            "birthDate": birth_date.isoformat(),
        })

    # -- plumbing -------------------------------------------------------------------------------
    def new_id(self, kind: str) -> str:
        self._counters[kind] += 1
        return f"{self.id}-{kind}-{self._counters[kind]:02d}"

    def add(self, resource: dict[str, Any]) -> dict[str, Any]:
        resource["meta"] = {
            "security": [coding("http://terminology.hl7.org/CodeSystem/v3-ActReason", "HTEST",
                                "test health data")],
            "tag": [coding(SCENARIO_TAG_SYSTEM, self.id)],
        }
        self.resources.append(resource)
        return resource

    def age_days(self, day: date) -> int:
        return (day - self.birth_date).days

    def bundle(self) -> dict[str, Any]:
        return {
            "resourceType": "Bundle",
            "type": "transaction",
            "timestamp": f"{self.anchor.isoformat()}T00:00:00Z",
            "entry": [
                {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
                for r in self.resources
            ],
        }

    # -- growth ---------------------------------------------------------------------------------
    def weight_kg(self, day: date) -> Decimal:
        weight, _ = who_median(self.age_days(day))
        factor = self.size_factor * (0.95 if self.gender == "female" else 1.0)
        return round_to(weight * factor, "0.01" if self.age_days(day) < 730 else "0.1")

    def height_cm(self, day: date) -> Decimal:
        _, height = who_median(self.age_days(day))
        factor = self.size_factor ** 0.35 * (0.985 if self.gender == "female" else 1.0)
        return round_to(height * factor, "0.5")

    def vitals(self, day: date, *, weight: bool = True, height: bool = True) -> None:
        when = f"{day.isoformat()}T09:00:00Z"
        category = [concept(coding("http://terminology.hl7.org/CodeSystem/observation-category",
                                   "vital-signs", "Vital Signs"))]
        if weight:
            self.add({"resourceType": "Observation", "id": self.new_id("weight"), "status": "final",
                      "category": category,
                      "code": concept(coding(LOINC, "29463-7", "Body weight"), text="Body weight"),
                      "subject": self.subject, "effectiveDateTime": when,
                      "valueQuantity": quantity(self.weight_kg(day), "kg")})
        if height:
            self.add({"resourceType": "Observation", "id": self.new_id("height"), "status": "final",
                      "category": category,
                      "code": concept(coding(LOINC, "8302-2", "Body height"), text="Body height"),
                      "subject": self.subject, "effectiveDateTime": when,
                      "valueQuantity": quantity(self.height_cm(day), "cm")})

    # -- diagnosis ------------------------------------------------------------------------------
    def condition(self, kind: str, code: dict[str, Any], *, onset: date, status: str,
                  abatement: date | None = None, body_site: str | None = None,
                  note: str | None = None) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "Condition", "id": f"{self.id}-{kind}",
            "clinicalStatus": concept(coding(
                "http://terminology.hl7.org/CodeSystem/condition-clinical", status)),
            "verificationStatus": concept(coding(
                "http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed")),
            "category": [concept(coding("http://terminology.hl7.org/CodeSystem/condition-category",
                                        "problem-list-item", "Problem List Item"))],
            "code": code,
            "subject": self.subject,
            "onsetDateTime": onset.isoformat(),
            "recordedDate": onset.isoformat(),
        }
        if body_site:
            resource["bodySite"] = [{"text": body_site}]
        if abatement:
            resource["abatementDateTime"] = abatement.isoformat()
        if note:
            resource["note"] = [{"text": note}]
        return self.add(resource)

    def khe(self, *, onset: date, status: str, remission: date | None, body_site: str) -> dict[str, Any]:
        code = concept(coding(ORPHANET, "2122", "Kaposiform hemangioendothelioma"),
                       coding(ICD10, "C49.9", "Malignant neoplasm of connective and soft tissue, unspecified"),
                       text="Kaposiform haemangioendothelioma")
        return self.condition("khe", code, onset=onset, status=status, abatement=remission,
                              body_site=body_site)

    def kmp(self, *, onset: date, resolved: date) -> dict[str, Any]:
        code = concept(coding(ORPHANET, "2330", "Kasabach-Merritt syndrome"),
                       text="Kasabach-Merritt phenomenon")
        return self.condition("kmp", code, onset=onset, status="resolved", abatement=resolved)

    def ihhe(self, *, onset: date, note: str) -> dict[str, Any]:
        code = concept(coding(ICD10, "D18.0", "Haemangioma, any site"),
                       coding(ICD10CM, "D18.03", "Hemangioma of intra-abdominal structures"),
                       text="Infantile hepatic haemangioendothelioma (multifocal)")
        return self.condition("ihhe", code, onset=onset, status="active", body_site="liver", note=note)

    def no_known_drug_allergy(self, day: date) -> None:
        self.add({
            "resourceType": "AllergyIntolerance", "id": f"{self.id}-nkda",
            "clinicalStatus": concept(coding(
                "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active")),
            "verificationStatus": concept(coding(
                "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification", "confirmed")),
            "code": concept(coding(SNOMED, "409137002", "No known drug allergy")),
            "patient": self.subject, "recordedDate": day.isoformat(),
        })

    # -- medication -----------------------------------------------------------------------------
    def _medication_request(self, kind: str, medication: dict[str, Any], *, start: date,
                            end: date | None, text: str, dose: dict[str, Any], per_day: int,
                            reason: str | None, based_on: str | None = None) -> dict[str, Any]:
        repeat: dict[str, Any] = {"boundsPeriod": {"start": start.isoformat()}, "frequency": per_day,
                                  "period": 1, "periodUnit": "d", "timeOfDay": DOSE_TIMES[per_day]}
        if end:
            repeat["boundsPeriod"]["end"] = end.isoformat()
        resource: dict[str, Any] = {
            "resourceType": "MedicationRequest", "id": self.new_id(kind),
            "status": "completed" if end else "active", "intent": "order",
            "medicationCodeableConcept": medication,
            "subject": self.subject,
            "authoredOn": (start - timedelta(days=1)).isoformat(),
            "requester": {"display": "Synthetic prescriber, paediatric haematology-oncology"},
        }
        if reason:
            resource["reasonReference"] = [{"reference": f"Condition/{self.id}-{reason}"}]
        if based_on:
            resource["basedOn"] = [{"reference": based_on}]
        resource["dosageInstruction"] = [{
            "sequence": 1, "text": text, "timing": {"repeat": repeat},
            "route": concept(coding(SNOMED, "26643006", "Oral route")),
            "doseAndRate": [{"type": concept(coding(
                "http://terminology.hl7.org/CodeSystem/dose-rate-type", "ordered", "Ordered")),
                "doseQuantity": dose}],
        }]
        return self.add(resource)

    def sirolimus(self, steps: list[DoseStep], *, reason: str, stop: date | None = None,
                  based_on: dict[date, str] | None = None) -> None:
        """A dose history: each step a new order; the one before it completed the day before."""
        for i, step in enumerate(steps):
            code, display, strength = SIROLIMUS_PRODUCTS[step.product]
            following = steps[i + 1].start if i + 1 < len(steps) else stop
            end = following - timedelta(days=1) if following else None
            times = "08:00 and 20:00" if step.per_day == 2 else "08:00"
            if strength is None:
                dose = quantity(step.dose, "mg")
                text = (f"{step.dose} mg = {step.dose} mL of 1 mg/mL oral solution by mouth "
                        f"twice daily ({times})")
            else:
                dose = quantity(step.dose, "{tbl}", "tablet")
                count = "1 tablet" if step.dose == 1 else f"{step.dose} tablets"
                text = (f"{count} of {strength} mg ({step.dose * strength} mg) by mouth twice daily "
                        f"({times}); swallow whole")
            if step.why:
                text += f". {step.why}"
            medication = concept(coding(RXNORM, code, display), coding(ATC, "L04AH01", "sirolimus"),
                                 text=display.replace("sirolimus", "Sirolimus", 1))
            plan = None
            if based_on:
                plan = next((ref for since, ref in sorted(based_on.items(), reverse=True)
                             if step.start >= since), None)
            self._medication_request("sirolimus", medication, start=step.start, end=end, text=text,
                                     dose=dose, per_day=step.per_day, reason=reason, based_on=plan)
        self.doses.extend(steps)

    def propranolol(self, starts: list[date], mg_per_kg_day: list[float], *, stop: date | None) -> None:
        """Propranolol oral solution three times daily, dosed on the weight at each start."""
        medication = concept(coding(RXNORM, "8787", "propranolol"), coding(ATC, "C07AA05", "propranolol"),
                             text="Propranolol oral solution")
        for i, (start, per_kg) in enumerate(zip(starts, mg_per_kg_day, strict=True)):
            following = starts[i + 1] if i + 1 < len(starts) else stop
            end = following - timedelta(days=1) if following else None
            dose = round_to(float(self.weight_kg(start)) * per_kg / 3, "0.1")
            text = f"{dose} mg by mouth three times daily ({per_kg:g} mg/kg/day)"
            self._medication_request("propranolol", medication, start=start, end=end, text=text,
                                     dose=quantity(dose, "mg"), per_day=3, reason="ihhe")

    def voriconazole(self, start: date, dose_mg: int, reason_text: str) -> None:
        medication = concept(coding(RXNORM, "121243", "voriconazole"), coding(ATC, "J02AC03", "voriconazole"),
                             text="Voriconazole 40 mg/mL oral suspension")
        request = self._medication_request(
            "voriconazole", medication, start=start, end=None, per_day=2, reason=None,
            text=f"{dose_mg} mg by mouth twice daily, 1 h before or after a meal",
            dose=quantity(dose_mg, "mg"))
        request["reasonCode"] = [{"text": reason_text}]

    # -- observations ---------------------------------------------------------------------------
    def dose_on(self, day: date) -> DoseStep | None:
        """The sirolimus order in force on a day (the latest one started on or before it)."""
        started = [s for s in self.doses if s.start <= day]
        return max(started, key=lambda s: s.start) if started else None

    def model_level(self, day: date, noise: float = 0.0) -> float:
        """Trough (ng/mL) expected from the dose in force: linear in dose, falling with growth."""
        step = self.dose_on(day)
        if step is None:
            raise ValueError(f"{self.id}: no sirolimus dose in force on {day}")
        per_mg = 12.0 * (12.0 / float(self.weight_kg(day))) ** 0.5 * self.level_factor
        return round(per_mg * step.solution_equivalent_daily_mg * (1 + noise), 1)

    def trough(self, day: date, *, noise: float = 0.0, value: float | None = None,
               unit: str = "ng/mL") -> dict[str, Any]:
        ng_ml = self.model_level(day, noise) if value is None else value
        reported = round(ng_ml / 0.914, 1) if unit == "nmol/L" and value is None else ng_ml
        return self.add({
            "resourceType": "Observation", "id": self.new_id("trough"), "status": "final",
            "category": [concept(coding("http://terminology.hl7.org/CodeSystem/observation-category",
                                        "laboratory", "Laboratory"))],
            "code": concept(coding(LOINC, "29247-4", "Sirolimus [Mass/volume] in Blood"),
                            text="Sirolimus trough level"),
            "subject": self.subject,
            "effectiveDateTime": day.isoformat() + TROUGH_TIME,
            "issued": day.isoformat() + "T15:00:00Z",
            "valueQuantity": quantity(reported, unit),
            "method": {"text": "LC-MS/MS"},
            "specimen": {"display": "Whole blood (EDTA)"},
            "note": [{"text": "Trough: drawn before the 08:00 dose"}],
        })

    def labs(self, day: date, **overrides: float) -> None:
        """One venepuncture: platelets, fibrinogen, ALT, AST, bilirubin, creatinine (normal unless
        overridden by LOINC-free keywords: platelets, fibrinogen, creatinine)."""
        position = _NORMAL_POSITIONS[self._lab_draws % len(_NORMAL_POSITIONS)]
        self._lab_draws += 1
        age = self.age_days(day)
        values = {
            "777-3": overrides.get("platelets", round(240 + 120 * position)),
            "3255-7": overrides.get("fibrinogen", round(2.0 + 1.4 * position, 1)),
        }
        for loinc in ("1742-6", "1920-8", "1975-2", "14682-9"):
            low, high = caliper_interval(loinc, age)
            decimals = 1 if loinc == "1975-2" else 0
            values[loinc] = round(low + (high - low) * position, decimals)
        if "creatinine" in overrides:
            values["14682-9"] = overrides["creatinine"]
        for loinc, value in values.items():
            display, unit, fixed_range = LAB_CODES[loinc]
            low, high = fixed_range or caliper_interval(loinc, age)
            interpretation = "L" if value < low else "H" if value > high else "N"
            self.add({
                "resourceType": "Observation", "id": self.new_id(f"lab-{loinc}"), "status": "final",
                "category": [concept(coding("http://terminology.hl7.org/CodeSystem/observation-category",
                                            "laboratory", "Laboratory"))],
                "code": concept(coding(LOINC, loinc, display)),
                "subject": self.subject,
                "effectiveDateTime": day.isoformat() + TROUGH_TIME,
                "issued": day.isoformat() + "T13:00:00Z",
                "valueQuantity": quantity(value, unit),
                "interpretation": [concept(coding(
                    "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation", interpretation))],
                "referenceRange": [{"low": quantity(low, unit), "high": quantity(high, unit),
                                    "text": "CALIPER, for age" if fixed_range is None else "laboratory"}],
            })

    # -- protocol, consent ----------------------------------------------------------------------
    def care_plan(self, protocol: str, start: date, title: str) -> str:
        plan_id = f"{self.id}-careplan"
        self.add({
            "resourceType": "CarePlan", "id": plan_id, "status": "active", "intent": "plan",
            "instantiatesCanonical": [f"{PLAN_BASE}{protocol}|{PROTOCOL_VERSION}"],
            "title": title, "subject": self.subject,
            "period": {"start": start.isoformat()},
            "created": (start - timedelta(days=1)).isoformat(),
            "addresses": [{"reference": f"Condition/{self.id}-{'ihhe' if 'ihhe' in protocol else 'khe'}"}],
        })
        return f"CarePlan/{plan_id}"

    def guardian_consent(self, day: date, guardian_given: str, relationship: str) -> None:
        """The guardian (a RelatedPerson) signs consent to the guided-discontinuation trial."""
        guardian_id = f"{self.id}-guardian"
        self.add({
            "resourceType": "RelatedPerson", "id": guardian_id, "active": True, "patient": self.subject,
            "relationship": [concept(
                coding("http://terminology.hl7.org/CodeSystem/v3-RoleCode", relationship),
                coding("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "GUARD", "guardian"))],
            "name": [{"use": "official", "family": "Synthetic", "given": [guardian_given]}],
        })
        self.add({
            "resourceType": "Consent", "id": f"{self.id}-consent", "status": "active",
            "scope": concept(coding("http://terminology.hl7.org/CodeSystem/consentscope", "treatment",
                                    "Treatment")),
            "category": [concept(coding(LOINC, "59284-0", "Consent Document"))],
            "patient": self.subject,
            "dateTime": f"{day.isoformat()}T10:00:00Z",
            "performer": [{"reference": f"RelatedPerson/{guardian_id}", "display": "Legal guardian"}],
            "policy": [{"authority": "https://clinicaltrials.gov",
                        "uri": "https://clinicaltrials.gov/study/NCT04448873"}],
            "verification": [{"verified": True,
                              "verifiedWith": {"reference": f"RelatedPerson/{guardian_id}"},
                              "verificationDate": f"{day.isoformat()}T10:00:00Z"}],
            "provision": {"type": "permit", "period": {"start": day.isoformat()},
                          "code": [{"text": "NCT04448873: guided discontinuation of sirolimus for "
                                            "kaposiform haemangioendothelioma in remission"}]},
        })
