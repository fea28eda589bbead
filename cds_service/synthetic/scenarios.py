"""The synthetic patients, written out as the shipped transaction Bundles and catalog.

Run `python -m cds_service.synthetic.scenarios` to rewrite `patients/*.json` and `catalog.json`
after changing a scenario here; tests/test_synthetic_patients.py checks that the shipped files are
what this module produces. Every date is as of ANCHOR; the seed command shifts them to today.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from cds_service.synthetic import ExpectedOutcome
from cds_service.synthetic.builder import DoseStep, ScenarioBuilder, round_to, taper_step

ANCHOR = date(2026, 11, 22)
HERE = Path(__file__).resolve().parent
_NOISE = [0.0, 0.04, -0.03, 0.02, -0.05, 0.03, -0.01, 0.05, -0.04]


def d(text: str) -> date:
    return date.fromisoformat(text)


@dataclass(frozen=True)
class Scenario:
    id: str
    description: str
    expected: str
    protocol: str
    hook: str


def _visits(b: ScenarioBuilder, days: list[str], *, labs: bool = True, unit: str = "ng/mL",
            weight: bool = True) -> None:
    """Clinic visits with a trough (and labs) drawn before the morning dose, weight and height."""
    for i, day in enumerate(days):
        b.vitals(d(day), weight=weight)
        b.trough(d(day), noise=_NOISE[i % len(_NOISE)], unit=unit)
        if labs:
            b.labs(d(day))


def _taper(start: date, base: Decimal, steps: int, interval_days: list[int]) -> list[DoseStep]:
    """Guided-discontinuation reductions: <= 10 % each, from `start`, the given days apart."""
    out, dose, day = [], base, start
    for i in range(steps):
        dose = taper_step(dose)
        out.append(DoseStep(day, dose, why=f"Guided discontinuation, reduction {i + 1} (<= 10 %)"))
        if i < len(interval_days):
            day += timedelta(days=interval_days[i])
    return out


# -- IHHE -----------------------------------------------------------------------------------------
def ihhe_propranolol_failed() -> ScenarioBuilder:
    b = ScenarioBuilder("ihhe-propranolol-failed", anchor=ANCHOR, mrn="SYN-1001", given="Iris",
                        gender="female", birth_date=d("2026-04-10"))
    b.ihhe(onset=d("2026-05-06"), note="Multifocal hepatic lesions on ultrasound. No regression on MRI "
           "after 6 months of propranolol: propranolol-resistant; sirolimus planned (NCT04406870).")
    for day in ["2026-05-06", "2026-05-15", "2026-06-12", "2026-07-15", "2026-08-14", "2026-09-16",
                "2026-10-16", "2026-11-18"]:
        b.vitals(d(day))
    b.propranolol([d("2026-05-08"), d("2026-05-15"), d("2026-07-15"), d("2026-09-16")], [1, 2, 2, 2],
                  stop=None)
    for day in ["2026-05-06", "2026-08-14", "2026-11-18"]:
        b.labs(d(day))
    return b


def ihhe_trough_low() -> ScenarioBuilder:
    b = ScenarioBuilder("ihhe-trough-low", anchor=ANCHOR, mrn="SYN-1002", given="Theo", gender="male",
                        birth_date=d("2025-09-05"), size_factor=1.02, level_factor=0.46)
    b.ihhe(onset=d("2025-09-30"), note="Multifocal hepatic lesions; no regression after 12 months of "
           "propranolol; sirolimus started as sequential therapy (NCT04406870).")
    for day in ["2025-09-30", "2025-10-09", "2025-11-10", "2026-01-15", "2026-04-15", "2026-07-15",
                "2026-10-16"]:
        b.vitals(d(day))
    b.propranolol([d("2025-10-02"), d("2025-10-09"), d("2026-01-15"), d("2026-04-15"), d("2026-07-15")],
                  [1, 2, 2, 2, 2], stop=d("2026-10-19"))
    b.labs(d("2025-09-30"))
    b.labs(d("2026-10-16"))
    start = d("2026-10-19")
    plan = b.care_plan("ihhe-sequential-sirolimus", start, "IHHE: sequential sirolimus after propranolol")
    dose = round_to(b.weight_kg(d("2026-10-16")) * Decimal("0.1") / 2, "0.01")
    b.sirolimus([DoseStep(start, dose, why="0.1 mg/kg/day, target trough 8-15 ng/mL")], reason="ihhe",
                based_on={start: plan})
    _visits(b, ["2026-11-02", "2026-11-16"])
    return b


# -- KHE, maintenance -----------------------------------------------------------------------------
def khe_maintenance_high() -> ScenarioBuilder:
    b = ScenarioBuilder("khe-maintenance-high", anchor=ANCHOR, mrn="SYN-2001", given="Mara",
                        gender="female", birth_date=d("2017-05-30"), level_factor=0.55)
    b.khe(onset=d("2023-02-13"), status="remission", remission=d("2025-05-12"), body_site="right thigh")
    b.kmp(onset=d("2023-02-13"), resolved=d("2023-04-10"))
    b.sirolimus([
        DoseStep(d("2023-02-16"), Decimal("0.8"), why="0.8 mg/m2 twice daily"),
        DoseStep(d("2023-03-20"), Decimal("1.1"), why="Trough below 10-15 ng/mL"),
        DoseStep(d("2025-06-16"), Decimal("1"), product="tablet-0.5",
                 why="Remission: maintenance, target trough 5-7 ng/mL; tablets now swallowed"),
    ], reason="khe")
    _visits(b, ["2023-03-09", "2023-04-17", "2023-10-16", "2024-04-15", "2024-10-14", "2025-04-14"],
            labs=False)
    b.care_plan("khe-maintenance", d("2025-06-16"), "KHE: sirolimus maintenance")
    for day, value in [("2025-07-07", 6.6), ("2026-01-12", 6.3), ("2026-06-15", 6.9), ("2026-11-16", 8.1)]:
        b.vitals(d(day))
        b.trough(d(day), value=value)
        b.labs(d(day))
    return b


def khe_nmol() -> ScenarioBuilder:
    b = ScenarioBuilder("khe-nmol", anchor=ANCHOR, mrn="SYN-2009", given="Zoe", gender="female",
                        birth_date=d("2016-06-20"), size_factor=1.05, level_factor=0.34)
    b.khe(onset=d("2021-09-06"), status="remission", remission=d("2025-06-02"), body_site="left shoulder")
    b.sirolimus([
        DoseStep(d("2021-09-08"), Decimal("1.3"), why="0.8 mg/m2 twice daily, rounded up"),
        DoseStep(d("2021-10-11"), Decimal("1.8"), why="Trough below 10-15 ng/mL"),
        DoseStep(d("2025-06-23"), Decimal("1"), product="tablet-1",
                 why="Remission: maintenance, target trough 5-7 ng/mL"),
    ], reason="khe")
    _visits(b, ["2021-09-29", "2021-11-01", "2022-05-02", "2022-11-07", "2023-05-08", "2023-11-06",
                "2024-05-06", "2024-11-04", "2025-05-05"], labs=False, unit="nmol/L")
    _visits(b, ["2025-07-14", "2026-01-12", "2026-05-11", "2026-08-10"], unit="nmol/L")
    b.vitals(d("2026-11-16"))
    b.trough(d("2026-11-16"), value=7.4, unit="nmol/L")
    b.labs(d("2026-11-16"))
    return b


def khe_no_weight() -> ScenarioBuilder:
    b = ScenarioBuilder("khe-no-weight", anchor=ANCHOR, mrn="SYN-2010", given="Finn", gender="male",
                        birth_date=d("2023-09-18"), level_factor=1.07)
    b.khe(onset=d("2024-11-04"), status="remission", remission=d("2025-12-01"), body_site="neck")
    b.sirolimus([
        DoseStep(d("2024-11-06"), Decimal("0.3"), why="0.8 mg/m2 twice daily"),
        DoseStep(d("2024-12-09"), Decimal("0.4"), why="Trough below 10-15 ng/mL"),
        DoseStep(d("2025-12-15"), Decimal("0.2"), why="Remission: maintenance, target trough 5-7 ng/mL"),
    ], reason="khe")
    _visits(b, ["2024-11-27", "2024-12-30", "2025-06-30", "2026-01-05", "2026-05-18", "2026-08-17"],
            weight=False)
    b.vitals(d("2026-11-16"), weight=False)
    b.trough(d("2026-11-16"), value=4.3)
    b.labs(d("2026-11-16"))
    return b


def khe_azole() -> ScenarioBuilder:
    b = ScenarioBuilder("khe-azole", anchor=ANCHOR, mrn="SYN-2008", given="Omar", gender="male",
                        birth_date=d("2022-02-14"), level_factor=0.89)
    b.khe(onset=d("2024-03-11"), status="remission", remission=d("2025-10-06"), body_site="left forearm")
    b.sirolimus([
        DoseStep(d("2024-03-13"), Decimal("0.4"), why="0.8 mg/m2 twice daily"),
        DoseStep(d("2024-04-15"), Decimal("0.55"), why="Trough below 10-15 ng/mL"),
        DoseStep(d("2025-10-27"), Decimal("0.35"), why="Remission: maintenance, target trough 5-7 ng/mL"),
    ], reason="khe")
    _visits(b, ["2024-04-03", "2024-05-06", "2024-11-04", "2025-05-05", "2025-11-17", "2026-05-11",
                "2026-08-10", "2026-11-02"])
    b.vitals(d("2026-11-16"))
    weight = float(b.weight_kg(d("2026-11-16")))
    b.voriconazole(d("2026-11-16"), int(round(9 * weight / 10) * 10),
                   "Suspected invasive pulmonary aspergillosis (9 mg/kg twice daily)")
    b.labs(d("2026-11-16"))
    return b


def khe_creatinine_raised() -> ScenarioBuilder:
    b = ScenarioBuilder("khe-creatinine-raised", anchor=ANCHOR, mrn="SYN-2007", given="Lina",
                        gender="female", birth_date=d("2017-09-05"), level_factor=0.76)
    b.khe(onset=d("2021-02-08"), status="remission", remission=d("2024-01-15"), body_site="back")
    b.no_known_drug_allergy(d("2021-02-08"))
    b.sirolimus([
        DoseStep(d("2021-02-10"), Decimal("0.55"), why="0.8 mg/m2 twice daily"),
        DoseStep(d("2021-03-15"), Decimal("0.7"), why="Trough below 10-15 ng/mL"),
        DoseStep(d("2024-02-12"), Decimal("0.45"), why="Remission: maintenance, target trough 5-7 ng/mL"),
    ], reason="khe")
    _visits(b, ["2021-03-03", "2021-04-05", "2021-10-04", "2022-04-04", "2022-10-03", "2023-04-03",
                "2023-10-02", "2024-03-04", "2024-09-02", "2025-03-03", "2025-09-01", "2026-05-18"])
    for day, creatinine in [("2026-08-17", 58), ("2026-11-16", 81)]:
        b.vitals(d(day))
        b.trough(d(day))
        b.labs(d(day), creatinine=creatinine)
    b.guardian_consent(d("2026-11-16"), "Eva", "MTH")
    return b


# -- KHE, guided discontinuation --------------------------------------------------------------------
def khe_taper_eligible() -> ScenarioBuilder:
    b = ScenarioBuilder("khe-taper-eligible", anchor=ANCHOR, mrn="SYN-2002", given="Nora", gender="female",
                        birth_date=d("2020-08-14"), level_factor=0.89)
    b.khe(onset=d("2022-01-10"), status="remission", remission=d("2024-05-20"), body_site="left thigh")
    b.kmp(onset=d("2022-01-10"), resolved=d("2022-03-14"))
    b.no_known_drug_allergy(d("2022-01-10"))
    b.sirolimus([
        DoseStep(d("2022-01-12"), Decimal("0.4"), why="0.8 mg/m2 twice daily"),
        DoseStep(d("2022-02-14"), Decimal("0.5"), why="Trough below 10-15 ng/mL"),
        DoseStep(d("2024-06-10"), Decimal("0.35"), why="Remission: maintenance, target trough 5-7 ng/mL"),
    ], reason="khe")
    _visits(b, ["2022-02-02", "2022-03-07", "2022-09-05", "2023-03-06", "2023-09-04", "2024-03-04",
                "2024-07-01", "2025-01-13", "2025-07-07", "2026-02-02", "2026-05-18",
                "2026-08-17", "2026-11-16"])
    b.guardian_consent(d("2026-11-16"), "Ana", "MTH")
    return b


def _taper_patient(b: ScenarioBuilder, *, history: list[DoseStep], taper: list[DoseStep],
                   consent: date, guardian: tuple[str, str]) -> None:
    plan = b.care_plan("khe-guided-discontinuation", taper[0].start,
                       "KHE: guided discontinuation of sirolimus (NCT04448873)")
    b.sirolimus(history + taper, reason="khe", based_on={taper[0].start: plan})
    b.guardian_consent(consent, *guardian)


def khe_taper_step_due() -> ScenarioBuilder:
    b = ScenarioBuilder("khe-taper-step-due", anchor=ANCHOR, mrn="SYN-2003", given="Leo", gender="male",
                        birth_date=d("2019-03-02"), level_factor=0.82)
    b.khe(onset=d("2021-04-12"), status="remission", remission=d("2023-10-01"), body_site="left knee")
    b.kmp(onset=d("2021-04-12"), resolved=d("2021-06-07"))
    b.no_known_drug_allergy(d("2021-04-12"))
    history = [
        DoseStep(d("2021-04-14"), Decimal("0.45"), why="0.8 mg/m2 twice daily"),
        DoseStep(d("2021-05-17"), Decimal("0.6"), why="Trough below 10-15 ng/mL"),
        DoseStep(d("2023-10-23"), Decimal("0.4"), why="Remission: maintenance, target trough 5-7 ng/mL"),
    ]
    taper = _taper(d("2026-06-15"), Decimal("0.4"), 5, [32, 32, 31, 32])
    _taper_patient(b, history=history, taper=taper, consent=d("2026-06-08"), guardian=("Marta", "MTH"))
    _visits(b, ["2021-05-05", "2021-06-07", "2021-12-06", "2022-06-06", "2022-12-05", "2023-06-05",
                "2023-11-13", "2024-05-13", "2024-11-11", "2025-05-05", "2025-11-03",
                "2026-06-01", "2026-07-08", "2026-08-08", "2026-09-09", "2026-10-10", "2026-11-12"])
    return b


def khe_taper_recent_step() -> ScenarioBuilder:
    b = ScenarioBuilder("khe-taper-recent-step", anchor=ANCHOR, mrn="SYN-2004", given="Maya",
                        gender="female", birth_date=d("2018-07-10"), level_factor=0.74)
    b.khe(onset=d("2020-09-14"), status="remission", remission=d("2023-06-15"), body_site="chest wall")
    b.no_known_drug_allergy(d("2020-09-14"))
    history = [
        DoseStep(d("2020-09-16"), Decimal("0.5"), why="0.8 mg/m2 twice daily"),
        DoseStep(d("2020-10-19"), Decimal("0.65"), why="Trough below 10-15 ng/mL"),
        DoseStep(d("2023-07-10"), Decimal("0.45"), why="Remission: maintenance, target trough 5-7 ng/mL"),
    ]
    taper = _taper(d("2026-05-05"), Decimal("0.45"), 7, [32, 32, 32, 32, 32, 32])
    assert taper[-1].start == ANCHOR - timedelta(days=9)
    _taper_patient(b, history=history, taper=taper, consent=d("2026-04-27"), guardian=("Omid", "FTH"))
    _visits(b, ["2020-10-07", "2020-11-09", "2021-05-10", "2021-11-08", "2022-05-09", "2022-11-07",
                "2023-05-08", "2023-07-31", "2024-01-29", "2024-07-29", "2025-01-27", "2025-07-28",
                "2026-01-26", "2026-04-20", "2026-05-25", "2026-06-26", "2026-07-28", "2026-08-29",
                "2026-09-30", "2026-11-01"])
    b.vitals(d("2026-11-13"), height=False)
    return b


def khe_taper_relapse() -> ScenarioBuilder:
    b = ScenarioBuilder("khe-taper-relapse", anchor=ANCHOR, mrn="SYN-2005", given="Sami", gender="male",
                        birth_date=d("2021-01-20"), level_factor=0.92)
    b.khe(onset=d("2022-06-06"), status="remission", remission=d("2024-02-10"), body_site="right flank")
    b.kmp(onset=d("2022-06-06"), resolved=d("2022-08-01"))
    b.no_known_drug_allergy(d("2022-06-06"))
    history = [
        DoseStep(d("2022-06-08"), Decimal("0.4"), why="0.8 mg/m2 twice daily"),
        DoseStep(d("2022-07-11"), Decimal("0.5"), why="Trough below 10-15 ng/mL"),
        DoseStep(d("2024-03-04"), Decimal("0.35"), why="Remission: maintenance, target trough 5-7 ng/mL"),
    ]
    taper = _taper(d("2026-06-22"), Decimal("0.35"), 5, [32, 32, 32, 32])
    _taper_patient(b, history=history, taper=taper, consent=d("2026-06-15"), guardian=("Lea", "MTH"))
    _visits(b, ["2022-06-29", "2022-08-01", "2023-01-30", "2023-07-31", "2024-01-29", "2024-03-25",
                "2024-09-23", "2025-03-24", "2025-09-22", "2026-06-08", "2026-07-13", "2026-08-14",
                "2026-09-15"])
    b.vitals(d("2026-10-16"))
    b.trough(d("2026-10-16"))
    b.labs(d("2026-10-16"), platelets=250, fibrinogen=2.6)
    b.vitals(d("2026-11-08"), height=False)
    b.labs(d("2026-11-08"), platelets=180, fibrinogen=2.1)
    b.vitals(d("2026-11-18"))
    b.trough(d("2026-11-18"), noise=0.03)
    b.labs(d("2026-11-18"), platelets=85, fibrinogen=1.7)
    return b


SCENARIOS = [
    Scenario(
        "ihhe-propranolol-failed",
        "IHHE infant, 7 months, 7.9 kg, propranolol for 6 months without response; no sirolimus yet",
        "Ordering sirolimus: IHHE sequential protocol; propranolol found in the history; starting dose "
        "0.1 mg/kg/day = 0.79 mg/day, i.e. 0.40 mg (0.40 mL of 1 mg/mL) twice daily; target trough "
        "8-15 ng/mL, first trough after 7-14 days; age under 2 years (immature clearance) noted.",
        "ihhe-sequential-sirolimus", "order-select"),
    Scenario(
        "ihhe-trough-low",
        "IHHE child, 14 months, on sirolimus 0.50 mg twice daily for 5 weeks; troughs 6.0 and 6.2 ng/mL",
        "Trough 6.2 ng/mL (6 days old, at steady state) is below the IHHE target 8-15 ng/mL: an increase "
        "by the linear dose-level relation is proposed, with a new trough 7-14 days after the change.",
        "ihhe-sequential-sirolimus", "patient-view"),
    Scenario(
        "khe-maintenance-high",
        "KHE girl, 9 years, remission 1.5 years, maintenance on 0.5 mg tablets twice daily; trough 8.1 ng/mL",
        "Trough 8.1 ng/mL is above the maintenance target 5-7 ng/mL: a reduction by the linear relation "
        "(1 mg/day x 6/8.1, about 0.74 mg/day of tablets) is proposed; 0.5 mg tablets cannot be split, so the "
        "card offers the oral solution, x 1.27 for its lower exposure (decision 0106): 0.47 mL (0.47 mg) twice "
        "daily; remission under 2 years: not eligible "
        "for guided discontinuation yet.",
        "khe-maintenance", "patient-view"),
    Scenario(
        "khe-taper-eligible",
        "KHE girl, 6 years, remission 2.5 years, maintenance 0.35 mg twice daily, normal labs, consent signed",
        "Eligible for guided discontinuation (KHE, age 6, remission over 2 years, normal liver and kidney "
        "labs, guardian's consent, no known drug allergy); exclusions not on the problem list stay "
        "unknown. First reduction of at most 10 %: 0.35 -> 0.32 mg twice daily (0.70 -> 0.64 mg/day; "
        "0.315 rounded up so the step stays within 10 %).",
        "khe-guided-discontinuation", "patient-view"),
    Scenario(
        "khe-taper-step-due",
        "KHE boy, 7 years, guided discontinuation: 5 reductions, the last 33 days ago, trough 10 days old",
        "Taper step due: last reduction 33 days ago (>= 30), fresh trough drawn 23 days after it. Next "
        "reduction at most 10 %: 0.25 -> 0.23 mg twice daily (0.50 -> 0.46 mg/day); the taper has run "
        "5 months (less than the 6-month minimum), so no stop is proposed.",
        "khe-guided-discontinuation", "patient-view"),
    Scenario(
        "khe-taper-recent-step",
        "KHE girl, 8 years, guided discontinuation: 7 reductions, the last one 9 days ago",
        "No reduction now: the last step was 9 days ago (under the 14-day minimum and inside the 30-day "
        "window). A trough is due from 14 days after that step; the next reduction not before 30 days "
        "after it.",
        "khe-guided-discontinuation", "patient-view"),
    Scenario(
        "khe-taper-relapse",
        "KHE boy, 5 years, guided discontinuation: platelets 250 -> 180 -> 85 x10^9/L after the last reduction",
        "Relapse signal: platelets 85 x10^9/L (< 100) after the reduction 25 days ago. Return to the "
        "previously effective dose, 0.25 mg twice daily (0.50 mg/day), the dose before that reduction; "
        "fibrinogen 1.7 g/L falling but >= 1.5 (warning only); then 3 months' stabilisation and steps of "
        "at most 5 % a month.",
        "khe-guided-discontinuation", "patient-view"),
    Scenario(
        "khe-creatinine-raised",
        "KHE girl, 9 years, remission 2.9 years, consent signed, but creatinine 81 umol/L (CALIPER 27-54)",
        "Not eligible for guided discontinuation: kidney function not normal (creatinine 81 umol/L above "
        "54, rising from 58). Stays on maintenance; trough 5.4 ng/mL is within 5-7, dose unchanged.",
        "khe-maintenance", "patient-view"),
    Scenario(
        "khe-azole",
        "KHE boy, 4 years, maintenance 0.35 mg twice daily; voriconazole started 6 days ago",
        "Interaction: voriconazole (strong CYP3A4 inhibitor, label: avoid) is active with sirolimus. "
        "Warning card: the level will rise; check a trough now and consider a lower dose or another "
        "antifungal. The last trough (6.5 ng/mL, 20 days old) predates voriconazole and is not a basis "
        "for a dose.",
        "khe-maintenance", "patient-view"),
    Scenario(
        "khe-nmol",
        "KHE girl, 10 years, maintenance on 1 mg tablets twice daily; troughs reported in nmol/L (7.4 nmol/L)",
        "Trough 7.4 nmol/L = 6.8 ng/mL (x 0.914): within the maintenance target 5-7 ng/mL, dose unchanged. "
        "(Read wrongly as ng/mL, 7.4 would be above range.)",
        "khe-maintenance", "patient-view"),
    Scenario(
        "khe-no-weight",
        "KHE boy, 3 years, maintenance 0.2 mg twice daily; no weight ever recorded; trough 4.3 ng/mL",
        "Trough 4.3 ng/mL is below the maintenance target 5-7 ng/mL, but no weight is recorded: the card "
        "says so and asks for a current weight; mg/kg limits cannot be checked, so a level-based increase "
        "is shown only with that caveat (or withheld, as the protocol data decide).",
        "khe-maintenance", "patient-view"),
]
BUILDERS = {
    "ihhe-propranolol-failed": ihhe_propranolol_failed,
    "ihhe-trough-low": ihhe_trough_low,
    "khe-maintenance-high": khe_maintenance_high,
    "khe-taper-eligible": khe_taper_eligible,
    "khe-taper-step-due": khe_taper_step_due,
    "khe-taper-recent-step": khe_taper_recent_step,
    "khe-taper-relapse": khe_taper_relapse,
    "khe-creatinine-raised": khe_creatinine_raised,
    "khe-azole": khe_azole,
    "khe-nmol": khe_nmol,
    "khe-no-weight": khe_no_weight,
}


# Each scenario's cards as values (the arithmetic is in tests/toolkit/test_check_e2e.py): the most severe
# card's indicator (None: no card above info), the recommended mg/day, a phrase the cards must carry.
OUTCOMES = {
    "ihhe-propranolol-failed": ExpectedOutcome("info", 0.80),
    "ihhe-trough-low": ExpectedOutcome("info", 1.86),
    "khe-maintenance-high": ExpectedOutcome("info", 0.94),
    "khe-taper-eligible": ExpectedOutcome("info", None, "0.32 mg"),
    "khe-taper-step-due": ExpectedOutcome("info", 0.46),
    "khe-taper-recent-step": ExpectedOutcome("info", None),
    "khe-taper-relapse": ExpectedOutcome("critical", 0.50),
    "khe-creatinine-raised": ExpectedOutcome(None, None),
    "khe-azole": ExpectedOutcome("warning", None, "voriconazole"),
    "khe-nmol": ExpectedOutcome(None, None),
    "khe-no-weight": ExpectedOutcome("info", None, "weight"),
}


def catalog() -> dict[str, Any]:
    return {
        "anchor": ANCHOR.isoformat(),
        "note": "Synthetic patients for sirolimus-cds. Dates are as of the anchor; `sirolimus-cds seed` "
                "shifts them by (today - anchor) days. Expected outcomes describe the intended card.",
        "scenarios": [
            {"id": s.id, "patient_id": s.id, "description": s.description, "expected": s.expected,
             "protocol": s.protocol, "hook": s.hook, "outcome": asdict(OUTCOMES[s.id])}
            for s in SCENARIOS
        ],
    }


def bundle_text(bundle: dict[str, Any]) -> str:
    """JSON with one entry per line: compact, yet a changed resource is a one-line diff."""
    head = {key: value for key, value in bundle.items() if key != "entry"}
    lines = [json.dumps(entry, ensure_ascii=False) for entry in bundle["entry"]]
    return json.dumps(head)[:-1] + ', "entry": [\n' + ",\n".join(lines) + "\n]}\n"


def render() -> dict[str, str]:
    """Every shipped file's text, by path relative to this package."""
    files = {f"patients/{s.id}.json": bundle_text(BUILDERS[s.id]().bundle()) for s in SCENARIOS}
    files["catalog.json"] = json.dumps(catalog(), indent=2) + "\n"
    return files


def write_all() -> None:
    for relative, text in render().items():
        (HERE / relative).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    write_all()
