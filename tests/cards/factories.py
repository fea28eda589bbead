"""Hand-built Decisions, the way the clinical core would fill them, for the pure card layer."""

from __future__ import annotations

import copy
import json
from datetime import date
from pathlib import Path
from typing import Any

from cds_service.clinical.decision import (
    Alternative,
    ArmAssignment,
    CriterionResult,
    Decision,
    DoseChange,
    DoseRegimen,
    Eligibility,
    Evidence,
    Finding,
    MissingData,
    MonitoringItem,
    MonitoringKind,
    Phase,
    ProposedDose,
    ScheduleStep,
    TroughUsed,
)
from cds_service.clinical.protocols import IHHE_SEQUENTIAL, KHE_GUIDED, KHE_MAINTENANCE, load_protocols

TODAY = date(2026, 11, 22)
URL = "https://cds.example.org/decisions/8a3f7c1e-2b4d-4e6f-9a8b-1c2d3e4f5a6b"
SANDBOX = (Path(__file__).resolve().parents[1] / "fixtures" / "cds-hooks-sandbox-recorded"
           / "order-select-sirolimus.json")

# The protocols' references as the loader makes them from fhir_profiles/protocols/ (the cards name them)
TAPER = load_protocols()[KHE_GUIDED].ref
MAINTENANCE = load_protocols()[KHE_MAINTENANCE].ref
IHHE = load_protocols()[IHHE_SEQUENTIAL].ref
ARM = ArmAssignment(
    protocol_id="khe-guided-discontinuation",
    arm="guided-discontinuation",
    source="careplan",
    source_reference="CarePlan/taper-1",
    taper_started_on=date(2026, 6, 1),
    careplan_id="taper-1",
)


def solution(mg_per_dose: float, per_day: float = 2) -> DoseRegimen:
    return DoseRegimen(mg_per_administration=mg_per_dose, administrations_per_day=per_day, formulation="solution",
                       strength_mg=1.0, ml_per_administration=mg_per_dose)


def tablet(strength: float, count: float, per_day: float = 2) -> DoseRegimen:
    return DoseRegimen(mg_per_administration=strength * count, administrations_per_day=per_day, formulation="tablet",
                       strength_mg=strength, tablets_per_administration=count,
                       tablet_strengths_mg=(strength,) * int(count))


def proposed(regimen: DoseRegimen, percent: float | None = -10.0, **changes: Any) -> ProposedDose:
    values: dict[str, Any] = {
        "regimen": regimen,
        "daily_dose_mg": regimen.daily_dose_mg,
        "dose_mg_per_kg_day": round(regimen.daily_dose_mg / 20.5, 3),
        "percent_change": percent,
        "predicted_trough_ng_ml": 5.2,
        "rule": "taper_step_rule_1",
        "protocol_line": "Each reduction is at most 10 % of the previous dose, and reductions come at most monthly.",
    }
    values.update(changes)
    return ProposedDose(**values)


def trough(value: float, on: date, obs: str = "Observation/trough-1", **changes: Any) -> TroughUsed:
    values: dict[str, Any] = {
        "value_ng_ml": value,
        "original_value": value,
        "original_unit": "ng/mL",
        "drawn_on": on,
        "observation_id": obs,
        "usable": True,
    }
    values.update(changes)
    return TroughUsed(**values)


ELIGIBLE = Eligibility(
    protocol_id="khe-guided-discontinuation",
    answer="met",
    criteria=(
        CriterionResult(
            "remission_two_years",
            "at least 2 years of remission",
            "inclusion",
            "met",
            (Evidence("Condition/khe-1", "remission", None, date(2024, 1, 10), "abatementDateTime"),),
        ),
        CriterionResult(
            "no_hypertension",
            "hypertension",
            "exclusion",
            "met",
            (Evidence(None, None, None, None, "no active hypertension Condition"),),
        ),
    ),
)


def taper_step(**changes: Any) -> Decision:
    """KHE taper, 0.8 mg twice daily of solution -> 0.72 mg (-10 %), trough 8.4 ng/mL."""
    values: dict[str, Any] = {
        "kind": "dosing",
        "patient_id": "khe-demo",
        "decided_on": TODAY,
        "protocol": TAPER,
        "arm": ARM,
        "phase": Phase.TAPERING,
        "eligibility": (ELIGIBLE,),
        "troughs_used": (
            trough(8.4, date(2026, 11, 15), "khe-demo-trough", method="LC-MS/MS"),
            trough(9.1, date(2026, 10, 14), "trough-0"),
        ),
        "last_dose_change": DoseChange(changed_on=date(2026, 10, 20), from_daily_mg=1.78, to_daily_mg=1.6),
        "current_dose": solution(0.8),
        "draft_dose": solution(0.8),
        "proposed_dose": proposed(solution(0.72)),
        "alternatives": (
            Alternative(
                "keep_current", proposed(solution(0.8), 0.0, rule="keep_current_dose"), "keep 0.8 mg twice daily"
            ),
            Alternative("smaller_step", proposed(solution(0.76), -5.0), "a gentler step"),
        ),
        "next_trough_due": date(2026, 12, 6),
        "next_step_due": date(2026, 12, 22),
        "schedule": (
            ScheduleStep(due_on=date(2026, 12, 22), daily_dose_mg=1.3, mg_per_administration=0.65,
                         ml_per_administration=0.65, predicted_trough_ng_ml=4.7, trough_due_on=date(2027, 1, 5)),
            ScheduleStep(due_on=date(2027, 1, 21), daily_dose_mg=1.16, mg_per_administration=0.58,
                         ml_per_administration=0.58, predicted_trough_ng_ml=4.2, trough_due_on=date(2027, 2, 4)),
        ),
        "weight_kg": 20.5,
    }
    values.update(changes)
    return Decision(**values)


def maintenance_change(**changes: Any) -> Decision:
    """KHE maintenance, trough 4.1 ng/mL below 5-7: 0.5 -> 0.62 mg twice daily; one level unusable (no unit)."""
    values: dict[str, Any] = {
        "protocol": MAINTENANCE,
        "arm": ArmAssignment(
            protocol_id="khe-maintenance",
            arm="maintenance",
            source="default_assumed",
            source_reference=None,
            taper_started_on=None,
            note="No CarePlan or ResearchSubject: maintenance assumed",
        ),
        "phase": Phase.MAINTENANCE,
        "eligibility": (),
        "troughs_used": (
            trough(4.1, date(2026, 11, 16), "t-3", method="immunoassay"),
            trough(5.3, date(2026, 9, 14), "t-2"),
            trough(6.2, date(2026, 7, 13), "t-1"),
            TroughUsed(value_ng_ml=None, original_value=12.0, original_unit=None, drawn_on=date(2026, 10, 12),
                       observation_id="Observation/t-x", usable=False, reasons_unusable=("no unit on the level",)),
        ),
        "last_dose_change": DoseChange(changed_on=date(2026, 8, 1), from_daily_mg=1.2, to_daily_mg=1.0),
        "current_dose": solution(0.5),
        "draft_dose": solution(0.5),
        "proposed_dose": proposed(
            solution(0.62),
            24.0,
            rule="linear_adjustment_to_target",
            predicted_trough_ng_ml=5.1,
            protocol_line="Maintenance arm: keep sirolimus, target trough 5-7 ng/mL",
        ),
        "alternatives": (),
        "schedule": (),
        "next_step_due": None,
        "findings": (
            Finding(
                "interacting-drug",
                "warning",
                "Fluconazole (CYP3A4 inhibitor, use with caution) is active.",
                (Evidence("MedicationRequest/flu-1", None, None, date(2026, 11, 10)),),
            ),
        ),
    }
    values.update(changes)
    return taper_step(**values)


def sandbox_draft() -> dict[str, Any]:
    """The real draft from the CDS Hooks sandbox: 0.5 mg Rapamune tablets, odd single-object elements."""
    request = json.loads(SANDBOX.read_text())
    return copy.deepcopy(request["context"]["draftOrders"]["entry"][0]["resource"])


def solution_draft() -> dict[str, Any]:
    draft = sandbox_draft()
    draft["medicationCodeableConcept"] = {
        "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "314230"}],
        "text": "sirolimus 1 mg/mL oral solution",
    }
    draft["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"] = {
        "value": 0.8,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg",
    }
    return draft


def monitoring(*items: MonitoringItem, **changes: Any) -> Decision:
    values: dict[str, Any] = {
        "kind": "monitoring",
        "patient_id": "khe-demo",
        "decided_on": TODAY,
        "protocol": TAPER,
        "arm": ARM,
        "monitoring": items,
        "troughs_used": (trough(8.4, date(2026, 10, 15)),),
        "current_dose": solution(0.8),
    }
    values.update(changes)
    return Decision(**values)


def item(kind: MonitoringKind, due: date | None, message: str = "see detail") -> MonitoringItem:
    return MonitoringItem(kind, due, message)


__all__ = [
    "ARM",
    "ELIGIBLE",
    "IHHE",
    "MAINTENANCE",
    "TAPER",
    "TODAY",
    "URL",
    "Alternative",
    "Evidence",
    "Finding",
    "MissingData",
    "MonitoringKind",
    "maintenance_change",
    "item",
    "monitoring",
    "proposed",
    "sandbox_draft",
    "solution",
    "solution_draft",
    "tablet",
    "taper_step",
    "trough",
]
