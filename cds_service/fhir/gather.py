"""Prefetch first, then fetch what is missing: turn a hook request into the FHIR data a decision needs.

For each prefetch template the service advertises:
- key present with a resource or Bundle: use it (and follow a Bundle's `next` link, since the client
  may have sent only the first page);
- key present and `null`: the client looked and found nothing;
- key absent, or holding an OperationOutcome (a failed fetch): query `fhirServer` with the
  `fhirAuthorization` bearer token.
The queries run concurrently on one pooled session, all inside one time budget. If any of them fails,
the whole call fails with a PreconditionFailed naming what is missing and why (the first failed key in
the message, every other failed key in the details): a dose is never computed from part of the record
as if it were all of it.
"""
from __future__ import annotations

import re
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from cds_service.errors import BadRequest, PreconditionFailed
from cds_service.fhir.client import (
    CONCURRENT_READS,
    Deadline,
    FhirClient,
    FhirFetchError,
    NotAllowed,
    bundle_resources,
    next_link,
)

_TOKEN = re.compile(r"\{\{\s*context\.([A-Za-z]+)\s*\}\}")


@dataclass
class Gathered:
    """The patient and every other resource read for one hook call, as plain JSON."""

    patient: dict[str, Any] | None
    resources: list[dict[str, Any]]
    sources: dict[str, str] = field(default_factory=dict)  # prefetch key -> prefetch | prefetch-null | fetched
    fetch_ms: float = 0.0


def fill_template(template: str, context: Mapping[str, Any]) -> str:
    """Replace `{{context.x}}` tokens with URL-quoted values of root-level primitive context fields."""

    def value(match: re.Match[str]) -> str:
        found = context.get(match.group(1))
        if not isinstance(found, str | int | float) or isinstance(found, bool):
            raise PreconditionFailed(f"prefetch token {match.group(0)} has no value in the context")
        return quote(str(found), safe="")

    return _TOKEN.sub(value, template)


def _is_usable(value: Any) -> bool:
    return isinstance(value, dict) and value.get("resourceType") not in (None, "OperationOutcome")


def gather(
    request: Mapping[str, Any],
    templates: Mapping[str, str],
    client: FhirClient,
    timeout_seconds: float,
) -> Gathered:
    """Resolve every template of the service for this request (see the module docstring)."""
    started = time.perf_counter()
    deadline = Deadline.after(timeout_seconds)
    context = request.get("context", {})
    prefetch = request.get("prefetch") or {}
    fhir_server = request.get("fhirServer")
    token = (request.get("fhirAuthorization") or {}).get("access_token")

    sources: dict[str, str] = {}
    ready: dict[str, dict[str, Any]] = {}
    to_fetch: dict[str, str] = {}
    for key, template in templates.items():
        if key in prefetch and prefetch[key] is None:
            sources[key] = "prefetch-null"
        elif key in prefetch and _is_usable(prefetch[key]):
            sources[key] = "prefetch"
            ready[key] = prefetch[key]
        else:
            sources[key] = "fetched"
            to_fetch[key] = fill_template(template, context)

    for key, document in ready.items():
        try:
            bundle_resources(document)
        except FhirFetchError as exc:  # the client's own data is malformed: its fault, not the server's
            raise BadRequest(f"prefetch '{key}' is malformed: its Bundle entries are not all resources") from exc
    needs_server = bool(to_fetch) or any(next_link(doc) for doc in ready.values())
    base = checked_server(client, fhir_server, sorted(to_fetch) or sorted(ready)) if needs_server else ""

    def resolve(key: str) -> list[dict[str, Any]] | FhirFetchError:
        try:
            if key in to_fetch:
                return client.search(base, to_fetch[key], token, deadline)
            document = ready[key]
            if next_link(document):
                return client.continue_search(base, document, token, deadline, pages_read=1)
            return bundle_resources(document)
        except FhirFetchError as exc:
            return exc

    keys = [key for key in templates if sources[key] != "prefetch-null"]
    if needs_server:  # every key at once (11 of them: was 8 at a time, a second round trip for 3)
        with ThreadPoolExecutor(max_workers=max(1, min(len(keys), CONCURRENT_READS))) as pool:
            outcomes = dict(zip(keys, pool.map(resolve, keys), strict=True))
    else:  # all prefetched in full: no thread to start
        outcomes = {key: resolve(key) for key in keys}
    failed = {key: outcome for key, outcome in outcomes.items() if isinstance(outcome, FhirFetchError)}
    if failed:
        first_key, first = next(iter(failed.items()))
        raise PreconditionFailed(
            f"could not read '{first_key}' from the FHIR server: {first.reason}",
            details=[f"could not read '{key}': {error.reason}" for key, error in failed.items()][1:],
        ) from first
    results = {key: outcome for key, outcome in outcomes.items() if not isinstance(outcome, FhirFetchError)}

    patient: dict[str, Any] | None = None
    unique: dict[tuple[str, str], dict[str, Any]] = {}
    for resources in results.values():
        for resource in resources:
            if resource.get("resourceType") == "Patient" and patient is None:
                patient = resource
                continue
            ident = (str(resource.get("resourceType")), str(resource.get("id", id(resource))))
            unique.setdefault(ident, resource)
    return Gathered(
        patient=patient,
        resources=list(unique.values()),
        sources=sources,
        fetch_ms=(time.perf_counter() - started) * 1000,
    )


def checked_server(client: FhirClient, fhir_server: Any, missing: list[str]) -> str:
    if not isinstance(fhir_server, str) or not fhir_server:
        raise PreconditionFailed(
            "the request has no fhirServer, and the prefetch lacks: " + ", ".join(missing),
            details=[f"prefetch key '{key}' is missing" for key in missing],
        )
    try:
        return client.allowed_base(fhir_server)
    except NotAllowed as exc:
        raise PreconditionFailed(f"{exc.reason}; no request was sent to it") from exc
