"""jti replay stores: the contract both stores keep, and Redis sharing the record between workers
and replicas (the real Redis server on 127.0.0.1:6379; skipped locally, failed in CI, when down).
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from sqlalchemy import select

from cds_service.audit import schema
from cds_service.audit.store import Store, seen_tokens
from cds_service.config import AuthSettings, Issuer, Settings
from cds_service.errors import ServiceUnavailable, Unauthorized
from cds_service.http.auth.replay import (
    DEFAULT_NAMESPACE,
    DatabaseReplayStore,
    MemoryReplayStore,
    RedisReplayStore,
    ReplayStore,
    ReplayStoreUnavailable,
    replay_store_for,
)
from cds_service.http.auth.verify import JwtVerifier
from tests.conftest import POSTGRESQL, require_service
from tests.support.jwt_tokens import bearer, claims_for, jwks_for, make_es384_key, mint, serve_jwks

REDIS_URL = "redis://127.0.0.1:6379/0"
ISS = "https://ehr.example.org"
AUD = "https://cds.example.org/cds-services/sirolimus-dose"


@pytest.fixture
def redis_namespace() -> Iterator[str]:
    """A namespace of our own on the shared server, emptied afterwards (never FLUSHDB)."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as exc:
        require_service("redis", f"no Redis server at {REDIS_URL}: {exc}")
    namespace = f"sirolimus-cds-test:{uuid.uuid4().hex}:"
    try:
        yield namespace
    finally:
        keys = list(client.scan_iter(match=namespace + "*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture(params=["memory", "redis", "sqlite", POSTGRESQL])
def make_store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Callable[[], ReplayStore]]:  # type: ignore[no-untyped-def]
    """A factory: each call is another worker's view of the same replay record (for a database: its
    own engine and connections, as a worker after the fork has)."""
    if request.param == "memory":
        shared = MemoryReplayStore()
        yield lambda: shared
        return
    if request.param in ("sqlite", "postgresql"):
        url = f"sqlite:///{tmp_path / 'cds.db'}" if request.param == "sqlite" else request.getfixturevalue(
            "postgres_url")
        workers: list[Store] = []

        def worker_view() -> ReplayStore:
            workers.append(Store(url))
            return DatabaseReplayStore(workers[-1].engine)

        schema.upgrade(Store(url).engine)
        yield worker_view
        for store in workers:
            store.close()
        return
    namespace = request.getfixturevalue("redis_namespace")
    yield lambda: RedisReplayStore(REDIS_URL, namespace=namespace)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def jti() -> str:
    return str(uuid.uuid4())


# ---------------------------------------------------------------------------------------------
# The contract


def test_first_presentation_is_new_and_every_later_one_a_replay(make_store: Callable[[], ReplayStore]) -> None:
    store, token_id, until = make_store(), jti(), time.time() + 300
    assert store.seen_before(token_id, ISS, until) is False
    assert store.seen_before(token_id, ISS, until) is True
    assert make_store().seen_before(token_id, ISS, until) is True  # another worker agrees


def test_the_record_is_per_issuer_and_per_jti(make_store: Callable[[], ReplayStore]) -> None:
    store, token_id, until = make_store(), jti(), time.time() + 300
    assert store.seen_before(token_id, ISS, until) is False
    assert store.seen_before(token_id, "https://other.example", until) is False
    assert store.seen_before(jti(), ISS, until) is False


@pytest.mark.parametrize(
    ("first", "second"),
    [(("a|b", "c"), ("a", "b|c")), (("a:b", "c"), ("a", "b:c")), (('a","b', "c"), ("a", 'b","c'))],
)
def test_iss_and_jti_cannot_be_shifted_into_each_other(
    make_store: Callable[[], ReplayStore], first: tuple[str, str], second: tuple[str, str]
) -> None:
    store, until = make_store(), time.time() + 300
    assert store.seen_before(first[0], first[1], until) is False
    assert store.seen_before(second[0], second[1], until) is False


def test_the_record_lapses_when_the_token_expires(make_store: Callable[[], ReplayStore]) -> None:
    store, token_id = make_store(), jti()
    assert store.seen_before(token_id, ISS, time.time() + 0.3) is False
    assert store.seen_before(token_id, ISS, time.time() + 0.3) is True
    time.sleep(0.6)
    assert store.seen_before(token_id, ISS, time.time() + 300) is False


def test_concurrent_presentations_admit_exactly_one(make_store: Callable[[], ReplayStore]) -> None:
    token_id, until, results = jti(), time.time() + 300, []
    stores = [make_store() for _ in range(24)]
    barrier = threading.Barrier(len(stores))
    lock = threading.Lock()

    def present(store: ReplayStore) -> None:
        barrier.wait()
        answer = store.seen_before(token_id, ISS, until)
        with lock:
            results.append(answer)

    threads = [threading.Thread(target=present, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(results) == [False] + [True] * (len(stores) - 1)


# ---------------------------------------------------------------------------------------------
# Redis specifics


def test_redis_key_is_namespaced_hashed_and_expires_with_the_token(redis_namespace: str) -> None:
    store = RedisReplayStore(REDIS_URL, namespace=redis_namespace)
    token_id = "jti-" + jti()
    assert store.seen_before(token_id, ISS, time.time() + 120) is False
    client = redis.Redis.from_url(REDIS_URL)
    keys = [key.decode() for key in client.scan_iter(match=redis_namespace + "*")]
    assert keys == [store.key_for(token_id, ISS)]
    suffix = keys[0][len(redis_namespace) :]
    assert len(suffix) == 64 and all(c in "0123456789abcdef" for c in suffix)
    assert token_id not in keys[0] and "ehr.example.org" not in keys[0]
    assert 110_000 < client.pttl(keys[0]) <= 120_000
    assert RedisReplayStore(REDIS_URL).key_for(token_id, ISS).startswith(DEFAULT_NAMESPACE)


def test_unreachable_redis_fails_closed() -> None:
    store = RedisReplayStore(f"redis://127.0.0.1:{free_port()}/0", timeout_seconds=0.5)
    with pytest.raises(ReplayStoreUnavailable):
        store.seen_before(jti(), ISS, time.time() + 300)


class _BrokenClient:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def set(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error


@pytest.mark.parametrize(
    "error", [redis.ConnectionError("down"), redis.TimeoutError("slow"), redis.ResponseError("OOM"), OSError()]
)
def test_any_redis_failure_is_unavailable_never_not_seen(error: Exception) -> None:
    store = RedisReplayStore(REDIS_URL, client=_BrokenClient(error))
    with pytest.raises(ReplayStoreUnavailable):
        store.seen_before(jti(), ISS, time.time() + 300)


def _verifier(store: ReplayStore, jku: str) -> JwtVerifier:
    return JwtVerifier(
        AuthSettings(issuers=(Issuer(iss=ISS, jku=jku),)),
        store,
        allow_private_jku=True,
        allow_http_jku=True,
    )


def test_a_token_accepted_by_one_replica_is_refused_by_another(redis_namespace: str) -> None:
    key = make_es384_key()
    with serve_jwks(jwks_for(key, "k1")) as server:
        replica_a = _verifier(RedisReplayStore(REDIS_URL, namespace=redis_namespace), server.url)
        replica_b = _verifier(RedisReplayStore(REDIS_URL, namespace=redis_namespace), server.url)
        token = bearer(mint(key, "k1", "ES384", claims_for(ISS, AUD)))
        assert replica_a.verify(token, AUD)["iss"] == ISS
        with pytest.raises(Unauthorized):
            replica_b.verify(token, AUD)
        with pytest.raises(Unauthorized):
            replica_a.verify(token, AUD)


def test_verifier_answers_503_when_redis_is_unreachable() -> None:
    """Fail closed, as a 503 the caller may retry: the token itself may be fine (decision 0127)."""
    key = make_es384_key()
    with serve_jwks(jwks_for(key, "k1")) as server:
        store = RedisReplayStore(f"redis://127.0.0.1:{free_port()}/0", timeout_seconds=0.5)
        verifier = _verifier(store, server.url)
        token = bearer(mint(key, "k1", "ES384", claims_for(ISS, AUD)))
        with pytest.raises(ServiceUnavailable) as info:
            verifier.verify(token, AUD)
        assert "replay store unavailable" in info.value.message
        # the same token passes with a working store: Redis was the only reason
        assert _verifier(MemoryReplayStore(), server.url).verify(token, AUD)


def test_replay_store_for_uses_redis_when_configured_else_the_database(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = Store(f"sqlite:///{tmp_path / 'cds.db'}").engine
    assert isinstance(replay_store_for(Settings(), engine), DatabaseReplayStore)
    assert isinstance(replay_store_for(Settings(redis_url=REDIS_URL), engine), RedisReplayStore)


# ---------------------------------------------------------------------------------------------
# Database store specifics


def test_database_store_keeps_a_hash_and_an_expiry_and_purges_expired_rows(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = Store(f"sqlite:///{tmp_path / 'cds.db'}")
    schema.upgrade(store.engine)
    clock = Clock()
    replay = DatabaseReplayStore(store.engine, clock=clock, purge_every_seconds=60)
    token_id = "jti-" + jti()
    assert replay.seen_before(token_id, ISS, clock.now + 30) is False
    with store.engine.connect() as conn:
        rows = conn.execute(select(seen_tokens)).all()
    assert [(len(pair), expires) for pair, expires in rows] == [(64, clock.now + 30)]
    assert token_id not in rows[0][0]
    clock.now += 61  # expired, and a purge is due
    assert replay.seen_before(jti(), ISS, clock.now + 30) is False
    with store.engine.connect() as conn:
        assert conn.execute(select(seen_tokens.c.expires_at)).scalars().all() == [clock.now + 30]


def test_unreachable_database_fails_closed() -> None:
    store = Store(f"postgresql://nobody@127.0.0.1:{free_port()}/none")
    with pytest.raises(ReplayStoreUnavailable):
        DatabaseReplayStore(store.engine).seen_before(jti(), ISS, time.time() + 300)


# ---------------------------------------------------------------------------------------------
# Memory store specifics


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_memory_store_evicts_expired_entries() -> None:
    clock = Clock()
    store = MemoryReplayStore(clock=clock)
    for _ in range(100):
        store.seen_before(jti(), ISS, clock.now + 10)
    store.seen_before("long", ISS, clock.now + 1000)
    assert len(store) == 101
    clock.now += 11
    assert len(store) == 1
    assert store.seen_before("long", ISS, clock.now + 1000) is True


def test_memory_store_when_full_refuses_rather_than_forgets() -> None:
    clock = Clock()
    store = MemoryReplayStore(max_entries=3, clock=clock)
    ids = [jti() for _ in range(3)]
    for token_id in ids:
        assert store.seen_before(token_id, ISS, clock.now + 60) is False
    with pytest.raises(ReplayStoreUnavailable):
        store.seen_before(jti(), ISS, clock.now + 60)
    assert all(store.seen_before(token_id, ISS, clock.now + 60) for token_id in ids)  # none forgotten


def test_an_empty_memory_store_is_truthy() -> None:
    assert MemoryReplayStore()  # so that `store or default` never silently swaps a shared store
