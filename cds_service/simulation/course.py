"""One virtual child followed through a protocol with the service's own decisions, visit by visit.

At each visit the child is weighed, a trough is drawn before the morning dose (labs too for KHE), and
the chart, written as FHIR R4 resources, is read by `build_record` and decided by `pipeline.decide`,
exactly as a hook call: patient-view first (what is due); when it says a dose change, a taper step or a
relapse is due, order-select with the current dose as the draft, and the clinician takes the proposal
(a new order from the next day). No proposal while one was due counts as a dose held. The next visit is
the service's next trough date when it falls within the month, else a month later.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from cds_service.clinical.decision import Decision, MonitoringKind, Phase, ProposedDose, Rule
from cds_service.clinical.pk.fit import Prediction
from cds_service.clinical.pk.priors import Prior
from cds_service.clinical.protocols import Protocol, load_protocols
from cds_service.clinical.reading.record import PatientRecord, build_record
from cds_service.service.pipeline import decide
from cds_service.service.services import MONITORING, ORDER_SELECT, services
from cds_service.synthetic.builder import (
    LAB_CODES,
    SIROLIMUS_PRODUCTS,
    DoseStep,
    ScenarioBuilder,
    coding,
    concept,
    quantity,
)

from . import IHHE, KHE_GUIDED, KHE_MAINTENANCE
from .cohort import (
    RELAPSE_PLATELETS,
    VirtualPatient,
    dose_list,
    effective_dose_mg,
    measured_trough,
    relapses,
    true_concentration,
)

ACTION_DUE = {MonitoringKind.DOSE_CHANGE_DUE, MonitoringKind.TAPER_STEP_DUE, MonitoringKind.POSSIBLE_RELAPSE}
MONTH_DAYS = 30
STEADY_DAYS = 14  # a forecast is scored on a level drawn at least this long after the change
REPEAT_DAYS = 7  # a level the service asks to repeat now is drawn a week later
KHE_HISTORY_DAYS = 240  # doses simulated before day 0 (steady state, and two earlier troughs)
FULL_LABS_DAYS = 90  # liver and kidney labs quarterly; platelets at every KHE visit (relapse check)
NORMAL_PLATELETS = 280.0
TROUGH_HOUR = 8.0 - 5 / 60  # the time of day the true trough is read for time in band


@dataclass(frozen=True, kw_only=True)
class Forecast:
    """What the linear rule and the PK model said the level would be on the dose just ordered."""

    from_day: date
    daily_mg: float
    linear_ng_ml: float
    model: Prediction


@dataclass(kw_only=True)
class Course:
    """What happened to one child (counts over the whole course, daily truth for the chart)."""

    patient: VirtualPatient
    steps_taken: int = 0
    doses_held: int = 0
    relapses: int = 0
    relapses_after_stop: int = 0
    relapse_returns: int = 0
    completed_taper: bool = False
    troughs_drawn: int = 0
    troughs_outside_sanity: int = 0
    days_in_band: int = 0
    days_on_drug: int = 0
    # |error| of each proposal's predicted trough against the next level measured on it (>= 14 days later)
    linear_errors: list[float] = field(default_factory=list)
    model_errors: list[float] = field(default_factory=list)
    model_inside: list[bool] = field(default_factory=list)
    pending: Forecast | None = None
    orders: list[tuple[date, float]] = field(default_factory=list)  # (first day, daily mg) of each order
    # one value per day of the course: dose (mg/kg/day) and true trough (ng/mL)
    daily_mg_per_kg: list[float] = field(default_factory=list)
    daily_trough_ng_ml: list[float] = field(default_factory=list)

    @property
    def time_in_band(self) -> float | None:
        return self.days_in_band / self.days_on_drug if self.days_on_drug else None

    def score(self, day: date, daily_mg: float, measured_ng_ml: float) -> None:
        """Compare the pending forecast with a level measured on its dose, at steady state."""
        f = self.pending
        if f is None or abs(f.daily_mg - daily_mg) > 1e-9 or (day - f.from_day).days < STEADY_DAYS:
            return
        self.linear_errors.append(abs(f.linear_ng_ml / measured_ng_ml - 1))
        self.model_errors.append(abs(f.model.median_ng_ml / measured_ng_ml - 1))
        self.model_inside.append(f.model.low_ng_ml <= measured_ng_ml <= f.model.high_ng_ml)
        self.pending = None


class ChildChart:
    """The child's FHIR chart as it grows: fixed resources, observations, and the sirolimus orders."""

    def __init__(self, patient: VirtualPatient, day0: date) -> None:
        self.patient = patient
        self.day0 = day0
        self.builder = ScenarioBuilder(patient.patient_id, anchor=day0, mrn=patient.patient_id, given="Sim",
                                       gender="female" if patient.female else "male",
                                       birth_date=patient.birth_date, size_factor=patient.size_factor)
        self.steps: list[DoseStep] = []
        self.stop: date | None = None
        self.plan_reference: str | None = None
        self.reason = "ihhe" if patient.arm == IHHE else "khe"

    def orders(self) -> list[dict[str, Any]]:
        if not self.steps:
            return []
        scratch = ScenarioBuilder(self.patient.patient_id, anchor=self.day0, mrn="-", given="-",
                                  gender=self.builder.gender, birth_date=self.patient.birth_date)
        based_on = {self.day0: self.plan_reference} if self.plan_reference else None
        scratch.sirolimus(self.steps, reason=self.reason, stop=self.stop, based_on=based_on)
        return [r for r in scratch.resources if r["resourceType"] == "MedicationRequest"]

    def resources(self) -> list[dict[str, Any]]:
        return self.builder.resources[1:] + self.orders()

    def current(self, day: date) -> DoseStep | None:
        if self.stop is not None and day >= self.stop:
            return None
        started = [s for s in self.steps if s.start <= day]
        return started[-1] if started else None

    def draft(self, step: DoseStep) -> dict[str, Any]:
        """The order form opened on the current dose: what order-select receives as the draft."""
        code, display, _ = SIROLIMUS_PRODUCTS[step.product]
        unit = "mg" if step.product == "solution" else "{tbl}"
        return {"resourceType": "MedicationRequest", "id": f"{self.patient.patient_id}-draft", "status": "draft",
                "intent": "order", "subject": self.builder.subject,
                "medicationCodeableConcept": concept(coding("http://www.nlm.nih.gov/research/umls/rxnorm",
                                                            code, display)),
                "reasonReference": [{"reference": f"Condition/{self.patient.patient_id}-{self.reason}"}],
                "dosageInstruction": [{"timing": {"repeat": {"frequency": step.per_day, "period": 1,
                                                             "periodUnit": "d"}},
                                       "doseAndRate": [{"doseQuantity": {
                                           "value": float(step.dose), "unit": unit,
                                           "system": "http://unitsofmeasure.org", "code": unit}}]}]}


def _step_from(proposed: ProposedDose, start: date, why: str) -> DoseStep:
    r = proposed.regimen
    per_day = int(r.administrations_per_day)
    if r.formulation == "tablet" and len(r.tablet_strengths_mg) == 1 and r.tablets_per_administration:
        product = {0.5: "tablet-0.5", 1.0: "tablet-1"}.get(r.tablet_strengths_mg[0])
        if product is not None:
            return DoseStep(start, Decimal(str(r.tablets_per_administration)), product, per_day, why)
    return DoseStep(start, Decimal(str(round(r.mg_per_administration, 4))), "solution", per_day, why)


def _same_dose(proposed: ProposedDose, step: DoseStep) -> bool:
    return abs(proposed.daily_dose_mg - float(step.daily_mg)) < 1e-6


def _record(chart: ChildChart, day: date) -> PatientRecord:
    return build_record(chart.builder.resources[0], chart.resources(), day)


def _decide(kind: str, record: PatientRecord, day: date, draft: dict[str, Any] | None) -> Decision:
    return decide(services()[kind], record, draft, day)


def _platelets(chart: ChildChart, day: date, value: float) -> None:
    """A platelet count alone (the monthly relapse check between the quarterly full labs)."""
    display, unit, (low, high) = LAB_CODES["777-3"][0], LAB_CODES["777-3"][1], (150, 450)
    lab = concept(coding("http://terminology.hl7.org/CodeSystem/observation-category", "laboratory", "Laboratory"))
    chart.builder.add({
        "resourceType": "Observation", "id": chart.builder.new_id("lab-777-3"), "status": "final",
        "category": [lab], "code": concept(coding("http://loinc.org", "777-3", display)),
        "subject": chart.builder.subject, "effectiveDateTime": f"{day.isoformat()}T07:30:00Z",
        "valueQuantity": quantity(value, unit),
        "referenceRange": [{"low": quantity(low, unit), "high": quantity(high, unit), "text": "laboratory"}]})


def _set_up(chart: ChildChart, prior: Prior, protocol: Protocol, rng: np.random.Generator) -> float:
    """Diagnosis, plan and (KHE) the dose the child is already on; returns the effective daily dose."""
    p, b, day0 = chart.patient, chart.builder, chart.day0
    if p.arm == IHHE:
        b.ihhe(onset=day0 - timedelta(days=60), note="multifocal; no response to propranolol")
        b.propranolol([day0 - timedelta(days=60)], [2.0], stop=None)
        chart.plan_reference = b.care_plan(IHHE, day0, "IHHE: sequential sirolimus after propranolol")
        return 0.0
    remission = day0 - timedelta(days=800)
    b.khe(onset=max(p.birth_date + timedelta(days=20), remission - timedelta(days=300)), status="remission",
          remission=remission, body_site="trunk")
    b.no_known_drug_allergy(remission)
    dose = effective_dose_mg(p, prior, day0, rng, protocol.sanity.max_mg_per_kg_day)
    maintenance = load_protocols()[KHE_MAINTENANCE]  # the band the child was kept in before day 0
    band = f"{maintenance.target_low_ng_ml:g}-{maintenance.target_high_ng_ml:g} ng/mL"
    chart.steps.append(DoseStep(remission - timedelta(days=200), dose, why=f"maintenance, trough {band}"))
    title = (f"KHE: guided discontinuation ({protocol.ref.registration})" if p.arm == KHE_GUIDED
             else "KHE: sirolimus maintenance")
    chart.plan_reference = b.care_plan(p.arm, day0 if p.arm == KHE_GUIDED else remission, title)
    if p.arm == KHE_GUIDED:
        b.guardian_consent(day0 - timedelta(days=7), "Guardian", "MTH")
    return float(chart.steps[0].daily_mg)


def _draw(chart: ChildChart, prior: Prior, origin: date, day: date, rng: np.random.Generator) -> float:
    doses = dose_list(chart.steps, chart.stop, origin, day + timedelta(days=1))
    value, hour = measured_trough(chart.patient, prior, doses, origin, day, rng)
    resource = chart.builder.trough(day, value=value)
    minutes = round(hour * 60)
    resource["effectiveDateTime"] = f"{day.isoformat()}T{minutes // 60:02d}:{minutes % 60:02d}:00Z"
    return value


def follow(patient: VirtualPatient, prior: Prior, protocol: Protocol, day0: date, months: int,
           rng: np.random.Generator) -> Course:
    """Follow one child for `months` months from day0 (see the module docstring)."""
    chart = ChildChart(patient, day0)
    course = Course(patient=patient)
    effective_daily = _set_up(chart, prior, protocol, rng)
    origin = day0 if patient.arm == IHHE else day0 - timedelta(days=KHE_HISTORY_DAYS)
    if patient.arm != IHHE:
        for before in (180, 90):  # the levels of the maintenance years already in the chart
            _draw(chart, prior, origin, day0 - timedelta(days=before), rng)
    end = day0 + timedelta(days=months * MONTH_DAYS)
    day, relapse_active, last_labs = day0, False, day0 - timedelta(days=FULL_LABS_DAYS)
    while day < end:
        chart.builder.vitals(day, height=False)
        current = chart.current(day)
        if current is not None:
            value = _draw(chart, prior, origin, day, rng)
            course.score(day, float(current.daily_mg), value)
            course.troughs_drawn += 1
            course.troughs_outside_sanity += not (protocol.trough.plausible_min_ng_ml <= value
                                                  <= protocol.trough.plausible_max_ng_ml)
        if patient.arm != IHHE:
            if (day - last_labs).days >= FULL_LABS_DAYS:
                chart.builder.labs(day, **({"platelets": RELAPSE_PLATELETS} if relapse_active else {}))
                last_labs = day
            else:
                _platelets(chart, day, RELAPSE_PLATELETS if relapse_active else NORMAL_PLATELETS)
        next_due, relapse_active = _visit(chart, course, day, current, relapse_active)
        following = _next_visit(day, next_due)
        now = chart.current(day + timedelta(days=1))
        if not relapse_active and relapses(patient, float(now.daily_mg) if now else 0.0, effective_daily,
                                           (following - day).days, rng):
            relapse_active = True
            course.relapses += 1
            course.relapses_after_stop += now is None and chart.stop is not None
        day = following
    _truth(course, chart, prior, protocol, origin, day0, end)
    course.orders = [(s.start, float(s.daily_mg)) for s in chart.steps]
    if chart.stop is not None:
        course.orders.append((chart.stop, 0.0))
    return course


def _next_visit(day: date, next_trough_due: date | None) -> date:
    """The service's next trough date when it falls within the month; a level due now (repeat it) a week later;
    else a month later."""
    if next_trough_due is not None and next_trough_due <= day:
        return day + timedelta(days=REPEAT_DAYS)
    if next_trough_due is not None and next_trough_due < day + timedelta(days=MONTH_DAYS):
        return next_trough_due
    return day + timedelta(days=MONTH_DAYS)


def _visit(chart: ChildChart, course: Course, day: date, current: DoseStep | None, relapse_active: bool
           ) -> tuple[date | None, bool]:
    """The service's decisions at one visit, taken by the clinician; (next trough date, relapse still active)."""
    if current is None and chart.patient.arm == IHHE and not chart.steps:
        weight = chart.patient.weight_kg(day)
        start = DoseStep(day, Decimal(str(round(0.05 * weight, 2))), why="0.1 mg/kg/day")
        dosing = _decide(ORDER_SELECT, _record(chart, day), day, chart.draft(start))
        if dosing.proposed_dose is not None:
            chart.steps.append(_step_from(dosing.proposed_dose, day, "start, 0.1 mg/kg/day"))
        else:
            course.doses_held += 1
        return dosing.next_trough_due, relapse_active
    record = _record(chart, day)
    seen = _decide(MONITORING, record, day, None)
    due = {item.kind for item in seen.monitoring}
    if current is None:
        return seen.next_trough_due, relapse_active and chart.patient.arm != KHE_MAINTENANCE
    ready_to_stop = seen.phase is Phase.READY_TO_STOP
    if not (due & ACTION_DUE or ready_to_stop):
        course.doses_held += change_withheld(seen, day)
        return seen.next_trough_due, relapse_active and chart.patient.arm != KHE_MAINTENANCE
    dosing = _decide(ORDER_SELECT, record, day, chart.draft(current))
    proposed = dosing.proposed_dose
    tomorrow = day + timedelta(days=1)
    if ready_to_stop and any(a.kind == "stop" for a in dosing.alternatives):
        chart.stop = tomorrow
        course.completed_taper = True
    elif proposed is not None and not _same_dose(proposed, current):
        chart.steps.append(_step_from(proposed, tomorrow, proposed.rule))
        model = dosing.model.proposal if dosing.model is not None else None
        if model is not None and proposed.predicted_trough_ng_ml is not None:
            course.pending = Forecast(from_day=tomorrow, daily_mg=float(chart.steps[-1].daily_mg),
                                      linear_ng_ml=proposed.predicted_trough_ng_ml, model=model)
        if proposed.rule is Rule.RELAPSE_RETURN:
            course.relapse_returns += 1
            return dosing.next_trough_due, False
        course.steps_taken += 1
    elif due & ACTION_DUE:
        course.doses_held += 1
    return dosing.next_trough_due, relapse_active and chart.patient.arm != KHE_MAINTENANCE


def change_withheld(seen: Decision, day: date) -> bool:
    """The protocol would move the dose (a usable level outside the target range, or a taper step due by the
    calendar) but the service proposes no change and says why (e.g. a change beyond `max_fold_change` from
    one level: repeat the trough; a relapse signal; a paused taper)."""
    if seen.proposed_dose is not None:
        return False
    level = seen.troughs_used[0] if seen.troughs_used and seen.troughs_used[0].usable else None
    band = seen.protocol is not None and seen.phase in {Phase.MAINTENANCE, Phase.SEQUENTIAL}
    if band and level is not None and level.value_ng_ml is not None:
        return True
    return seen.phase in {Phase.TAPERING, Phase.TAPERING_AFTER_RELAPSE} and seen.next_step_due is not None \
        and seen.next_step_due <= day


def _truth(course: Course, chart: ChildChart, prior: Prior, protocol: Protocol, origin: date, day0: date,
           end: date) -> None:
    """Daily dose and true trough over the course (time in band uses the truth, not the measurements)."""
    doses = dose_list(chart.steps, chart.stop, origin, end + timedelta(days=1))
    low, high = protocol.target_low_ng_ml, protocol.target_high_ng_ml
    day = day0
    while day < end:
        block = min(MONTH_DAYS, (end - day).days)
        hours = TROUGH_HOUR + 24.0 * np.arange(block)
        troughs = true_concentration(course.patient, prior, doses, origin, day, hours)
        for offset, trough in enumerate(troughs):
            on = day + timedelta(days=offset)
            step = chart.current(on)
            mg_per_kg = float(step.daily_mg) / course.patient.weight_kg(on) if step else 0.0
            course.daily_mg_per_kg.append(mg_per_kg)
            course.daily_trough_ng_ml.append(float(trough))
            if step is not None and low is not None and high is not None:
                course.days_on_drug += 1
                course.days_in_band += low <= trough <= high
        day += timedelta(days=block)
