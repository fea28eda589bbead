"""JWT `jti` replay detection: remember each (iss, jti) until the token it came from has expired.

Three stores share one protocol, `ReplayStore.seen_before(jti, iss, expires_at)`, an atomic
check-and-record: it answers False the first time a pair is presented (and records it until
`expires_at`, a Unix time), True on every later presentation before then.

- `RedisReplayStore` (when `redis_url` is configured): one `SET key 1 NX PX <ms until expires_at>`
  per token, so every worker and replica sees the same set. Keys are namespaced and hashed (iss and
  jti are caller-supplied strings).
- `DatabaseReplayStore` (the default, without Redis): one row per token in the service's own
  database (`seen_tokens`, keyed by the same hash, with its expiry), inserted with a unique key so
  every worker and replica sharing the database agrees; expired rows are purged (decision 0128).
- `MemoryReplayStore`: per process, for tests and tools that run one process. With several
  gunicorn workers a token could be replayed once against each other worker: never used by `serve`.

All fail closed: when the store cannot answer (Redis or the database unreachable or past its bound,
memory store full of unexpired entries) they raise `ReplayStoreUnavailable`, which the verifier
turns into a 503 (decision 0127). A store never answers "not seen" when it does not know.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from sqlalchemy.exc import SQLAlchemyError

from cds_service.audit.database import pool_timeouts_counted, upsert_insert
from cds_service.audit.store import seen_tokens

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from cds_service.config import Settings

DEFAULT_NAMESPACE = "sirolimus-cds:jti:"


class ReplayStoreUnavailable(Exception):
    """The store cannot tell whether a jti was seen: the caller must reject the token."""


@runtime_checkable
class ReplayStore(Protocol):
    def seen_before(self, jti: str, iss: str, expires_at: float) -> bool:
        """Atomically: True if (iss, jti) was recorded and has not expired; else record it, False."""
        ...


def _pair_key(jti: str, iss: str) -> str:
    # JSON encoding makes the pair unambiguous ("a|b","c" vs "a","b|c"); hashing bounds the size.
    return hashlib.sha256(json.dumps([iss, jti]).encode("utf-8")).hexdigest()


class MemoryReplayStore:
    """Thread-safe in-process store, bounded to `max_entries` unexpired tokens.

    Expired entries are evicted (cheaply, from a heap ordered by expiry) on every call. When the
    store is full of unexpired entries it refuses (raises `ReplayStoreUnavailable`) rather than
    forget a live jti, which would re-open the replay window for it.
    """

    def __init__(self, max_entries: int = 100_000, clock: Callable[[], float] = time.time) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry: dict[str, float] = {}
        self._heap: list[tuple[float, str]] = []

    def __bool__(self) -> bool:
        return True  # an empty store is still a store (`store or default` must not replace it)

    def __len__(self) -> int:
        with self._lock:
            self._evict(self._clock())
            return len(self._expiry)

    def _evict(self, now: float) -> None:
        heap, expiry = self._heap, self._expiry
        while heap and heap[0][0] <= now:
            when, key = heapq.heappop(heap)
            if expiry.get(key) == when:
                del expiry[key]

    def seen_before(self, jti: str, iss: str, expires_at: float) -> bool:
        key = _pair_key(jti, iss)
        with self._lock:
            now = self._clock()
            self._evict(now)
            if key in self._expiry:
                return True
            if expires_at <= now:
                # Already expired: nothing to remember (the verifier rejects such tokens anyway).
                return False
            if len(self._expiry) >= self._max_entries:
                raise ReplayStoreUnavailable("in-memory replay store is full")
            self._expiry[key] = expires_at
            heapq.heappush(self._heap, (expires_at, key))
            return False


class RedisReplayStore:
    """Replay store shared through Redis: `SET <namespace><sha256(iss, jti)> 1 NX PX <ttl>`."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str = DEFAULT_NAMESPACE,
        timeout_seconds: float = 1.0,
        clock: Callable[[], float] = time.time,
        client: object | None = None,
    ) -> None:
        import redis  # imported here so that a deployment without Redis never needs the module

        self._redis_error: type[Exception] = redis.RedisError
        self._namespace = namespace
        self._clock = clock
        self._client = client or redis.Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            retry_on_timeout=False,
        )

    def key_for(self, jti: str, iss: str) -> str:
        return self._namespace + _pair_key(jti, iss)

    def seen_before(self, jti: str, iss: str, expires_at: float) -> bool:
        # A relative TTL, from our own clock, of at least 1 ms: PXAT would trust Redis's clock
        # against ours, and a zero or negative expiry makes SET fail.
        ttl_ms = max(1, math.ceil((expires_at - self._clock()) * 1000))
        try:
            created = self._client.set(self.key_for(jti, iss), b"1", nx=True, px=ttl_ms)  # type: ignore[attr-defined]
        except self._redis_error as exc:
            raise ReplayStoreUnavailable(f"Redis replay store unavailable: {type(exc).__name__}") from None
        except OSError as exc:
            raise ReplayStoreUnavailable(f"Redis replay store unavailable: {type(exc).__name__}") from None
        return not created


class DatabaseReplayStore:
    """Replay store in the service's database: `seen_tokens(pair PRIMARY KEY, expires_at)`.

    One statement decides: INSERT the pair; on a conflict, take the row over only if it has expired
    (ON CONFLICT DO UPDATE ... WHERE expires_at <= now ... RETURNING). A row written means "first
    presentation", none means a live record exists: a replay. PostgreSQL and SQLite both run it atomically, so two
    workers racing with the same token agree. Rows past their expiry are deleted at most once per
    `purge_every_seconds` per process.
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time,
                 purge_every_seconds: float = 60.0) -> None:
        self._engine = engine
        self._clock = clock
        self._purge_every = purge_every_seconds
        self._next_purge = 0.0

    def seen_before(self, jti: str, iss: str, expires_at: float) -> bool:
        now = self._clock()
        if expires_at <= now:
            return False  # already expired: nothing to remember (the verifier rejects such tokens anyway)
        insert = upsert_insert(self._engine, seen_tokens).values(pair=_pair_key(jti, iss), expires_at=expires_at)
        taken_over_if_expired = insert.on_conflict_do_update(
            index_elements=["pair"], set_={"expires_at": expires_at}, where=seen_tokens.c.expires_at <= now,
        ).returning(seen_tokens.c.pair)  # a row back: written; none: a live record (rowcount is not reliable)
        try:
            with pool_timeouts_counted():  # the service's own database: its pool's waits are database errors
                with self._engine.begin() as conn:
                    written = conn.execute(taken_over_if_expired).first() is not None
                self._purge_if_due(now)
        except SQLAlchemyError as exc:
            raise ReplayStoreUnavailable(f"database replay store unavailable: {type(exc).__name__}") from None
        return not written

    def _purge_if_due(self, now: float) -> None:
        if now < self._next_purge:
            return
        self._next_purge = now + self._purge_every
        with self._engine.begin() as conn:
            conn.execute(seen_tokens.delete().where(seen_tokens.c.expires_at <= now))


def replay_store_for(settings: Settings, engine: Engine) -> ReplayStore:
    """Redis when `redis_url` is configured, else the service's database (`engine`): either way one
    record shared by every worker and replica."""
    if settings.redis_url:
        return RedisReplayStore(settings.redis_url)
    return DatabaseReplayStore(engine)
