"""End-to-end helpers: fixture loading, hook and feedback calls, and the checks every scenario shares.

Fixtures (tests/e2e/fixtures/) are hook requests shaped like an EHR's (`draftOrders` Bundle with
`type: "collection"`, `fhirAuthorization`, arrays where R4 has arrays) or like the public CDS Hooks
sandbox's (`draftOrders` without `type`, `reasonCode`/`category` as single objects, no
`fhirAuthorization`, every prefetch key filled). Placeholders, filled by `load_request`:

| placeholder | becomes |
|---|---|
| `{{patientId}}`, `{{fhirServer}}`, `{{accessToken}}` | the seeded patient, the test FHIR server, its token |
| `{{hookInstance}}`, `{{draftId}}` | a fresh UUID per call; the draft MedicationRequest id |
| `{{today}}`, `{{today-N}}`, `{{today+N}}` | dates relative to the test's "today" (YYYY-MM-DD) |
| `"{{dose}}"`, `"{{frequency}}"` | (typed) doseQuantity.value and timing.repeat.frequency, numbers |
| `{{doseText}}` | dosageInstruction.text |
| `"{{reasonCode}}"` | (typed) a KHE or IHHE CodeableConcept |
| `"{{prefetch}}"` | (typed) the prefetch an EHR (some keys) or the sandbox (every key) sends; absent if none |

`e2e-patients.json` is a transaction Bundle of extra patients (ids `e2e-...`) with the same date
placeholders, for the scenarios no synthetic patient covers.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import sqlalchemy
from fhir.resources.R4B.careplan import CarePlan
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest
from flask import Flask
from flask.testing import FlaskClient

from cds_service.audit.database import engine_url
from cds_service.audit.store import decision_cards, decisions, feedback
from cds_service.synthetic.shift import days_between, shift_dates
from fhir_profiles.schemas import problems
from tests.clinical import fhir as build
from tests.support.app import make_app

FIXTURES = Path(__file__).resolve().parent / "fixtures"
PROTOCOLS = Path(__file__).resolve().parents[2] / "fhir_profiles" / "protocols"
PREFETCH_TEMPLATES: dict[str, str] = json.loads(
    (Path(__file__).resolve().parents[2] / "fhir_profiles" / "prefetch.json").read_text(encoding="utf-8"))

UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SERVICE_FOR_HOOK = {"order-select": "sirolimus-order-select", "order-sign": "sirolimus-order-sign",
                    "patient-view": "sirolimus-monitoring"}

# The service's "today" for the whole session (its time zone is UTC); the seeded data and the app's
# clock both use it, so a run that crosses midnight still sees one consistent day.
TODAY = dt.datetime.now(dt.UTC).date()


# The day the core tests' children are written as of (tests/clinical/test_scenarios.py's TODAY).
WRITTEN = dt.date(2026, 11, 22)
# A child for the FHIR server: its id -> (born, sex, its resources as of WRITTEN).
Child = tuple[dt.date, str, Callable[[], list[dict[str, Any]]]]


def placed(patient_id: str, born: dt.date, sex: str, resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A core test's child under its own ids, every date moved from WRITTEN to today."""
    text = json.dumps([build.patient(born, sex), *resources]).replace('"Patient/child"', f'"Patient/{patient_id}"')
    moved = shift_dates(json.loads(text), days_between(WRITTEN, TODAY))
    for resource in moved:
        resource["id"] = patient_id if resource["resourceType"] == "Patient" else f"{patient_id}-{resource['id']}"
    return moved


def seed_children(fhir: Any, children: dict[str, Child]) -> Any:
    """PUT every child (placed) into the FHIR server in one transaction; the server."""
    entries = [{"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
               for pid, (born, sex, make) in children.items() for r in placed(pid, born, sex, make())]
    reply = fhir.transaction({"resourceType": "Bundle", "type": "transaction", "entry": entries})
    assert all(e["response"]["status"].startswith("2") for e in reply["entry"])
    return fhir


def day(offset: int) -> dt.date:
    return TODAY + dt.timedelta(days=offset)


def clock() -> dt.datetime:
    return dt.datetime.combine(TODAY, dt.time(12, 0), dt.UTC)


REASONS = {
    "khe": {
        "coding": [{"system": "http://www.orpha.net", "code": "2122", "display": "Kaposiform hemangioendothelioma"}],
        "text": "Kaposiform hemangioendothelioma",
    },
    "ihhe": {
        "coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "D18.03",
                    "display": "Hemangioma of intra-abdominal structures"}],
        "text": "Infantile hepatic hemangioendothelioma",
    },
}
# What an EHR prefetches (the rest it leaves out, so the service fetches it with the token);
# the sandbox fills every template it can.
EHR_PREFETCH = ("patient", "sirolimusLevels", "weightHeight")

_PLACEHOLDER = re.compile(r"\{\{(\w+)([+-]\d+)?\}\}")


def fill(value: Any, values: dict[str, Any]) -> Any:
    """Replace placeholders: a string that is exactly one typed placeholder becomes its value (any JSON
    type); others are substituted as text. An unknown placeholder is an error, never left behind."""
    if isinstance(value, dict):
        return {k: fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, values) for v in value]
    if not isinstance(value, str):
        return value
    whole = _PLACEHOLDER.fullmatch(value)
    if whole and whole.group(2) is None and whole.group(1) in values and whole.group(1) != "today":
        return values[whole.group(1)]

    def text(match: re.Match[str]) -> str:
        name, offset = match.group(1), match.group(2)
        if name == "today":
            return day(int(offset or 0)).isoformat()
        if offset is not None or name not in values:
            raise KeyError(f"fixture placeholder {match.group(0)} has no value")
        return str(values[name])

    return _PLACEHOLDER.sub(text, value)


def read_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def patients_bundle() -> dict[str, Any]:
    return fill(read_fixture("e2e-patients.json"), {})


def prefetch_for(fhir: Any, patient_id: str, keys: tuple[str, ...] | None) -> dict[str, Any]:
    """Each template filled and read from the FHIR server, as a client prefetches. `keys` given (an EHR):
    those keys, first page only (the service follows `next` with the token). None (the sandbox, which
    sends no token): every key, every page gathered into one searchset, so nothing is left to fetch."""
    filled: dict[str, Any] = {}
    for key in keys if keys is not None else tuple(PREFETCH_TEMPLATES):
        document = fhir.search(PREFETCH_TEMPLATES[key].replace("{{context.patientId}}", patient_id))
        if keys is None and document.get("resourceType") == "Bundle":
            entries = list(document.get("entry", []))
            page = document
            while nxt := next((link["url"] for link in page.get("link", []) if link["relation"] == "next"), None):
                page = requests.get(nxt, headers=fhir.headers(), timeout=30).json()
                entries += page.get("entry", [])
            document = {"resourceType": "Bundle", "type": "searchset", "total": len(entries), "entry": entries}
        filled[key] = document
    return filled


def load_request(name: str, *, patient_id: str, fhir: Any, dose: float | None = None, frequency: int | None = None,
                 dose_text: str | None = None, reason: str = "khe", draft_id: str = "draft-sirolimus-1") -> dict:
    """A fixture request filled for one call (sandbox-shaped fixtures get every prefetch key, EHR ones a few)."""
    sandbox = name.startswith("sandbox-")
    values: dict[str, Any] = {
        "patientId": patient_id,
        "fhirServer": fhir.base_url,
        "accessToken": fhir.token,
        "hookInstance": str(uuid.uuid4()),
        "draftId": draft_id,
        "dose": dose,
        "frequency": frequency,
        "doseText": dose_text,
        "reasonCode": REASONS[reason],
        "prefetch": prefetch_for(fhir, patient_id, None if sandbox else EHR_PREFETCH),
    }
    request = fill(read_fixture(name), values)
    assert "{{" not in json.dumps(request), f"{name}: a placeholder was left unfilled"
    return request


def service_for(request: dict[str, Any]) -> str:
    return SERVICE_FOR_HOOK[request["hook"]]


def e2e_app(tmp_path: Path, fhir: Any, database_url: str) -> Flask:
    """The app under test: the test FHIR server allowed, its own database, the clock at TODAY noon (UTC)."""
    return make_app(tmp_path, fhir_servers=(fhir.base_url,), database_url=database_url, clock=clock)


def call_hook(client: FlaskClient, request: dict[str, Any]) -> list[dict[str, Any]]:
    """POST the hook request; 200 and a response valid against the hook-response schema; the cards."""
    response = client.post(f"/cds-services/{service_for(request)}", json=request)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert problems("hook-response", body) == []
    return body["cards"]


# -- suggestions -----------------------------------------------------------------------------------
def only_card(cards: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(cards) == 1, [c["summary"] for c in cards]
    return cards[0]


def actions(card: dict[str, Any], resource_type: str, kind: str | None = None) -> list[dict[str, Any]]:
    return [a for s in card.get("suggestions", []) for a in s["actions"]
            if a.get("resource", {}).get("resourceType") == resource_type and kind in (None, a["type"])]


def recommended(card: dict[str, Any]) -> dict[str, Any]:
    chosen = [s for s in card.get("suggestions", []) if s.get("isRecommended")]
    assert len(chosen) == 1, f"expected one recommended suggestion, got {len(chosen)}"
    return chosen[0]


def resource_of(suggestion: dict[str, Any], resource_type: str, kind: str) -> dict[str, Any]:
    found = [a["resource"] for a in suggestion["actions"]
             if a["type"] == kind and a.get("resource", {}).get("resourceType") == resource_type]
    assert len(found) == 1, f"{suggestion['label']}: expected one {kind} {resource_type}"
    return found[0]


def no_dose_offered(cards: list[dict[str, Any]]) -> None:
    """No suggestion of any card puts a sirolimus dose into an order (create or update)."""
    for card in cards:
        assert actions(card, "MedicationRequest") == [], f"a dose is offered on: {card['summary']}"


def mg_text(mg: float) -> str:
    return f"{mg:g} mg"


def check_dose(resource: dict[str, Any], *, mg: float, per_day: int, patient_id: str,
               draft_id: str | None = None) -> None:
    """Valid R4 MedicationRequest (R4B models) holding `mg` per dose (UCUM mg) `per_day` times a day;
    its text gives the dose in mg and in mL of the 1 mg/mL solution."""
    model = MedicationRequest.model_validate(resource)
    assert model.subject.reference == f"Patient/{patient_id}"
    if draft_id is not None:
        assert resource["id"] == draft_id, "an update must keep the draft's id"
    dosage = resource["dosageInstruction"][0]
    quantity = dosage["doseAndRate"][0]["doseQuantity"]
    assert quantity["value"] == mg and quantity["code"] == "mg" and quantity["system"] == UCUM, quantity
    repeat = dosage["timing"]["repeat"]
    assert (repeat["frequency"], repeat.get("period", 1), repeat.get("periodUnit", "d")) == (per_day, 1, "d"), repeat
    assert f"{mg:g} mg" in dosage["text"] and f"{mg:g} mL" in dosage["text"], dosage["text"]
    codes = {c["code"] for c in resource["medicationCodeableConcept"]["coding"] if c["system"] == RXNORM}
    assert "314230" in codes, "the dose is for the 1 mg/mL oral solution"


def check_trough(resource: dict[str, Any], *, due: dt.date, patient_id: str) -> None:
    """Valid R4 ServiceRequest for a sirolimus trough (LOINC 29247-4) on its due date."""
    model = ServiceRequest.model_validate(resource)
    assert any(c.system == LOINC and c.code == "29247-4" for c in model.code.coding), resource["code"]
    assert model.subject.reference == f"Patient/{patient_id}"
    assert resource["occurrenceDateTime"][:10] == due.isoformat(), (
        f"trough ordered for {resource['occurrenceDateTime']}, expected {due.isoformat()}")


def check_troughs_offered(card: dict[str, Any], *, due: dt.date, patient_id: str) -> None:
    """The card offers at least one new trough, and every one it offers is a valid trough due `due`."""
    troughs = actions(card, "ServiceRequest", "create")
    assert troughs, f"a new trough should be offered on: {card['summary']}"
    for action in troughs:
        check_trough(action["resource"], due=due, patient_id=patient_id)


def check_careplan(resource: dict[str, Any], *, protocol: str, patient_id: str) -> CarePlan:
    model = CarePlan.model_validate(resource)
    version = protocol_version(protocol)
    assert resource["instantiatesCanonical"] == [
        f"https://sirolimus-cds.org/fhir/PlanDefinition/{protocol}|{version}"]
    assert model.subject.reference == f"Patient/{patient_id}"
    return model


def protocol_version(protocol_id: str) -> str:
    return str(json.loads((PROTOCOLS / f"{protocol_id}.json").read_text(encoding="utf-8"))["version"])


def card_text(card: dict[str, Any]) -> str:
    return f"{card['summary']}\n{card.get('detail', '')}".lower()


# -- audit trail and feedback ----------------------------------------------------------------------
@dataclass
class AuditDb:
    """Reads the service's tables directly (SQLite or PostgreSQL), independently of the Store class."""

    url: str

    def __post_init__(self) -> None:
        self.engine = sqlalchemy.create_engine(engine_url(self.url))

    def decisions_for(self, hook_instance: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sqlalchemy.select(decisions).where(decisions.c.hook_instance == hook_instance))
            return [dict(r) for r in rows.mappings()]

    def decision_holding(self, card_uuid: str) -> str:
        """The id of the one decision whose `cards` JSON holds this card uuid."""
        with self.engine.connect() as conn:
            rows = conn.execute(sqlalchemy.select(decisions.c.id, decisions.c.cards)).all()
        holding = [row.id for row in rows if any(c.get("uuid") == card_uuid for c in stored_json(row.cards))]
        assert len(holding) == 1, f"card {card_uuid} is in {len(holding)} decisions"
        return holding[0]

    def card_link(self, card_uuid: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(sqlalchemy.select(decision_cards.c.decision_id)
                                .where(decision_cards.c.card_uuid == card_uuid)).scalar()

    def feedback_rows(self, card_uuid: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(sqlalchemy.select(feedback).where(feedback.c.card_uuid == card_uuid)
                                .order_by(feedback.c.id))
            return [dict(r) for r in rows.mappings()]

    def dispose(self) -> None:
        self.engine.dispose()


def stored_json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def check_audit(db: AuditDb, request: dict[str, Any], cards: list[dict[str, Any]], *, protocol: str | None,
                token: str) -> dict[str, Any]:
    """The call's decision row: one per hook call, the cards returned, the protocol and its version, what
    was read (per prefetch key, where from), timings, and no token anywhere."""
    rows = db.decisions_for(request["hookInstance"])
    assert len(rows) == 1, f"expected one decision for hookInstance {request['hookInstance']}, got {len(rows)}"
    row = rows[0]
    assert (row["service_id"], row["hook"], row["patient_id"]) == (
        service_for(request), request["hook"], request["context"]["patientId"])
    assert [c["uuid"] for c in stored_json(row["cards"])] == [c["uuid"] for c in cards]
    assert stored_json(row["cards"]) == cards
    assert row["protocol"] == protocol
    assert row["protocol_version"] == (protocol_version(protocol) if protocol else None)
    for card in cards:
        assert db.card_link(card["uuid"]) == row["id"]
        assert db.decision_holding(card["uuid"]) == row["id"]
    summary = stored_json(row["read_summary"])
    sent = request.get("prefetch") or {}
    # Per key: what the client prefetched is used as sent; what it left out was fetched with the token.
    assert summary["sources"] == {key: "prefetch" if key in sent else "fetched" for key in PREFETCH_TEMPLATES}
    assert summary["resources"] > 0
    timings = stored_json(row["timings_ms"])
    assert timings["total"] > 0
    serialized = json.dumps([summary, stored_json(row["decision"]), stored_json(row["cards"]), timings], default=str)
    assert token not in serialized and "bearer" not in serialized.lower()
    return row


def post_feedback(client: FlaskClient, service_id: str, body: dict[str, Any]) -> None:
    response = client.post(f"/cds-services/{service_id}/feedback", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)


def check_feedback(client: FlaskClient, db: AuditDb, request: dict[str, Any], card: dict[str, Any]) -> None:
    """Accepted (with the recommended suggestion, else the first; CDS Hooks requires acceptedSuggestions
    for an accepted outcome, so a card without suggestions is only overridden) and overridden (with one
    of the card's override reasons), each posted twice: one row per (card, outcome, timestamp), each
    linked to the decision whose cards hold this card."""
    service_id = service_for(request)
    accepted_at, overridden_at = f"{TODAY}T12:01:00Z", f"{TODAY}T12:02:30Z"
    offered = card.get("suggestions", [])
    chosen = next((s for s in offered if s.get("isRecommended")), offered[0] if offered else None)
    reason = (card.get("overrideReasons") or [{"system": "https://example.org/override", "code": "other",
                                                "display": "Other"}])[0]
    overridden = fill(read_fixture("feedback-overridden.json"), {
        "cardUuid": card["uuid"], "overrideSystem": reason["system"], "overrideCode": reason["code"],
        "overrideDisplay": reason["display"], "outcomeTimestamp": overridden_at})
    bodies = [overridden, overridden]
    expected = [("overridden", overridden_at)]
    if chosen is not None:
        accepted = fill(read_fixture("feedback-accepted.json"), {
            "cardUuid": card["uuid"], "suggestionUuid": chosen["uuid"], "outcomeTimestamp": accepted_at})
        bodies = [accepted, accepted, *bodies]
        expected.insert(0, ("accepted", accepted_at))
    for body in bodies:
        post_feedback(client, service_id, body)
    rows = db.feedback_rows(card["uuid"])
    assert sorted((r["outcome"], r["outcome_timestamp"]) for r in rows) == expected
    decision_id = db.decision_holding(card["uuid"])
    assert all(r["decision_id"] == decision_id and r["service_id"] == service_id for r in rows)
    by_outcome = {r["outcome"]: r for r in rows}
    if chosen is not None:
        assert stored_json(by_outcome["accepted"]["accepted_suggestions"]) == [{"id": chosen["uuid"]}]
    assert stored_json(by_outcome["overridden"]["override_reason"])["reason"]["code"] == reason["code"]


def run(client: FlaskClient, db: AuditDb, fhir: Any, fixture: str, patient_id: str, *, protocol: str | None,
        **draft: Any) -> list[dict[str, Any]]:
    """One hook call as the fixture shapes it, then its audit row and feedback on every card (checked
    first, so that a clinical assertion failing later does not hide the audit trail's state)."""
    request = load_request(fixture, patient_id=patient_id, fhir=fhir, **draft)
    cards = call_hook(client, request)
    check_audit(db, request, cards, protocol=protocol, token=fhir.token)
    for card in cards:
        check_feedback(client, db, request, card)
    return cards
