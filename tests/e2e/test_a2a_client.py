"""``/a2a/{assistant_id}`` with the official A2A client (``a2a-sdk``), unchanged, against a real
daphne with an executor: the client finds the agent card where A2A says, speaks protocol 0.3 to
it, sends a message and gets the graph's reply as the task's artifact, streams a task (submitted,
working with the reply token by token, the answer, completed), gets a task by id, continues a
context, answers a task that asks for input, cancels one, and reads refusals as A2A's errors
(docs/a2a.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from a2a.client import A2ACardResolver, Client, ClientConfig, ClientFactory
from a2a.helpers.proto_helpers import (
    get_data_parts,
    get_text_parts,
    new_data_message,
    new_text_message,
)
from a2a.types import (
    CancelTaskRequest,
    GetTaskRequest,
    Role,
    SendMessageRequest,
    StreamResponse,
    SubscribeToTaskRequest,
    TaskNotCancelableError,
    TaskNotFoundError,
    TaskState,
    UnsupportedOperationError,
)
from langgraph_sdk import get_sync_client

from assistants.domain import system_assistant_id
from tests.e2e.processes import start_executor
from tests.e2e.stream_graphs import CHAT_REPLY

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(api_server, tmp_path_factory):
    # "paced" is left out: its runs stay pending, to be cancelled.
    env = {**api_server.env, "DURAGRAPH_EXECUTOR_GRAPHS": "chatty,failing,approval"}
    executor = start_executor(env, tmp_path_factory.mktemp("a2a"), name="a2a")
    yield api_server
    executor.stop()


def agent_url(server, graph: str) -> str:
    return f"{server.url}/a2a/{system_assistant_id(graph)}"


def with_client(
    url: str, use: Callable[[Client], Awaitable[Any]], *, streaming: bool = False, polling=False
) -> Any:
    """*use* a client made from the agent card at *url*, as A2A clients find an agent."""

    async def session() -> Any:
        async with httpx.AsyncClient(timeout=60) as http:
            config = ClientConfig(streaming=streaming, polling=polling, httpx_client=http)
            client = await ClientFactory(config).create_from_url(url)
            try:
                return await use(client)
            finally:
                await client.close()

    return asyncio.run(session())


def user_text(text: str, **ids: str):
    return new_text_message(text, role=Role.ROLE_USER, **ids)


async def sent(client: Client, message) -> list[StreamResponse]:
    return [event async for event in client.send_message(SendMessageRequest(message=message))]


def test_the_agent_card_is_where_a2a_clients_look(server):
    async def cards() -> list:
        async with httpx.AsyncClient(timeout=30) as http:
            per_agent = await A2ACardResolver(http, agent_url(server, "chatty")).get_agent_card()
            assistant = system_assistant_id("chatty")
            at_root = await A2ACardResolver(http, server.url).get_agent_card(
                f"/.well-known/agent-card.json?assistant_id={assistant}"
            )
            return [per_agent, at_root]

    per_agent, at_root = asyncio.run(cards())
    assert per_agent == at_root
    assert per_agent.name == "chatty" and per_agent.capabilities.streaming
    (interface,) = per_agent.supported_interfaces
    assert interface.url == agent_url(server, "chatty")
    assert (interface.protocol_binding, interface.protocol_version) == ("JSONRPC", "0.3.0")


def test_a_message_gets_the_graphs_reply_and_the_task_is_got_by_id(server):
    async def exchange(client: Client):
        (event,) = await sent(client, user_text("hello"))
        got = await client.get_task(GetTaskRequest(id=event.task.id))
        return event.task, got

    task, got = with_client(agent_url(server, "chatty"), exchange)
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    assert get_text_parts(task.artifacts[0].parts) == [CHAT_REPLY]
    assert [(m.role, get_text_parts(m.parts)) for m in task.history] == [
        (Role.ROLE_USER, ["hello"]),
        (Role.ROLE_AGENT, [CHAT_REPLY]),
    ]
    assert got == task
    # The context is the thread the run ran on.
    thread_id, run_id = task.id.split(":")
    assert task.context_id == thread_id
    with get_sync_client(url=server.url, api_key=None) as sdk:
        assert sdk.runs.get(thread_id, run_id)["status"] == "success"
        messages = sdk.threads.get_state(thread_id)["values"]["messages"]
    assert [m["content"] for m in messages] == ["hello", CHAT_REPLY]


def test_a_context_goes_on_with_a_new_task_per_message(server):
    async def conversation(client: Client):
        (first,) = await sent(client, user_text("one"))
        (second,) = await sent(client, user_text("two", context_id=first.task.context_id))
        return first.task, second.task

    first, second = with_client(agent_url(server, "chatty"), conversation)
    assert second.context_id == first.context_id and second.id != first.id
    assert [get_text_parts(m.parts)[0] for m in second.history] == [
        "one",
        CHAT_REPLY,
        "two",
        CHAT_REPLY,
    ]
    assert [m.task_id for m in second.history] == [first.id, first.id, second.id, second.id]


def test_a_streamed_task_is_submitted_works_token_by_token_then_completes(server):
    async def streamed(client: Client):
        events = await sent(client, user_text("stream it"))
        return events, await client.get_task(GetTaskRequest(id=events[0].task.id))

    events, got = with_client(agent_url(server, "chatty"), streamed, streaming=True)
    first, *updates, answer, last = events
    assert first.task.status.state == TaskState.TASK_STATE_SUBMITTED
    assert get_text_parts(first.task.history[0].parts) == ["stream it"]
    states = [event.status_update.status.state for event in updates]
    assert set(states) == {TaskState.TASK_STATE_WORKING}
    said = [
        get_text_parts(event.status_update.status.message.parts)[0]
        for event in updates
        if event.status_update.status.HasField("message")
    ]
    # The reply as it was streamed: each update says more, the last all of it.
    assert len(said) > 1 and said[-1] == CHAT_REPLY
    assert all(later.startswith(earlier) for earlier, later in zip(said, said[1:], strict=False))
    assert get_text_parts(answer.artifact_update.artifact.parts) == [CHAT_REPLY]
    assert last.status_update.status.state == TaskState.TASK_STATE_COMPLETED
    assert {e.status_update.task_id for e in (*updates, last)} == {first.task.id}
    assert got.status.state == TaskState.TASK_STATE_COMPLETED
    assert get_text_parts(got.artifacts[0].parts) == [CHAT_REPLY]


def test_a_failing_run_is_a_failed_task_saying_why(server):
    async def failing(client: Client):
        return await sent(client, new_data_message({"items": []}, role=Role.ROLE_USER))

    for streaming in (False, True):
        events = with_client(agent_url(server, "failing"), failing, streaming=streaming)
        status = events[-1].task.status if not streaming else events[-1].status_update.status
        assert status.state == TaskState.TASK_STATE_FAILED
        assert "ValueError: boom in the second node" in get_text_parts(status.message.parts)[0]


def test_a_task_that_asks_for_input_is_answered_by_a_message_on_it(server):
    async def approve(client: Client):
        (asked,) = await sent(
            client, new_data_message({"request": "a refund"}, role=Role.ROLE_USER)
        )
        task = asked.task
        (answered,) = await sent(
            client, user_text("yes", task_id=task.id, context_id=task.context_id)
        )
        try:
            await sent(client, user_text("again", task_id=task.id))
        except UnsupportedOperationError as refused:
            return task, answered.task, refused
        return task, answered.task, None

    asked, answered, refused = with_client(agent_url(server, "approval"), approve)
    assert asked.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
    question = get_data_parts(asked.status.message.parts)[0]["value"]
    assert question == {"question": "Approve a refund?"}
    assert answered.id == asked.id
    assert answered.status.state == TaskState.TASK_STATE_COMPLETED
    assert get_data_parts(answered.artifacts[0].parts) == [
        {"request": "a refund", "decision": "yes"}
    ]
    assert refused is not None and "completed" in str(refused)


def test_a_task_is_cancelled_once_and_an_unknown_one_is_not_found(server):
    async def cancel(client: Client):
        (submitted,) = await sent(client, new_data_message({"delay": 1}, role=Role.ROLE_USER))
        cancelled = await client.cancel_task(CancelTaskRequest(id=submitted.task.id))
        refusals = []
        for call in (
            lambda: client.cancel_task(CancelTaskRequest(id=submitted.task.id)),
            lambda: client.get_task(GetTaskRequest(id=f"{submitted.task.context_id}:nope")),
        ):
            try:
                await call()
            except (TaskNotCancelableError, TaskNotFoundError) as refused:
                refusals.append(refused)
        return submitted.task, cancelled, refusals

    submitted, cancelled, refusals = with_client(agent_url(server, "paced"), cancel, polling=True)
    assert submitted.status.state == TaskState.TASK_STATE_SUBMITTED
    assert cancelled.id == submitted.id
    assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
    assert [type(refused) for refused in refusals] == [TaskNotCancelableError, TaskNotFoundError]


def test_a_client_resubscribed_to_a_waiting_task_sees_it_end(server):
    async def resubscribe() -> list[StreamResponse]:
        async with httpx.AsyncClient(timeout=60) as http:
            factory = ClientFactory(ClientConfig(polling=True, streaming=False, httpx_client=http))
            sender = await factory.create_from_url(agent_url(server, "paced"))
            factory = ClientFactory(ClientConfig(streaming=True, httpx_client=http))
            follower = await factory.create_from_url(agent_url(server, "paced"))
            (submitted,) = await sent(sender, new_data_message({"delay": 1}, role=Role.ROLE_USER))
            events = []
            async for event in follower.subscribe(SubscribeToTaskRequest(id=submitted.task.id)):
                events.append(event)
                if len(events) == 1:  # following it: now end it from elsewhere
                    await sender.cancel_task(CancelTaskRequest(id=submitted.task.id))
            return events

    now, end = asyncio.run(resubscribe())
    assert now.task.status.state == TaskState.TASK_STATE_SUBMITTED
    assert end.status_update.task_id == now.task.id
    assert end.status_update.status.state == TaskState.TASK_STATE_CANCELED
