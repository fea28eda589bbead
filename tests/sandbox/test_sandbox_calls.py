"""The sandbox's calls over HTTP: preflight, then discovery, hook and feedback calls, each with its JWT."""
from __future__ import annotations

import datetime as dt
import json
import sqlite3

import pytest

from tests.sandbox.checks import answered, assert_cors, refused
from tests.sandbox.conftest import PATIENT, today
from tests.sandbox.harness import Sandbox, load_json, load_request

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _order_select(deployment, name="order-select-sirolimus.json"):
    return load_request(name, patient_id=PATIENT, fhir_base_url=deployment.fhir.base_url, today=today(),
                        prefetch=deployment.prefetch())


def test_discovery_after_a_preflight_lists_one_service_for_every_hook(deployment):
    """The sandbox treats an empty list as a failure; it needs order-select, order-sign and patient-view."""
    body = answered(deployment.sandbox.discover(), "GET", "discovery")
    hooks = {(entry["id"], entry["hook"]) for entry in body["services"]}
    assert hooks == {("sirolimus-order-select", "order-select"), ("sirolimus-order-sign", "order-sign"),
                     ("sirolimus-monitoring", "patient-view")}


def test_a_token_in_the_sandbox_shape_is_accepted_and_the_same_token_replayed_is_refused(deployment):
    sandbox = deployment.sandbox
    url = f"{sandbox.service_base}/cds-services/sirolimus-order-select"
    token = sandbox.token(url)
    answered(sandbox.hook("sirolimus-order-select", _order_select(deployment), token=token), "POST", "hook-response")
    refused(sandbox.hook("sirolimus-order-select", _order_select(deployment), token=token))


def test_a_token_for_another_url_is_refused(deployment):
    """`aud` is the exact URL called: a token minted for discovery does not open the hook endpoint."""
    sandbox = deployment.sandbox
    token = sandbox.token(f"{sandbox.service_base}/cds-services")
    refused(sandbox.hook("sirolimus-order-select", _order_select(deployment), token=token))


def test_a_token_signed_by_another_key_is_refused(deployment):
    stranger = Sandbox(service_base=deployment.sandbox.service_base, kid=deployment.sandbox.kid)
    refused(stranger.discover())
    refused(stranger.hook("sirolimus-order-select", _order_select(deployment)))


def test_discovery_without_a_token_is_refused(deployment):
    response = deployment.sandbox.http.get(f"{deployment.sandbox.service_base}/cds-services",
                                           headers={"Origin": "https://sandbox.cds-hooks.org"}, timeout=10)
    assert response.status_code == 401 and response.content == b""
    assert_cors(response)


def _feedback_rows(deployment, card_uuid):
    with sqlite3.connect(deployment.service.workdir / "cds.db") as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(
            "SELECT outcome, accepted_suggestions, decision_id FROM feedback WHERE card_uuid = ? ORDER BY id",
            (card_uuid,))]


def _feedback(name, card, suggestion=None):
    text = json.dumps(load_json(name))
    stamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    text = text.replace("{{cardUuid}}", card["uuid"]).replace("{{outcomeTimestamp}}", stamp)
    if suggestion is not None:
        text = text.replace("{{suggestionUuid}}", suggestion["uuid"])
    return json.loads(text)


def test_feedback_on_accept_and_on_dismiss_is_stored_once(deployment):
    """Accept (the suggestion clicked, as recorded) and dismiss: each stored, linked to its decision,
    and a repeat of the same feedback stored once."""
    sandbox, service = deployment.sandbox, "sirolimus-order-select"
    cards = answered(sandbox.hook(service, _order_select(deployment)), "POST", "hook-response")["cards"]
    assert cards and cards[0].get("suggestions"), cards
    card = cards[0]
    accepted = _feedback("feedback-accepted.json", card, card["suggestions"][0])
    assert answered(sandbox.feedback("sirolimus-order-select", accepted), "POST", None) == {}
    assert answered(sandbox.feedback("sirolimus-order-select", accepted), "POST", None) == {}  # sent twice

    again = answered(sandbox.hook(service, _order_select(deployment)), "POST", "hook-response")["cards"]
    dismissed = _feedback("feedback-dismissed.json", again[0])
    assert answered(sandbox.feedback("sirolimus-order-select", dismissed), "POST", None) == {}

    rows = _feedback_rows(deployment, card["uuid"])
    assert len(rows) == 1, rows
    assert rows[0]["outcome"] == "accepted" and rows[0]["decision_id"]
    assert json.loads(rows[0]["accepted_suggestions"]) == [{"id": card["suggestions"][0]["uuid"]}]
    rows = _feedback_rows(deployment, again[0]["uuid"])
    assert [(r["outcome"], bool(r["decision_id"])) for r in rows] == [("overridden", True)]
