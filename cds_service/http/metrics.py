"""Prometheus metrics: what operations watch, with no patient identifier in any label.

Every label value comes from a closed set the service defines (service ids, hooks, outcome words,
failure causes, card kinds, exception class names); nothing a caller sends becomes a label, so
neither a patient id nor an unbounded number of series can appear (decision 0122).

    sirolimus_cds_hook_calls_total{service, hook, outcome}     hook calls answered
    sirolimus_cds_hook_call_seconds{service, hook}             their latency (histogram)
    sirolimus_cds_fhir_read_seconds                            one FHIR GET, redirects and a retry included
    sirolimus_cds_fhir_read_failures_total{cause}              FHIR reads that failed, by cause
    sirolimus_cds_card_feedback_total{service, kind, outcome}  feedback (accepted, overridden): each card's
                                                               outcome once, never a repeat (decision 0112)
    sirolimus_cds_database_errors_total{error}                 database errors (SQLAlchemy class name; a
                                                               pool checkout that timed out is TimeoutError)
    sirolimus_cds_replay_store_errors_total{store}             JWT replay store failures (store class name)

Under gunicorn every worker is a process: `serve` points PROMETHEUS_MULTIPROC_DIR at a fresh
directory before prometheus_client is first imported (it picks its value store then: see `instruments`),
each worker writes its samples there, and `/metrics` sums them over the workers, those that have
exited included, so counters never go back. Without the variable (tests, one process) the default
registry is used.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNKNOWN = "unknown"

_CALL_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
_READ_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True, kw_only=True)
class Instruments:
    hook_calls: Any
    hook_call_seconds: Any
    fhir_read_seconds: Any
    fhir_read_failures: Any
    card_feedback: Any
    database_errors: Any
    replay_store_errors: Any


_made: list[Instruments] = []
_making = threading.Lock()


def instruments() -> Instruments:
    """The metrics, made once, on first use (create_app): prometheus_client is imported only then, so that
    `serve` can set PROMETHEUS_MULTIPROC_DIR first, whatever modules the command line imported before."""
    if not _made:
        with _making:
            if not _made:
                _made.append(_make())
    return _made[0]


def _make() -> Instruments:
    from prometheus_client import Counter, Histogram

    return Instruments(
        hook_calls=Counter("sirolimus_cds_hook_calls", "Hook calls answered, by service, hook and outcome",
                           ["service", "hook", "outcome"]),
        hook_call_seconds=Histogram("sirolimus_cds_hook_call_seconds", "Time to answer a hook call",
                                    ["service", "hook"], buckets=_CALL_BUCKETS),
        fhir_read_seconds=Histogram("sirolimus_cds_fhir_read_seconds",
                                    "Time of one FHIR read (a GET, its redirects and one 429 retry)",
                                    buckets=_READ_BUCKETS),
        fhir_read_failures=Counter("sirolimus_cds_fhir_read_failures", "FHIR reads that failed, by cause",
                                   ["cause"]),
        card_feedback=Counter("sirolimus_cds_card_feedback",
                              "Card feedback received, by service, card kind and outcome: each card's outcome once",
                              ["service", "kind", "outcome"]),
        database_errors=Counter("sirolimus_cds_database_errors", "Database errors, by SQLAlchemy exception class",
                                ["error"]),
        replay_store_errors=Counter("sirolimus_cds_replay_store_errors",
                                    "JWT replay store failures (the token could not be checked)", ["store"]),
    )


# Answers to a hook call that carry no card: what the service found, in the words of the request log.
QUIET_OUTCOMES = frozenset({"no-cards", "not-sirolimus", "not-concerned"})
_ERROR_OUTCOMES = {400: "bad-request", 401: "unauthorized", 404: "not-found", 405: "bad-request",
                   412: "data-unavailable", 413: "too-large", 415: "unsupported-media", 500: "error",
                   503: "unavailable"}


def hook_outcome(status: int, logged: str | None) -> str:
    """The outcome label of a hook call: "cards", a quiet outcome, or the error answered."""
    if status == 200:
        return logged if logged in QUIET_OUTCOMES else "cards"
    return _ERROR_OUTCOMES.get(status, "error" if status >= 500 else "bad-request")


def count_database_error(error_class: str) -> None:
    """One database error, labelled by its SQLAlchemy exception class (a closed set: SQLAlchemy's names)."""
    instruments().database_errors.labels(error_class).inc()


def exposition() -> bytes:
    """Every metric in the Prometheus text format, summed over the workers under gunicorn."""
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess

    instruments()  # every metric listed, even before its first sample
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def worker_exited(pid: int) -> None:
    """gunicorn's child_exit: let the collector drop the live-gauge files of a worker that is gone."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)
