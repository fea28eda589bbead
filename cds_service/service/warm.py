"""Warm a process at boot, so the first clinician's call is not the slow one (issue #15, scenario f).

`sirolimus-cds serve` calls `warm_up()` in the gunicorn master before it forks the workers: each
worker starts with every module imported, every cache filled (protocols, ValueSets, PK priors,
compiled JSON Schemas) and R4B validation, the decision path, the PK fit and the card wording already
run once, on a shipped synthetic patient, and the decision page drawn once (matplotlib's fonts and
caches loaded in the master, shared by every worker: the first page a worker draws took 1.1-1.4 s
without it, 0.5-0.7 s with it, at load 7-8). Nothing is written, nothing is sent.
"""
from __future__ import annotations

import datetime as dt
import gc
import json

from cards import build_cards
from cards.page import render_decision_page
from cds_service.clinical.decide import decide_dosing, decide_monitoring, load_protocols
from cds_service.clinical.decision import Decision
from cds_service.clinical.reading.record import build_record
from cds_service.clinical.reading.relevance import concerns_service
from cds_service.http import strict_json
from cds_service.service.relevance import gate_templates
from cds_service.synthetic import anchor_date, load_scenario
from fhir_profiles.schemas import SCHEMA_NAMES, validator

WARM_PATIENT = "khe-taper-step-due"  # a taper with levels, labs and a dose history: every reader runs
_URL = "http://warm-up.invalid"


def warm_up() -> list[Decision]:
    """Run the decision path once; returns its decisions (what was exercised)."""
    for name in SCHEMA_NAMES:
        validator(name)
    gate_templates()
    today = anchor_date()
    resources = [entry["resource"] for entry in load_scenario(WARM_PATIENT, today)["entry"]]
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    rest = [r for r in resources if r is not patient]
    concerns_service(rest)
    record = build_record(patient, rest, today)
    draft = next(r for r in reversed(rest) if r["resourceType"] == "MedicationRequest")
    protocols = load_protocols()
    decisions = []
    for hook, decision, drafted in (("order-sign", decide_dosing(record, draft, protocols, today), draft),
                                    ("patient-view", decide_monitoring(record, protocols, today), None)):
        cards = build_cards(decision, hook=hook, draft=drafted, decision_url=f"{_URL}/decisions/warm", today=today,
                            service_url=_URL)
        as_recorded = strict_json.loads(json.dumps({"decision": decision.to_dict(), "cards": cards}))
        render_decision_page(as_recorded["decision"], history=as_recorded["decision"].get("dose_history") or (),
                             created_at=dt.datetime.now(dt.UTC), cards=as_recorded["cards"])
        decisions.append(decision)
    return decisions


def share_with_workers() -> None:
    """In the master, after `warm_up` and before the fork: collect, then move every object left into the
    collector's permanent generation (`gc.freeze`). A worker's collections never visit those objects, so
    their memory pages stay shared with the master instead of being copied into each worker as the
    collector writes to them (decision 0141)."""
    gc.collect()
    gc.freeze()
