"""Bad requests to every write endpoint, sent raw with httpx to the live server.

Each refused request must answer its status with a ``{"detail": "..."}`` JSON body (never a
500) and write nothing: the event log, the cron table and the store keep their row counts.
Unknown extra keys, on the other hand, are accepted (LangGraph's schemas allow them).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

MALFORMED = b'{"metadata": {"a": 1'
NEW_YEAR = "0 0 1 1 *"
#: One byte over DATA_UPLOAD_MAX_MEMORY_SIZE (10 MiB), as valid JSON.
OVERSIZED = b'{"metadata": {"blob": "' + b"x" * (10 * 1024 * 1024) + b'"}}'


@dataclass(frozen=True)
class Existing:
    """Records the bad requests aim at (so only the part under test is wrong)."""

    assistant_id: str
    thread_id: str
    run_id: str
    cron_id: str


@pytest.fixture(scope="module")
def http(api_server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=api_server.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def existing(http: httpx.Client) -> Existing:
    assistant = http.post("/assistants", json={"graph_id": "simple", "metadata": {"bad": 1}})
    thread = http.post("/threads", json={"metadata": {"bad": 1}})
    thread_id = thread.json()["thread_id"]
    run = http.post(f"/threads/{thread_id}/runs", json={"assistant_id": "simple"})
    cron = http.post(
        f"/threads/{thread_id}/runs/crons", json={"assistant_id": "simple", "schedule": NEW_YEAR}
    )
    assert [r.status_code for r in (assistant, thread, run, cron)] == [200] * 4
    return Existing(
        assistant_id=assistant.json()["assistant_id"],
        thread_id=thread_id,
        run_id=run.json()["run_id"],
        cron_id=cron.json()["cron_id"],
    )


@pytest.fixture
def rows(django_db_blocker) -> Callable[[], tuple[int, int, int]]:
    """(events, crons, store items): everything a request could write."""
    from events.models import Event
    from runs.models import Cron
    from store.models import Item

    def count() -> tuple[int, int, int]:
        with django_db_blocker.unblock():
            return Event.objects.count(), Cron.objects.count(), Item.objects.count()

    return count


def assert_refused(
    response: httpx.Response, status: int, *, mentions: str | None = None
) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, dict) and set(body) == {"detail"}, body
    assert isinstance(body["detail"], str) and body["detail"]
    if mentions is not None:
        assert mentions in body["detail"]
    return body


#: Every write endpoint that takes a body: (method, path, a body with a field of the wrong type,
#: the field the 422 must name). ``{a}``, ``{t}``, ``{r}``, ``{c}`` are existing ids.
BODY_ENDPOINTS = [
    ("POST", "/assistants", {"graph_id": "simple", "metadata": "x"}, "metadata"),
    ("PATCH", "/assistants/{a}", {"name": ["x"]}, "name"),
    ("POST", "/assistants/{a}/latest", {"version": "one"}, "version"),
    ("POST", "/threads", {"thread_id": 12}, "thread_id"),
    ("PATCH", "/threads/{t}", {"metadata": [1]}, "metadata"),
    ("POST", "/threads/prune", {"thread_ids": "abc"}, "thread_ids"),
    ("POST", "/threads/{t}/runs", {"assistant_id": "simple", "config": []}, "config"),
    (
        "POST",
        "/threads/{t}/runs/wait",
        {"assistant_id": "simple", "input": {}, "context": 1},
        "context",
    ),
    ("POST", "/runs", {"assistant_id": "simple", "metadata": 3}, "metadata"),
    ("POST", "/runs/wait", {"assistant_id": "simple", "interrupt_before": 3}, "interrupt_before"),
    ("POST", "/runs/batch", [{"assistant_id": "simple", "stream_mode": 3}], "stream_mode"),
    ("POST", "/runs/cancel", {"run_ids": "abc"}, "run_ids"),
    (
        "POST",
        "/threads/{t}/runs/crons",
        {"assistant_id": "simple", "schedule": NEW_YEAR, "enabled": "maybe"},
        "enabled",
    ),
    (
        "POST",
        "/runs/crons",
        {"assistant_id": "simple", "schedule": NEW_YEAR, "end_time": "tomorrow"},
        "end_time",
    ),
    ("PATCH", "/runs/crons/{c}", {"enabled": "maybe"}, "enabled"),
    ("PUT", "/store/items", {"namespace": "a", "key": "k", "value": {}}, "namespace"),
    ("DELETE", "/store/items", {"namespace": ["a"], "key": ["k"]}, "key"),
]
BODY_IDS = [f"{method} {path}" for method, path, *_ in BODY_ENDPOINTS]


def fill(path: str, existing: Existing) -> str:
    return path.format(
        a=existing.assistant_id, t=existing.thread_id, r=existing.run_id, c=existing.cron_id
    )


@pytest.mark.parametrize(("method", "path", "wrong", "field"), BODY_ENDPOINTS, ids=BODY_IDS)
def test_a_malformed_body_is_refused_and_writes_nothing(
    http, existing, rows, method, path, wrong, field
):
    before = rows()
    response = http.request(
        method,
        fill(path, existing),
        content=MALFORMED,
        headers={"Content-Type": "application/json"},
    )
    assert_refused(response, 422, mentions="JSON parse error")
    assert rows() == before


@pytest.mark.parametrize(("method", "path", "wrong", "field"), BODY_ENDPOINTS, ids=BODY_IDS)
def test_the_wrong_json_container_is_refused_and_writes_nothing(
    http, existing, rows, method, path, wrong, field
):
    # An array where an object is expected; for the batch endpoint, an object.
    body: Any = {"assistant_id": "simple"} if isinstance(wrong, list) else [wrong]
    before = rows()
    response = http.request(method, fill(path, existing), json=body)
    assert_refused(response, 422)
    assert rows() == before


@pytest.mark.parametrize(("method", "path", "wrong", "field"), BODY_ENDPOINTS, ids=BODY_IDS)
def test_a_field_of_the_wrong_type_is_422_naming_it_and_writes_nothing(
    http, existing, rows, method, path, wrong, field
):
    before = rows()
    response = http.request(method, fill(path, existing), json=wrong)
    assert_refused(response, 422, mentions=field)
    assert rows() == before


@pytest.mark.parametrize(("method", "path", "wrong", "field"), BODY_ENDPOINTS, ids=BODY_IDS)
def test_an_oversized_body_is_413_and_writes_nothing(
    http, existing, rows, method, path, wrong, field
):
    before = rows()
    response = http.request(
        method,
        fill(path, existing),
        content=OVERSIZED,
        headers={"Content-Type": "application/json"},
    )
    assert_refused(response, 413, mentions="exceeds the limit")
    assert rows() == before


#: Requests naming an id that does not exist (with an otherwise valid body): 404.
UNKNOWN = str(uuid.uuid4())
UNKNOWN_ID_REQUESTS = [
    ("PATCH", f"/assistants/{UNKNOWN}", {"name": "x"}),
    ("DELETE", f"/assistants/{UNKNOWN}", None),
    ("POST", f"/assistants/{UNKNOWN}/latest", {"version": 1}),
    ("PATCH", f"/threads/{UNKNOWN}", {"metadata": {"k": 1}}),
    ("DELETE", f"/threads/{UNKNOWN}", None),
    ("POST", f"/threads/{UNKNOWN}/copy", None),
    ("POST", f"/threads/{UNKNOWN}/runs", {"assistant_id": "simple"}),
    ("POST", f"/threads/{UNKNOWN}/runs/wait", {"assistant_id": "simple"}),
    ("POST", "/threads/{t}/runs", {"assistant_id": UNKNOWN}),
    ("POST", "/runs", {"assistant_id": UNKNOWN}),
    ("POST", "/runs/batch", [{"assistant_id": "simple"}, {"assistant_id": UNKNOWN}]),
    ("POST", f"/threads/{{t}}/runs/{UNKNOWN}/cancel", None),
    ("DELETE", f"/threads/{{t}}/runs/{UNKNOWN}", None),
    ("POST", f"/threads/{UNKNOWN}/runs/{{r}}/cancel", None),
    ("POST", "/runs/cancel", {"run_ids": [UNKNOWN]}),
    ("POST", f"/threads/{UNKNOWN}/runs/crons", {"assistant_id": "simple", "schedule": NEW_YEAR}),
    ("POST", "/runs/crons", {"assistant_id": UNKNOWN, "schedule": NEW_YEAR}),
    ("PATCH", f"/runs/crons/{UNKNOWN}", {"enabled": False}),
    ("DELETE", f"/runs/crons/{UNKNOWN}", None),
    ("POST", "/assistants", {"graph_id": "no-such-graph"}),
]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    UNKNOWN_ID_REQUESTS,
    ids=[f"{m} {p.replace(UNKNOWN, '<unknown>')}" for m, p, _ in UNKNOWN_ID_REQUESTS],
)
def test_an_unknown_id_is_404_and_writes_nothing(http, existing, rows, method, path, body):
    before = rows()
    response = http.request(method, fill(path, existing), json=body)
    assert_refused(response, 404)
    assert rows() == before


#: Ids that are not UUIDs, in the path or in the body: 422 naming what is wrong.
NOT_A_UUID = "not-a-uuid"
MALFORMED_ID_REQUESTS = [
    ("PATCH", f"/assistants/{NOT_A_UUID}", {"name": "x"}, "assistant ID"),
    ("DELETE", f"/assistants/{NOT_A_UUID}", None, "assistant ID"),
    ("POST", f"/assistants/{NOT_A_UUID}/latest", {"version": 1}, "assistant ID"),
    ("POST", "/assistants", {"graph_id": "simple", "assistant_id": NOT_A_UUID}, "assistant_id"),
    ("POST", "/threads", {"thread_id": NOT_A_UUID}, "thread_id"),
    ("PATCH", f"/threads/{NOT_A_UUID}", {"metadata": {}}, "thread ID"),
    ("DELETE", f"/threads/{NOT_A_UUID}", None, "thread ID"),
    ("POST", f"/threads/{NOT_A_UUID}/copy", None, "thread ID"),
    ("POST", "/threads/prune", {"thread_ids": [NOT_A_UUID]}, "thread_ids"),
    ("POST", f"/threads/{NOT_A_UUID}/runs", {"assistant_id": "simple"}, "thread ID"),
    ("POST", "/threads/{t}/runs", {"assistant_id": NOT_A_UUID}, "assistant"),
    (
        "POST",
        "/threads/{t}/runs",
        {"assistant_id": "simple", "checkpoint_id": "x"},
        "checkpoint_id",
    ),
    ("POST", f"/threads/{{t}}/runs/{NOT_A_UUID}/cancel", None, "run ID"),
    ("DELETE", f"/threads/{{t}}/runs/{NOT_A_UUID}", None, "run ID"),
    ("POST", "/runs/cancel", {"thread_id": NOT_A_UUID}, "thread_id"),
    (
        "POST",
        f"/threads/{NOT_A_UUID}/runs/crons",
        {"assistant_id": "simple", "schedule": NEW_YEAR},
        "thread ID",
    ),
    ("PATCH", f"/runs/crons/{NOT_A_UUID}", {"enabled": False}, "cron ID"),
    ("DELETE", f"/runs/crons/{NOT_A_UUID}", None, "cron ID"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "mentions"),
    MALFORMED_ID_REQUESTS,
    ids=[f"{m} {p} {mentions}" for m, p, _, mentions in MALFORMED_ID_REQUESTS],
)
def test_a_malformed_id_is_422_and_writes_nothing(
    http, existing, rows, method, path, body, mentions
):
    before = rows()
    response = http.request(method, fill(path, existing), json=body)
    assert_refused(response, 422, mentions=mentions)
    assert rows() == before


#: JSON the API could not store or give back: strings PostgreSQL refuses (NUL, a lone
#: surrogate) in values and keys, integers beyond 64 bits (orjson), absurd nesting: 422.
NUL = b'"x\\u0000y"'
SURROGATE = b'"\\udaa5"'
HUGE_INT = b"18446744073709551616"
DEEP = b"[" * 300 + b"]" * 300
UNSTORABLE_REQUESTS = [
    ("POST", "/threads", b'{"metadata": {"n": %s}}' % HUGE_INT, "64-bit"),
    ("POST", "/runs", b'{"assistant_id": "simple", "input": {"a": %s}}' % DEEP, "nested deeper"),
    (
        "POST",
        "/threads",
        b'{"metadata": {"a": %s}}' % (b"[" * 5000 + b"]" * 5000),
        "nested too deeply",
    ),
    ("POST", "/threads", b'{"metadata": {"a": %s}}' % NUL, "metadata"),
    ("PATCH", "/threads/{t}", b'{"metadata": {%s: 1}}' % NUL, "metadata"),
    ("POST", "/threads/search", b'{"values": {"a": %s}}' % NUL, "values"),
    (
        "POST",
        "/assistants",
        b'{"graph_id": "simple", "metadata": {"k": %s}}' % SURROGATE,
        "metadata",
    ),
    ("PATCH", "/assistants/{a}", b'{"context": {"k": [%s]}}' % SURROGATE, "context"),
    ("POST", "/threads/{t}/runs", b'{"assistant_id": "simple", "input": {"x": %s}}' % NUL, "input"),
    (
        "POST",
        "/threads/{t}/runs",
        b'{"assistant_id": "simple", "command": {"update": %s}}' % SURROGATE,
        "command.update",
    ),
    ("POST", "/runs", b'{"assistant_id": "simple", "input": %s}' % SURROGATE, "input"),
    (
        "POST",
        "/runs/crons",
        b'{"assistant_id": "simple", "schedule": "0 0 1 1 *", "input": {"x": %s}}' % NUL,
        "input",
    ),
    ("PATCH", "/runs/crons/{c}", b'{"input": {"x": %s}}' % SURROGATE, "input"),
    ("POST", "/runs/crons/search", b'{"metadata": {"x": %s}}' % NUL, "metadata"),
    ("PUT", "/store/items", b'{"namespace": ["a"], "key": "k", "value": {"x": %s}}' % NUL, "value"),
]


@pytest.mark.parametrize(
    ("method", "path", "content", "field"),
    UNSTORABLE_REQUESTS,
    ids=[f"{m} {p} {field}" for m, p, _, field in UNSTORABLE_REQUESTS],
)
def test_strings_postgresql_cannot_store_are_422_and_write_nothing(
    http, existing, rows, method, path, content, field
):
    before = rows()
    response = http.request(
        method, fill(path, existing), content=content, headers={"Content-Type": "application/json"}
    )
    assert_refused(response, 422, mentions=field)
    assert rows() == before


def test_other_refusals_write_nothing_either(http, existing, rows):
    """Conflicts, rule violations and bad query parameters on write endpoints."""
    thread = f"/threads/{existing.thread_id}"
    cases = [
        # (method, path, body, status, mentions)
        ("POST", "/threads", {"thread_id": existing.thread_id}, 409, "already exists"),
        (
            "POST",
            "/assistants",
            {"graph_id": "simple", "assistant_id": existing.assistant_id},
            409,
            "already exists",
        ),
        (
            "POST",
            f"{thread}/runs",
            {"assistant_id": "simple", "multitask_strategy": "reject"},
            409,
            "already running",
        ),
        (
            "POST",
            f"{thread}/runs",
            {"assistant_id": "simple", "config": {"configurable": {"a": 1}}, "context": {"b": 1}},
            400,
            "context",
        ),
        ("POST", "/runs", {"assistant_id": "simple", "command": {"resume": 1}}, 400, "thread_id"),
        ("DELETE", f"{thread}/runs/{existing.run_id}", None, 409, "cancel it before"),
        ("POST", f"{thread}/runs/{existing.run_id}/cancel?action=explode", None, 422, "action"),
        ("POST", f"{thread}/runs/{existing.run_id}/cancel?wait=perhaps", None, 422, "wait"),
        ("POST", "/runs/cancel?action=explode", {"status": "all"}, 422, "action"),
        ("POST", "/runs/cancel", {"status": "all", "thread_id": existing.thread_id}, 422, "status"),
        ("POST", "/runs/cancel", {}, 422, None),
        ("PATCH", f"/runs/crons/{existing.cron_id}", {}, 400, "at least one field"),
        ("PATCH", f"/runs/crons/{existing.cron_id}", {"schedule": "soon"}, 422, "schedule"),
        ("POST", "/runs/crons", {"assistant_id": "simple", "schedule": "* *"}, 422, "schedule"),
        (
            "POST",
            "/runs/crons",
            {"assistant_id": "simple", "schedule": NEW_YEAR, "timezone": "Moon/Base"},
            422,
            "timezone",
        ),
        ("POST", f"/assistants/{existing.assistant_id}/latest", {"version": 9}, 404, "version"),
        (
            "DELETE",
            f"/assistants/{existing.assistant_id}?delete_threads=sometimes",
            None,
            422,
            "delete_threads",
        ),
    ]
    for method, path, body, status, mentions in cases:
        before = rows()
        assert_refused(http.request(method, path, json=body), status, mentions=mentions)
        assert rows() == before, (method, path)
    assert http.get(f"{thread}/runs/{existing.run_id}").json()["status"] == "pending"


def test_huge_floats_are_given_back_as_floats(http, existing):
    """jsonb keeps 1e300 as an exact decimal, which comes back from PostgreSQL as an integer."""
    response = http.patch(f"/threads/{existing.thread_id}", json={"metadata": {"big": 1e300}})
    assert response.status_code == 200
    assert response.json()["metadata"]["big"] == 1e300
    assert http.get(f"/threads/{existing.thread_id}").json()["metadata"]["big"] == 1e300


def test_unknown_extra_keys_are_accepted(http, existing, rows):
    extra = {"not_a_field": 1, "langsmith_tracer": {"project_name": "p"}, "strict_resume": True}
    events, crons, items = rows()

    assistant = http.post("/assistants", json={"graph_id": "simple", **extra})
    assert assistant.status_code == 200
    assert "not_a_field" not in assistant.json()
    thread = http.post("/threads", json={"metadata": {"k": 1}, **extra})
    assert thread.status_code == 200
    thread_id = thread.json()["thread_id"]
    patched = http.patch(f"/threads/{thread_id}", json={"metadata": {"k": 2}, **extra})
    assert (patched.status_code, patched.json()["metadata"]) == (200, {"k": 2})
    run = http.post(
        f"/threads/{thread_id}/runs",
        json={"assistant_id": "simple", "feedback_keys": ["score"], **extra},
    )
    assert (run.status_code, run.json()["status"]) == (200, "pending")
    cron = http.post(
        "/runs/crons",
        json={"assistant_id": "simple", "schedule": NEW_YEAR, "nul": "\x00", **extra},
    )
    assert cron.status_code == 200
    assert not {"nul", "not_a_field"} & set(cron.json()["payload"])  # ignored, not stored
    put = http.put(
        "/store/items", json={"namespace": ["bad-input"], "key": "k", "value": {}, **extra}
    )
    assert put.status_code == 204

    after = rows()
    assert after[0] > events and after[1] == crons + 1 and after[2] == items + 1
    http.post(f"/threads/{thread_id}/runs/{run.json()['run_id']}/cancel")
    http.request("DELETE", "/store/items", json={"namespace": ["bad-input"], "key": "k"})
    http.delete(f"/runs/crons/{cron.json()['cron_id']}")


#: Integers beyond what PostgreSQL takes (``bigint``), and numbers beyond a sane range, wherever
#: a request carries one that reaches SQL or a timestamp: 422 naming the field, never a 500.
#: (method, path, JSON body or None, field). ``?`` paths carry the number in the query string.
BIG = 10**20
HUGE_NUMBER_REQUESTS = [
    ("POST", "/threads/search", {"offset": BIG}, "offset"),
    ("POST", "/threads/search", {"offset": -BIG}, "offset"),
    ("POST", "/threads/search", {"limit": BIG}, "limit"),
    ("POST", "/assistants/search", {"offset": BIG}, "offset"),
    ("POST", "/assistants/search", {"limit": -BIG}, "limit"),
    ("POST", "/assistants/{a}/versions", {"offset": BIG}, "offset"),
    ("POST", "/assistants/{a}/versions", {"limit": BIG}, "limit"),
    ("POST", "/assistants/{a}/latest", {"version": BIG}, "version"),
    ("POST", f"/assistants/{{a}}/latest?version={BIG}", None, "version"),
    ("POST", "/runs/crons/search", {"offset": BIG}, "offset"),
    ("POST", "/runs/crons/search", {"limit": BIG}, "limit"),
    ("GET", f"/threads/{{t}}/runs?offset={BIG}", None, "offset"),
    ("GET", f"/threads/{{t}}/runs?limit={BIG}", None, "limit"),
    ("GET", f"/threads/{{t}}/runs?offset=-{BIG}", None, "offset"),
    ("GET", f"/threads/{{t}}/history?limit={BIG}", None, "limit"),
    ("POST", "/threads/{t}/history", {"limit": BIG}, "limit"),
    ("POST", "/threads", {"ttl": BIG}, "ttl"),
    ("POST", "/threads", {"ttl": 1e300}, "ttl"),
    ("PATCH", "/threads/{t}", {"ttl": {"ttl": BIG, "strategy": "delete"}}, "ttl"),
    (
        "POST",
        "/threads/{t}/runs",
        {"assistant_id": "simple", "after_seconds": BIG},
        "after_seconds",
    ),
    ("POST", "/store/items/search", {"offset": BIG}, "offset"),
    ("POST", "/store/namespaces", {"offset": BIG}, "offset"),
    ("POST", "/store/namespaces", {"max_depth": BIG}, "max_depth"),
    ("PUT", "/store/items", {"namespace": ["a"], "key": "k", "value": {}, "ttl": 1e300}, "ttl"),
    ("POST", "/api/v1/workers/bad-input/heartbeat", {"active_runs": BIG}, "active_runs"),
    ("POST", "/api/v1/workers/bad-input/poll", {"max_tasks": BIG}, "max_tasks"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    HUGE_NUMBER_REQUESTS,
    ids=[f"{m} {p} {f} {'body' if b else 'query'}" for m, p, b, f in HUGE_NUMBER_REQUESTS],
)
def test_out_of_range_numbers_are_422_naming_the_field_and_write_nothing(
    http, existing, rows, method, path, body, field
):
    before = rows()
    response = http.request(method, fill(path, existing), json=body)
    assert_refused(response, 422, mentions=field)
    assert rows() == before


def test_the_largest_bigint_offset_is_served(http, existing):
    """The bound is PostgreSQL's own: the largest ``OFFSET`` it takes is answered (no rows)."""
    top = 2**63 - 1
    for method, path, body in [
        ("POST", "/threads/search", {"offset": top}),
        ("POST", "/assistants/search", {"offset": top}),
        ("POST", "/runs/crons/search", {"offset": top}),
        ("POST", f"/assistants/{existing.assistant_id}/versions", {"offset": top}),
        ("GET", f"/threads/{existing.thread_id}/runs?offset={top}", None),
        ("POST", "/store/items/search", {"offset": top}),
    ]:
        response = http.request(method, path, json=body)
        assert response.status_code == 200, (path, response.text[:300])
        assert response.json() in ([], {"items": []}), path


#: A multipart body (a browser form, ``curl -F``) to every write endpoint: 415 JSON. A malformed
#: one too (Twisted used to answer that itself with an empty 400, before Django saw it).
MULTIPART_BODIES = {
    "form": (
        b'--b0undary\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n{}\r\n'
        b"--b0undary--\r\n",
        "multipart/form-data; boundary=b0undary",
    ),
    "malformed": (b"not multipart at all", "multipart/form-data; boundary=b0undary"),
    "no boundary": (b"--x\r\n\r\n--x--\r\n", "multipart/form-data"),
}


@pytest.mark.parametrize("kind", list(MULTIPART_BODIES))
@pytest.mark.parametrize(("method", "path", "wrong", "field"), BODY_ENDPOINTS, ids=BODY_IDS)
def test_a_multipart_body_is_415_and_writes_nothing(
    http, existing, rows, method, path, wrong, field, kind
):
    content, content_type = MULTIPART_BODIES[kind]
    before = rows()
    response = http.request(
        method, fill(path, existing), content=content, headers={"Content-Type": content_type}
    )
    assert_refused(response, 415, mentions="Unsupported media type")
    assert rows() == before


def test_a_file_upload_is_415(http, rows):
    before = rows()
    response = http.post("/threads", files={"metadata": ("m.json", b"{}", "application/json")})
    assert_refused(response, 415)
    assert rows() == before


#: Paths and the methods they answer; every other method (a standard one they do not serve,
#: or one nobody knows) is a 405 JSON naming the method, with ``Allow``.
METHOD_CASES = [
    ("/ok", {"GET", "HEAD"}),
    ("/health", {"GET", "HEAD"}),
    ("/metrics", {"GET", "HEAD"}),
    ("/info", {"GET", "HEAD", "OPTIONS"}),
    ("/openapi.json", {"GET", "HEAD", "OPTIONS"}),
    ("/threads", {"POST", "OPTIONS"}),
    ("/threads/{t}", {"GET", "HEAD", "PATCH", "DELETE", "OPTIONS"}),
    ("/api/v1/threads/search", {"POST", "OPTIONS"}),
    ("/store/items", {"GET", "HEAD", "PUT", "DELETE", "OPTIONS"}),
    ("/runs/crons/{c}", {"GET", "HEAD", "PATCH", "DELETE", "OPTIONS"}),
    ("/api/v1/workers/register", {"POST", "OPTIONS"}),
]


@pytest.mark.parametrize(("path", "allowed"), METHOD_CASES, ids=[p for p, _ in METHOD_CASES])
def test_an_unsupported_method_is_405_json_with_allow(http, existing, rows, path, allowed):
    before = rows()
    for method in sorted({"GET", "POST", "PUT", "PATCH", "DELETE", "FOO", "TRACE"} - allowed):
        response = http.request(method, fill(path, existing))
        body = assert_refused(response, 405, mentions=method)
        assert set(response.headers["allow"].split(", ")) == allowed, (method, body)
    assert rows() == before


def test_the_plain_views_still_answer_their_methods(http):
    assert http.get("/ok").json() == {"ok": True}
    assert http.head("/ok").status_code == 200
    assert http.get("/health").status_code == 200
    assert http.get("/metrics").text.startswith("#")


@pytest.mark.parametrize(
    "path", ["/nope", "/threads/a/b/c/d", "/api/v1/nope", "/api/v1/workers/a/b/c", "/okay"]
)
def test_an_unknown_api_path_is_404_json(http, path):
    for method in ("GET", "POST", "DELETE"):
        assert_refused(http.request(method, path), 404, mentions="Not Found")


@pytest.mark.parametrize(
    ("path", "status"),
    [("/", 200), ("/dashboard/nope", 404), ("/admin/login/", 200), ("/docs", 200)],
)
def test_browser_paths_keep_django_html_pages(http, path, status):
    response = http.get(path)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.lstrip().lower().startswith("<!doctype html")
