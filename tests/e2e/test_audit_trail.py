"""The audit trail and feedback on both databases (SQLite and the real PostgreSQL on 127.0.0.1:5432).

A representative subset of the scenarios (an EHR order-select with a dose card, a sandbox-shaped
patient-view with a critical relapse card, a call with no cards) runs against each database through
the same app: every hook call's decision is recorded (what was read, per prefetch key; what was
decided; the cards; the protocol and its version; timings; never the token), and feedback posted twice
is stored once and linked to the decision that produced its card.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import (
    AuditDb,
    call_hook,
    check_audit,
    check_feedback,
    e2e_app,
    load_request,
    post_feedback,
    stored_json,
)

# They talk to the real FHIR server process: out of the inner loop (-m "not slow"), always in CI.
pytestmark = [pytest.mark.integration, pytest.mark.slow]

GUIDED = "khe-guided-discontinuation"

SCENARIOS = [
    # (fixture, patient, protocol, draft): the taper step card (order-select, EHR shape, mg twice daily)
    ("ehr-order-select-mg.json", "khe-taper-step-due", GUIDED,
     {"dose": 0.25, "frequency": 2, "dose_text": "0.25 mg (0.25 mL) by mouth twice daily"}),
    # the critical relapse card (patient-view, sandbox shape: every key prefetched, no token sent)
    ("sandbox-patient-view.json", "khe-taper-relapse", GUIDED, {}),
    # nothing due: no cards, still one decision row
    ("ehr-patient-view.json", "khe-nmol", "khe-maintenance", {}),
]


@pytest.fixture
def audited(tmp_path: Path, fhir: Any, database_url: str) -> Iterator[tuple[Any, AuditDb]]:
    app = e2e_app(tmp_path, fhir, database_url)
    db = AuditDb(database_url)
    try:
        yield app.test_client(), db
    finally:
        db.dispose()
        app.extensions["sirolimus_cds"].store.engine.dispose()  # lets the test database be dropped


@pytest.mark.parametrize(("fixture", "patient_id", "protocol", "draft"), SCENARIOS,
                         ids=[s[1] for s in SCENARIOS])
def test_decision_and_feedback_are_recorded(audited: tuple[Any, AuditDb], fhir: Any, fixture: str,
                                            patient_id: str, protocol: str, draft: dict[str, Any]) -> None:
    client, db = audited
    request = load_request(fixture, patient_id=patient_id, fhir=fhir, **draft)
    cards = call_hook(client, request)
    row = check_audit(db, request, cards, protocol=protocol, token=fhir.token)
    decided = stored_json(row["decision"])
    assert decided["patient_id"] == patient_id and decided["protocol"]["protocol_id"] == protocol
    assert stored_json(row["read_summary"])["by_type"]["Observation"] > 0
    for card in cards:
        check_feedback(client, db, request, card)


def test_each_call_is_its_own_decision_and_feedback_follows_its_card(audited: tuple[Any, AuditDb],
                                                                     fhir: Any) -> None:
    """The same chart opened twice: two decisions, two sets of card uuids; feedback on the second call's
    card links to the second decision, not the first."""
    client, db = audited
    first = load_request("sandbox-patient-view.json", patient_id="khe-taper-relapse", fhir=fhir)
    second = load_request("sandbox-patient-view.json", patient_id="khe-taper-relapse", fhir=fhir)
    first_cards, second_cards = call_hook(client, first), call_hook(client, second)
    first_row = check_audit(db, first, first_cards, protocol=GUIDED, token=fhir.token)
    second_row = check_audit(db, second, second_cards, protocol=GUIDED, token=fhir.token)
    assert first_row["id"] != second_row["id"]
    assert {c["uuid"] for c in first_cards}.isdisjoint(c["uuid"] for c in second_cards)
    check_feedback(client, db, second, second_cards[0])
    assert db.feedback_rows(first_cards[0]["uuid"]) == []
    assert {r["decision_id"] for r in db.feedback_rows(second_cards[0]["uuid"])} == {second_row["id"]}


def test_feedback_for_a_card_no_decision_produced_is_stored_unlinked(audited: tuple[Any, AuditDb]) -> None:
    client, db = audited
    body = {"feedback": [{"card": "not-a-card-of-ours", "outcome": "overridden",
                          "outcomeTimestamp": "2026-01-01T08:00:00Z"}]}
    post_feedback(client, "sirolimus-monitoring", body)
    post_feedback(client, "sirolimus-monitoring", body)
    rows = db.feedback_rows("not-a-card-of-ours")
    assert len(rows) == 1 and rows[0]["decision_id"] is None
