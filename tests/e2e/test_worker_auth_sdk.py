"""The unchanged ``duragraph==0.3.3`` worker SDK through authentication (``AUTH_ENABLED=true``):
pointed at ``http://worker:<key>@host:port`` it authenticates with no code of its own (httpx
sends URL userinfo as HTTP Basic, and the key is accepted as the Basic password), registers,
polls and completes a run that ``langgraph-sdk`` created with an API key; the same worker
without the key in its URL is refused (401) and never gets work."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_sync_client

from tests.e2e.processes import (
    REMOTE_WORKER,
    Process,
    sdk_python,
    start,
    start_api_server,
    start_remote_worker,
    wait_for,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def logs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("worker-auth-logs")


@pytest.fixture(scope="module")
def keys(e2e_database, django_db_blocker) -> dict[str, str]:
    from accounts import services

    with django_db_blocker.unblock():
        worker_key, worker = services.create_api_key(
            name="sdk workers", scopes=["worker"], all_tenants=True
        )
        api_key, api = services.create_api_key(name="sdk client")
    return {
        "worker": worker,
        "worker_identity": worker_key.identity,
        "api": api,
        "api_identity": api_key.identity,
    }


@pytest.fixture(scope="module")
def server(server_env, keys, logs):
    process, url = start_api_server(
        "worker-auth-daphne", {**server_env, "AUTH_ENABLED": "true"}, logs
    )
    yield url
    process.stop()


def start_keyless_worker(name: str, url: str, logs: Path, effects: Path) -> Process:
    """The same SDK worker as ``start_remote_worker``, without waiting for a registration
    that will not come."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONUNBUFFERED": "1",
        "DURAGRAPH_URL": url,
        "WORKER_NAME": name,
        "POLL_INTERVAL": "0.05",
        "EFFECTS_FILE": str(effects),
    }
    return start(name, [str(sdk_python()), str(REMOTE_WORKER)], env, logs)


def test_an_sdk_worker_with_its_key_in_the_url_serves_runs_and_one_without_is_refused(
    server, keys, logs, tmp_path, event_log
):
    effects = tmp_path / "effects.log"
    effects.touch()
    host = server.removeprefix("http://")
    keyless_name, keyed_name = (f"{kind}-{uuid.uuid4().hex[:6]}" for kind in ("keyless", "keyed"))
    as_worker = {"x-api-key": keys["worker"]}

    anonymous = get_sync_client(url=server, api_key=None)
    client = get_sync_client(url=server, api_key=keys["api"])
    keyless = start_keyless_worker(keyless_name, server, logs, effects)
    keyed = None
    try:
        wait_for(
            lambda: "401 Unauthorized" in keyless.output() or not keyless.alive(),
            timeout=60,
            what="the keyless worker's registration to be refused",
        )
        assert "Registration failed" in keyless.output()

        keyed = start_remote_worker(
            keyed_name,
            url=f"http://worker:{keys['worker']}@{host}",
            log_dir=logs,
            effects=effects,
        )
        registered = httpx.get(f"{server}/api/v1/workers/{keyed_name}", headers=as_worker)
        assert registered.status_code == 200 and registered.json()["status"] == "online"

        # The API needs a key of its own; langgraph-sdk sends it as x-api-key.
        with pytest.raises(httpx.HTTPStatusError) as refused:
            anonymous.threads.create()
        assert refused.value.response.status_code == 401
        thread = client.threads.create()
        values = client.runs.wait(thread["thread_id"], "remote_hello", input={"tag": "authed"})
        assert values["greeting"] == "Hello, World!" and values["farewell"] == "bye"
        [run] = client.runs.list(thread["thread_id"])
        assert run["status"] == "success"

        # Who did what, in the event log: the client created the run, the keyed worker ran it.
        log = event_log(run["run_id"])
        assert {e.metadata.get("worker_id") for e in log if e.type == "RunStarted"} == {keyed_name}
        assert [e.metadata.get("actor") for e in log if e.type == "RunCreated"] == [
            keys["api_identity"]
        ]
        assert {e.metadata.get("actor") for e in log if e.type == "NodeStarted"} == {
            keys["worker_identity"]
        }

        # The keyless worker never registered, never polled, never ran a node.
        assert keyless.alive() and "Registered" not in keyless.output()
        missing = httpx.get(f"{server}/api/v1/workers/{keyless_name}", headers=as_worker)
        assert missing.status_code == 404
        assert {line.split(" ")[0] for line in effects.read_text().splitlines()} == {keyed_name}
        # What it would meet polling: 401 without a key, 403 with a key lacking the scope.
        poll = f"{server}/api/v1/workers/{keyed_name}/poll"
        assert httpx.post(poll, json={"max_tasks": 1}).status_code == 401
        as_client = {"x-api-key": keys["api"]}
        assert httpx.post(poll, json={"max_tasks": 1}, headers=as_client).status_code == 403
    finally:
        keyless.stop()
        if keyed is not None:
            keyed.stop()
        for sdk in (anonymous, client):
            sdk.http.client.close()
