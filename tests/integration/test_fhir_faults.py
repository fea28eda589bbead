"""Hook calls with no prefetch against a FHIR server process that misbehaves on purpose.

Every fault ends, within a small multiple of the configured time budget, in a 412 whose
OperationOutcome names the cause, except two cases that are not faults of the whole read:
- `429` once with a short Retry-After: retried once inside the budget, then answered normally;
- `invalid-resources` (real resources whose values break FHIR R4): the read itself succeeded, so it is
  the clinical core's to report those resources as unusable and propose no dose from them (200).
Entries that are not resources at all mean the server's answer cannot be trusted: 412.
"""
from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator

import pytest

from cds_service.service.relevance import gate_templates
from cds_service.service.services import services
from fhir_profiles.schemas import problems
from tests.support.app import hook_request, make_app
from tests.support.misbehaving_fhir import MisbehavingServer, start_misbehaving_server

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BUDGET_S = 1.0
BOUND_S = 5.0  # a correctness bound (no hang), not a benchmark
TOKEN = "fault-test-token-3f9a"
HOOKS = {"patient-view": "sirolimus-monitoring", "order-select": "sirolimus-dosing"}
TEMPLATES = len(services()["sirolimus-monitoring"].prefetch)
SIROLIMUS_DRAFT = {  # Rapamune 0.5 mg tablets, 2 tablets twice a day: the dosing service reads the record
    "resourceType": "MedicationRequest", "id": "draft-fault-1", "status": "draft", "intent": "order",
    "subject": {"reference": "Patient/fault-patient-1"},
    "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                              "code": "905160"}]},
    "dosageInstruction": [{"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
                           "doseAndRate": [{"doseQuantity": {"value": 2, "unit": "tablet",
                                                             "system": "http://unitsofmeasure.org",
                                                             "code": "{pill}"}}]}],
}

FAULTS_412 = {
    "slow": "timed out",
    "drip": "timed out",
    "401": "refused the access token (401)",
    "403": "refused the access token (403)",
    "404": "not found on the FHIR server (404)",
    "429-long": "rate-limited by the FHIR server (429)",
    "429-always": "rate-limited by the FHIR server (429)",
    "500": "the FHIR server answered 500",
    "503": "the FHIR server answered 503",
    "badjson": "not valid JSON",
    "notfhir": "not a FHIR resource",
    "not-resources": "an entry that is not a resource",
    "endless-next": "continue past 5 pages",
    "huge": "larger than the configured cap",
    "huge-stream": "larger than the configured cap",
    "gzip-bomb": "larger than the configured cap",
    "redirect": "redirected (302)",
}


@pytest.fixture(scope="module")
def server() -> Iterator[MisbehavingServer]:
    running = start_misbehaving_server()
    yield running
    running.stop()


def _call(tmp_path, base_url: str, hook: str, budget_s: float = BUDGET_S, token: str = TOKEN, app=None):
    app = app or make_app(tmp_path, fhir_servers=(base_url,), timeout_seconds=budget_s)
    extra = {"draft": dict(SIROLIMUS_DRAFT)} if hook != "patient-view" else {}
    request = hook_request(hook, "fault-patient-1", base_url, token, **extra)
    started = time.monotonic()
    response = app.test_client().post(f"/cds-services/{HOOKS[hook]}", json=request)
    return response, time.monotonic() - started


def _diagnostics(response) -> str:
    body = response.get_json()
    assert problems("operation-outcome", body) == [], body
    return " | ".join(issue.get("diagnostics", "") for issue in body["issue"])


@pytest.mark.parametrize("hook", HOOKS)
@pytest.mark.parametrize("mode", FAULTS_412)
def test_a_misbehaving_server_is_a_412_naming_the_cause_within_the_budget(tmp_path, server, mode, hook):
    tag = uuid.uuid4().hex[:8]
    response, elapsed = _call(tmp_path, server.base_url(mode, tag), hook)
    assert response.status_code == 412, response.get_data(as_text=True)[:500]
    text = _diagnostics(response)
    assert FAULTS_412[mode] in text
    assert "could not read '" in text  # names the prefetch key that is missing
    assert elapsed < BOUND_S
    assert TOKEN not in response.get_data(as_text=True)


@pytest.mark.parametrize("hook", HOOKS)
def test_connection_refused_is_a_412_could_not_connect(tmp_path, hook):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    response, elapsed = _call(tmp_path, f"http://127.0.0.1:{port}/fhir", hook)
    assert response.status_code == 412
    assert "could not connect" in _diagnostics(response)
    assert elapsed < BOUND_S


# The `ok` child has no sirolimus and no vascular tumour: patient-view reads only the relevance gate's
# searches (decision 0108); a sirolimus draft makes order-select read every prefetch template.
READS = {"patient-view": len(gate_templates()), "order-select": TEMPLATES}


@pytest.mark.parametrize("hook", HOOKS)
def test_the_well_behaved_mode_answers_200_and_receives_the_bearer_token(tmp_path, server, hook):
    tag = uuid.uuid4().hex[:8]
    response, _ = _call(tmp_path, server.base_url("ok", tag), hook)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    seen = server.requests_under(f"/ok/{tag}/")
    assert len(seen) == READS[hook]  # one read per template, no more
    assert {entry["authorization"] for entry in seen} == {f"Bearer {TOKEN}"}


def test_a_short_retry_after_is_honoured_once_within_the_budget(tmp_path, server):
    tag = uuid.uuid4().hex[:8]
    response, elapsed = _call(tmp_path, server.base_url("429", tag), "patient-view", budget_s=3.0)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    paths = [entry["path"] for entry in server.requests_under(f"/429/{tag}/")]
    assert len(paths) == 2 * READS["patient-view"] and all(paths.count(path) == 2 for path in paths)
    assert 1.0 <= elapsed < 3.0


def test_a_429_is_retried_only_once(tmp_path, server):
    tag = uuid.uuid4().hex[:8]
    response, _ = _call(tmp_path, server.base_url("429-always", tag), "patient-view", budget_s=3.0)
    assert response.status_code == 412
    paths = [entry["path"] for entry in server.requests_under(f"/429-always/{tag}/")]
    assert paths and max(paths.count(path) for path in paths) == 2


def test_a_retry_after_longer_than_the_budget_is_not_waited_for(tmp_path, server):
    tag = uuid.uuid4().hex[:8]
    response, elapsed = _call(tmp_path, server.base_url("429", tag), "patient-view", budget_s=0.8)
    assert response.status_code == 412
    assert "rate-limited" in _diagnostics(response)
    assert elapsed < 0.8  # Retry-After: 1 does not fit in 0.8 s: give up at once
    paths = [entry["path"] for entry in server.requests_under(f"/429/{tag}/")]
    assert all(paths.count(path) == 1 for path in paths)


def test_endless_next_links_stop_at_max_pages(tmp_path, server):
    tag = uuid.uuid4().hex[:8]
    response, _ = _call(tmp_path, server.base_url("endless-next", tag), "patient-view")
    assert response.status_code == 412
    seen = server.requests_under(f"/endless-next/{tag}/")
    # The relevance gate's first pages (decision 0108), then max_pages (5) per search, never more.
    assert 5 < len(seen) <= len(gate_templates()) + 5 * TEMPLATES
    assert not any(entry["path"].endswith("?page=5") for entry in seen)  # the 6th page is never asked for


def test_a_redirect_is_not_followed(tmp_path, server):
    tag = uuid.uuid4().hex[:8]
    response, _ = _call(tmp_path, server.base_url("redirect", tag), "patient-view")
    assert response.status_code == 412
    assert server.requests_under("/ok/stolen/") == []


@pytest.mark.parametrize("hook", HOOKS)
def test_resources_failing_fhir_validation_are_reported_unusable_and_no_dose_is_proposed(tmp_path, server, hook):
    tag = uuid.uuid4().hex[:8]
    app = make_app(tmp_path, fhir_servers=(server.base_url("invalid-resources", tag),), timeout_seconds=BUDGET_S)
    response, elapsed = _call(tmp_path, server.base_url("invalid-resources", tag), hook, app=app)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    body = response.get_json()
    assert problems("hook-response", body) == []
    assert all("suggestions" not in card for card in body["cards"])
    if hook == "order-select":  # the clinician ordering sirolimus is told why there is no dose
        assert any("No dose is proposed" in card.get("detail", "") for card in body["cards"])
    unusable = [item["resource"] for item in _latest_audit(app)["read_summary"]["unusable"]]
    assert "Observation/fault-patient-1-broken-observation" in unusable  # named by its id
    assert elapsed < BOUND_S


def _latest_audit(app):
    from sqlalchemy import select

    from cds_service.audit.store import decisions

    with app.extensions["sirolimus_cds"].store.engine.connect() as conn:
        return conn.execute(select(decisions).order_by(decisions.c.created_at.desc())).mappings().first()


@pytest.mark.parametrize(
    ("token", "status", "expected"),
    [("tök€n-not-latin-1", 412, "access token"), ("abc\r\nX-Injected: 1", 412, "access token"),
     ("two words", 412, "access token"), ("\x00", 400, "NUL character"), ("tab\there", 412, "access token")],
    ids=["non-latin-1", "crlf", "space", "nul", "tab"],
)
def test_a_hostile_access_token_is_refused_and_never_sent(tmp_path, server, token, status, expected):
    tag = uuid.uuid4().hex[:8]
    response, _ = _call(tmp_path, server.base_url("ok", tag), "patient-view", token=token)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert expected in _diagnostics(response)
    assert server.requests_under(f"/ok/{tag}/") == []
