"""Shared by the toolkit tests: seeding the synthetic patients once, running the CLI, reading doses."""
from __future__ import annotations

import json
from typing import Any

import pytest

from cds_service.cli import main

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
# Tablet strength by RxNorm product (clinical-protocol.md section 6), for doses written as a count.
TABLET_MG = {"905158": 0.5, "905160": 0.5, "349208": 1.0, "350512": 1.0, "360110": 2.0, "404432": 2.0,
             "360318": 2.0, "576390": 2.0}
SOLUTION_MG_PER_ML = {"314230": 1.0}
SEVERITY = {"info": 0, "warning": 1, "critical": 2}


def seed_all(fhir_server: Any) -> None:
    status = main(["seed", "--fhir-server", fhir_server.base_url, "--token", fhir_server.token])
    assert status == 0, "seeding the synthetic patients failed"


def run_cli(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, Any]:
    status, out, err = run_cli(capsys, [*argv, "--json"])
    assert status == 0, f"exit {status}: {err}"
    return json.loads(out)


def daily_mg(order: dict[str, Any]) -> float:
    """Daily dose of a MedicationRequest read by hand: doseQuantity (mg, mL x 1 mg/mL, or a tablet count
    x the product's strength) x timing.repeat frequency per period in days."""
    dosage = order["dosageInstruction"][0]
    quantity = dosage["doseAndRate"][0]["doseQuantity"]
    repeat = dosage["timing"]["repeat"]
    assert repeat.get("periodUnit", "d") == "d"
    per_day = repeat["frequency"] / repeat.get("period", 1)
    codes = {c["code"] for c in order.get("medicationCodeableConcept", {}).get("coding", []) if c["system"] == RXNORM}
    unit = quantity.get("code") or quantity.get("unit")
    if unit == "mg":
        mg = quantity["value"]
    elif unit == "mL":
        mg = quantity["value"] * next(SOLUTION_MG_PER_ML[c] for c in codes if c in SOLUTION_MG_PER_ML)
    else:
        assert unit in {"{tbl}", "{pill}", "tablet"}, unit
        mg = quantity["value"] * next(TABLET_MG[c] for c in codes if c in TABLET_MG)
    return round(mg * per_day, 4)


def dose_suggestions(card: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(suggestion, MedicationRequest) for every suggestion that puts a sirolimus dose into an order."""
    return [(s, a["resource"]) for s in card.get("suggestions", []) for a in s["actions"]
            if a.get("resource", {}).get("resourceType") == "MedicationRequest"]


def recommended_daily_mg(cards: list[dict[str, Any]]) -> float | None:
    """The daily dose of the recommended dose-bearing suggestion (None when no card proposes a dose)."""
    offered = [(s, r) for card in cards for s, r in dose_suggestions(card)]
    if not offered:
        return None
    chosen = [r for s, r in offered if s.get("isRecommended")] or [offered[0][1]]
    return daily_mg(chosen[0])


def worst_indicator(cards: list[dict[str, Any]]) -> str | None:
    return max((c["indicator"] for c in cards), key=SEVERITY.__getitem__, default=None)
