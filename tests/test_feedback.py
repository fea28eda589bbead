"""Feedback: validated, stored once however often it is posted, in SQLite and in PostgreSQL."""
import copy
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cds_service.audit.store import feedback
from tests.support.app import make_app

SANDBOX = Path(__file__).resolve().parent / "fixtures" / "cds-hooks-sandbox-recorded"
ACCEPTED = json.loads((SANDBOX / "feedback-accepted.json").read_text())
OVERRIDDEN = {
    "feedback": [
        {
            "card": "9b2c4a44-3c1e-4f7e-a1c2-5b9d8e7f6a10",
            "outcome": "overridden",
            "overrideReason": {
                "reason": {"system": "https://sirolimus-cds.org/fhir/CodeSystem/override-reason",
                           "code": "suspected-lab-error", "display": "Suspected lab error"},
                "userComment": "Level drawn 2 h after the dose",
            },
            "outcomeTimestamp": "2026-11-22T19:14:02.101Z",
        }
    ]
}


def _rows(app) -> int:
    store = app.extensions["sirolimus_cds"].store
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(feedback)).scalar_one())


@pytest.mark.integration
@pytest.mark.parametrize("body", [ACCEPTED, OVERRIDDEN], ids=["accepted", "overridden"])
def test_feedback_posted_twice_is_stored_once(tmp_path, database_url, body):
    app = make_app(tmp_path, database_url=database_url)
    client = app.test_client()
    for _ in range(2):
        response = client.post("/cds-services/sirolimus-dosing/feedback", json=body)
        assert response.status_code == 200
    assert _rows(app) == 1
    stored = app.extensions["sirolimus_cds"].store.feedback_for(body["feedback"][0]["card"])
    assert [row["outcome"] for row in stored] == [body["feedback"][0]["outcome"]]
    # A later outcome for the same card (a new timestamp) is a new record.
    later = copy.deepcopy(body)
    later["feedback"][0]["outcomeTimestamp"] = "2026-11-22T20:00:00Z"
    assert client.post("/cds-services/sirolimus-dosing/feedback", json=later).status_code == 200
    assert _rows(app) == 2


@pytest.mark.parametrize(
    ("mutate", "complaint"),
    [
        (lambda f: f.pop("acceptedSuggestions"), "'acceptedSuggestions' is a required property"),
        (lambda f: f.__setitem__("outcome", "ignored"), "outcome"),
        (lambda f: f.pop("card"), "'card' is a required property"),
        (lambda f: f.__setitem__("outcomeTimestamp", "yesterday"), "outcomeTimestamp"),
        (lambda f: f.__setitem__("acceptedSuggestions", []), "acceptedSuggestions"),
    ],
)
def test_invalid_feedback_is_400_and_nothing_is_stored(tmp_path, mutate, complaint):
    app = make_app(tmp_path)
    body = copy.deepcopy(ACCEPTED)
    mutate(body["feedback"][0])
    response = app.test_client().post("/cds-services/sirolimus-dosing/feedback", json=body)
    assert response.status_code == 400
    assert complaint in json.dumps(response.get_json())
    assert _rows(app) == 0


def test_feedback_for_an_unknown_service_is_404(tmp_path):
    response = make_app(tmp_path).test_client().post("/cds-services/other/feedback", json=ACCEPTED)
    assert response.status_code == 404


def _feedback_counted(outcome: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    from cds_service.http import metrics

    return sum(sample.value for family in text_string_to_metric_families(metrics.exposition().decode())
               for sample in family.samples if sample.name == "sirolimus_cds_card_feedback_total"
               and sample.labels == {"service": "sirolimus-order-select", "kind": "unknown", "outcome": outcome})


@pytest.mark.integration
def test_the_feedback_metric_counts_each_cards_outcome_once_however_often_it_is_posted(tmp_path, database_url):
    """An EHR that retries, or posts the same outcome again later, does not inflate accepted/overridden
    (decision 0112); another outcome for the card is counted."""
    client = make_app(tmp_path, database_url=database_url).test_client()
    path = "/cds-services/sirolimus-order-select/feedback"
    accepted, overridden = _feedback_counted("accepted"), _feedback_counted("overridden")

    for _ in range(3):  # a retry: the very same item
        assert client.post(path, json=ACCEPTED).status_code == 200
    later = copy.deepcopy(ACCEPTED)
    later["feedback"][0]["outcomeTimestamp"] = "2026-11-22T20:00:00Z"
    assert client.post(path, json=later).status_code == 200  # the same card accepted again, later
    assert _feedback_counted("accepted") == accepted + 1

    changed_mind = copy.deepcopy(OVERRIDDEN)
    changed_mind["feedback"][0]["card"] = ACCEPTED["feedback"][0]["card"]
    assert client.post(path, json=changed_mind).status_code == 200
    assert _feedback_counted("overridden") == overridden + 1
    assert _feedback_counted("accepted") == accepted + 1
