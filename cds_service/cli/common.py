"""What `check` and `plan` share: the bearer token, progress lines, reads (their options: `arguments.py`).

The token is sent in Authorization headers (or as the hook request's `fhirAuthorization`) and never
printed: progress lines name resources and URLs only, and error messages come from
`FhirFetchError.reason`, which the FHIR client keeps free of tokens.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TextIO

from cds_service.cli.arguments import TOKEN_ENV
from cds_service.config import FhirSettings
from cds_service.fhir.client import Deadline, FhirClient, FhirFetchError
from cds_service.fhir.gather import Gathered, gather
from cds_service.fhir.urls import base_url_problem

# Exit statuses of every toolkit command.
EXIT_OK = 0
EXIT_FAILED = 1  # the service or the FHIR server answered an error (4xx, 412, 5xx, unreachable)
EXIT_USAGE = 2  # bad arguments or configuration


class ToolkitError(Exception):
    """A failure to report on stderr; `status` is the exit status."""

    def __init__(self, message: str, status: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.status = status




def token_from(args: argparse.Namespace) -> str | None:
    return args.token if args.token is not None else os.environ.get(TOKEN_ENV) or None


def checked_base_url(url: str, option: str = "--fhir-server") -> str:
    problem = base_url_problem(url, option)
    if problem is not None:
        raise ToolkitError(problem, EXIT_USAGE)
    return url.rstrip("/")


@dataclass
class Progress:
    """One line per step on stderr, so that stdout stays clean for the cards or the JSON."""

    stream: TextIO = field(default_factory=lambda: sys.stderr)
    quiet: bool = False

    def __call__(self, message: str) -> None:
        if not self.quiet:
            print(f"… {message}", file=self.stream, flush=True)


class FhirReader:
    """Reads from one FHIR server with the service's own client (allowlist = that server only)."""

    def __init__(self, base_url: str, token: str | None, timeout_seconds: float, progress: Progress) -> None:
        self.base_url = checked_base_url(base_url)
        self.token = token
        self.timeout_seconds = timeout_seconds
        self.progress = progress
        self.client = FhirClient(FhirSettings(allowed_servers=(self.base_url,), timeout_seconds=timeout_seconds))

    def get(self, relative: str) -> dict[str, Any]:
        """One GET (a read, or a search's first page only)."""
        self.progress(f"fetching {relative}")
        try:
            return self.client.get(self.base_url, relative, self.token, Deadline.after(self.timeout_seconds))
        except FhirFetchError as exc:
            raise ToolkitError(f"could not read {relative} from {self.base_url}: {exc.reason}") from None

    def search(self, relative: str) -> list[dict[str, Any]]:
        """A search with its `next` pages followed; the resources found."""
        self.progress(f"fetching {relative}")
        try:
            return self.client.search(self.base_url, relative, self.token, Deadline.after(self.timeout_seconds))
        except FhirFetchError as exc:
            raise ToolkitError(f"could not read {relative} from {self.base_url}: {exc.reason}") from None

    def record_data(self, patient_id: str, templates: dict[str, str]) -> Gathered:
        """Everything the service would read for this patient (its prefetch templates, fetched)."""
        self.progress(f"fetching Patient/{patient_id} and its record ({len(templates)} queries) "
                      f"from {self.base_url}")
        request: dict[str, Any] = {"context": {"patientId": patient_id}, "fhirServer": self.base_url}
        if self.token:
            request["fhirAuthorization"] = {"access_token": self.token, "token_type": "Bearer"}
        from cds_service.errors import PreconditionFailed

        try:
            gathered = gather(request, templates, self.client, self.timeout_seconds)
        except PreconditionFailed as exc:
            raise ToolkitError(f"could not read the record of Patient/{patient_id}: {exc.message}") from None
        if gathered.patient is None:
            raise ToolkitError(f"Patient/{patient_id} was not found on {self.base_url}")
        return gathered

    def close(self) -> None:
        self.client.session.close()


def today() -> date:
    """Today in the clinic's time zone (`timezone` of the service's configuration, $SIROLIMUS_CDS_CONFIG;
    UTC by default), the day the service itself would decide on."""
    from cds_service.config import load_settings
    from cds_service.errors import ConfigError
    from cds_service.service.pipeline import clinic_today
    from cds_service.service.state import utc_now

    try:
        timezone = load_settings().timezone
    except ConfigError as exc:
        raise ToolkitError(f"the configuration cannot be read: {exc}", EXIT_USAGE) from None
    return clinic_today(utc_now(), timezone)
