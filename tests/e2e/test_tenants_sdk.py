"""Tenant isolation through the official client: two tenants, each with its own API key, drive
the unchanged ``langgraph-sdk`` against a real daphne with authentication on (and a Celery
executor, so runs really end). For every operation that takes or returns an id, tenant B gets
404 (or empty results) for tenant A's objects, exactly as for an unknown id; A still sees all of
its own; system assistants are visible to both; an all-tenant key sees both tenants
(docs/tenants.md). Each write's events carry the actor and tenant that caused it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from langgraph_sdk import get_sync_client
from langgraph_sdk.client import SyncLangGraphClient
from langgraph_sdk.errors import ConflictError, PermissionDeniedError

from tests.e2e.processes import Process, start_api_server, start_executor

pytestmark = pytest.mark.e2e

TENANT_A = "tenant-a"
TENANT_B = "tenant-b"
#: LangGraph's id of the default assistant of graph "simple" (uuid5, the system assistant).
SIMPLE_SYSTEM_ASSISTANT = str(
    uuid.uuid5(uuid.UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8"), "simple")
)


@dataclass
class Caller:
    client: SyncLangGraphClient
    key: str
    actor: str


@pytest.fixture(scope="module")
def server(server_env, system_assistants, tmp_path_factory) -> Iterator[str]:
    """daphne with authentication on, and an executor to run what it queues."""
    env = {**server_env, "AUTH_ENABLED": "true", "API_KEY_CACHE_SECONDS": "0"}
    logs = tmp_path_factory.mktemp("tenants")
    process: Process
    process, url = start_api_server("tenants-api", env, logs)
    executor = start_executor(env, logs, name="exec-tenants")
    yield url
    executor.stop()
    process.stop()


@pytest.fixture(scope="module")
def callers(server, django_db_blocker) -> Iterator[dict[str, Caller]]:
    from accounts import services

    with django_db_blocker.unblock():
        made = {
            "a": services.create_api_key(name="tenant a", tenant=TENANT_A),
            "b": services.create_api_key(name="tenant b", tenant=TENANT_B),
            "all": services.create_api_key(name="operator", all_tenants=True),
        }
    callers = {
        name: Caller(
            client=get_sync_client(url=server, api_key=plaintext),
            key=plaintext,
            actor=f"apikey:{key.prefix}",
        )
        for name, (key, plaintext) in made.items()
    }
    yield callers
    for caller in callers.values():
        caller.client.http.client.close()


@pytest.fixture(scope="module")
def a_objects(callers) -> dict:
    """Tenant A's assistant, thread (with a finished run), a pending run, a cron, a store item."""
    a = callers["a"].client
    tag = {"tenants-e2e": uuid.uuid4().hex}
    assistant = a.assistants.create("simple", name="a's assistant", metadata=tag)
    thread = a.threads.create(metadata=tag)
    result = a.runs.wait(thread["thread_id"], assistant["assistant_id"], input={"items": ["x"]})
    assert result == {"items": ["x", "a", "b"]}
    [run] = a.runs.list(thread["thread_id"])
    # A run that stays pending (an hour away) on a thread of its own, for the cancels.
    waiting_thread = a.threads.create(metadata=tag)
    pending = a.runs.create(
        waiting_thread["thread_id"], assistant["assistant_id"], input={}, after_seconds=3600
    )
    cron = a.crons.create_for_thread(
        thread["thread_id"], assistant["assistant_id"], schedule="0 0 1 1 *"
    )
    namespace = ["tenants", tag["tenants-e2e"]]
    a.store.put_item(namespace, "profile", {"owner": "a"})
    return {
        "tag": tag,
        "assistant": assistant,
        "thread": thread,
        "run": run,
        "waiting_thread": waiting_thread,
        "pending": pending,
        "cron": cron,
        "namespace": namespace,
    }


def not_found(call, *args, **kwargs) -> str:
    """Calls the SDK; returns the 404's detail (fails on anything else). The SDK raises its
    NotFoundError, or httpx's error for the calls it does not wrap (``join``), both 404s."""
    with pytest.raises(httpx.HTTPStatusError) as raised:
        result = call(*args, **kwargs)
        if hasattr(result, "__next__"):  # a stream answers when it is read
            list(result)
    assert raised.value.response.status_code == 404
    return raised.value.response.json()["detail"]


def test_another_tenants_assistants_answer_as_unknown_ones(callers, a_objects):
    b = callers["b"].client
    mine = a_objects["assistant"]["assistant_id"]
    unknown = str(uuid.uuid4())

    for operation in (
        b.assistants.get,
        b.assistants.get_versions,
        b.assistants.get_graph,
        b.assistants.get_schemas,
        b.assistants.get_subgraphs,
        b.assistants.delete,
    ):
        # Same status, same detail as an id that names nothing.
        assert not_found(operation, mine) == not_found(operation, unknown).replace(unknown, mine)
    assert not_found(b.assistants.update, mine, metadata={"x": 1}) == f"Assistant {mine} not found"
    assert not_found(b.assistants.set_latest, mine, 1) == f"Assistant {mine} not found"
    assert b.assistants.search(metadata=a_objects["tag"]) == []
    assert b.assistants.count(metadata=a_objects["tag"]) == 0
    assert mine not in {found["assistant_id"] for found in b.assistants.search(limit=1000)}
    # Its id is taken, but B is never handed A's assistant.
    with pytest.raises(ConflictError):
        b.assistants.create("simple", assistant_id=mine, if_exists="do_nothing")
    # B cannot run it either.
    thread = b.threads.create()
    assert not_found(b.runs.create, thread["thread_id"], mine, input={}) == (
        f"Assistant {mine} not found"
    )

    # A still sees all of it.
    a = callers["a"].client
    assert a.assistants.get(mine)["name"] == "a's assistant"
    assert [found["assistant_id"] for found in a.assistants.search(metadata=a_objects["tag"])] == [
        mine
    ]
    assert a.assistants.count(metadata=a_objects["tag"]) == 1
    assert [version["version"] for version in a.assistants.get_versions(mine)] == [1]
    assert a.assistants.get_schemas(mine)["graph_id"] == "simple"
    assert a.assistants.get_graph(mine)["nodes"]


def test_system_assistants_are_visible_to_every_tenant_and_changed_by_none(callers):
    for name in ("a", "b"):
        client = callers[name].client
        assert client.assistants.get(SIMPLE_SYSTEM_ASSISTANT)["graph_id"] == "simple"
        found = client.assistants.search(graph_id="simple", limit=1000)
        assert SIMPLE_SYSTEM_ASSISTANT in {assistant["assistant_id"] for assistant in found}
        assert client.runs.wait(None, "simple", input={"items": []}) == {"items": ["a", "b"]}
        with pytest.raises(PermissionDeniedError) as refused:
            client.assistants.update(SIMPLE_SYSTEM_ASSISTANT, metadata={"mine": name})
        assert "system assistant" in refused.value.response.json()["detail"]
        with pytest.raises(PermissionDeniedError):
            client.assistants.delete(SIMPLE_SYSTEM_ASSISTANT)
    assert "mine" not in callers["a"].client.assistants.get(SIMPLE_SYSTEM_ASSISTANT)["metadata"]


def test_another_tenants_threads_answer_as_unknown_ones(callers, a_objects):
    b = callers["b"].client
    mine = a_objects["thread"]["thread_id"]
    unknown = str(uuid.uuid4())
    expected = f"Thread with ID {mine} not found"

    for operation in (b.threads.get, b.threads.get_state, b.threads.get_history, b.threads.copy):
        assert not_found(operation, mine) == not_found(operation, unknown).replace(unknown, mine)
        assert not_found(operation, mine) == expected
    assert not_found(b.threads.update, mine, metadata={"x": 1}) == expected
    assert not_found(b.threads.update_state, mine, {"items": ["b"]}) == expected
    assert not_found(b.threads.join_stream, mine) == expected
    assert not_found(b.threads.delete, mine) == expected
    assert b.threads.search(metadata=a_objects["tag"]) == []
    assert b.threads.search(ids=[mine]) == []
    assert b.threads.count(metadata=a_objects["tag"]) == 0
    with pytest.raises(ConflictError):
        b.threads.create(thread_id=mine, if_exists="do_nothing")
    b.threads.prune([mine])  # pruning another tenant's thread prunes nothing

    a = callers["a"].client
    thread = a.threads.get(mine)
    assert thread["values"] == {"items": ["x", "a", "b"]}
    assert a.threads.get_state(mine)["values"] == {"items": ["x", "a", "b"]}
    assert a.threads.get_history(mine)
    assert a.threads.count(metadata=a_objects["tag"]) == 2
    assert {found["thread_id"] for found in a.threads.search(metadata=a_objects["tag"])} == {
        mine,
        a_objects["waiting_thread"]["thread_id"],
    }
    copy = a.threads.copy(mine)
    assert a.threads.get_state(copy["thread_id"])["values"] == {"items": ["x", "a", "b"]}
    assert not_found(b.threads.get, copy["thread_id"])  # the copy is A's too


def test_another_tenants_runs_answer_as_unknown_ones(callers, a_objects, server):
    b = callers["b"].client
    thread_id = a_objects["thread"]["thread_id"]
    run_id = a_objects["run"]["run_id"]
    expected = f"Run {run_id} not found"

    assert not_found(b.runs.get, thread_id, run_id) == expected
    assert not_found(b.runs.join, thread_id, run_id) == expected
    assert not_found(b.runs.join_stream, thread_id, run_id) == expected
    assert not_found(b.runs.cancel, thread_id, run_id) == expected
    assert not_found(b.runs.delete, thread_id, run_id) == expected
    assert not_found(b.runs.list, thread_id) == f"Thread with ID {thread_id} not found"
    for operation in (b.runs.create, b.runs.wait, b.runs.stream):
        assert not_found(operation, thread_id, "simple", input={}) == (
            f"Thread with ID {thread_id} not found"
        )
    # A stateless run's stream by run id alone (no SDK method): the same 404.
    response = httpx.get(f"{server}/runs/{run_id}/stream", headers={"x-api-key": callers["b"].key})
    assert (response.status_code, response.json()) == (404, {"detail": expected})

    # Batch cancel: A's pending run is unknown to B (LangGraph's 404 when nothing matched).
    pending = a_objects["pending"]
    assert not_found(b.runs.cancel_many, run_ids=[pending["run_id"]]) == "No active runs matched"
    assert not_found(b.runs.cancel_many, thread_id=pending["thread_id"])
    a = callers["a"].client
    assert a.runs.get(pending["thread_id"], pending["run_id"])["status"] == "pending"

    # A sees all of its own, and cancels its pending run with the same request.
    assert a.runs.get(thread_id, run_id)["status"] == "success"
    assert [run["run_id"] for run in a.runs.list(thread_id)] == [run_id]
    assert a.runs.join(thread_id, run_id) == {"items": ["x", "a", "b"]}
    assert [part.event for part in a.runs.join_stream(thread_id, run_id)][-1:] != ["error"]
    a.runs.cancel_many(run_ids=[pending["run_id"]])
    assert a.runs.get(pending["thread_id"], pending["run_id"])["status"] == "interrupted"


def test_another_tenants_crons_answer_as_unknown_ones(callers, a_objects):
    b = callers["b"].client
    thread_id = a_objects["thread"]["thread_id"]
    cron_id = a_objects["cron"]["cron_id"]

    assert not_found(b.crons.create_for_thread, thread_id, "simple", schedule="* * * * *") == (
        f"Thread with ID {thread_id} not found"
    )
    assert not_found(
        b.crons.create, a_objects["assistant"]["assistant_id"], schedule="* * * * *"
    ) == (f"Assistant {a_objects['assistant']['assistant_id']} not found")
    assert b.crons.search(thread_id=thread_id) == []
    assert cron_id not in {cron["cron_id"] for cron in b.crons.search(limit=1000)}
    assert b.crons.count(thread_id=thread_id) == 0
    assert not_found(b.crons.update, cron_id, enabled=False) == f"Cron {cron_id} not found"
    assert not_found(b.crons.delete, cron_id) == f"Cron {cron_id} not found"

    a = callers["a"].client
    assert [cron["cron_id"] for cron in a.crons.search(thread_id=thread_id)] == [cron_id]
    assert a.crons.count(thread_id=thread_id) == 1
    a.crons.delete(cron_id)
    assert a.crons.search(thread_id=thread_id) == []


def test_each_tenant_has_a_store_of_its_own(callers, a_objects):
    a, b = callers["a"].client, callers["b"].client
    namespace = a_objects["namespace"]

    assert b.store.get_item(namespace, "profile") is None
    assert b.store.search_items(namespace)["items"] == []
    assert b.store.list_namespaces(prefix=namespace)["namespaces"] == []
    b.store.put_item(namespace, "profile", {"owner": "b"})  # its own item, same address
    b.store.delete_item(namespace, "profile")

    assert a.store.get_item(namespace, "profile")["value"] == {"owner": "a"}
    assert [item["value"] for item in a.store.search_items(namespace)["items"]] == [{"owner": "a"}]
    assert a.store.list_namespaces(prefix=namespace)["namespaces"] == [namespace]


def test_an_all_tenant_key_sees_every_tenant(callers, a_objects):
    operator = callers["all"].client
    assert operator.threads.get(a_objects["thread"]["thread_id"])["thread_id"]
    assert operator.assistants.get(a_objects["assistant"]["assistant_id"])
    tenant_b_thread = callers["b"].client.threads.create(metadata=a_objects["tag"])
    found = {thread["thread_id"] for thread in operator.threads.search(metadata=a_objects["tag"])}
    assert {a_objects["thread"]["thread_id"], tenant_b_thread["thread_id"]} <= found


def test_every_write_records_its_tenant_and_actor(callers, a_objects, event_log):
    created_by_a = [
        (a_objects["assistant"]["assistant_id"], "AssistantCreated"),
        (a_objects["thread"]["thread_id"], "ThreadCreated"),
        (a_objects["run"]["run_id"], "RunCreated"),
    ]
    for stream_id, created in created_by_a:
        events = event_log(stream_id)
        assert events[0].type == created
        assert events[0].payload["tenant"] == TENANT_A  # replay restores the tenant from it
        by_requests = [event for event in events if "request_id" in event.metadata]
        assert by_requests
        for event in by_requests:
            assert event.metadata["actor"] == callers["a"].actor
            assert event.metadata["tenant"] == TENANT_A

    b = callers["b"].client
    thread = b.threads.create()
    b.threads.update(thread["thread_id"], metadata={"step": 2})
    events = event_log(thread["thread_id"])
    assert [event.type for event in events] == ["ThreadCreated", "ThreadMetadataUpdated"]
    assert events[0].payload["tenant"] == TENANT_B
    for event in events:
        assert (event.metadata["actor"], event.metadata["tenant"]) == (
            callers["b"].actor,
            TENANT_B,
        )
