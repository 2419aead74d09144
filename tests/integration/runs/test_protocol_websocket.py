"""Protocol v2 over a WebSocket (runs.consumers.ProtocolEventsConsumer): a subscription replays
the thread's events and follows it, in-band commands are answered as over HTTP, refusals are
the protocol's errors, and an unknown or another tenant's thread closes the socket with 4404."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.urls import path

from accounts.domain import Principal
from runs import consumers, services
from runs.models import Run
from threads import services as thread_services

pytestmark = pytest.mark.django_db(transaction=True)

APPLICATION = URLRouter(
    [path("threads/<str:thread_id>/stream/events", consumers.ProtocolEventsConsumer.as_asgi())]
)


def principal(tenant: str) -> Principal:
    return Principal(identity=f"test:{tenant}", tenant=tenant, kind="api_key")


async def connected(thread_id, caller: Principal | None = None) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(APPLICATION, f"/threads/{thread_id}/stream/events")
    if caller is not None:
        socket.scope["principal"] = caller
    accepted, _ = await socket.connect()
    assert accepted
    return socket


async def ask(socket: WebsocketCommunicator, message) -> dict:
    await socket.send_to(text_data=message if isinstance(message, str) else json.dumps(message))
    return await socket.receive_json_from(timeout=10)


def a_finished_run(system_assistant, tenant: str | None = None):
    thread = thread_services.thread_create(**({"tenant": tenant} if tenant else {}))
    run = services.run_create(thread_id=thread.thread_id, assistant_id=system_assistant)
    claim = services.run_start(run_id=run.run_id, worker_id="w1")
    services.run_complete(run_id=run.run_id, lease_epoch=claim.lease_epoch, output={"steps": []})
    return thread


def test_a_subscription_replays_the_thread_and_then_follows_it(no_nats, system_assistant):
    thread = a_finished_run(system_assistant)

    async def go():
        socket = await connected(thread.thread_id)
        subscribed = await ask(
            socket,
            {"id": 1, "method": "subscription.subscribe", "params": {"channels": ["lifecycle"]}},
        )
        replayed = [await socket.receive_json_from(timeout=10) for _ in range(2)]
        started = await ask(
            socket,
            {"id": 2, "method": "run.start", "params": {"assistant_id": "agent", "input": {}}},
        )
        await socket.disconnect()
        return subscribed, replayed, started

    subscribed, replayed, started = asyncio.run(go())
    assert subscribed["type"] == "success" and subscribed["id"] == 1
    uuid.UUID(subscribed["result"]["subscription_id"])
    assert [(e["seq"], e["params"]["data"]["event"]) for e in replayed] == [
        (1, "running"),
        (2, "completed"),
    ]
    assert started["type"] == "success" and started["id"] == 2
    run = Run.objects.get(run_id=started["result"]["run_id"])
    assert run.thread_id == thread.thread_id and run.kwargs["stream_protocol"] == "v2"


def test_a_subscription_after_since_skips_what_the_client_has(no_nats, system_assistant):
    thread = a_finished_run(system_assistant)

    async def go():
        socket = await connected(thread.thread_id)
        params = {"channels": ["lifecycle"], "since": 1}
        await ask(socket, {"id": 1, "method": "subscription.subscribe", "params": params})
        event = await socket.receive_json_from(timeout=10)
        nothing_more = await socket.receive_nothing(timeout=0.5)
        await socket.disconnect()
        return event, nothing_more

    event, nothing_more = asyncio.run(go())
    assert (event["seq"], event["params"]["data"]["event"]) == (2, "completed")
    assert nothing_more


def test_refused_messages_are_error_envelopes(no_nats, system_assistant):
    thread = a_finished_run(system_assistant)
    runs = Run.objects.count()

    async def go():
        socket = await connected(thread.thread_id)
        answers = [
            await ask(socket, "not json"),
            await ask(socket, {"id": 1, "method": "subscription.subscribe", "params": {}}),
            await ask(
                socket,
                {
                    "id": 2,
                    "method": "subscription.unsubscribe",
                    "params": {"subscription_id": "nope"},
                },
            ),
            await ask(socket, {"id": 3, "method": "subscription.reconnect"}),
            await ask(socket, {"id": 4, "method": "state.get"}),
            await ask(socket, {"id": 5, "method": "run.start", "params": {}}),
            await ask(socket, {"method": "run.start"}),
        ]
        await socket.disconnect()
        return answers

    answers = asyncio.run(go())
    assert [(a["id"], a["error"]) for a in answers] == [
        (None, "invalid_argument"),
        (1, "invalid_argument"),
        (2, "no_such_subscription"),
        (3, "not_supported"),
        (4, "unknown_command"),
        (5, "invalid_argument"),
        (None, "invalid_argument"),
    ]
    assert "channels" in answers[1]["message"]
    assert Run.objects.count() == runs


def test_an_unsubscribed_subscription_sends_nothing_more(no_nats, system_assistant):
    thread = a_finished_run(system_assistant)

    async def go():
        socket = await connected(thread.thread_id)
        params = {"channels": ["lifecycle"], "since": 2}  # nothing yet: all of it seen
        answer = await ask(socket, {"id": 1, "method": "subscription.subscribe", "params": params})
        subscription = answer["result"]["subscription_id"]
        gone = await ask(
            socket,
            {
                "id": 2,
                "method": "subscription.unsubscribe",
                "params": {"subscription_id": subscription},
            },
        )
        again = await ask(
            socket,
            {
                "id": 3,
                "method": "subscription.unsubscribe",
                "params": {"subscription_id": subscription},
            },
        )
        await socket.disconnect()
        return gone, again

    gone, again = asyncio.run(go())
    assert gone == {"type": "success", "id": 2, "result": {}, "meta": {}}
    assert again["error"] == "no_such_subscription"


def test_an_unknown_or_another_tenants_thread_closes_the_socket(no_nats, system_assistant):
    thread = a_finished_run(system_assistant, tenant="tenant-a")

    async def closed(thread_id, caller):
        socket = await connected(thread_id, caller)
        error = await socket.receive_json_from(timeout=10)
        close = await socket.receive_output(timeout=10)
        return error, close["code"]

    async def go():
        return [
            await closed(thread.thread_id, principal("tenant-b")),
            await closed(uuid.uuid4(), None),
            await closed("not-a-uuid", None),
        ]

    for error, code in asyncio.run(go()):
        assert code == 4404
        assert (error["type"], error["id"], error["error"]) == ("error", None, "no_such_run")
