"""Feedback and the decision audit trail, through SQLAlchemy (SQLite by default, PostgreSQL by URL).

Feedback is idempotent: the same card, outcome and outcomeTimestamp stored twice is one row (a
unique constraint and INSERT ... ON CONFLICT DO NOTHING, so two workers racing agree). Each card's
uuid is recorded with the decision that produced it, so feedback links back to its decision.
Nothing here ever holds a JWT or an access token: callers pass summaries, not requests.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    event,
    null,
    or_,
    select,
)
from sqlalchemy.engine import Engine

from cds_service.audit.database import bounded_engine, pool_timeouts_counted, unavailable_when_unanswered, upsert_insert
from cds_service.config import DatabaseSettings
from cds_service.errors import ServiceUnavailable

metadata = MetaData()

decisions = Table(
    "decisions",
    metadata,
    Column("id", String(36), primary_key=True),  # random uuid4: the decision page's unguessable id
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("service_id", String(64), nullable=False),
    Column("hook", String(64), nullable=False),
    Column("hook_instance", String(64), nullable=False),
    Column("patient_id", String(64)),
    Column("protocol", String(128)),
    Column("protocol_version", String(32)),
    Column("read_summary", JSON, nullable=False),
    Column("decision", JSON),
    Column("cards", JSON, nullable=False),
    Column("timings_ms", JSON, nullable=False),
)

decision_cards = Table(
    "decision_cards",
    metadata,
    Column("card_uuid", String(64), primary_key=True),
    Column("decision_id", String(36), ForeignKey("decisions.id"), nullable=False),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service_id", String(64), nullable=False),
    Column("card_uuid", String(128), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("outcome_timestamp", String(64), nullable=False),
    Column("accepted_suggestions", JSON),
    Column("override_reason", JSON),
    Column("decision_id", String(36)),
    Column("received_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("card_uuid", "outcome", "outcome_timestamp", name="feedback_once"),
)

# JWT `jti`s already presented, when no Redis is configured (cds_service.http.auth.replay.DatabaseReplayStore).
seen_tokens = Table(
    "seen_tokens",
    metadata,
    Column("pair", String(64), primary_key=True),  # sha256 of [iss, jti]: no token text stored
    Column("expires_at", Float, nullable=False),  # Unix time; purged after it
    Index("seen_tokens_expiry", "expires_at"),
)


@dataclass(frozen=True, kw_only=True)
class DecisionRecord:
    id: str
    created_at: dt.datetime
    expires_at: dt.datetime
    service_id: str
    hook: str
    hook_instance: str
    patient_id: str | None
    protocol: str | None
    protocol_version: str | None
    read_summary: dict[str, Any]
    decision: dict[str, Any] | None
    cards: list[dict[str, Any]]
    timings_ms: dict[str, float]


def as_utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _sqlite_wal(connection: Any, _record: Any) -> None:
    """SQLite in WAL mode: a commit appends to one log (one fsync) instead of writing and deleting a
    rollback journal, and readers (the decision page) never wait for the writer. synchronous=FULL keeps
    a committed audit record through a power cut, so no answer leaves before its record is on disk
    (decision 0130)."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


class Store:
    """Every method either completes or raises ServiceUnavailable (503) within the `[database]` bounds."""

    def __init__(self, database_url: str, bounds: DatabaseSettings | None = None) -> None:
        # Tables: cds_service.audit.schema (Alembic).
        self.engine: Engine = bounded_engine(database_url, bounds or DatabaseSettings())
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_wal)

    def after_fork(self) -> None:
        """In a forked worker: forget the parent's pooled connections without closing them.

        A connection inherited by two processes is one socket used by both (psycopg then fails with
        "can't change autocommit now"); each worker opens its own instead, before it serves.
        """
        self.engine.dispose(close=False)
        self.connect_ahead()

    def connect_ahead(self) -> bool:
        """In a new worker, before it serves: open its first pooled connection, so the first clinician's
        call does not pay for it (issue #15, scenario f). A database that does not answer now is no
        reason to stop the worker: the call that needs it answers 503 as always. True when connected."""
        try:
            with unavailable_when_unanswered("the worker's first connection"), self.engine.connect():
                return True
        except ServiceUnavailable:
            return False

    def close(self) -> None:
        """Close every pooled connection (the gunicorn master calls this before forking workers)."""
        self.engine.dispose()

    def _insert(self, table: Table) -> Any:
        return upsert_insert(self.engine, table)

    def record_decision(self, record: DecisionRecord) -> None:
        card_ids = [card["uuid"] for card in record.cards if "uuid" in card]
        with unavailable_when_unanswered("the decision's audit record"), self.engine.begin() as conn:
            conn.execute(decisions.insert().values(**record.__dict__))
            if card_ids:
                conn.execute(
                    self._insert(decision_cards).on_conflict_do_nothing(),
                    [{"card_uuid": card_id, "decision_id": record.id} for card_id in card_ids],
                )

    def decision(self, decision_id: str) -> DecisionRecord | None:
        with unavailable_when_unanswered("reading a decision"), self.engine.connect() as conn:
            row = conn.execute(select(decisions).where(decisions.c.id == decision_id)).mappings().first()
        if row is None:
            return None
        values = dict(row)
        values["created_at"] = as_utc(values["created_at"])
        values["expires_at"] = as_utc(values["expires_at"])
        return DecisionRecord(**values)

    def record_feedback(self, service_id: str, items: Iterable[Mapping[str, Any]],
                        now: dt.datetime) -> list[Mapping[str, Any]]:
        """Store feedback items; returns the new ones: the first item for their card and outcome.

        A repeat (same card, outcome and outcomeTimestamp: an EHR retrying) is silently one record. The same
        card and outcome at another time is recorded too (the audit keeps what the EHR said) but is not new:
        the metrics count each card's outcome once (decision 0112).
        """
        new: list[Mapping[str, Any]] = []
        with unavailable_when_unanswered("storing feedback"), self.engine.begin() as conn:
            for item in items:
                decision_id = conn.execute(
                    select(decision_cards.c.decision_id).where(decision_cards.c.card_uuid == item["card"])
                ).scalar()
                said_before = conn.execute(
                    select(feedback.c.id)
                    .where(feedback.c.card_uuid == item["card"], feedback.c.outcome == item["outcome"])
                    .limit(1)
                ).first() is not None
                result = conn.execute(
                    self._insert(feedback)
                    .values(
                        service_id=service_id,
                        card_uuid=item["card"],
                        outcome=item["outcome"],
                        outcome_timestamp=item["outcomeTimestamp"],
                        accepted_suggestions=item.get("acceptedSuggestions"),
                        override_reason=item.get("overrideReason"),
                        decision_id=decision_id,
                        received_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=["card_uuid", "outcome", "outcome_timestamp"])
                    .returning(feedback.c.id)  # psycopg reports rowcount -1 for this statement
                )
                if result.all() and not said_before:
                    new.append(item)
        return new

    def purge_decision_pages(self, now: dt.datetime, page_days: int) -> int:
        """Delete what the decision pages created more than `page_days` before `now` (or already expired)
        show: the decision and the record summary it was made from. The audit row stays (ids, hook, protocol
        version, the cards as sent, timings) for feedback and the governance report (decision 0111); the
        page then answers 404. Returns how many pages were purged; a second run purges none."""
        old = or_(decisions.c.created_at < now - dt.timedelta(days=page_days), decisions.c.expires_at <= now)
        with unavailable_when_unanswered("purging decision pages"), self.engine.begin() as conn:
            purged = conn.execute(
                decisions.update()
                .where(old, decisions.c.decision.is_not(None))
                .values(decision=null(), read_summary={})
                .returning(decisions.c.id)
            )
            return len(purged.all())

    def feedback_for(self, card_uuid: str) -> list[dict[str, Any]]:
        with unavailable_when_unanswered("reading feedback"), self.engine.connect() as conn:
            rows = conn.execute(select(feedback).where(feedback.c.card_uuid == card_uuid).order_by(feedback.c.id))
            return [dict(row) for row in rows.mappings()]

    def healthy(self) -> bool:
        try:
            with pool_timeouts_counted(), self.engine.connect() as conn:
                conn.execute(select(1))
            return True
        except Exception:  # noqa: BLE001 - health probe: any failure means "not healthy"
            return False
