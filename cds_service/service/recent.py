"""A short-lived, in-process memory of patient records just read, for re-fired order-select calls.

The public CDS Hooks sandbox (and real EHRs) fire order-select again on every edit of the order
form: same patient, same FHIR server, same token, same prefetch, a different draft. Reading and
validating the record again each time would cost FHIR round trips and R4B validation for nothing.
An entry is keyed by everything that determined the read (FHIR server, patient, a hash of the access
token, a hash of the prefetch) and lives `ttl_seconds` (default 30 s): long enough for a form being
edited, short enough that a new lab result shows on the next order. Nothing is written to disk.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def read_key(service_id: str, request_doc: Mapping[str, Any], today: str) -> str:
    """What determines the data read for this call (the token only as a hash)."""
    token = (request_doc.get("fhirAuthorization") or {}).get("access_token") or ""
    # Parsed JSON holds no cycle: the encoder's cycle bookkeeping (10-20 % of the dump) is not needed.
    prefetch = json.dumps(_prefetch_content(request_doc.get("prefetch") or {}), sort_keys=True,
                          separators=(",", ":"), check_circular=False)
    parts = [
        service_id,
        today,
        str(request_doc.get("fhirServer") or ""),
        str(request_doc["context"].get("patientId")),
        hashlib.sha256(token.encode()).hexdigest(),
        hashlib.sha256(prefetch.encode()).hexdigest(),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _prefetch_content(prefetch: Mapping[str, Any]) -> dict[str, Any]:
    """The prefetch without what changes on every search of unchanged data.

    A client that runs its prefetch searches again before each call (the public CDS Hooks sandbox
    does) gets a new Bundle `id`, `meta.lastUpdated` and `link` each time; the resources in it, with
    their own `meta.versionId`, are what matters.
    """
    content: dict[str, Any] = {}
    for key, value in prefetch.items():
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            entries = value.get("entry") if isinstance(value.get("entry"), list) else []
            content[key] = [e.get("resource") for e in entries if isinstance(e, dict)]  # resources keep meta
        elif isinstance(value, dict):
            content[key] = {k: v for k, v in value.items() if k != "meta"}  # a re-read Patient's lastUpdated
        else:
            content[key] = value
    return content


class RecentReads(Generic[T]):
    """A small thread-safe TTL + LRU map."""

    def __init__(self, ttl_seconds: float = 30.0, max_entries: int = 256,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, T]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> T | None:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return None
            stored_at, value = found
            if self._clock() - stored_at > self.ttl_seconds:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return value

    def put(self, key: str, value: T) -> None:
        with self._lock:
            self._entries[key] = (self._clock(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
