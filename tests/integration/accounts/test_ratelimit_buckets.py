"""The buckets' two stores, real ones: PostgreSQL (the UPSERT) and Redis (the Lua script), and
the process's limiter in front of them (leases, remembered refusals).

Each store does in one atomic round trip what :func:`accounts.ratelimit.take` does: the same
sequence of requests (at given instants) gets the same answers from both stores and from the
pure function, and concurrent requests on one bucket never take a token twice.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest
from django.db import connection, connections

from accounts import ratelimit
from accounts.ratelimit import Limiter, PostgresBuckets, Rate, RedisBuckets, parse_rate, take
from tests import redis_server

RATE = Rate(per_second=4.0, burst=5, text="4/s 5")
T0 = 1_800_000_000.0  # an instant, passed explicitly: the sequences below are exact


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    with redis_server.redis_url(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(params=["postgres", "redis"])
def store(request, redis_url):
    if request.param == "postgres":
        request.getfixturevalue("db")
        yield PostgresBuckets()
        return
    buckets = RedisBuckets(redis_url, redis_server.unique_prefix())
    yield buckets
    buckets.client.close()


#: (seconds after T0, requests at that instant)
SEQUENCE = [(0.0, 7), (0.1, 1), (0.25, 2), (1.0, 5), (1.0, 1), (30.0, 6), (30.5, 3)]


def expected_answers() -> list[tuple[int, float]]:
    answers, tokens, last = [], None, T0
    for offset, count in SEQUENCE:
        for _ in range(count):
            allowed, tokens = take(tokens, T0 + offset - last, RATE)
            last = T0 + offset
            answers.append((allowed, tokens))
    return answers


def test_a_store_answers_a_sequence_exactly_as_the_arithmetic(store):
    answers = [
        store.take("writes:apikey:sequence", RATE, now=T0 + offset)
        for offset, count in SEQUENCE
        for _ in range(count)
    ]
    expected = expected_answers()
    assert [allowed for allowed, _ in answers] == [allowed for allowed, _ in expected]
    assert [tokens for _, tokens in answers] == pytest.approx([tokens for _, tokens in expected])
    assert sum(allowed for allowed, _ in answers) == 16  # of 25: 9 refused


def test_buckets_are_kept_apart_by_key(store):
    for _ in range(RATE.burst):
        assert store.take("reads:addr:10.0.0.1", RATE, now=T0)[0]
    assert not store.take("reads:addr:10.0.0.1", RATE, now=T0)[0]
    assert store.take("reads:addr:10.0.0.2", RATE, now=T0) == (True, 4.0)
    assert store.take("writes:addr:10.0.0.1", RATE, now=T0) == (True, 4.0)


def test_without_an_instant_the_store_uses_its_own_clock(store):
    slow = Rate(per_second=0.001, burst=2, text="")
    assert store.take("streams:jwt:clock", slow) == (True, pytest.approx(1.0, abs=0.01))
    assert store.take("streams:jwt:clock", slow)[0]
    assert not store.take("streams:jwt:clock", slow)[0]


def run_concurrently(store, key: str, threads: int, each: int) -> list[bool]:
    """*threads* threads taking *each* tokens at once from one bucket, each thread on its own
    database connection (as the server's view threads are)."""
    results: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def worker() -> None:
        try:
            start.wait()
            mine = [store.take(key, RATE_SLOW, now=T0)[0] for _ in range(each)]
            with lock:
                results.extend(mine)
        finally:
            connections.close_all()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return results


RATE_SLOW = Rate(per_second=0.001, burst=37, text="")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["postgres", "redis"])
def test_concurrent_requests_never_take_a_token_twice(kind, redis_url):
    store = (
        PostgresBuckets()
        if kind == "postgres"
        else RedisBuckets(redis_url, redis_server.unique_prefix())
    )
    results = run_concurrently(store, "writes:apikey:concurrent", threads=6, each=20)
    assert len(results) == 120
    assert sum(results) == RATE_SLOW.burst


@pytest.mark.django_db
def test_postgres_prunes_the_buckets_that_are_full_again():
    store = PostgresBuckets()
    now = time.time()
    store.take("reads:addr:full-again", RATE, now=now - 60)  # full again 0.25 s later
    store.take("reads:addr:still-low", RATE, now=now + 3600)  # not full for an hour
    assert store.prune() == 1
    with connection.cursor() as cursor:
        cursor.execute("SELECT key FROM accounts_ratelimit_bucket ORDER BY key")
        assert cursor.fetchall() == [("reads:addr:still-low",)]


@pytest.mark.django_db
def test_postgres_prunes_from_a_request_at_most_once_per_period():
    store = PostgresBuckets(prune_seconds=0)  # due at once
    store.take("reads:addr:old", RATE, now=time.time() - 60)
    store.take("reads:addr:new", RATE)  # prunes on its way
    with connection.cursor() as cursor:
        cursor.execute("SELECT key FROM accounts_ratelimit_bucket ORDER BY key")
        assert cursor.fetchall() == [("reads:addr:new",)]


def test_redis_forgets_a_bucket_once_it_is_full_again(redis_url):
    store = RedisBuckets(redis_url, redis_server.unique_prefix())
    store.take("writes:apikey:expiring", RATE, now=T0)
    store.take("writes:apikey:expiring", RATE, now=T0)  # 3 tokens left: full in 0.5 s
    ttl = store.client.pttl(store.prefix + "writes:apikey:expiring")
    assert 1000 < ttl <= 1500  # the time to full, plus a second of margin
    store.client.close()


def test_redis_out_of_reach_lets_requests_through_and_says_so(caplog):
    store = RedisBuckets("redis://127.0.0.1:1/0", "x:", retry_seconds=60)
    with caplog.at_level(logging.WARNING, logger=ratelimit.__name__):
        assert store.take("writes:apikey:a", RATE) is None
        assert store.take("writes:apikey:a", RATE) is None  # not retried before retry_seconds
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["rate limits paused"]
    errors = next(iter(ratelimit.STORE_ERRORS.collect())).samples
    assert next(x.value for x in errors if x.name.endswith("_total")) >= 2


def test_a_lease_is_granted_whole_or_in_part(store):
    assert store.take("writes:apikey:lease", RATE, want=3, now=T0) == (3, 2.0)
    assert store.take("writes:apikey:lease", RATE, want=3, now=T0) == (2, 0.0)
    assert store.take("writes:apikey:lease", RATE, want=3, now=T0 + 0.2) == (0, pytest.approx(0.8))


def test_a_limiter_spends_its_lease_without_asking_the_store(store):
    rate = parse_rate("100/s 400")  # leases of 5 (50 ms at 100 a second)
    # The process's clock stands still, so the lease cannot run out between two takes however
    # slow the machine is (the store's clock still runs).
    limiter = Limiter(store, lease_seconds=0.05, clock=lambda: 1000.0)
    answers = [limiter.take("reads:apikey:leased", rate) for _ in range(5)]
    assert [allowed for allowed, _ in answers] == [True] * 5
    # One round trip took 5 tokens from the shared bucket; the caller is told what is left for
    # it, its lease included (a few tokens may have refilled meanwhile: the store's clock runs).
    assert [left for _, left in answers] == pytest.approx([399, 398, 397, 396, 395], abs=1)
    granted, shared = store.take("reads:apikey:leased", rate, want=1)
    assert granted == 1
    assert shared == pytest.approx(394, abs=1)  # the lease is gone from the shared bucket


def test_a_limiter_without_leases_asks_for_every_token(store):
    limiter = Limiter(store, lease_seconds=0)
    rate = parse_rate("100/s 400")
    limiter.take("reads:apikey:unleased", rate)
    assert store.take("reads:apikey:unleased", rate, want=1)[1] == pytest.approx(398, abs=1)


def test_a_refused_limiter_refuses_locally_until_the_next_token_is_due(store):
    rate = parse_rate("2/h")  # the next token in half an hour
    limiter = Limiter(store, lease_seconds=0.05)
    assert [limiter.take("writes:apikey:refused", rate)[0] for _ in range(3)] == [
        True,
        True,
        False,
    ]
    # Refilled behind its back (as no clock would), the process still refuses without asking:
    # it knows the store cannot have a token before then.
    store.take("writes:apikey:refused", rate, want=0, now=time.time() + 3600)
    assert limiter.take("writes:apikey:refused", rate) == (False, pytest.approx(0, abs=0.01))
    limiter.forget()
    assert limiter.take("writes:apikey:refused", rate)[0]


def test_a_store_takes_an_unspent_lease_back_up_to_the_burst(store):
    assert store.take("writes:apikey:refund", RATE, want=3, now=T0) == (3, 2.0)
    assert store.take("writes:apikey:refund", RATE, refund=2, now=T0) == (1, 3.0)
    assert store.take("writes:apikey:refund", RATE, refund=9, now=T0) == (1, 4.0)


def test_an_expired_lease_goes_back_with_the_next_round_trip(store):
    rate = parse_rate("100/s 400")  # leases of 5
    now = [0.0]
    limiter = Limiter(store, lease_seconds=0.05, clock=lambda: now[0])
    assert limiter.take("reads:apikey:returned", rate)[0]  # 5 taken, 1 spent
    now[0] = 1.0  # the lease expired unspent: its 4 tokens go back, 5 more are leased
    assert limiter.take("reads:apikey:returned", rate)[0]
    shared = store.take("reads:apikey:returned", rate, want=0)[1]
    assert shared == pytest.approx(400 - 2 - 4, abs=1.5)  # spent 2; 4 leased now


class Together:
    """A real store whose round trips wait for each other: *parties* threads ask at once."""

    def __init__(self, store, parties: int) -> None:
        self.store = store
        self.barrier = threading.Barrier(parties)

    def take(self, *args, **kwargs):
        self.barrier.wait()
        try:
            return self.store.take(*args, **kwargs)
        finally:
            connections.close_all()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["postgres", "redis"])
def test_threads_asking_at_once_spend_each_others_leases_before_refusing(kind, redis_url):
    """Three threads of one process ask a bucket holding 10 tokens for leases of 5 at the same
    moment: two get 5 each, the third none; it is served from their leases, not refused."""
    store = (
        PostgresBuckets()
        if kind == "postgres"
        else RedisBuckets(redis_url, redis_server.unique_prefix())
    )
    rate = Rate(per_second=1.0, burst=50, text="60/m 50")  # leases of 5 over 5 s
    assert store.take("reads:apikey:herd", rate, want=40)[0] == 40  # 10 left
    limiter = Limiter(Together(store, 3), lease_seconds=5)
    answers = []

    def ask() -> None:
        answers.append(limiter.take("reads:apikey:herd", rate))

    threads = [threading.Thread(target=ask) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [allowed for allowed, _ in answers] == [True] * 3


class GrantsComeBackLast:
    """A real store whose answers come back out of order: a refusal returns before the grants
    the store gave ahead of it (as a scheduler may have it)."""

    def __init__(self, store) -> None:
        self.store = store
        self.one_at_a_time = threading.Lock()
        self.refusal_returned = threading.Event()

    def take(self, *args, **kwargs):
        try:
            with self.one_at_a_time:
                outcome = self.store.take(*args, **kwargs)
            if outcome[0]:
                assert self.refusal_returned.wait(timeout=10)
            else:
                self.refusal_returned.set()
            return outcome
        finally:
            connections.close_all()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["postgres", "redis"])
def test_a_refusal_back_before_the_grants_waits_for_them_and_spends_their_lease(kind, redis_url):
    store = (
        PostgresBuckets()
        if kind == "postgres"
        else RedisBuckets(redis_url, redis_server.unique_prefix())
    )
    rate = Rate(per_second=1.0, burst=50, text="60/m 50")  # leases of 5 over 5 s
    assert store.take("reads:apikey:late", rate, want=40)[0] == 40  # 10 left: two leases
    limiter = Limiter(GrantsComeBackLast(store), lease_seconds=5)
    answers = []
    threads = [
        threading.Thread(target=lambda: answers.append(limiter.take("reads:apikey:late", rate)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [allowed for allowed, _ in answers] == [True] * 3
    # 10 tokens leased, 3 spent: the next 7 requests are served from the leases, the 8th refused.
    assert [limiter.take("reads:apikey:late", rate)[0] for _ in range(8)] == [True] * 7 + [False]
