"""The only code that talks to FHIR servers: allowlist, one time budget per hook call, bounded
paging, capped bodies.

Why a deadline rather than a per-request timeout: `requests` applies its timeout to each socket
operation, so a server that drips one byte a second, or chains `next` links forever, would hold a
clinician's order screen hostage. Every request here gets what is left of the hook call's budget,
bodies are read in chunks against that budget and a byte cap, and at most `max_pages` pages are
followed. A blocking read of a body cannot check the clock itself (a 64 KiB read waits for 64 KiB), so a
watchdog timer shuts the socket down when the budget runs out: a dripping server is cut off on time.
"""
from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

from cds_service.config import FhirSettings
from cds_service.fhir.urls import Unnormalisable, canonical_url, is_under
from cds_service.http import metrics, strict_json

_CHUNK_BYTES = 64 * 1024
_MAX_RETRY_AFTER_S = 2.0
# RFC 6750 b64token is stricter; visible ASCII is what can go in a header without injection or a
# latin-1 encoding failure deep inside http.client.
_BEARER_TOKEN = re.compile(r"[\x21-\x7e]+")
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS = 3
# Connections kept open per FHIR server: one for each query a hook call runs at once (gather.py), so
# every key of the record is read in the same round trip and each connection is reused by the next call.
CONCURRENT_READS = 16

__all__ = ["CONCURRENT_READS", "Deadline", "FhirClient", "FhirFetchError", "MAX_REDIRECTS", "NotAllowed",
           "bundle_resources", "is_under", "next_link"]


class FhirFetchError(Exception):
    """Data could not be had from the FHIR server; `reason` is safe to show (no token, no PHI), `cause`
    is one word of a closed set, for the metrics (timeout, connection, refused-token, not-found,
    rate-limited, redirect, server-error, too-large, bad-response, too-many-pages, bad-token, not-allowed)."""

    def __init__(self, reason: str, cause: str = "bad-response") -> None:
        super().__init__(reason)
        self.reason = reason
        self.cause = cause


class NotAllowed(FhirFetchError):
    """The URL is not under a configured FHIR base URL: no request is sent."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, "not-allowed")


@dataclass
class Deadline:
    """The time left for one hook call's FHIR reads."""

    expires_at: float
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def after(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Deadline:
        return cls(clock() + seconds, clock)

    def remaining(self) -> float:
        left = self.expires_at - self.clock()
        if left <= 0:
            raise FhirFetchError("timed out", "timeout")
        return left


class FhirClient:
    """Reads from allowed FHIR servers with the caller's bearer token."""

    def __init__(self, settings: FhirSettings, session: requests.Session | None = None) -> None:
        self.settings = settings
        self.session = session or requests.Session()
        adapter = HTTPAdapter(pool_connections=8, pool_maxsize=CONCURRENT_READS, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def allowed_base(self, fhir_server: str) -> str:
        """`fhir_server` in canonical form when it falls under a configured base; raises NotAllowed otherwise."""
        try:
            return self._allowed_base(fhir_server)
        except NotAllowed:
            metrics.instruments().fhir_read_failures.labels(cause="not-allowed").inc()
            raise

    def _allowed_base(self, fhir_server: str) -> str:
        try:
            canonical = canonical_url(fhir_server)
        except Unnormalisable as exc:
            raise NotAllowed(f"fhirServer cannot be normalised ({exc})") from None
        if urlsplit(canonical).query or "#" in fhir_server:
            raise NotAllowed("fhirServer is not a FHIR base URL (it has a query or a fragment)")
        if not any(is_under(canonical, base) for base in self.settings.allowed_servers):
            raise NotAllowed("fhirServer is not among the FHIR servers this service is configured to call")
        return canonical

    def get(self, base: str, relative: str, token: str | None, deadline: Deadline) -> dict[str, Any]:
        """GET `base/relative` (or an absolute URL under `base`) and return the JSON object.

        Every URL sent, a `next` link or a redirect target included, is first put in canonical form and
        must fall under `base` (itself under a configured base): otherwise no request is sent. At most
        MAX_REDIRECTS redirects are followed, each checked the same way (decision 0120).
        """
        started = time.perf_counter()
        try:
            return self._get(base, relative, token, deadline)
        except FhirFetchError as exc:
            metrics.instruments().fhir_read_failures.labels(cause=exc.cause).inc()
            raise
        finally:
            metrics.instruments().fhir_read_seconds.observe(time.perf_counter() - started)

    def _get(self, base: str, relative: str, token: str | None, deadline: Deadline) -> dict[str, Any]:
        absolute = relative.startswith(("http://", "https://"))
        url = self._checked(base, relative if absolute else f"{base}/{relative.lstrip('/')}",
                            "a URL to read points outside the allowed FHIR server")
        retried, redirects = False, 0
        while True:
            response = self._send(url, token, deadline)
            try:
                status = response.status_code
                if status == 429 and not retried and self._wait_retry_after(response, deadline):
                    retried = True
                    continue
                if status in _REDIRECTS and redirects < MAX_REDIRECTS:
                    redirects += 1
                    url = self._checked(base, urljoin(url, response.headers.get("Location", "")),
                                        f"the FHIR server redirected ({status}) outside the allowed server; "
                                        "the redirect was not followed")
                    continue
                self._raise_for_status(response)
                return self._read_json(response, deadline)
            finally:
                response.close()

    def _checked(self, base: str, url: str, refusal: str) -> str:
        """`url` in canonical form if it is under `base` and `base` is allowed; NotAllowed otherwise."""
        try:
            canonical = canonical_url(url)
        except Unnormalisable as exc:
            raise NotAllowed(f"{refusal} (it cannot be normalised: {exc}); no request was sent") from None
        allowed = any(is_under(base, server) for server in self.settings.allowed_servers)
        if not allowed or not is_under(canonical, base):
            raise NotAllowed(f"{refusal}; no request was sent")
        return canonical

    def search(self, base: str, query: str, token: str | None, deadline: Deadline) -> list[dict[str, Any]]:
        """Run a search and follow `next` links, at most `max_pages` pages; return the resources."""
        bundle = self.get(base, query, token, deadline)
        return self.continue_search(base, bundle, token, deadline, pages_read=1)

    def continue_search(
        self, base: str, bundle: dict[str, Any], token: str | None, deadline: Deadline, pages_read: int = 0
    ) -> list[dict[str, Any]]:
        """Resources of `bundle` and of the pages after it (a prefetched first page, say)."""
        resources: list[dict[str, Any]] = []
        seen_links: set[str] = set()
        while True:
            resources.extend(bundle_resources(bundle))
            next_url = next_link(bundle)
            if next_url is None:
                return resources
            if pages_read >= self.settings.max_pages or next_url in seen_links:
                metrics.instruments().fhir_read_failures.labels(cause="too-many-pages").inc()
                raise FhirFetchError(f"search results continue past {self.settings.max_pages} pages", "too-many-pages")
            seen_links.add(next_url)
            bundle = self.get(base, next_url, token, deadline)
            pages_read += 1

    # -- internals ---------------------------------------------------------------------------

    def _send(self, url: str, token: str | None, deadline: Deadline) -> requests.Response:
        headers = {"Accept": "application/fhir+json, application/json"}
        if token:
            if not _BEARER_TOKEN.fullmatch(token):
                raise FhirFetchError("the access token is not a valid bearer token; it was not sent", "bad-token")
            headers["Authorization"] = f"Bearer {token}"
        timeout = min(deadline.remaining(), self.settings.timeout_seconds)
        try:
            return self.session.get(url, headers=headers, timeout=(timeout, timeout), stream=True,
                                    allow_redirects=False)
        except requests.Timeout as exc:
            raise FhirFetchError("timed out", "timeout") from exc
        except requests.ConnectionError as exc:
            raise FhirFetchError("could not connect (connection refused or reset)", "connection") from exc
        except requests.RequestException as exc:
            raise FhirFetchError(f"request failed ({type(exc).__name__})", "connection") from exc

    @staticmethod
    def _raise_for_status(response: requests.Response) -> None:
        status = response.status_code
        if status == 200:
            return
        if status in (401, 403):
            raise FhirFetchError(f"the FHIR server refused the access token ({status})", "refused-token")
        if status == 404:
            raise FhirFetchError("not found on the FHIR server (404)", "not-found")
        if status == 429:
            raise FhirFetchError("rate-limited by the FHIR server (429)", "rate-limited")
        if 300 <= status < 400:
            raise FhirFetchError(f"the FHIR server redirected ({status}) more than {MAX_REDIRECTS} times, "
                                 "or with a status that is not followed", "redirect")
        raise FhirFetchError(f"the FHIR server answered {status}", "server-error" if status >= 500 else "http-error")

    def _wait_retry_after(self, response: requests.Response, deadline: Deadline) -> bool:
        """Honour a short Retry-After once, if the budget allows it."""
        try:
            wait_s = float(response.headers.get("Retry-After", ""))
        except ValueError:
            return False
        if not 0 <= wait_s <= _MAX_RETRY_AFTER_S or wait_s >= deadline.remaining():
            return False
        time.sleep(wait_s)
        return True

    def _read_json(self, response: requests.Response, deadline: Deadline) -> dict[str, Any]:
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > self.settings.max_response_bytes:
            raise FhirFetchError("the FHIR server's response is larger than the configured cap", "too-large")
        body = bytearray()
        watchdog = _Watchdog(response, deadline.remaining())
        try:
            for chunk in response.iter_content(_CHUNK_BYTES):
                body.extend(chunk)
                if len(body) > self.settings.max_response_bytes:
                    raise FhirFetchError("the FHIR server's response is larger than the configured cap", "too-large")
                deadline.remaining()
        except requests.RequestException as exc:
            if watchdog.fired:
                raise FhirFetchError("timed out while reading the response", "timeout") from exc
            raise FhirFetchError("the connection failed while reading the response", "connection") from exc
        finally:
            watchdog.cancel()
        if watchdog.fired:  # a close-delimited body cut short is not the whole answer
            raise FhirFetchError("timed out while reading the response", "timeout")
        try:
            document = strict_json.loads(body)
        except (ValueError, RecursionError) as exc:
            raise FhirFetchError("the FHIR server's response is not valid JSON") from exc
        if not isinstance(document, dict) or not isinstance(document.get("resourceType"), str):
            raise FhirFetchError("the FHIR server's response is not a FHIR resource")
        return document


class _Watchdog:
    """Shuts the response's socket down after `seconds`, waking a read blocked on a slow body."""

    def __init__(self, response: requests.Response, seconds: float) -> None:
        self.fired = False
        self._response = response
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self.fired = True
        connection = getattr(self._response.raw, "connection", None)
        sock = getattr(connection, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


def bundle_resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources of a searchset Bundle; a malformed Bundle is an error, not an empty list."""
    if bundle.get("resourceType") != "Bundle":
        return [bundle]
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise FhirFetchError("a Bundle from the FHIR server has a malformed entry list")
    resources = []
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise FhirFetchError("a Bundle from the FHIR server holds an entry that is not a resource")
        if resource["resourceType"] != "OperationOutcome":
            resources.append(resource)
    return resources


def next_link(bundle: dict[str, Any]) -> str | None:
    links = bundle.get("link", [])
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return None
