"""`sirolimus-cds seed`: upload the synthetic patients to a FHIR R4 server.

Each scenario goes up as one transaction (all of a patient's resources, or none), after its dates
have been shifted to today. Every entry is a `PUT Type/id` with a stable id, so seeding again
updates the same resources instead of adding copies.

The bearer token is sent in the Authorization header only; it never appears in output, errors or
exceptions raised from here. It may come from `--token` or, better (a command line is visible to
other users of the machine), from the environment variable named by TOKEN_ENV.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from datetime import date
from typing import Any, TextIO

import requests

from cds_service.cli.arguments import DEFAULT_TIMEOUT_SECONDS, TOKEN_ENV
from cds_service.fhir.urls import base_url_problem
from cds_service.synthetic import catalog, load_scenario, scenario_names

_MAX_DIAGNOSTICS = 600


class SeedError(Exception):
    """The FHIR server could not be reached or refused a scenario (message names status and reason)."""


@dataclass(frozen=True)
class SeededPatient:
    patient_id: str
    scenario: str
    description: str
    resource_count: int


def seed(
    fhir_base_url: str,
    token: str | None = None,
    names: list[str] | None = None,
    today: date | None = None,
    *,
    session: requests.Session | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> list[SeededPatient]:
    """Upload the chosen scenarios (all when `names` is None), dates shifted to `today`."""
    base_url = _checked_base_url(fhir_base_url)
    chosen = list(names) if names else scenario_names()
    unknown = [name for name in chosen if name not in scenario_names()]
    if unknown:
        raise SeedError(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(scenario_names())}")
    headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    http = session or requests.Session()
    info = catalog()
    seeded = []
    try:
        for name in chosen:
            bundle = load_scenario(name, today or date.today())
            _post_transaction(http, base_url, name, bundle, headers, timeout)
            seeded.append(SeededPatient(patient_id=info[name].patient_id, scenario=name,
                                        description=info[name].description,
                                        resource_count=len(bundle["entry"])))
    finally:
        if session is None:
            http.close()
    return seeded


def _checked_base_url(url: str) -> str:
    problem = base_url_problem(url)
    if problem is not None:
        raise SeedError(problem)
    return url.rstrip("/")


def _post_transaction(http: requests.Session, base_url: str, name: str, bundle: dict[str, Any],
                      headers: dict[str, str], timeout: float) -> None:
    try:
        response = http.post(base_url, data=json.dumps(bundle), headers=headers, timeout=timeout)
    except requests.RequestException as exc:
        # The exception text names the URL and the network reason, never the request headers.
        raise SeedError(f"scenario {name}: could not reach FHIR server {base_url}: "
                        f"{type(exc).__name__}: {exc}") from None
    if not 200 <= response.status_code < 300:
        raise SeedError(f"scenario {name}: FHIR server {base_url} answered HTTP {response.status_code}"
                        f"{_diagnostics(response)}")
    try:
        reply = response.json()
    except ValueError:
        raise SeedError(f"scenario {name}: FHIR server {base_url} answered HTTP {response.status_code} "
                        "with a body that is not JSON") from None
    statuses = [str(entry.get("response", {}).get("status", "")) for entry in reply.get("entry", [])]
    failed = [s for s in statuses if s[:1] != "2"]
    if reply.get("resourceType") != "Bundle" or len(statuses) != len(bundle["entry"]) or failed:
        raise SeedError(f"scenario {name}: unexpected transaction-response from {base_url} "
                        f"({len(statuses)} of {len(bundle['entry'])} entries answered; "
                        f"non-2xx: {', '.join(failed[:5]) or 'none'})")


def _diagnostics(response: requests.Response) -> str:
    """The OperationOutcome's diagnostics (or the start of the body), for the error message."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return f": {text[:_MAX_DIAGNOSTICS]}" if text else ""
    if not isinstance(body, dict):
        return ""
    issues = body.get("issue", []) if body.get("resourceType") == "OperationOutcome" else []
    parts = [str(i.get("diagnostics") or i.get("details", {}).get("text") or i.get("code", ""))
             for i in issues if isinstance(i, dict)]
    joined = "; ".join(p for p in parts if p)
    return f": {joined[:_MAX_DIAGNOSTICS]}" if joined else ""


# -- command line ----------------------------------------------------------------------------------


def run_seed(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None, *,
             session: requests.Session | None = None) -> int:
    """Run `seed` from parsed arguments; one printed line per patient. Exit status 0, 1 or 2."""
    out = out or sys.stdout
    err = err or sys.stderr
    if getattr(args, "list", False):
        for name, info in catalog().items():
            print(f"{name}\t{info.description}\n    expected: {info.expected}", file=out)
        return 0
    if not args.fhir_server:
        print("seed: --fhir-server URL is required (or --list)", file=err)
        return 2
    token = args.token if args.token is not None else os.environ.get(TOKEN_ENV) or None
    try:
        seeded = seed(args.fhir_server, token, args.scenario, args.date, session=session,
                      timeout=args.timeout)
    except SeedError as exc:
        print(f"seed failed: {exc}", file=err)
        return 1
    for patient in seeded:
        print(f"Patient/{patient.patient_id}\t{patient.scenario}\t{patient.description}", file=out)
    return 0
