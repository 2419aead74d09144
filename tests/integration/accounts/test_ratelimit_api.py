"""Rate limits on the API, through the ASGI application as daphne calls it: the throttle after
authentication, the headers from the API chain's middleware, on both stores.

These tests commit (``transaction=True``): API views run on the handler's pool threads.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator
from django.db import connection

from accounts import ratelimit, selectors, services
from duragraph_site.asgi import application
from runs import live
from tests import redis_server
from tests.asgi import http_scope

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


class Answer:
    def __init__(self, start: dict[str, Any], body: bytes) -> None:
        self.status: int = start["status"]
        self.headers = {name.decode().lower(): value.decode() for name, value in start["headers"]}
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    def limits(self) -> tuple[int, int, int] | None:
        if LIMIT_HEADERS[0] not in self.headers:
            assert not any(name in self.headers for name in LIMIT_HEADERS)
            return None
        return tuple(int(self.headers[name]) for name in LIMIT_HEADERS)  # type: ignore[return-value]


def call(
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
    client: str = "10.1.1.1",
    headers_only: bool = False,
) -> Answer:
    """One request through the ASGI application. *headers_only*: hang up once the answer's
    headers arrived (a stream that would not end by itself)."""

    async def go() -> Answer:
        payload = b"" if body is None else json.dumps(body).encode()
        scope = http_scope(
            method,
            path,
            headers={"content-type": "application/json", **(headers or {})},
            client=client,
        )
        communicator = ApplicationCommunicator(application, scope)
        await communicator.send_input({"type": "http.request", "body": payload})
        start = await communicator.receive_output(10)
        chunks = []
        if not headers_only:
            while True:
                chunk = await communicator.receive_output(10)
                chunks.append(chunk.get("body", b""))
                if not chunk.get("more_body"):
                    break
        await communicator.send_input({"type": "http.disconnect"})
        await communicator.wait(10)
        return Answer(start, b"".join(chunks))

    return asyncio.run(go())


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    with redis_server.redis_url(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(params=["postgres", "redis"])
def limits(request, settings):
    """Rate limits on, small, in either store; the buckets start empty."""
    settings.RATE_LIMIT_ENABLED = True
    settings.RATE_LIMIT_READS = "3/m"
    settings.RATE_LIMIT_WRITES = "2/m"
    settings.RATE_LIMIT_STREAMS = "1/m"
    if request.param == "redis":
        settings.RATE_LIMIT_REDIS_URL = request.getfixturevalue("redis_url")
        settings.RATE_LIMIT_KEY_PREFIX = redis_server.unique_prefix()
    else:
        settings.RATE_LIMIT_REDIS_URL = ""
    yield settings
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM accounts_ratelimit_bucket")  # no model: flush skips it
    ratelimit.forget_local_state()  # the refusals this process remembers, with them


def missing_thread() -> str:
    return f"/threads/{uuid.uuid4()}"


def refused_so_far(route_class: str) -> float:
    """``duragraph_rate_limit_refused_total{route_class=...}`` in this process (/metrics)."""
    samples = next(iter(ratelimit.REFUSED.collect())).samples
    return next(
        (
            x.value
            for x in samples
            if x.name.endswith("_total") and x.labels == {"route_class": route_class}
        ),
        0.0,
    )


def test_answers_count_down_then_refuse_with_429_retry_after_and_a_json_detail(limits):
    refused_before = refused_so_far("reads")
    answers = [call("GET", missing_thread()) for _ in range(4)]
    assert [a.status for a in answers] == [404, 404, 404, 429]
    # 3 a minute: a token every 20 s; the bucket is full again 20 s per missing token later.
    assert [a.limits() for a in answers] == [(3, 2, 20), (3, 1, 40), (3, 0, 60), (3, 0, 60)]
    refused = answers[-1]
    assert refused.headers["retry-after"] == "20"
    assert refused.headers["content-type"] == "application/json"
    assert refused.json() == {
        "detail": "Rate limit exceeded for reads (3/m). Expected available in 20 seconds."
    }
    assert refused_so_far("reads") == refused_before + 1  # /metrics: for the operators


def test_reads_writes_and_streams_have_buckets_of_their_own(limits):
    for _ in range(3):
        call("POST", "/threads/search", body={})
    assert call("POST", "/threads/count", body={}).status == 429  # a query: a read

    created = call("POST", "/threads", body={})
    assert created.status == 200
    assert created.limits() == (2, 1, 30)
    thread = created.json()["thread_id"]
    assert call("PATCH", f"/threads/{thread}", body={"metadata": {"a": 1}}).limits() == (2, 0, 60)
    assert call("DELETE", f"/threads/{thread}").status == 429

    stream = call("GET", f"{missing_thread()}/stream")
    assert (stream.status, stream.limits()) == (404, (1, 0, 60))
    assert call("POST", "/runs/wait", body={}).status == 429  # waits are streams too


@pytest.fixture
def outbox_listener():
    """A followed thread starts the process's LISTEN thread: its connection must not outlive
    the test database."""
    yield
    live.outbox_listener.stop()


def test_a_stream_carries_the_headers_before_its_first_frame(limits, outbox_listener):
    thread = call("POST", "/threads", body={}).json()["thread_id"]
    stream = call("GET", f"/threads/{thread}/stream", headers_only=True)
    assert stream.status == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert stream.limits() == (1, 0, 60)


def test_the_worker_protocol_counts_as_writes(limits):
    answers = [call("POST", "/api/v1/workers/register", body={}) for _ in range(3)]
    assert [a.status for a in answers[:2]] != [429, 429]
    assert answers[2].status == 429
    assert [a.limits()[:2] for a in answers] == [(2, 1), (2, 0), (2, 0)]


def test_health_and_metrics_are_never_limited(limits):
    limits.RATE_LIMIT_READS = "1/h"
    for path in ["/ok", "/health", "/metrics"] * 3:
        answer = call("GET", path)
        assert answer.status == 200, path
        assert answer.limits() is None


def test_anonymous_callers_are_limited_by_address_and_x_forwarded_for_is_not_trusted(limits):
    for _ in range(3):
        call("GET", missing_thread(), client="10.0.0.1")
    assert call("GET", missing_thread(), client="10.0.0.1").status == 429
    spoofed = call(
        "GET", missing_thread(), client="10.0.0.1", headers={"x-forwarded-for": "1.2.3.4"}
    )
    assert spoofed.status == 429
    assert call("GET", missing_thread(), client="10.0.0.2").limits() == (3, 2, 20)


def test_behind_a_trusted_proxy_the_address_it_saw_counts(limits):
    limits.RATE_LIMIT_PROXY_COUNT = 1
    proxy = "10.9.9.9"

    def via(address: str) -> Answer:
        # The client's own X-Forwarded-For (a lie) comes first; the proxy appends what it saw.
        return call(
            "GET",
            missing_thread(),
            client=proxy,
            headers={"x-forwarded-for": f"6.6.6.6, {address}"},
        )

    for _ in range(3):
        via("1.1.1.1")
    assert via("1.1.1.1").status == 429
    assert via("2.2.2.2").status == 404


@pytest.fixture
def authentication(settings):
    settings.AUTH_ENABLED = True
    selectors.forget_cached_keys()
    yield
    selectors.forget_cached_keys()


def test_identified_callers_are_limited_by_identity_wherever_they_call_from(limits, authentication):
    _, first = services.create_api_key(name="first")
    _, second = services.create_api_key(name="second")
    for address in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
        assert (
            call("GET", missing_thread(), headers={"x-api-key": first}, client=address).status
            == 404
        )
    assert (
        call("GET", missing_thread(), headers={"x-api-key": first}, client="10.0.0.4").status == 429
    )
    other = call("GET", missing_thread(), headers={"x-api-key": second}, client="10.0.0.1")
    assert (other.status, other.limits()) == (404, (3, 2, 20))
    # Refused credentials never reach the throttle: 401, and no token taken.
    assert call("GET", missing_thread(), headers={"x-api-key": "dg_nope"}).limits() is None


def test_unset_rate_limits_follow_authentication(limits):
    limits.RATE_LIMIT_ENABLED = None
    limits.AUTH_ENABLED = False
    assert all(call("GET", missing_thread()).limits() is None for _ in range(5))


def test_off_means_no_bucket_and_no_headers(limits):
    limits.RATE_LIMIT_ENABLED = False
    answers = [call("GET", missing_thread()) for _ in range(5)]
    assert {a.status for a in answers} == {404}
    assert {a.limits() for a in answers} == {None}
