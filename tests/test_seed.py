"""`sirolimus-cds seed`: uploads the synthetic patients, idempotently, and fails loudly but safely."""
from __future__ import annotations

import argparse
import io
import json
from collections import Counter
from datetime import date
from typing import Any

import pytest

from cds_service.cli.arguments import add_seed_arguments
from cds_service.synthetic import catalog, load_scenario, scenario_names
from cds_service.synthetic.seed import TOKEN_ENV, SeedError, run_seed, seed
from tests.e2e.support import TODAY as E2E_TODAY
from tests.support.fhir_server import free_port

SCENARIO_TAG = "https://sirolimus-cds.org/fhir/synthetic-scenario"
SEED_DATE = date(2027, 2, 14)  # not the anchor: the data must arrive shifted


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sirolimus-cds seed")
    add_seed_arguments(parser)
    return parser.parse_args(argv)


def run(argv: list[str], session: Any = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = run_seed(parse(argv), out=out, err=err, session=session)
    return status, out.getvalue(), err.getvalue()


def search_all(fhir_server, query: str) -> list[dict[str, Any]]:
    bundle = fhir_server.search(query + "&_count=500")
    assert len(bundle.get("entry", [])) == bundle["total"], "one page holds every match"
    return [e["resource"] for e in bundle.get("entry", [])]


# -- against a real FHIR server -------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.integration
def test_seeding_twice_stores_each_resource_exactly_once_and_prints_each_patient(fhir_server):
    argv = ["--fhir-server", fhir_server.base_url, "--token", fhir_server.token, "--date", SEED_DATE.isoformat()]
    first = run(argv)
    second = run(argv)
    assert first[0] == second[0] == 0
    assert first[1] == second[1]
    lines = first[1].splitlines()
    assert [line.split("\t")[:2] for line in lines] == [[f"Patient/{n}", n] for n in scenario_names()]
    assert all(line.split("\t")[2] == catalog()[line.split("\t")[1]].description for line in lines)
    assert fhir_server.token not in first[1] + first[2]

    for name in scenario_names():
        expected = Counter(e["resource"]["resourceType"] for e in load_scenario(name, SEED_DATE)["entry"])
        for rtype, count in expected.items():
            stored = search_all(fhir_server, f"{rtype}?_tag={SCENARIO_TAG}|{name}")
            ids = [r["id"] for r in stored]
            assert len(ids) == len(set(ids)) == count, (name, rtype)
        (patient,) = search_all(fhir_server, f"Patient?identifier=https://sirolimus-cds.org/fhir/synthetic-mrn|"
                                             f"{resources_mrn(name)}")
        assert patient["id"] == name


def resources_mrn(name: str) -> str:
    patient = load_scenario(name, SEED_DATE)["entry"][0]["resource"]
    return patient["identifier"][0]["value"]


@pytest.mark.integration
def test_seeding_one_scenario_uploads_it_with_dates_shifted_to_the_seed_date(fhir_server):
    try:
        _check_seeded_at_seed_date(fhir_server)
    finally:  # the session's shared server as the other tests have it, whatever order they run in (xdist)
        seed(fhir_server.base_url, fhir_server.token, ["khe-taper-recent-step"], E2E_TODAY)


def _check_seeded_at_seed_date(fhir_server) -> None:
    (seeded,) = seed(fhir_server.base_url, fhir_server.token, ["khe-taper-recent-step"], SEED_DATE)
    assert seeded.patient_id == "khe-taper-recent-step"
    orders = search_all(fhir_server, "MedicationRequest?patient=Patient/khe-taper-recent-step&status=active")
    (active,) = orders
    start = active["dosageInstruction"][0]["timing"]["repeat"]["boundsPeriod"]["start"]
    assert (SEED_DATE - date.fromisoformat(start)).days == 9
    patient = fhir_server.search("Patient/khe-taper-recent-step")
    assert patient["birthDate"] == load_scenario("khe-taper-recent-step", SEED_DATE)["entry"][0]["resource"][
        "birthDate"] != "2018-07-10"


@pytest.mark.integration
def test_a_refused_token_fails_with_the_status_and_never_shows_the_token(fhir_server):
    secret = "not-the-right-token-5f2e"
    with pytest.raises(SeedError) as caught:
        seed(fhir_server.base_url, secret, ["khe-nmol"], SEED_DATE)
    assert "HTTP 401" in str(caught.value) and "khe-nmol" in str(caught.value)
    assert secret not in str(caught.value)
    status, out, err = run(["--fhir-server", fhir_server.base_url, "--token", secret, "--scenario", "khe-nmol"])
    assert status == 1 and out == "" and "HTTP 401" in err and secret not in err


# -- failures, with a hand-written fake session -------------------------------------------------------
class FakeResponse:
    def __init__(self, status: int, body: Any) -> None:
        self.status_code = status
        self._body = body
        self.text = body if isinstance(body, str) else json.dumps(body)

    def json(self) -> Any:
        if isinstance(self._body, str):
            raise ValueError("not JSON")
        return self._body


class FakeSession:
    """Answers every POST with the responses given, in order; records what was sent."""

    def __init__(self, *responses: FakeResponse) -> None:
        self.responses = list(responses)
        self.posts: list[dict[str, Any]] = []

    def post(self, url: str, data: str, headers: dict[str, str], timeout: float) -> FakeResponse:
        self.posts.append({"url": url, "bundle": json.loads(data), "headers": headers, "timeout": timeout})
        return self.responses.pop(0)


def ok_reply(name: str) -> FakeResponse:
    entries = load_scenario(name, SEED_DATE)["entry"]
    return FakeResponse(200, {"resourceType": "Bundle", "type": "transaction-response",
                              "entry": [{"response": {"status": "201 Created"}} for _ in entries]})


def test_a_refusal_names_the_status_and_the_operation_outcome_diagnostics():
    outcome = {"resourceType": "OperationOutcome",
               "issue": [{"severity": "error", "code": "processing", "diagnostics": "Observation.status is required"}]}
    session = FakeSession(FakeResponse(422, outcome))
    with pytest.raises(SeedError, match=r"khe-azole.*HTTP 422: Observation.status is required") as caught:
        seed("http://fhir.example/fhir/", "tok-123", ["khe-azole"], SEED_DATE, session=session, timeout=7)
    assert "tok-123" not in str(caught.value)
    (post,) = session.posts
    assert post["url"] == "http://fhir.example/fhir"
    assert post["headers"]["Authorization"] == "Bearer tok-123" and post["timeout"] == 7
    assert post["bundle"] == load_scenario("khe-azole", SEED_DATE)


def test_a_transaction_response_with_a_failed_entry_is_an_error():
    reply = ok_reply("khe-nmol")
    reply._body["entry"][3]["response"]["status"] = "400 Bad Request"
    with pytest.raises(SeedError, match="400 Bad Request"):
        seed("http://fhir.example/fhir", None, ["khe-nmol"], SEED_DATE, session=FakeSession(reply))


def test_stops_at_the_first_failing_scenario_and_reports_it():
    session = FakeSession(ok_reply("khe-nmol"), FakeResponse(500, "upstream exploded"))
    with pytest.raises(SeedError, match=r"khe-azole.*HTTP 500: upstream exploded"):
        seed("http://fhir.example/fhir", None, ["khe-nmol", "khe-azole", "khe-no-weight"], SEED_DATE,
             session=session)
    assert len(session.posts) == 2


def test_an_unreachable_server_is_a_seed_error():
    url = f"http://127.0.0.1:{free_port()}/fhir"
    with pytest.raises(SeedError, match="could not reach FHIR server"):
        seed(url, "tok", ["khe-nmol"], SEED_DATE, timeout=2)


@pytest.mark.parametrize("url", ["ftp://fhir.example/fhir", "fhir.example/fhir", "http://user:pw@fhir.example/fhir"])
def test_rejects_a_url_that_is_not_a_plain_http_base(url):
    with pytest.raises(SeedError):
        seed(url, None, ["khe-nmol"], SEED_DATE, session=FakeSession())


def test_unknown_scenario_is_refused_before_anything_is_sent():
    session = FakeSession()
    with pytest.raises(SeedError, match="unknown scenario"):
        seed("http://fhir.example/fhir", None, ["khe-nmol", "no-such-child"], SEED_DATE, session=session)
    assert session.posts == []
    with pytest.raises(SystemExit):
        parse(["--fhir-server", "http://fhir.example/fhir", "--scenario", "no-such-child"])


def test_without_token_sends_no_authorization_header():
    session = FakeSession(ok_reply("khe-nmol"))
    seed("http://fhir.example/fhir", None, ["khe-nmol"], SEED_DATE, session=session)
    assert "Authorization" not in session.posts[0]["headers"]


def test_run_seed_takes_the_token_from_the_environment(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "env-token-77")
    session = FakeSession(ok_reply("khe-no-weight"))
    status, out, _ = run(["--fhir-server", "http://fhir.example/fhir", "--scenario", "khe-no-weight"], session)
    assert status == 0 and out.startswith("Patient/khe-no-weight\tkhe-no-weight\t")
    assert session.posts[0]["headers"]["Authorization"] == "Bearer env-token-77"
    assert "env-token-77" not in out


def test_run_seed_lists_scenarios_without_a_server_and_requires_one_otherwise():
    status, out, _ = run(["--list"])
    assert status == 0
    assert [line.split("\t")[0] for line in out.splitlines() if not line.startswith(" ")] == scenario_names()
    status, _, err = run([])
    assert status == 2 and "--fhir-server" in err
