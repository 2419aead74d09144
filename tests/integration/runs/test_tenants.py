"""Runs and crons belong to their thread's tenant (a stateless run or cron to its caller's):
another tenant's run, thread or cron answers exactly as an unknown one (404), in gets, lists,
cancels (batch ones included), deletes, run creation, crons, and the WebSocket streams
(docs/tenants.md)."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.urls import path
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services as account_services
from accounts.domain import Principal
from assistants import services as assistant_services
from duragraph_site.errors import NotFound
from events import store
from runs import consumers, crons, selectors, services, stream_log
from runs.models import Run
from threads import services as thread_services

A, B = "tenant-a", "tenant-b"


@pytest.fixture
def a_run(system_assistant) -> Run:
    thread = thread_services.thread_create(tenant=A)
    return services.run_create(
        thread_id=thread.thread_id, assistant_id=system_assistant, tenant=A, scope=A
    )


def detail(call, *args, **kwargs) -> str:
    with pytest.raises(NotFound) as raised:
        call(*args, **kwargs)
    return raised.value.message


@pytest.mark.django_db
def test_a_run_belongs_to_its_threads_tenant(a_run, system_assistant):
    assert a_run.tenant == A
    assert store.load(a_run.run_id)[0].payload["tenant"] == A
    stateless = services.run_create(
        thread_id=None, assistant_id=system_assistant, tenant=B, scope=B
    )
    assert (stateless.tenant, stateless.thread.tenant) == (B, B)
    # An all-tenant caller's run on A's thread is A's.
    on_a = services.run_create(
        thread_id=a_run.thread_id, assistant_id=system_assistant, tenant="default"
    )
    assert on_a.tenant == A


@pytest.mark.django_db
def test_another_tenants_run_is_an_unknown_one(a_run, system_assistant):
    run_id, thread_id = a_run.run_id, a_run.thread_id
    expected = f"Run {run_id} not found"
    assert detail(selectors.run_get, run_id, thread_id=thread_id, tenant=B) == expected
    assert detail(selectors.run_get, uuid.uuid4(), tenant=B).startswith("Run ")
    assert (
        detail(selectors.run_list, thread_id, tenant=B) == f"Thread with ID {thread_id} not found"
    )
    assert detail(services.run_cancel, run_id=run_id, tenant=B) == expected
    assert detail(services.run_delete, run_id=run_id, tenant=B) == expected
    assert detail(services.runs_cancel_many, run_ids=[run_id], tenant=B) == "No active runs matched"
    assert detail(services.runs_cancel_many, status="all", tenant=B) == "No active runs matched"
    assert detail(
        services.run_create, thread_id=thread_id, assistant_id=system_assistant, scope=B
    ) == (f"Thread with ID {thread_id} not found")
    # Untouched: A sees it still pending, and cancels it.
    assert selectors.run_get(run_id, tenant=A).status == "pending"
    assert [run.run_id for run in selectors.run_list(thread_id, tenant=A)] == [run_id]
    assert services.runs_cancel_many(status="all", tenant=A) == 1


@pytest.mark.django_db
def test_another_tenants_assistant_cannot_be_run():
    theirs = assistant_services.assistant_create(graph_id="agent", tenant=A)
    assert detail(
        services.run_create, thread_id=None, assistant_id=theirs.assistant_id, tenant=B, scope=B
    ) == (f"Assistant {theirs.assistant_id} not found")


@pytest.mark.django_db
def test_stream_reads_know_the_tenant(a_run):
    assert stream_log.run_info(a_run.run_id).tenant == A
    assert stream_log.thread_exists(a_run.thread_id, A)
    assert stream_log.thread_exists(a_run.thread_id)
    assert not stream_log.thread_exists(a_run.thread_id, B)


@pytest.mark.django_db
def test_crons_belong_to_a_tenant(a_run, system_assistant):
    cron = crons.cron_create(
        assistant_id=system_assistant,
        thread_id=a_run.thread_id,
        schedule="* * * * *",
        payload={},
        tenant="default",  # a thread's cron is its thread's tenant's, whoever creates it
    )
    assert cron.tenant == A
    expected = f"Cron {cron.cron_id} not found"
    assert detail(crons.cron_get, cron.cron_id, tenant=B) == expected
    assert detail(crons.cron_update, cron_id=cron.cron_id, enabled=False, tenant=B) == expected
    assert detail(crons.cron_delete, cron_id=cron.cron_id, tenant=B) == expected
    assert crons.cron_search(tenant=B) == ([], 0)
    assert crons.cron_count(tenant=B) == 0
    assert detail(
        crons.cron_create,
        assistant_id=system_assistant,
        thread_id=a_run.thread_id,
        schedule="* * * * *",
        payload={},
        tenant=B,
        scope=B,
    ) == (f"Thread with ID {a_run.thread_id} not found")
    assert crons.cron_count(tenant=A) == 1
    assert crons.cron_get(cron.cron_id, tenant=A) == cron

    stateless = crons.cron_create(
        assistant_id=system_assistant,
        thread_id=None,
        schedule="* * * * *",
        payload={},
        tenant=B,
        scope=B,
    )
    assert stateless.tenant == B
    fired = crons.crons_fire_due(now=timezone.now() + timezone.timedelta(minutes=2))
    by_cron = {run.metadata["cron_id"]: run for run in Run.objects.filter(run_id__in=fired)}
    assert by_cron[str(cron.cron_id)].tenant == A
    assert by_cron[str(stateless.cron_id)].tenant == B
    assert by_cron[str(stateless.cron_id)].thread.tenant == B


@pytest.mark.django_db
def test_the_api_answers_another_tenants_run_as_an_unknown_one(settings, a_run):
    settings.AUTH_ENABLED = True
    _, key_b = account_services.create_api_key(name="b", tenant=B)
    api = APIClient(HTTP_X_API_KEY=key_b)
    base = f"/threads/{a_run.thread_id}/runs/{a_run.run_id}"
    for method, url in (
        ("get", base),
        ("delete", base),
        ("get", f"{base}/join"),
        ("get", f"{base}/stream"),
        ("post", f"{base}/cancel"),
        ("get", f"/runs/{a_run.run_id}/stream"),
    ):
        response = getattr(api, method)(url)
        assert (response.status_code, response.json()) == (
            404,
            {"detail": f"Run {a_run.run_id} not found"},
        ), url
    response = api.get(f"/threads/{a_run.thread_id}/stream")
    assert response.status_code == 404
    cancel = api.post("/runs/cancel", {"run_ids": [str(a_run.run_id)]}, format="json")
    assert cancel.status_code == 404
    assert Run.objects.get(run_id=a_run.run_id).status == "pending"


# -- WebSockets --------------------------------------------------------------------------------
APPLICATION = URLRouter(
    [
        path("ws/runs/<str:run_id>", consumers.RunStreamConsumer.as_asgi()),
        path("ws/threads/<str:thread_id>", consumers.ThreadStreamConsumer.as_asgi()),
    ]
)


async def messages(
    socket_path: str, principal: Principal | None, application=APPLICATION
) -> tuple[list, int | None]:
    """Connects as *principal* (in ``scope["principal"]``, as the authentication middleware puts
    it; None: absent); returns every message until the server closes, and the close code."""
    communicator = WebsocketCommunicator(application, socket_path)
    if principal is not None:
        communicator.scope["principal"] = principal
    connected, _ = await communicator.connect()
    assert connected
    received = []
    while (output := await communicator.receive_output(timeout=10))["type"] != "websocket.close":
        received.append(json.loads(output["text"]))
    await communicator.disconnect()
    return received, output.get("code")


def principal(tenant: str) -> Principal:
    return Principal(identity=f"test:{tenant}", tenant=tenant, kind="api_key")


@pytest.mark.django_db(transaction=True)
def test_websockets_refuse_another_tenants_run_and_thread_as_unknown(no_nats, system_assistant):
    thread = thread_services.thread_create(tenant=A)
    run = services.run_create(
        thread_id=thread.thread_id, assistant_id=system_assistant, tenant=A, scope=A
    )
    services.run_cancel(run_id=run.run_id)

    async def go() -> None:
        for socket_path in (f"/ws/runs/{run.run_id}", f"/ws/threads/{thread.thread_id}"):
            refused = await messages(socket_path, principal(B))
            unknown_path = socket_path.rsplit("/", 1)[0] + f"/{uuid.uuid4()}"
            unknown = await messages(unknown_path, principal(B))
            assert refused == unknown == ([{"event": "error", "data": "not found"}], 4404)
        # Its own tenant (and a caller the middleware left anonymous) get the run's stream:
        # it ended (cancelled), so the socket replays it and closes normally.
        for caller in (principal(A), None):
            received, code = await messages(f"/ws/runs/{run.run_id}", caller)
            assert code == 1000
            assert "error" not in {message["event"] for message in received}

    asyncio.run(go())
