"""Prefetch resolution: use what the client sent, fetch only what it left out, never decide on less."""
from typing import Any

import pytest

from cds_service.errors import PreconditionFailed
from cds_service.fhir.client import FhirFetchError, NotAllowed, bundle_resources, is_under
from cds_service.fhir.gather import fill_template, gather

TEMPLATES = {
    "patient": "Patient/{{context.patientId}}",
    "levels": "Observation?patient={{context.patientId}}&code=http://loinc.org|29247-4&_sort=-date&_count=50",
    "orders": "MedicationRequest?patient={{context.patientId}}",
}
BASE = "https://ehr.example.org/fhir"


class RecordingClient:
    """A stand-in FhirClient that answers from a dict and records what was asked (unit tests only)."""

    def __init__(self, answers: dict[str, list[dict[str, Any]]], allowed: tuple[str, ...] = (BASE,)) -> None:
        self.answers, self.allowed, self.searched, self.continued = answers, allowed, [], []

    def allowed_base(self, fhir_server: str) -> str:
        if not any(is_under(fhir_server, base) for base in self.allowed):
            raise NotAllowed("fhirServer is not among the FHIR servers this service is configured to call")
        return fhir_server

    def search(self, base: str, query: str, token: str | None, deadline: Any) -> list[dict[str, Any]]:
        self.searched.append((query, token))
        if query not in self.answers:
            raise FhirFetchError("the FHIR server answered 503")
        return self.answers[query]

    def continue_search(self, base, bundle, token, deadline, pages_read=0):  # type: ignore[no-untyped-def]
        self.continued.append(bundle["link"][0]["url"])
        return bundle_resources(bundle) + self.answers["page-2"]


def request(prefetch: dict | None = None, fhir_server: str | None = BASE) -> dict:
    doc: dict[str, Any] = {"hook": "patient-view", "hookInstance": "x", "context": {"patientId": "p 1"}}
    if fhir_server:
        doc["fhirServer"] = fhir_server
        doc["fhirAuthorization"] = {"access_token": "tok"}
    if prefetch is not None:
        doc["prefetch"] = prefetch
    return doc


PATIENT = {"resourceType": "Patient", "id": "p 1"}
LEVEL = {"resourceType": "Observation", "id": "o1"}
ORDER = {"resourceType": "MedicationRequest", "id": "m1"}


def searchset(*resources: dict, next_url: str | None = None) -> dict:
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset",
                              "entry": [{"resource": r} for r in resources]}
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def test_tokens_are_filled_url_quoted_and_an_unknown_token_is_a_412():
    assert fill_template(TEMPLATES["patient"], {"patientId": "p 1/x"}) == "Patient/p%201%2Fx"
    with pytest.raises(PreconditionFailed, match="context.encounterId"):
        fill_template("Encounter/{{context.encounterId}}", {"patientId": "p"})


def test_absent_keys_are_fetched_with_the_bearer_token_and_present_ones_are_not():
    client = RecordingClient({"MedicationRequest?patient=p%201": [ORDER]})
    got = gather(request({"patient": PATIENT, "levels": searchset(LEVEL)}), TEMPLATES, client, 5)
    assert client.searched == [("MedicationRequest?patient=p%201", "tok")]
    assert got.sources == {"patient": "prefetch", "levels": "prefetch", "orders": "fetched"}
    assert got.patient == PATIENT and {r["id"] for r in got.resources} == {"o1", "m1"}


def test_null_means_fetched_and_empty_and_an_operation_outcome_means_fetch_again():
    failed = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}
    levels_query = fill_template(TEMPLATES["levels"], {"patientId": "p 1"})
    client = RecordingClient({levels_query: [LEVEL]})
    got = gather(request({"patient": PATIENT, "levels": failed, "orders": None}), TEMPLATES, client, 5)
    assert [q for q, _ in client.searched] == [levels_query]
    assert got.sources["orders"] == "prefetch-null" and got.sources["levels"] == "fetched"


def test_a_prefetched_first_page_is_completed_from_its_next_link():
    client = RecordingClient({"page-2": [{"resourceType": "Observation", "id": "o2"}]})
    first = searchset(LEVEL, next_url=f"{BASE}/Observation?page=2")
    got = gather(request({"patient": PATIENT, "levels": first, "orders": None}), TEMPLATES, client, 5)
    assert client.continued == [f"{BASE}/Observation?page=2"]
    assert {r["id"] for r in got.resources} == {"o1", "o2"}


def test_missing_keys_without_a_fhir_server_are_a_412_naming_them():
    with pytest.raises(PreconditionFailed) as raised:
        gather(request({"patient": PATIENT}, fhir_server=None), TEMPLATES, RecordingClient({}), 5)
    assert "levels" in raised.value.message and "orders" in raised.value.message


def test_a_fhir_server_outside_the_allowlist_is_a_412_and_nothing_is_asked():
    client = RecordingClient({})
    with pytest.raises(PreconditionFailed, match="no request was sent"):
        gather(request(fhir_server="https://attacker.example/fhir"), TEMPLATES, client, 5)
    assert client.searched == []


def test_one_failed_key_fails_the_call_naming_it():
    client = RecordingClient({"Patient/p%201": [PATIENT]})
    with pytest.raises(PreconditionFailed) as raised:
        gather(request(), TEMPLATES, client, 5)
    text = " ".join([raised.value.message, *raised.value.details])
    assert "'levels'" in text and "'orders'" in text and "503" in text


def test_the_same_resource_from_two_keys_is_kept_once():
    client = RecordingClient({})
    got = gather(request({"patient": PATIENT, "levels": searchset(LEVEL, ORDER), "orders": searchset(ORDER)}),
                 TEMPLATES, client, 5)
    assert sorted(r["id"] for r in got.resources) == ["m1", "o1"]


@pytest.mark.parametrize(("url", "base", "under"), [
    ("https://ehr.example.org/fhir/Patient/1", "https://ehr.example.org/fhir", True),
    ("https://ehr.example.org:443/fhir", "https://ehr.example.org/fhir/", True),
    ("https://ehr.example.org/fhir-evil/Patient", "https://ehr.example.org/fhir", False),
    ("https://ehr.example.org.evil.com/fhir", "https://ehr.example.org/fhir", False),
    ("https://user@ehr.example.org/fhir", "https://ehr.example.org/fhir", False),
    ("http://ehr.example.org/fhir", "https://ehr.example.org/fhir", False),
])
def test_the_allowlist_matches_on_whole_path_segments_only(url, base, under):
    assert is_under(url, base) is under


def test_a_malformed_prefetch_bundle_is_the_clients_error_not_the_servers():
    from cds_service.errors import BadRequest

    broken = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": "Observation/1"}]}
    client = RecordingClient({})
    with pytest.raises(BadRequest, match="prefetch 'levels' is malformed"):
        gather(request({"patient": PATIENT, "levels": broken, "orders": None}), TEMPLATES, client, 5)
    assert client.searched == []


class MeetingClient(RecordingClient):
    """Each search waits until every key of the record has been asked for: a client that asked for fewer at
    once (a second round trip for the rest) never gets its first answer, and the barrier breaks."""

    def __init__(self, answers: dict[str, list[dict[str, Any]]], meeting: int) -> None:
        super().__init__(answers)
        import threading

        self.meeting = threading.Barrier(meeting, timeout=10)

    def search(self, base: str, query: str, token: str | None, deadline: Any) -> list[dict[str, Any]]:
        self.meeting.wait()
        return super().search(base, query, token, deadline)


def test_every_key_of_the_full_record_is_asked_for_at_once():
    """The 11 keys of prefetch.json in one round trip to the FHIR server, not 8 and then 3."""
    from fhir_profiles import load_json

    templates = load_json("prefetch.json")
    assert len(templates) == 11
    answers = {fill_template(t, {"patientId": "p 1"}): ([PATIENT] if key == "patient" else [])
               for key, t in templates.items()}
    client = MeetingClient(answers, meeting=len(templates))
    gathered = gather(request(), templates, client, 5)
    assert gathered.patient == PATIENT and len(client.searched) == 11
    assert set(gathered.sources.values()) == {"fetched"}


def test_ten_years_of_monthly_draws_are_read_within_the_page_cap():
    """Every page is followed and more than `max_pages` fails the call (412): each paged Observation key's page
    size must let a 10-year history of monthly draws fit (weights and heights were 10 a page: a child with more
    than 50 of them could not be read from the FHIR server at all)."""
    from urllib.parse import parse_qs, urlsplit

    from cds_service.config import FhirSettings
    from fhir_profiles import load_json

    templates = load_json("prefetch.json")
    for key, codes in {"sirolimusLevels": 1, "weightHeight": 1, "labs": 9}.items():
        query = parse_qs(urlsplit(templates[key]).query)
        assert len(query["code"][0].split(",")) == codes
        assert int(query["_count"][0]) * FhirSettings().max_pages >= 120 * codes, key
