"""Two daphne processes share one rate limit: hammered together, they let through what one
token bucket would have let through of the same requests (within 10%), and refuse the rest with 429,
``Retry-After`` and the ``X-RateLimit-*`` headers. Once with the buckets in Redis, once in
PostgreSQL: the two stores a deployment may have.
"""

from __future__ import annotations

import gc
import threading
import time
import uuid
from dataclasses import dataclass

import httpx
import pytest

from accounts.ratelimit import parse_rate, take
from tests import redis_server
from tests.e2e.processes import start_api_server

pytestmark = pytest.mark.e2e

#: 20 a second, 10 at once: a token every 50 ms.
RATE, BURST = 20, 10
SECONDS = 3.0
CLIENTS_PER_SERVER = 3


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    with redis_server.redis_url(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="module", params=["redis", "postgres"])
def servers(request, server_env, e2e_database, django_db_blocker, tmp_path_factory):
    """Two API servers with small limits and one store for their buckets."""
    env = {
        **server_env,
        "RATE_LIMIT_ENABLED": "true",
        "RATE_LIMIT_READS": f"{RATE}/s {BURST}",
        "RATE_LIMIT_WRITES": f"{RATE}/s {BURST}",
    }
    if request.param == "redis":
        env["RATE_LIMIT_REDIS_URL"] = request.getfixturevalue("redis_url")
        env["RATE_LIMIT_KEY_PREFIX"] = redis_server.unique_prefix()
    else:
        env["RATE_LIMIT_REDIS_URL"] = ""  # PostgreSQL, even where a Celery broker is a Redis
        from django.db import connection

        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM accounts_ratelimit_bucket")
    log_dir = tmp_path_factory.mktemp(f"rate-limits-{request.param}")
    started = []
    try:
        for name in ("daphne-a", "daphne-b"):
            started.append(start_api_server(name, env, log_dir))
        yield [url for _, url in started]
    finally:
        for process, _ in started:
            process.stop()


@dataclass
class Answer:
    server: str
    status: int
    headers: httpx.Headers
    body: bytes
    sent_at: float


def one_bucket_allows(answers: list[Answer]) -> int:
    """How many of these requests one ideal token bucket would let through, had it seen each
    when it was sent. The reference is the requests' own timeline, not the wall clock: a pause
    of the clients or the servers (a collection, a busy CI machine) lets the bucket fill up to
    its burst and lose the rest of its refill, for the shared limit and for this model alike."""
    rate = parse_rate(f"{RATE}/s {BURST}")
    tokens, last, allowed = None, 0.0, 0
    for sent_at in sorted(answer.sent_at for answer in answers):
        granted, tokens = take(tokens, sent_at - last, rate)
        last, allowed = sent_at, allowed + granted
    return allowed


def hammer(urls: list[str], seconds: float) -> tuple[list[Answer], float]:
    """Every client back to back on its server for *seconds*; the answers and the time from the
    first request sent to the last answer received."""
    answers: list[Answer] = []
    sent: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(len(urls) * CLIENTS_PER_SERVER)

    def client(url: str) -> None:
        mine = []
        with httpx.Client(base_url=url, timeout=10) as http:
            start.wait()
            first = time.monotonic()
            deadline = first + seconds
            while (sent_at := time.monotonic()) < deadline:
                response = http.get(f"/threads/{uuid.uuid4()}")  # a read: 404 once allowed
                mine.append(
                    Answer(url, response.status_code, response.headers, response.content, sent_at)
                )
        with lock:
            answers.extend(mine)
            sent.append(first)

    threads = [
        threading.Thread(target=client, args=(url,))
        for url in urls
        for _ in range(CLIENTS_PER_SERVER)
    ]
    gc.disable()  # a full collection of the suite's heap would pause every client at once
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        gc.enable()
    return answers, time.monotonic() - min(sent)


def warm_up(urls: list[str]) -> None:
    """A first request through each server's whole path (DRF, the database pool, the store's
    connection), on the writes' bucket: the reads' bucket is left full for the test."""
    for url in urls:
        response = httpx.delete(f"{url}/threads/{uuid.uuid4()}", timeout=10)
        assert response.status_code == 404, response.text
        assert response.headers["X-RateLimit-Limit"] == str(BURST)


def test_two_servers_hammered_together_allow_one_buckets_worth(servers):
    warm_up(servers)
    answers, elapsed = hammer(servers, SECONDS)

    allowed = [a for a in answers if a.status != 429]
    refused = [a for a in answers if a.status == 429]
    assert {a.status for a in allowed} == {404}, {a.status for a in allowed}
    expected = one_bucket_allows(answers)
    assert expected <= BURST + RATE * elapsed
    print(f"allowed {len(allowed)} of {len(answers)} in {elapsed:.2f} s; expected {expected}")
    assert abs(len(allowed) - expected) <= 0.1 * expected, (len(allowed), expected, len(answers))
    # One limit for both: each server let some through and refused others.
    for url in servers:
        assert any(a.server == url for a in allowed), url
        assert any(a.server == url for a in refused), url
    assert len(refused) > len(allowed)  # the clients did ask faster than the limit

    for answer in answers:
        assert answer.headers["X-RateLimit-Limit"] == str(BURST)
        remaining = int(answer.headers["X-RateLimit-Remaining"])
        reset = int(answer.headers["X-RateLimit-Reset"])
        assert 0 <= remaining < BURST
        assert 0 < reset <= 1  # 10 tokens at 20 a second: full within half a second
    for answer in refused:
        assert answer.headers["Retry-After"] == "1"  # the next token within 50 ms, in seconds
        assert answer.headers["X-RateLimit-Remaining"] == "0"
        assert answer.headers["Content-Type"] == "application/json"
        assert (
            httpx.Response(429, content=answer.body)
            .json()["detail"]
            .startswith(f"Rate limit exceeded for reads ({RATE}/s {BURST}).")
        )


def test_health_checks_are_not_limited(servers):
    for url in servers:
        for _ in range(3 * BURST):
            response = httpx.get(f"{url}/ok", timeout=10)
            assert response.status_code == 200
            assert "X-RateLimit-Limit" not in response.headers
