"""`sirolimus-cds check`: send one hook call for a patient, as an EHR would, and show the cards.

    check --fhir-server URL --patient ID [--hook H] [--draft FILE] [--with-prefetch] [--service URL] [--json]
    check --fhir-server URL --all-synthetic          every seeded synthetic patient, each on its own hook

The request: `context` for the hook (`userId`, `patientId`; order hooks add `draftOrders`, and
order-select `selections`), `fhirServer`, `fhirAuthorization` when a token is given. The draft for an
order hook is `--draft FILE`, else the patient's sirolimus order in force today turned into a draft
(status draft, same product and dose), else a new order for the oral solution with no dose yet (what
order-select sends as the product is picked). `--with-prefetch` fills the service's discovery
prefetch templates from the FHIR server first, as the CDS Hooks sandbox does; otherwise the service
fetches everything itself.

In-process (the default) the service is built from `--config` (or the embedded defaults) with the
given FHIR server added to `fhir.allowed_servers` (it was named explicitly) and JWT verification off
(no network hop, nothing to sign); its audit records go to a temporary SQLite database that is
deleted on exit, so the decision-page links printed with the cards do not outlive the command.
With `--service URL` the request goes over HTTP to a running service, which must allow that FHIR
server and either run with `--dev` or accept the JWT given with `--bearer`.

Progress goes to stderr, cards (or JSON) to stdout. Exit status: 0 answered, 1 the service or the
FHIR server answered an error (the OperationOutcome's diagnostics are printed), or with
--all-synthetic a patient's cards differ from the catalogue's expected outcome; 2 bad usage.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import uuid
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any, Protocol, TextIO
from urllib.parse import quote

import requests

from cds_service.cli.arguments import SERVICE_BEARER_ENV
from cds_service.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    FhirReader,
    Progress,
    ToolkitError,
    checked_base_url,
    today,
    token_from,
)
from cds_service.cli.outcome import differences
from cds_service.cli.render import render_response
from cds_service.config import Settings, load_settings
from cds_service.errors import PreconditionFailed
from cds_service.fhir.gather import fill_template
from cds_service.synthetic import ScenarioInfo

ORDER_HOOKS = ("order-select", "order-sign")
USER_ID = "Practitioner/sirolimus-cds-check"
DRAFT_ID = "sirolimus-cds-check-draft"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NEW_ORDER_MEDICATION = {
    "coding": [{"system": RXNORM, "code": "314230", "display": "sirolimus 1 MG/ML Oral Solution"}],
    "text": "sirolimus 1 mg/mL oral solution",
}
# What a draft keeps from the order it copies: the product and the dose, nothing of its history.
_DRAFT_KEEPS = ("contained", "medicationCodeableConcept", "medicationReference", "reasonCode", "reasonReference",
                "dosageInstruction", "dispenseRequest", "note")


# -- the service, in-process or over HTTP ----------------------------------------------------------
class Service(Protocol):
    where: str

    def discovery(self) -> tuple[int, Any]: ...

    def call(self, service_id: str, document: dict[str, Any]) -> tuple[int, Any]: ...

    def close(self) -> None: ...


class InProcessService:
    """The app built here, called through Flask's test client (JWT off, temporary audit database)."""

    where = "in-process"

    def __init__(self, settings: Settings, fhir_server: str, timeout_seconds: float | None = None) -> None:
        from cds_service.app import create_app

        self._tmp = tempfile.TemporaryDirectory(prefix="sirolimus-cds-check-", ignore_cleanup_errors=True)
        servers = settings.fhir.allowed_servers
        settings = replace(
            settings,
            database_url=f"sqlite:///{Path(self._tmp.name) / 'check.db'}",
            fhir=replace(settings.fhir, allowed_servers=servers + (fhir_server,) * (fhir_server not in servers),
                         timeout_seconds=min(60.0, timeout_seconds or settings.fhir.timeout_seconds)),
            auth=replace(settings.auth, require_jwt=False),
        )
        self.app = create_app(settings, upgrade_database=True)  # a temporary database, made here
        self.client = self.app.test_client()

    def discovery(self) -> tuple[int, Any]:
        response = self.client.get("/cds-services")
        return response.status_code, response.get_json(silent=True)

    def call(self, service_id: str, document: dict[str, Any]) -> tuple[int, Any]:
        response = self.client.post(f"/cds-services/{service_id}", json=document)
        return response.status_code, response.get_json(silent=True)

    def close(self) -> None:
        store = self.app.extensions["sirolimus_cds"].store
        engine = getattr(store, "engine", None)
        if engine is not None:
            engine.dispose()
        self._tmp.cleanup()


class RemoteService:
    """A running service: `base` is its root (the tool appends /cds-services)."""

    def __init__(self, base: str, bearer: str | None, timeout: float) -> None:
        base = checked_base_url(base, "--service")
        self.base = base[: -len("/cds-services")] if base.endswith("/cds-services") else base
        self.where = f"at {self.base}"
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"
        if bearer:
            self.session.headers["Authorization"] = f"Bearer {bearer}"
        self.timeout = timeout

    def _send(self, method: str, path: str, document: dict[str, Any] | None = None) -> tuple[int, Any]:
        try:
            response = self.session.request(method, f"{self.base}{path}", json=document, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ToolkitError(f"could not reach the service at {self.base}: {type(exc).__name__}") from None
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, None

    def discovery(self) -> tuple[int, Any]:
        return self._send("GET", "/cds-services")

    def call(self, service_id: str, document: dict[str, Any]) -> tuple[int, Any]:
        return self._send("POST", f"/cds-services/{service_id}", document)

    def close(self) -> None:
        self.session.close()


# -- building the request ---------------------------------------------------------------------------
def service_for_hook(discovery: Any, hook: str) -> dict[str, Any]:
    """The discovery entry that answers `hook`."""
    entries = discovery.get("services", []) if isinstance(discovery, dict) else []
    for entry in entries:
        if entry.get("hook") == hook:
            return dict(entry)
    raise ToolkitError(f"the service offers no CDS service for the {hook} hook")


def draft_from_order(order: dict[str, Any], patient_id: str, on: date) -> dict[str, Any]:
    """A draft carrying the order's product and dose (its period and history dropped)."""
    draft: dict[str, Any] = {"resourceType": "MedicationRequest", "id": DRAFT_ID, "status": "draft",
                             "intent": "order", "subject": {"reference": f"Patient/{patient_id}"},
                             "authoredOn": on.isoformat()}
    for key in _DRAFT_KEEPS:
        if key in order:
            draft[key] = copy.deepcopy(order[key])
    for dosage in draft.get("dosageInstruction") or []:
        repeat = dosage.get("timing", {}).get("repeat", {}) if isinstance(dosage, dict) else {}
        repeat.pop("boundsPeriod", None)
    return draft


def new_order_draft(patient_id: str, on: date) -> dict[str, Any]:
    """A sirolimus oral-solution order just picked, no dose yet."""
    return {"resourceType": "MedicationRequest", "id": DRAFT_ID, "status": "draft", "intent": "order",
            "subject": {"reference": f"Patient/{patient_id}"}, "authoredOn": on.isoformat(),
            "medicationCodeableConcept": copy.deepcopy(NEW_ORDER_MEDICATION)}


def current_order_draft(reader: FhirReader, patient_id: str, on: date) -> tuple[dict[str, Any], str]:
    """The sirolimus order in force on `on`, as a draft (the core's own reading finds it); else a new order."""
    from cds_service.clinical.reading.record import build_record

    orders = reader.search(f"MedicationRequest?patient={quote(patient_id, safe='')}&_count=200")
    record = build_record({"resourceType": "Patient", "id": patient_id}, orders, on)
    in_force = [d for d in record.sirolimus_doses if d.in_force_on(on)]
    if in_force:
        source = in_force[-1].resource
        by_ref = {f"MedicationRequest/{o.get('id')}": o for o in orders}
        if source in by_ref:
            return draft_from_order(by_ref[source], patient_id, on), f"a copy of {source}"
    return new_order_draft(patient_id, on), "a new sirolimus 1 mg/mL oral solution order, dose not entered yet"


def read_draft_file(path: str) -> dict[str, Any]:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ToolkitError(f"--draft {path}: {exc}", EXIT_USAGE) from None
    if isinstance(document, dict) and document.get("resourceType") == "Bundle":
        found = [e.get("resource") for e in document.get("entry", []) if isinstance(e, dict)]
        document = next((r for r in found if isinstance(r, dict) and r.get("resourceType") == "MedicationRequest"),
                        None)
    if not isinstance(document, dict) or document.get("resourceType") != "MedicationRequest":
        raise ToolkitError(f"--draft {path}: expected a MedicationRequest (or a Bundle holding one)", EXIT_USAGE)
    document.setdefault("id", DRAFT_ID)
    return document


def fill_prefetch(reader: FhirReader, templates: dict[str, str], context: dict[str, Any],
                  progress: Progress) -> dict[str, Any]:
    """Each template run against the FHIR server; a key that cannot be had is left out (the service
    then fetches it), as CDS Hooks clients do."""
    prefetch: dict[str, Any] = {}
    for key, template in templates.items():
        try:
            query = fill_template(template, context)
            prefetch[key] = reader.get(query)
        except PreconditionFailed as exc:
            progress(f"prefetch '{key}' left out: {exc.message}")
        except ToolkitError as exc:
            progress(f"prefetch '{key}' left out ({exc.message}); the service will fetch it")
    return prefetch


def build_request(hook: str, patient_id: str, fhir_server: str, token: str | None,
                  draft: dict[str, Any] | None) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": USER_ID, "patientId": patient_id}
    if hook in ORDER_HOOKS and draft is not None:
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": draft}]}
        if hook == "order-select":
            context["selections"] = [f"MedicationRequest/{draft['id']}"]
    document: dict[str, Any] = {"hook": hook, "hookInstance": str(uuid.uuid4()), "fhirServer": fhir_server,
                                "context": context}
    if token:
        document["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer", "expires_in": 300,
                                         "scope": "patient/*.read", "subject": "sirolimus-cds-check"}
    return document


def outcome_text(body: Any) -> str:
    """The OperationOutcome's diagnostics, one per issue."""
    if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
        return "no OperationOutcome in the answer"
    parts = [str(i.get("diagnostics") or i.get("details", {}).get("text") or i.get("code", ""))
             for i in body.get("issue", []) if isinstance(i, dict)]
    return "; ".join(p for p in parts if p) or "no diagnostics given"


# -- one call ---------------------------------------------------------------------------------------
def check_patient(service: Service, reader: FhirReader, *, patient_id: str, hook: str,
                  draft: dict[str, Any] | None, with_prefetch: bool, progress: Progress) -> dict[str, Any]:
    """Build the request, call the service; the response body. Raises ToolkitError on an error status."""
    progress(f"discovering the services {service.where}")
    status, discovery = service.discovery()
    if status != 200:
        raise ToolkitError(_error_message("discovery", status, discovery))
    entry = service_for_hook(discovery, hook)
    if hook in ORDER_HOOKS and draft is None:
        draft, described = current_order_draft(reader, patient_id, today())
        progress(f"draft order: {described}")
    document = build_request(hook, patient_id, reader.base_url, reader.token, draft)
    if with_prefetch:
        document["prefetch"] = fill_prefetch(reader, entry.get("prefetch") or {}, document["context"], progress)
    progress(f"calling {entry['id']} ({hook}) {service.where}")
    status, body = service.call(entry["id"], document)
    if status != 200:
        raise ToolkitError(_error_message(f"{entry['id']} ({hook})", status, body))
    return body if isinstance(body, dict) else {}


def _error_message(what: str, status: int, body: Any) -> str:
    if status == 401:
        return (f"{what}: HTTP 401: the service requires a signed JWT; run it with --dev for a trial, "
                "or pass one with --bearer")
    return f"{what}: HTTP {status}: {outcome_text(body)}"


# -- command line -----------------------------------------------------------------------------------


def run_check(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    progress = Progress(err, quiet=args.quiet)
    try:
        targets = _targets(args)
        reader = FhirReader(args.fhir_server, token_from(args), args.timeout, progress)
        service = _service(args, reader.base_url)
    except ToolkitError as exc:
        print(f"check: {exc.message}", file=err)
        return exc.status
    results: dict[str, Any] = {}
    failed = differing = 0
    try:
        for patient_id, hook, expected in targets:
            try:
                draft = read_draft_file(args.draft) if args.draft else None
                body = check_patient(service, reader, patient_id=patient_id, hook=hook, draft=draft,
                                     with_prefetch=args.with_prefetch, progress=progress)
            except ToolkitError as exc:
                failed += 1
                print(f"check failed for Patient/{patient_id}: {exc.message}", file=err)
                if exc.status == EXIT_USAGE:
                    return EXIT_USAGE
                if len(targets) > 1:  # the listing names every patient, the failed ones too
                    if args.json:
                        results[patient_id] = {"hook": hook, "error": exc.message}
                    else:
                        print(f"=== Patient/{patient_id} ({hook})\nFAILED: {exc.message}\n", file=out)
                continue
            departs = differences(expected.outcome, body.get("cards") or []) if expected else []
            differing += bool(departs)
            if args.json:
                results[patient_id] = {"hook": hook, "response": body,
                                       **({"differences": departs} if expected else {})}
            else:
                _print_text(out, patient_id, hook, expected, body, in_process=args.service is None,
                            several=len(targets) > 1)
                if expected:
                    print(f"Outcome: DIFFERS from the catalogue: {'; '.join(departs)}\n" if departs
                          else "Outcome: as expected\n", file=out)
    finally:
        service.close()
        reader.close()
    if args.json:
        document = results[targets[0][0]]["response"] if len(targets) == 1 and results else results
        if results or len(targets) > 1:
            print(json.dumps(document, indent=2, ensure_ascii=False), file=out)
    if differing:
        print(f"check: {differing} of {len(targets)} patients' cards differ from the catalogue", file=err)
    return EXIT_FAILED if failed or differing else EXIT_OK


def _targets(args: argparse.Namespace) -> list[tuple[str, str, ScenarioInfo | None]]:
    if args.all_synthetic:
        if args.patient or args.draft:
            raise ToolkitError("--all-synthetic checks every synthetic patient: leave out --patient and --draft",
                               EXIT_USAGE)
        from cds_service.synthetic import catalog

        return [(info.patient_id, info.hook, info) for info in catalog().values()]
    if not args.patient:
        raise ToolkitError("--patient ID is required (or --all-synthetic)", EXIT_USAGE)
    if args.draft and args.hook not in ORDER_HOOKS:
        raise ToolkitError("--draft applies to order-select and order-sign only", EXIT_USAGE)
    return [(args.patient, args.hook, None)]


def _service(args: argparse.Namespace, fhir_server: str) -> Service:
    if args.service:
        bearer = args.bearer if args.bearer is not None else os.environ.get(SERVICE_BEARER_ENV) or None
        return RemoteService(args.service, bearer, args.timeout)
    return InProcessService(load_settings(args.config), fhir_server, args.timeout)  # --timeout: its FHIR budget too


def _print_text(out: TextIO, patient_id: str, hook: str, expected: ScenarioInfo | None, body: dict[str, Any], *,
                in_process: bool, several: bool) -> None:
    if several or expected:
        print(f"=== Patient/{patient_id} ({hook})", file=out)
        if expected:
            print(f"Expected: {expected.expected}", file=out)
    colour = out.isatty() and not os.environ.get("NO_COLOR")
    print(render_response(body, colour=colour, show_links=not in_process), file=out)
