"""The relevance gate for patient-view: the least data that tells whether a chart concerns this service.

The listed patient-view service advertises only the two small searches below (GATE_TEMPLATES):
the child's sirolimus orders and KHE/IHHE/KMP conditions, each filtered by code on the FHIR server.
When a call arrives (docs/decisions/0108-relevance-gate.md):
1. if the client sent the full record (the keys of prefetch.json holding orders, conditions and
   levels, as earlier discovery documents asked), the gate reads those on plain JSON, no query;
2. otherwise it resolves the two gate keys (prefetched, or fetched: 2 small queries);
3. only a concerned child is read in full (prefetch first, then fetch what is missing).
"""
from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from types import MappingProxyType
from typing import Any

from cds_service.clinical.reading.relevance import CONDITION_VALUESETS, concerns_service
from cds_service.errors import PreconditionFailed
from cds_service.fhir.client import Deadline, FhirClient, FhirFetchError, bundle_resources, next_link
from cds_service.fhir.gather import checked_server, fill_template
from fhir_profiles import load_json

# The full-record keys that hold everything the gate looks at.
FULL_RECORD_KEYS = ("medicationRequests", "conditions", "sirolimusLevels")


def _codes(valueset: str) -> list[str]:
    document = load_json(f"valuesets/{valueset}.json")
    return [f"{inc['system']}|{concept['code']}" for inc in document["compose"]["include"]
            for concept in inc.get("concept", [])]


@cache
def gate_templates() -> MappingProxyType[str, str]:
    """Two code-filtered searches, built from the ValueSets (a site adding a code changes them too)."""
    conditions = ",".join(code for name in CONDITION_VALUESETS for code in _codes(name))
    return MappingProxyType({
        "sirolimusOrders": "MedicationRequest?patient={{context.patientId}}&code="
                           + ",".join(_codes("sirolimus")) + "&_count=10",
        "vascularTumours": "Condition?patient={{context.patientId}}&code=" + conditions + "&_count=20",
    })


def _full_record_sent(prefetch: Mapping[str, Any]) -> bool:
    """Every full-record key present, each a Bundle without further pages, or null (nothing there)."""
    for key in FULL_RECORD_KEYS:
        if key not in prefetch:
            return False
        value = prefetch[key]
        if value is None:
            continue
        if not isinstance(value, dict) or value.get("resourceType") != "Bundle" or next_link(value):
            return False
    return True


def is_concerned(request_doc: Mapping[str, Any], client: FhirClient, timeout_seconds: float) -> bool:
    """Whether this chart shows sirolimus, a KHE/IHHE/KMP condition or a sirolimus level."""
    prefetch = request_doc.get("prefetch") or {}
    if isinstance(prefetch, Mapping) and _full_record_sent(prefetch):
        resources: list[dict[str, Any]] = []
        for key in FULL_RECORD_KEYS:
            if prefetch[key] is not None:
                try:
                    resources += bundle_resources(prefetch[key])
                except FhirFetchError:
                    return True  # malformed: let the full path answer it with its 400
        return concerns_service(resources)
    return _gate_keys_concern(request_doc, prefetch if isinstance(prefetch, Mapping) else {}, client,
                              Deadline.after(timeout_seconds))


def _gate_keys_concern(request_doc: Mapping[str, Any], prefetch: Mapping[str, Any], client: FhirClient,
                       deadline: Deadline) -> bool:
    """Each gate key from the prefetch, else its first page from the FHIR server (one query each).

    A first page that shows nothing while more pages follow counts as concerned: the gate never
    guesses about what it did not read.
    """
    pages: list[dict[str, Any]] = []
    to_fetch: dict[str, str] = {}
    for key, template in gate_templates().items():
        value = prefetch.get(key)
        if key in prefetch and value is None:
            continue  # looked, found nothing
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            pages.append(value)
        else:
            to_fetch[key] = fill_template(template, request_doc.get("context", {}))
    if to_fetch:
        base = checked_server(client, request_doc.get("fhirServer"), sorted(to_fetch))
        token = (request_doc.get("fhirAuthorization") or {}).get("access_token")
        with ThreadPoolExecutor(max_workers=len(to_fetch)) as pool:
            futures = {key: pool.submit(client.get, base, query, token, deadline) for key, query in to_fetch.items()}
            for key, future in futures.items():
                try:
                    pages.append(future.result())
                except FhirFetchError as exc:
                    raise PreconditionFailed(f"could not read '{key}' from the FHIR server: {exc.reason}") from exc
    for page in pages:
        try:
            if concerns_service(bundle_resources(page)) or next_link(page):
                return True
        except FhirFetchError:
            return True  # malformed: the full read answers it with its own error
    return False
