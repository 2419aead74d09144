"""The dashboard's WebSocket feeds on real PostgreSQL (without NATS: the outbox NOTIFY wakes
them): a run's stored events, each once and in order, from any version; bad parameters and
other tenants' runs refused; the activity feed's hints, and only about the caller's runs."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.urls import path

from runs import consumers, services
from tests.integration.runs.test_tenants import A, B, messages, principal
from threads import services as thread_services

APPLICATION = URLRouter(
    [
        path("ws/runs/<str:run_id>/events", consumers.RunEventsConsumer.as_asgi()),
        path("ws/activity", consumers.ActivityConsumer.as_asgi()),
    ]
)


@pytest.fixture
def ended_run(system_assistant):
    thread = thread_services.thread_create(tenant=A)
    run = services.run_create(
        thread_id=thread.thread_id, assistant_id=system_assistant, tenant=A, scope=A
    )
    services.run_cancel(run_id=run.run_id)
    return run


async def events_of(socket_path: str, caller) -> tuple[list, int | None]:
    return await messages(socket_path, caller, APPLICATION)


@pytest.mark.django_db(transaction=True)
def test_a_runs_events_from_any_version_then_the_socket_closes(no_nats, ended_run):
    async def go():
        everything, code = await events_of(f"/ws/runs/{ended_run.run_id}/events", principal(A))
        assert code == 1000
        assert [(m["event"], m["id"], m["data"]["type"]) for m in everything] == [
            ("event", "1", "RunCreated"),
            ("event", "2", "RunCancelled"),
        ]
        assert everything[0]["data"]["payload"]["tenant"] == A
        later, _ = await events_of(
            f"/ws/runs/{ended_run.run_id}/events?after_version=1", principal(A)
        )
        assert [m["data"]["version"] for m in later] == [2]

    asyncio.run(go())


@pytest.mark.django_db(transaction=True)
def test_bad_parameters_unknown_and_other_tenants_runs_are_refused(no_nats, ended_run):
    async def go():
        base = f"/ws/runs/{ended_run.run_id}/events"
        assert await events_of(f"{base}?after_version=-1", principal(A)) == (
            [{"event": "error", "data": "after_version must be a whole number, not '-1'"}],
            4422,
        )
        not_found = ([{"event": "error", "data": "not found"}], 4404)
        assert await events_of(base, principal(B)) == not_found
        assert await events_of(f"/ws/runs/{uuid.uuid4()}/events", principal(A)) == not_found
        assert await events_of("/ws/runs/nope/events", principal(A)) == not_found

    asyncio.run(go())


@pytest.mark.django_db(transaction=True)
def test_the_activity_feed_hints_when_runs_change(no_nats, system_assistant):
    thread = thread_services.thread_create(tenant=A)

    async def go():
        communicator = WebsocketCommunicator(APPLICATION, "/ws/activity")
        communicator.scope["principal"] = principal(A)
        connected, _ = await communicator.connect()
        assert connected
        await database_sync_to_async(services.run_create)(
            thread_id=thread.thread_id, assistant_id=system_assistant, tenant=A, scope=A
        )
        # Without NATS the feed cannot name the run: it says something changed.
        hint = json.loads(await communicator.receive_from(timeout=10))
        assert hint == {"event": "changed", "data": {}, "id": ""}
        await communicator.disconnect()

    asyncio.run(go())
