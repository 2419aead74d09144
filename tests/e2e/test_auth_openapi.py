"""With authentication on, nothing answers a caller without credentials but the public paths.

Against daphne (``AUTH_ENABLED=true``), every operation of the OpenAPI document it serves,
at the root and under ``/api/v1``, SSE streams included, is called without credentials and
with a forged key, on real objects (a thread with a pending run, a cron, a store item, the
graphs' assistants) and with bodies that would succeed: each answers 401 ``{"detail"}`` with a
``WWW-Authenticate`` challenge, and the event log has not grown. The public paths answer
anyone, even with a wrong credential. The admin's session cookie opens nothing on the API
paths (they have no session middleware). The document declares the three schemes every
operation accepts, and ``/docs`` can authorize. WebSockets without credentials are refused at
the handshake.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
import websockets

from tests.e2e.processes import start_api_server

pytestmark = pytest.mark.e2e

CHALLENGE = 'Bearer realm="duragraph"'
PUBLIC_PATHS = ["/ok", "/health", "/metrics", "/openapi.json", "/docs"]
FORGED = "dg_0123456789ab_" + "A" * 43
#: The paths served at the root only, as LangGraph's server serves them.
ROOT_ONLY = {
    "/info",
    "/mcp/",
    "/a2a/{assistant_id}",
    "/a2a/{assistant_id}/.well-known/agent-card.json",
    "/.well-known/agent-card.json",
}
#: Bodies that would be accepted (they create or change something) were the caller known.
BODIES = {
    "threads_create": {"metadata": {"by": "nobody"}},
    "post_mcp": {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "simple", "arguments": {"items": ["intruder"]}},
    },
    "post_a2a": {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "message/send",
        "params": {
            "message": {
                "role": "user",
                "messageId": "intruder",
                "parts": [{"kind": "data", "data": {"items": ["intruder"]}}],
            }
        },
    },
    "threads_update": {"metadata": {"by": "nobody"}},
    "threads_copy": {},
    "threads_prune": {"thread_ids": ["{thread_id}"], "strategy": "delete"},
    "threads_update_state": {"values": {"messages": []}},
    "assistants_create": {"graph_id": "simple", "name": "intruder"},
    "assistants_update": {"name": "intruder"},
    "runs_create": {"assistant_id": "simple", "input": {}},
    "runs_create_stateless": {"assistant_id": "simple", "input": {}},
    "runs_stream": {"assistant_id": "simple", "input": {}},
    "runs_stream_stateless": {"assistant_id": "simple", "input": {}},
    "runs_wait": {"assistant_id": "simple", "input": {}},
    "runs_wait_stateless": {"assistant_id": "simple", "input": {}},
    "runs_batch": [{"assistant_id": "simple", "input": {}}],
    "runs_cancel_many": {"run_ids": ["{run_id}"], "thread_id": "{thread_id}"},
    "crons_create": {"assistant_id": "simple", "schedule": "0 0 * * *"},
    "crons_create_for_thread": {"assistant_id": "simple", "schedule": "0 0 * * *"},
    "crons_update": {"schedule": "0 1 * * *"},
    "store_put_item": {"namespace": ["auth"], "key": "other", "value": {"a": 1}},
    "workers_register": {"worker_id": "intruder", "graph_definitions": []},
    "workers_heartbeat": {},
    "workers_events": {"events": []},
    "workflows_create": {"id": "intruded", "name": "x", "on": "push", "jobs": {"a": {"run": "x"}}},
    "workflows_worker_register": {"worker_id": "intruder", "labels": []},
    "workflows_job_claim": {"worker_id": "intruder", "labels": [], "max_jobs": 5},
    "workflows_lease_fail": {"error": "x", "retryable": False},
    "workflows_lease_complete": {"outputs": {}},
    "workflows_leases_complete": {
        "completions": [{"lease_id": "00000000-0000-0000-0000-000000000000", "outputs": {}}]
    },
    "workflows_lease_logs": {"chunks": []},
    "prompts_create": {"prompt_id": "intruder/prompt", "content": "x"},
    "prompts_create_version": {"content": "intruded"},
    "protocol_thread_command_post": {
        "id": 1,
        "method": "run.start",
        "params": {"assistant_id": "simple", "input": {}},
    },
    "protocol_thread_events_post": {"channels": ["values"]},
}


@pytest.fixture(scope="module")
def api_key(server_env, django_db_blocker) -> str:
    from accounts import services

    with django_db_blocker.unblock():
        _, plaintext = services.create_api_key(name="e2e", scopes=["api", "worker"])
    return plaintext


@pytest.fixture(scope="module")
def secured(server_env, system_assistants, tmp_path_factory) -> str:
    """daphne with authentication on (the e2e servers run with it off)."""
    env = {**server_env, "AUTH_ENABLED": "true"}
    process, url = start_api_server("daphne-auth", env, tmp_path_factory.mktemp("auth-logs"))
    yield url
    process.stop()


@pytest.fixture(scope="module")
def objects(secured, api_key) -> dict[str, str]:
    """Real objects to aim at, made through the API with a key."""
    with httpx.Client(base_url=secured, headers={"x-api-key": api_key}, timeout=30) as http:
        thread = http.post("/threads", json={}).json()["thread_id"]
        run = http.post(f"/threads/{thread}/runs", json={"assistant_id": "simple"}).json()
        cron = http.post("/runs/crons", json={"assistant_id": "simple", "schedule": "0 0 * * *"})
        assert cron.status_code == 200, cron.text
        item = {"namespace": ["auth"], "key": "k", "value": {"a": 1}}
        assert http.put("/store/items", json=item).status_code == 204
        assistant = http.post("/assistants/search", json={"graph_id": "simple"}).json()[0]
        prompt = {"prompt_id": "auth/prompt", "content": "kept"}
        assert http.post("/api/v1/prompts", json=prompt).status_code == 201
        return {
            "thread_id": thread,
            "run_id": run["run_id"],
            "cron_id": cron.json()["cron_id"],
            "assistant_id": assistant["assistant_id"],
            "checkpoint_id": str(uuid.uuid4()),
            "namespace": "child",
            "graph_id": "simple",
            "worker_id": "w1",
            "workflow_id": "ci",
            "job_id": "build",
            "lease_id": str(uuid.uuid4()),
            "prompt_id": "auth/prompt",
        }


@pytest.fixture(scope="module")
def document(secured) -> dict:
    response = httpx.get(f"{secured}/openapi.json", timeout=30)
    assert response.status_code == 200
    return response.json()


def _operations(document: dict) -> list[tuple[str, str, dict]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def _fill(value, objects: dict[str, str]):
    if isinstance(value, str):
        return value.format(**objects)
    if isinstance(value, list):
        return [_fill(item, objects) for item in value]
    if isinstance(value, dict):
        return {key: _fill(item, objects) for key, item in value.items()}
    return value


def _request(operation: dict, path: str, objects: dict[str, str]) -> tuple[str, dict]:
    """The operation's URL on real objects, with its required query parameters, and its
    request: a body that would be accepted, where it takes one."""
    url = path.format(**objects)
    params = {
        parameter["name"]: "auth" if parameter["name"] == "namespace" else "k"
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query" and parameter.get("required")
    }
    request: dict = {"params": params}
    if "requestBody" in operation:
        request["json"] = _fill(BODIES.get(operation["operationId"], {}), objects)
    return url, request


def _counts(url: str, api_key: str) -> dict[str, int]:
    with httpx.Client(base_url=url, headers={"x-api-key": api_key}, timeout=30) as http:
        return {
            kind: http.post(f"{kind}/count", json={}).json()
            for kind in ("/threads", "/assistants", "/runs/crons")
        }


def _assert_refused(response: httpx.Response, what: str) -> None:
    assert response.status_code == 401, f"{what}: {response.status_code} {response.text[:300]}"
    assert response.headers["content-type"].startswith("application/json"), what
    body = response.json()
    assert set(body) == {"detail"} and isinstance(body["detail"], str) and body["detail"], what
    assert response.headers["WWW-Authenticate"] == CHALLENGE, what


def test_every_operation_refuses_a_caller_without_credentials_and_changes_nothing(
    secured, document, objects, event_count, api_key
):
    operations = _operations(document)
    assert len(operations) > 50  # the whole API, the worker protocol and the streams
    streams = [op for _, _, op in operations if "stream" in op["operationId"]]
    assert len(streams) == 6  # LangGraph's five, and a DAG job's log
    before = event_count()
    counts_before = _counts(secured, api_key)
    called = []
    with httpx.Client(base_url=secured, timeout=30) as http:
        for method, path, operation in operations:
            url, request = _request(operation, path, objects)
            # LangGraph's paths are served under /api/v1 too (/info, /mcp/, A2A's, the
            # workers' and workflow-graph's /api/ routes only once).
            once = path.startswith("/api/") or path in ROOT_ONLY
            prefixes = [""] if once else ["", "/api/v1"]
            for prefix in prefixes:
                for label, headers in (
                    ("no credentials", {}),
                    ("a forged key", {"x-api-key": FORGED}),
                    ("a forged bearer", {"Authorization": f"Bearer {FORGED}"}),
                ):
                    if "stream" in operation["operationId"]:
                        headers = {**headers, "Accept": "text/event-stream"}
                    what = f"{method} {prefix}{url} with {label}"
                    with http.stream(method, prefix + url, headers=headers, **request) as response:
                        response.read()  # a stream would never end: a refusal does
                    _assert_refused(response, what)
                    called.append(what)
    assert event_count() == before, "a refused request appended events"
    # The objects are intact, and the same key-holding caller still reaches them.
    with httpx.Client(base_url=secured, headers={"x-api-key": api_key}, timeout=30) as http:
        thread = http.get(f"/threads/{objects['thread_id']}").json()
        assert "by" not in thread["metadata"]
        run = http.get(f"/threads/{objects['thread_id']}/runs/{objects['run_id']}").json()
        assert run["status"] == "pending"
        assert http.get(f"/runs/crons/{objects['cron_id']}").status_code == 200
        assert http.get("/store/items", params={"namespace": "auth", "key": "k"}).status_code == 200
        assert "intruder" not in http.get("/api/v1/workers").text
        prompts = http.get("/api/v1/prompts").json()["prompts"]
        assert [(p["prompt_id"], p["latest_version"]) for p in prompts] == [("auth/prompt", "1")]
    assert _counts(secured, api_key) == counts_before
    assert len(called) >= 3 * len(operations)


def test_the_public_paths_answer_anyone_even_with_a_wrong_credential(secured):
    with httpx.Client(base_url=secured, timeout=30) as http:
        for path in PUBLIC_PATHS:
            for headers in ({}, {"x-api-key": FORGED}, {"Authorization": "Bearer nonsense"}):
                response = http.get(path, headers=headers)
                assert response.status_code == 200, (path, headers, response.text[:200])
        _assert_refused(http.get("/info"), "GET /info")


def test_an_admin_session_opens_nothing_on_the_api_paths(secured, objects, django_db_blocker):
    from django.contrib.auth import get_user_model

    with django_db_blocker.unblock():
        get_user_model().objects.create_superuser("auth-admin", password="a-long-password-1")
    with httpx.Client(base_url=secured, timeout=30) as browser:
        browser.get("/admin/login/")
        login = browser.post(
            "/admin/login/?next=/admin/",
            data={
                "username": "auth-admin",
                "password": "a-long-password-1",
                "csrfmiddlewaretoken": browser.cookies["csrftoken"],
                "next": "/admin/",
            },
        )
        assert login.status_code == 302 and login.headers["location"] == "/admin/"
        assert "sessionid" in browser.cookies
        assert browser.get("/admin/").status_code == 200  # logged in: a browser path
        assert browser.get("/docs").status_code == 200
        _assert_refused(browser.get(f"/threads/{objects['thread_id']}"), "session on the API")
        _assert_refused(browser.post("/threads/search", json={}), "session on the API")


def test_the_document_declares_its_security_schemes_and_every_operation_uses_them(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKey"] | {"description": None} == {
        "type": "apiKey",
        "in": "header",
        "name": "x-api-key",
        "description": None,
    }
    assert (schemes["Bearer"]["type"], schemes["Bearer"]["scheme"]) == ("http", "bearer")
    assert (schemes["Basic"]["type"], schemes["Basic"]["scheme"]) == ("http", "basic")
    alternatives = [{"ApiKey": []}, {"Bearer": []}, {"Basic": []}]
    for method, path, operation in _operations(document):
        # Any one of the three (a list of alternatives), never anonymous ({}).
        assert operation.get("security") == alternatives, (method, path)
    worker_paths = [path for _, path, _ in _operations(document) if "/workers" in path]
    assert "/api/v1/workers/register" in worker_paths


def test_the_swagger_ui_can_authorize_and_keeps_it(secured):
    """/docs loads the served document (whose schemes give it its "Authorize" button) and
    keeps what was entered across reloads."""
    page = httpx.get(f"{secured}/docs", timeout=30).text
    assert '"persistAuthorization": true' in page
    assert "/openapi.json" in page


def test_websockets_without_credentials_are_refused_at_the_handshake(secured, objects):
    """``accounts.websockets`` (the Channels middleware): no credential, no socket."""
    base = secured.replace("http://", "ws://")

    async def refused(path: str, headers: dict[str, str]) -> int:
        with pytest.raises(websockets.InvalidStatus) as error:
            async with websockets.connect(base + path, open_timeout=10, additional_headers=headers):
                pass
        return error.value.response.status_code

    for path in (
        f"/ws/threads/{objects['thread_id']}",
        f"/ws/runs/{objects['run_id']}",
        f"/threads/{objects['thread_id']}/stream/events",  # protocol v2's
        f"/api/v1/threads/{objects['thread_id']}/stream/events",
    ):
        for headers in ({}, {"x-api-key": FORGED}):
            assert asyncio.run(refused(path, headers)) == 403, (path, headers)
