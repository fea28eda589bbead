"""The shipped synthetic patients: valid FHIR R4, internally consistent, and true to their scenario.

Every check here is computed from the Bundle data the way the service reads them
(docs/architecture.md, "What the service reads from FHIR"), not from the generator's own numbers.
"""
from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from decimal import Decimal
from importlib import resources
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class

from cds_service.synthetic import anchor_date, catalog, load_scenario, scenario_names
from cds_service.synthetic.shift import days_between, is_date_element, shift_dates, shift_value

ANCHOR = date(2026, 11, 22)
NAMES = scenario_names()
TAPER_URL = "https://sirolimus-cds.org/fhir/PlanDefinition/khe-guided-discontinuation|1.0.0"
SIROLIMUS_MG_PER_TABLET = {"314230": None, "905158": Decimal("0.5"), "349208": Decimal("1")}
TABLET_EXPOSURE = 1.27  # clinical-protocol.md 2: tablets ~27 % higher exposure than the solution
NG_ML_PER_NMOL_L = 0.914
FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(T.*)?$")
ID_PATTERN = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
# CALIPER (clinical-protocol.md 4): LOINC -> [(age from days, age to days, low, high)]
CALIPER = {
    "1742-6": [(0, 365, 5, 33), (365, 4748, 9, 25)],
    "1920-8": [(0, 15, 32, 162), (15, 365, 20, 67), (365, 2557, 21, 44), (2557, 4383, 18, 36)],
    "1975-2": [(0, 15, 3.3, 283.8), (15, 365, 0.8, 11.7), (365, 3287, 0.8, 6.8), (3287, 4383, 0.8, 9.4)],
    "14682-9": [(0, 15, 29, 82), (15, 730, 9, 32), (730, 1826, 18, 38), (1826, 4383, 27, 54)],
}


# -- reading the bundles ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bundles() -> dict[str, dict[str, Any]]:
    return {name: load_scenario(name, ANCHOR) for name in NAMES}


def resources_of(bundle: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]


def day_of(value: str) -> date:
    return date.fromisoformat(value[:10])


def observations(bundle: dict[str, Any], loinc: str) -> list[dict[str, Any]]:
    found = [o for o in resources_of(bundle, "Observation")
             if any(c["code"] == loinc and c["system"] == "http://loinc.org" for c in o["code"]["coding"])]
    return sorted(found, key=lambda o: o["effectiveDateTime"])


def patient_birth(bundle: dict[str, Any]) -> date:
    return date.fromisoformat(resources_of(bundle, "Patient")[0]["birthDate"])


def rxnorm(request: dict[str, Any]) -> set[str]:
    return {c["code"] for c in request["medicationCodeableConcept"]["coding"]
            if c["system"] == "http://www.nlm.nih.gov/research/umls/rxnorm"}


def sirolimus_orders(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    orders = [r for r in resources_of(bundle, "MedicationRequest") if rxnorm(r) & set(SIROLIMUS_MG_PER_TABLET)]
    return sorted(orders, key=lambda r: start_of(r))


def start_of(request: dict[str, Any]) -> date:
    return day_of(request["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"]["start"])


def daily_mg(request: dict[str, Any]) -> Decimal:
    """doseQuantity (mg, or tablets x strength from the product code) x frequency per day."""
    dosage = request["dosageInstruction"][0]
    dose = dosage["doseAndRate"][0]["doseQuantity"]
    repeat = dosage["timing"]["repeat"]
    assert (repeat["period"], repeat["periodUnit"]) == (1, "d")
    (code,) = rxnorm(request) & set(SIROLIMUS_MG_PER_TABLET)
    strength = SIROLIMUS_MG_PER_TABLET[code]
    if strength is None:
        assert dose["code"] == "mg"
        return Decimal(str(dose["value"])) * repeat["frequency"]
    assert dose["code"] == "{tbl}"
    return Decimal(str(dose["value"])) * strength * repeat["frequency"]


def order_on(bundle: dict[str, Any], day: date) -> dict[str, Any] | None:
    started = [r for r in sirolimus_orders(bundle) if start_of(r) <= day]
    return started[-1] if started else None


def trough_ng_ml(observation: dict[str, Any]) -> float:
    quantity = observation["valueQuantity"]
    factor = {"ng/mL": 1.0, "ug/L": 1.0, "nmol/L": NG_ML_PER_NMOL_L}[quantity["code"]]
    return quantity["value"] * factor


def exposure(request: dict[str, Any]) -> float:
    tablet = not rxnorm(request) & {"314230"}
    return float(daily_mg(request)) * (TABLET_EXPOSURE if tablet else 1.0)


def reductions(bundle: dict[str, Any]) -> list[tuple[date, Decimal, Decimal]]:
    """(start, previous daily mg, new daily mg) of every order from the taper's start on."""
    (plan,) = [p for p in resources_of(bundle, "CarePlan") if TAPER_URL in p.get("instantiatesCanonical", [])]
    taper_start = day_of(plan["period"]["start"])
    orders = sirolimus_orders(bundle)
    return [(start_of(new), daily_mg(old), daily_mg(new))
            for old, new in zip(orders, orders[1:], strict=False) if start_of(new) >= taper_start]


def taper_names(bundles: dict[str, dict[str, Any]]) -> list[str]:
    return [n for n, b in bundles.items()
            if any(TAPER_URL in p.get("instantiatesCanonical", []) for p in resources_of(b, "CarePlan"))]


def walk_dates(node: Any, key: str = "") -> list[str]:
    if isinstance(node, dict):
        return [v for k, child in node.items() for v in walk_dates(child, k)]
    if isinstance(node, list):
        return [v for child in node for v in walk_dates(child, key)]
    return [node] if isinstance(node, str) and is_date_element(key) and FULL_DATE.match(node) else []


def caliper(loinc: str, age_days: int) -> tuple[float, float]:
    (low, high), = [(lo, hi) for start, end, lo, hi in CALIPER[loinc] if start <= age_days < end]
    return low, high


# -- the files and the catalog -----------------------------------------------------------------------
def test_catalog_lists_exactly_the_shipped_bundles_and_the_brief_scenarios():
    shipped = {p.name.removesuffix(".json")
               for p in resources.files("cds_service.synthetic").joinpath("patients").iterdir()
               if p.name.endswith(".json")}
    assert set(NAMES) == shipped
    assert set(NAMES) == {
        "ihhe-propranolol-failed", "ihhe-trough-low", "khe-maintenance-high", "khe-taper-eligible",
        "khe-taper-step-due", "khe-taper-recent-step", "khe-taper-relapse", "khe-creatinine-raised",
        "khe-azole", "khe-nmol", "khe-no-weight"}
    for info in catalog().values():
        assert info.description and "\n" not in info.description
        assert info.expected and info.patient_id == info.id


def test_shipped_files_are_what_the_generator_writes():
    from cds_service.synthetic.scenarios import render

    package = resources.files("cds_service.synthetic")
    for relative, text in render().items():
        assert package.joinpath(relative).read_text(encoding="utf-8") == text, f"{relative}: rerun the generator"


def test_anchor_is_written_in_every_bundle_and_the_catalog(bundles):
    assert anchor_date() == ANCHOR
    for name in NAMES:
        raw = json.loads(resources.files("cds_service.synthetic").joinpath("patients", f"{name}.json").read_text())
        assert raw["timestamp"].startswith("2026-11-22")


@pytest.mark.parametrize("name", NAMES)
def test_every_resource_validates_as_fhir_r4b(name, bundles):
    bundle = bundles[name]
    get_fhir_model_class("Bundle").model_validate(bundle)
    for entry in bundle["entry"]:
        resource = entry["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)


@pytest.mark.parametrize("name", NAMES)
def test_entries_are_puts_with_stable_scenario_prefixed_ids(name, bundles):
    bundle = bundles[name]
    assert bundle["type"] == "transaction"
    keys = set()
    for entry in bundle["entry"]:
        resource = entry["resource"]
        key = f"{resource['resourceType']}/{resource['id']}"
        assert entry["request"] == {"method": "PUT", "url": key}
        assert ID_PATTERN.match(resource["id"]) and resource["id"].startswith(name)
        assert key not in keys
        keys.add(key)
    assert f"Patient/{name}" in keys
    # every reference points at this patient's own resources
    text = json.dumps(bundle)
    for reference in re.findall(r'"reference": "([^"]+)"', text):
        assert reference in keys, reference


@pytest.mark.parametrize("name", NAMES)
def test_nothing_happens_before_birth_or_after_the_anchor(name, bundles):
    bundle = bundles[name]
    born = patient_birth(bundle)
    for value in walk_dates(bundle):
        assert born <= day_of(value) <= ANCHOR, value
    assert 0 <= (ANCHOR - born).days <= 12 * 365.25 + 365  # age 0-12 (KHE trial), infants for IHHE


# -- growth and labs ----------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_growth_is_consistent_with_age(name, bundles):
    bundle = bundles[name]
    born = patient_birth(bundle)
    weights = [(day_of(o["effectiveDateTime"]), o["valueQuantity"]) for o in observations(bundle, "29463-7")]
    heights = [(day_of(o["effectiveDateTime"]), o["valueQuantity"]) for o in observations(bundle, "8302-2")]
    assert heights, "every child has a height"
    assert all(q["code"] == "kg" for _, q in weights) and all(q["code"] == "cm" for _, q in heights)
    assert [q["value"] for _, q in weights] == sorted(q["value"] for _, q in weights)
    assert [q["value"] for _, q in heights] == sorted(q["value"] for _, q in heights)
    for day, q in weights:
        months = (day - born).days / 30.44
        # APLS estimates: infants 0.5 x months + 4 kg; 1-10 years 2 x (years + 4) kg
        expected = 0.5 * months + 4 if months < 12 else 2 * (months / 12 + 4)
        assert 0.7 * expected <= q["value"] <= 1.35 * expected, (day, q["value"], expected)
    if name == "khe-no-weight":
        assert weights == []
    else:
        assert (ANCHOR - weights[-1][0]).days <= 30, "a current weight (<= 30 days)"


@pytest.mark.parametrize("name", NAMES)
def test_liver_and_kidney_labs_are_caliper_normal_for_age_except_the_raised_creatinine(name, bundles):
    bundle = bundles[name]
    born = patient_birth(bundle)
    abnormal = []
    for loinc in CALIPER:
        draws = observations(bundle, loinc)
        assert draws, f"{loinc} measured"
        for obs in draws:
            low, high = caliper(loinc, (day_of(obs["effectiveDateTime"]) - born).days)
            value = obs["valueQuantity"]["value"]
            rr = obs["referenceRange"][0]
            assert (rr["low"]["value"], rr["high"]["value"]) == (low, high)
            flag = obs["interpretation"][0]["coding"][0]["code"]
            assert flag == ("H" if value > high else "L" if value < low else "N")
            if not low <= value <= high:
                abnormal.append((loinc, value))
    latest = observations(bundle, "14682-9")[-1]
    if name == "khe-creatinine-raised":
        assert abnormal and {loinc for loinc, _ in abnormal} == {"14682-9"}
        assert latest["valueQuantity"]["value"] > caliper("14682-9", (ANCHOR - born).days)[1]
    else:
        assert abnormal == []
    assert (ANCHOR - day_of(latest["effectiveDateTime"])).days <= 90, "labs recent enough to judge"


# -- sirolimus history and troughs ------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_sirolimus_orders_form_one_coherent_history(name, bundles):
    orders = sirolimus_orders(bundles[name])
    if name == "ihhe-propranolol-failed":
        assert orders == []
        return
    assert orders
    for old, new in zip(orders, orders[1:], strict=False):
        assert old["status"] == "completed"
        end = day_of(old["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"]["end"])
        assert end + timedelta(days=1) == start_of(new), "no gap and no overlap between orders"
    assert orders[-1]["status"] == "active"
    assert "end" not in orders[-1]["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"]
    for order in orders:
        repeat = order["dosageInstruction"][0]["timing"]["repeat"]
        assert (repeat["frequency"], repeat["period"], repeat["periodUnit"]) == (2, 1, "d")
        assert Decimal("0") < daily_mg(order) <= Decimal("4")


def test_some_patients_take_tablets_of_each_strength(bundles):
    codes = {code for b in bundles.values() for r in sirolimus_orders(b) for code in rxnorm(r)}
    assert {"314230", "905158", "349208"} <= codes


@pytest.mark.parametrize("name", [n for n in NAMES if n != "ihhe-propranolol-failed"])
def test_troughs_are_drawn_before_the_morning_dose_at_steady_state_and_follow_the_dose(name, bundles):
    bundle = bundles[name]
    troughs = observations(bundle, "29247-4")
    assert troughs
    previous = None
    for obs in troughs:
        drawn = datetime.fromisoformat(obs["effectiveDateTime"])
        order = order_on(bundle, drawn.date())
        assert order is not None, "a trough measures a dose in force"
        assert obs["status"] == "final"
        first_dose = order["dosageInstruction"][0]["timing"]["repeat"]["timeOfDay"][0]
        assert drawn.time() < datetime.strptime(first_dose, "%H:%M:%S").time(), "before the morning dose"
        assert (drawn.date() - start_of(order)).days >= 7, "at least 7 days on the dose measured"
        if previous is not None and (drawn - previous[0]).days <= 200:
            level_ratio = trough_ng_ml(obs) / previous[1]
            dose_ratio = exposure(order) / previous[2]
            assert 0.7 <= level_ratio / dose_ratio <= 1.43, (obs["id"], level_ratio, dose_ratio)
        previous = (drawn, trough_ng_ml(obs), exposure(order))


# -- IHHE ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["ihhe-propranolol-failed", "ihhe-trough-low"])
def test_ihhe_patients_had_propranolol_before_sirolimus(name, bundles):
    bundle = bundles[name]
    propranolol = [r for r in resources_of(bundle, "MedicationRequest") if "8787" in rxnorm(r)]
    assert propranolol
    assert all({"system": "http://www.whocc.no/atc", "code": "C07AA05", "display": "propranolol"}
               in r["medicationCodeableConcept"]["coding"] for r in propranolol)
    first_propranolol = min(start_of(r) for r in propranolol)
    assert all(start_of(r) >= first_propranolol + timedelta(days=150) for r in sirolimus_orders(bundle))
    (condition,) = resources_of(bundle, "Condition")
    assert {"D18.0", "D18.03"} <= {c["code"] for c in condition["code"]["coding"]}


def test_ihhe_starting_dose_was_0_1_mg_per_kg_day_and_the_trough_is_below_8(bundles):
    bundle = bundles["ihhe-trough-low"]
    (order,) = sirolimus_orders(bundle)
    weight = [o for o in observations(bundle, "29463-7") if day_of(o["effectiveDateTime"]) <= start_of(order)][-1]
    assert float(daily_mg(order)) == pytest.approx(0.1 * weight["valueQuantity"]["value"], rel=0.05)
    latest = observations(bundle, "29247-4")[-1]
    assert trough_ng_ml(latest) < 8 and (ANCHOR - day_of(latest["effectiveDateTime"])).days <= 14


# -- KHE ----------------------------------------------------------------------------------------
def khe_condition(bundle: dict[str, Any]) -> dict[str, Any]:
    (condition,) = [c for c in resources_of(bundle, "Condition")
                    if {"system": "http://www.orpha.net", "code": "2122", "display": "Kaposiform hemangioendothelioma"}
                    in c["code"]["coding"]]
    return condition


def remission_days(bundle: dict[str, Any]) -> int:
    condition = khe_condition(bundle)
    assert condition["clinicalStatus"]["coding"][0]["code"] == "remission"
    return (ANCHOR - day_of(condition["abatementDateTime"])).days


def active_consent(bundle: dict[str, Any]) -> dict[str, Any] | None:
    consents = [c for c in resources_of(bundle, "Consent") if c["status"] == "active"]
    return consents[0] if consents else None


@pytest.mark.parametrize("name", ["khe-taper-eligible", "khe-creatinine-raised", "khe-taper-step-due",
                                  "khe-taper-recent-step", "khe-taper-relapse"])
def test_taper_candidates_have_two_years_remission_and_the_guardians_consent(name, bundles):
    bundle = bundles[name]
    assert remission_days(bundle) >= 730
    consent = active_consent(bundle)
    assert consent is not None
    assert consent["policy"][0]["uri"].endswith("NCT04448873")
    (guardian,) = resources_of(bundle, "RelatedPerson")
    assert consent["performer"][0]["reference"] == f"RelatedPerson/{guardian['id']}"
    assert "GUARD" in {c["code"] for rel in guardian["relationship"] for c in rel["coding"]}


@pytest.mark.parametrize("name", ["khe-maintenance-high", "khe-azole", "khe-nmol", "khe-no-weight"])
def test_maintenance_patients_are_not_taper_candidates(name, bundles):
    bundle = bundles[name]
    assert remission_days(bundle) < 730
    assert active_consent(bundle) is None and taper_names({name: bundle}) == []


def test_the_maintenance_patient_on_tablets_has_a_trough_of_8_1(bundles):
    bundle = bundles["khe-maintenance-high"]
    latest = observations(bundle, "29247-4")[-1]
    assert latest["valueQuantity"] == {"value": 8.1, "unit": "ng/mL", "system": "http://unitsofmeasure.org",
                                       "code": "ng/mL"}
    current = sirolimus_orders(bundle)[-1]
    assert current["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["code"] == "{tbl}"


def test_the_eligible_patient_has_not_started_tapering(bundles):
    bundle = bundles["khe-taper-eligible"]
    assert taper_names({"x": bundle}) == []
    latest = observations(bundle, "29247-4")[-1]
    assert 5 <= trough_ng_ml(latest) <= 7


def test_taper_patients_are_exactly_the_three_mid_taper_scenarios(bundles):
    assert sorted(taper_names(bundles)) == ["khe-taper-recent-step", "khe-taper-relapse", "khe-taper-step-due"]


@pytest.mark.parametrize("name", ["khe-taper-step-due", "khe-taper-recent-step", "khe-taper-relapse"])
def test_taper_follows_the_protocol(name, bundles):
    """Each reduction <= 10 %, >= 14 days apart, <= 10 % in any 30-day window, a trough each month."""
    bundle = bundles[name]
    (plan,) = resources_of(bundle, "CarePlan")
    assert plan["status"] == "active" and plan["instantiatesCanonical"] == [TAPER_URL]
    steps = reductions(bundle)
    assert steps and steps[0][0] == day_of(plan["period"]["start"])
    consent = active_consent(bundle)
    assert consent is not None and day_of(consent["dateTime"]) < steps[0][0]
    for start, old, new in steps:
        assert new < old and (old - new) <= old * Decimal("0.10"), (start, old, new)
    for (a, _, _), (b, _, _) in zip(steps, steps[1:], strict=False):
        assert (b - a).days >= 14
    for window_start, dose_before, _ in steps:
        in_window = [s for s in steps if window_start <= s[0] < window_start + timedelta(days=30)]
        assert dose_before - in_window[-1][2] <= dose_before * Decimal("0.10")
    trough_days = [day_of(o["effectiveDateTime"]) for o in observations(bundle, "29247-4")]
    for i, (start, _, _) in enumerate(steps):
        until = steps[i + 1][0] if i + 1 < len(steps) else ANCHOR + timedelta(days=1)
        measured = [t for t in trough_days if start + timedelta(days=14) <= t < until]
        if (until - start).days > 30:
            assert measured, f"no trough between 14 days after the {start} step and the next"


def test_step_due_patient_is_due(bundles):
    bundle = bundles["khe-taper-step-due"]
    last_step = reductions(bundle)[-1][0]
    latest = day_of(observations(bundle, "29247-4")[-1]["effectiveDateTime"])
    assert (ANCHOR - last_step).days >= 30
    assert (ANCHOR - latest).days <= 30 and (latest - last_step).days >= 14


@pytest.mark.parametrize("today", [ANCHOR, date(2027, 3, 5), date(2028, 2, 29)])
def test_recent_step_patients_last_change_is_nine_days_before_the_seed_date(today):
    bundle = load_scenario("khe-taper-recent-step", today)
    last_change = start_of(sirolimus_orders(bundle)[-1])
    assert today - last_change == timedelta(days=9)
    assert all(day_of(o["effectiveDateTime"]) < last_change for o in observations(bundle, "29247-4"))


def test_relapse_patients_platelets_fall_below_100_after_the_last_reduction(bundles):
    bundle = bundles["khe-taper-relapse"]
    start, previous_dose, _ = reductions(bundle)[-1]
    platelets = [(day_of(o["effectiveDateTime"]), o["valueQuantity"]) for o in observations(bundle, "777-3")]
    assert all(q["code"] == "10*9/L" for _, q in platelets)
    before = [q["value"] for day, q in platelets if day < start]
    after = [q["value"] for day, q in platelets if day >= start]
    assert min(before) >= 150 and before[-1] == 250
    assert after == sorted(after, reverse=True) and after[-1] < 100 and after == [180, 85]
    # the catalog names the previously effective dose: the one before the reduction
    per_dose = previous_dose / 2
    assert f"{per_dose} mg twice daily" in catalog()["khe-taper-relapse"].expected
    fibrinogen = [o["valueQuantity"]["value"] for o in observations(bundle, "3255-7")]
    assert fibrinogen[-1] >= 1.5  # platelets alone carry the signal


def test_azole_patient_takes_voriconazole_with_sirolimus(bundles):
    bundle = bundles["khe-azole"]
    azoles = [r for r in resources_of(bundle, "MedicationRequest") if rxnorm(r) & {"121243", "28031"}]
    assert len(azoles) == 1 and azoles[0]["status"] == "active"
    assert sirolimus_orders(bundle)[-1]["status"] == "active"
    started = start_of(azoles[0])
    assert 0 < (ANCHOR - started).days <= 14
    assert all(day_of(o["effectiveDateTime"]) < started for o in observations(bundle, "29247-4"))
    assert all(not rxnorm(r) & {"121243", "28031"} for n, b in bundles.items() if n != "khe-azole"
               for r in resources_of(b, "MedicationRequest"))


def test_nmol_patients_levels_are_all_in_nmol_per_litre_and_in_range_only_after_conversion(bundles):
    troughs = observations(bundles["khe-nmol"], "29247-4")
    assert {o["valueQuantity"]["code"] for o in troughs} == {"nmol/L"}
    latest = troughs[-1]["valueQuantity"]["value"]
    assert latest > 7 and 5 <= latest * NG_ML_PER_NMOL_L <= 7
    others = {o["valueQuantity"]["code"] for n, b in bundles.items() if n != "khe-nmol"
              for o in observations(b, "29247-4")}
    assert others == {"ng/mL"}


def test_no_weight_patient_has_heights_but_no_weight(bundles):
    bundle = bundles["khe-no-weight"]
    assert observations(bundle, "29463-7") == [] and observations(bundle, "8302-2")
    assert trough_ng_ml(observations(bundle, "29247-4")[-1]) < 5


# -- date shifting --------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "days", "expected"), [
    ("2026-11-22", 10, "2026-12-02"),
    ("2026-11-22T07:30:00Z", 40, "2027-01-01T07:30:00Z"),
    ("2028-02-28T23:59:59.123+08:00", 1, "2028-02-29T23:59:59.123+08:00"),
    ("2026-03-01", -1, "2026-02-28"),
    ("2026-11", 30, "2026-11"),  # a year-month has no day to move
    ("2026", 400, "2026"),
    ("08:00:00", 3, "08:00:00"),
])
def test_shift_value(value, days, expected):
    assert shift_value(value, days) == expected


def test_shift_dates_moves_date_elements_only():
    resource = {
        "resourceType": "Condition", "onsetDateTime": "2024-05-20", "abatementDateTime": "2025-01-01T00:00:00Z",
        "code": {"coding": [{"system": "http://www.orpha.net", "code": "2122"}], "text": "2024-05-20"},
        "timing": {"repeat": {"boundsPeriod": {"start": "2026-01-01", "end": "2026-02-01"},
                              "timeOfDay": ["08:00:00"]}},
    }
    shifted = shift_dates(resource, 31)
    assert shifted["onsetDateTime"] == "2024-06-20"
    assert shifted["abatementDateTime"] == "2025-02-01T00:00:00Z"
    assert shifted["timing"]["repeat"]["boundsPeriod"] == {"start": "2026-02-01", "end": "2026-03-04"}
    assert shifted["code"] == resource["code"]  # codes and free text untouched
    assert shifted["timing"]["repeat"]["timeOfDay"] == ["08:00:00"]
    assert resource["onsetDateTime"] == "2024-05-20"  # the input is not modified


@pytest.mark.parametrize("name", NAMES)
def test_loading_later_moves_every_date_of_the_bundle(name):
    at_anchor = load_scenario(name, ANCHOR)
    later = date(2028, 1, 9)
    shifted = load_scenario(name, later)
    days = days_between(ANCHOR, later)
    assert days == 413
    # every full date string anywhere in the shipped file, under any key, moves by exactly `days`
    all_dates = re.findall(r'"(\d{4}-\d{2}-\d{2}(?:T[0-9:.]+(?:Z|[+-]\d{2}:\d{2}))?)"', json.dumps(at_anchor))
    shifted_dates = re.findall(r'"(\d{4}-\d{2}-\d{2}(?:T[0-9:.]+(?:Z|[+-]\d{2}:\d{2}))?)"', json.dumps(shifted))
    assert len(all_dates) == len(shifted_dates) > 10
    for before, after in zip(all_dates, shifted_dates, strict=True):
        assert day_of(after) - day_of(before) == timedelta(days=days), before
        assert before[10:] == after[10:]
    # ages and intervals are preserved
    assert (later - patient_birth(shifted)) == (ANCHOR - patient_birth(at_anchor))


def test_load_scenario_rejects_an_unknown_name_and_returns_fresh_copies():
    with pytest.raises(KeyError, match="unknown scenario"):
        load_scenario("../catalog", ANCHOR)
    first = load_scenario("khe-nmol", ANCHOR)
    first["entry"].clear()
    assert load_scenario("khe-nmol", ANCHOR)["entry"]
