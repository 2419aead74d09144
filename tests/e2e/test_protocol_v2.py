"""LangGraph's streaming protocol v2 with the official SDK's ``client.threads.stream()``,
unchanged, against a real daphne with an executor (docs/protocol-v2.md): ``run.start`` on a
thread the SDK minted, the run's ``values`` as they come and its output, a chat model's reply as
content-block ``messages``, an interrupt answered with ``run.respond``, the raw events numbered
the same on every connection (``seq``, stable ``event_id``) and resumed after ``since``, and
refusals as the protocol's errors, changing nothing."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client

from tests.e2e.processes import start_executor
from tests.e2e.stream_graphs import CHAT_REPLY

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(api_server, tmp_path_factory):
    graphs = "simple,chatty,approval,nested,tooled"
    env = {**api_server.env, "DURAGRAPH_EXECUTOR_GRAPHS": graphs}
    executor = start_executor(env, tmp_path_factory.mktemp("protocol"), name="protocol")
    yield api_server
    executor.stop()


def run(coroutine) -> Any:
    return asyncio.run(asyncio.wait_for(coroutine, timeout=60))


async def raw_events(url: str, thread_id: str, body: dict[str, Any], until) -> list[dict]:
    """The events of ``POST /threads/{id}/stream/events`` until *until(event)* is true."""
    events = []
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        async with http.stream("POST", f"/threads/{thread_id}/stream/events", json=body) as answer:
            assert answer.status_code == 200, await answer.aread()
            async for line in answer.aiter_lines():
                if line.startswith("data: "):
                    events.append(json.loads(line[len("data: ") :]))
                    if until(events[-1]):
                        return events
    raise AssertionError(f"the stream ended before the expected event: {events}")


def root_ended(event: dict) -> bool:
    params = event["params"]
    return (
        event["method"] == "lifecycle"
        and params["namespace"] == []
        and params["data"]["event"] in ("completed", "failed", "interrupted")
    )


def test_a_run_started_on_a_new_thread_streams_its_values_and_ends_with_its_output(server):
    async def scenario():
        async with (
            get_client(url=server.url, api_key=None) as client,
            client.threads.stream(assistant_id="simple") as thread,
        ):
            started = await thread.run.start(input={"items": ["in"]})
            values = [snapshot async for snapshot in thread.values]
            output = await thread.output
            stored = await client.threads.get_state(thread.thread_id)
        events = await raw_events(
            server.url, thread.thread_id, {"channels": ["lifecycle"]}, root_ended
        )
        return started, values, output, events, stored

    started, values, output, lifecycle, state = run(scenario())
    uuid.UUID(started["run_id"])
    assert output == {"items": ["in", "a", "b"]} == state["values"]
    assert values[-1] == output  # the last snapshot streamed is the result
    assert {"items": ["in"]} in values  # and the input's, first of the run
    assert [e["params"]["data"]["event"] for e in lifecycle] == ["running", "completed"]
    assert lifecycle[0]["params"]["data"]["graph_name"] == "simple"


def test_a_chat_model_s_reply_streams_as_content_blocks(server):
    async def scenario():
        async with (
            get_client(url=server.url, api_key=None) as client,
            client.threads.stream(assistant_id="chatty") as thread,
        ):
            await thread.run.start(input={"messages": [{"role": "user", "content": "hi"}]})
            # The streams fill as the iteration pulls events: read them once it ended.
            streams = [message async for message in thread.messages]
            texts = [str(await message.text) for message in streams]
            events = await raw_events(
                server.url, thread.thread_id, {"channels": ["messages", "lifecycle"]}, root_ended
            )
            return texts, events

    texts, events = run(scenario())
    assert texts == [CHAT_REPLY]
    kinds = [e["params"]["data"]["event"] for e in events if e["method"] == "messages"]
    assert kinds[0] == "message-start" and kinds[-1] == "message-finish"
    deltas = [
        e["params"]["data"]["delta"]["text"]
        for e in events
        if e["method"] == "messages" and e["params"]["data"]["event"] == "content-block-delta"
    ]
    assert len(deltas) > 1 and "".join(deltas) == CHAT_REPLY  # token by token


def test_an_interrupt_is_requested_and_answered_with_run_respond(server):
    async def scenario():
        async with (
            get_client(url=server.url, api_key=None) as client,
            client.threads.stream(assistant_id="approval") as thread,
        ):
            await thread.run.start(input={"request": "the budget"})
            async for _ in thread.values:
                pass  # ends when the run stops for input
            asked = list(thread.interrupts)
            await thread.run.respond("approved")
            output = await thread.output
        events = await raw_events(
            server.url, thread.thread_id, {"channels": ["input"]}, lambda e: True
        )
        return asked, output, events

    asked, output, requested = run(scenario())
    assert len(asked) == 1 and asked[0]["namespace"] == []
    assert requested[0]["method"] == "input.requested"
    assert requested[0]["params"]["data"] == {
        "interrupt_id": asked[0]["interrupt_id"],
        "payload": {"question": "Approve the budget?"},
    }
    assert output == {"request": "the budget", "decision": "approved"}


def test_a_tool_call_streams_as_a_handle_with_its_input_and_output(server):
    async def scenario():
        async with (
            get_client(url=server.url, api_key=None) as client,
            client.threads.stream(assistant_id="tooled") as thread,
        ):
            await thread.run.start(input={"messages": [{"role": "user", "content": "2+3?"}]})
            calls = [call async for call in thread.tool_calls]
            outputs = [await call.output for call in calls]
            return calls, outputs

    calls, outputs = run(scenario())
    assert [(call.tool_call_id, call.name, call.input) for call in calls] == [
        ("call-add-1", "add", {"a": 2, "b": 3})
    ]
    assert outputs[0]["content"] == "5"  # the ToolMessage the tool node made


def test_a_subgraph_is_discovered_with_its_own_events(server):
    async def scenario():
        async with (
            get_client(url=server.url, api_key=None) as client,
            client.threads.stream(assistant_id="nested") as thread,
        ):
            await thread.run.start(input={"items": []})
            handles = [handle async for handle in thread.subgraphs]
            output = await thread.output
            return handles, output

    handles, output = run(scenario())
    assert [(handle.graph_name, handle.status) for handle in handles] == [("child", "completed")]
    assert handles[0].path[0].startswith("child:")
    # The child's whole state comes back through the parent's reducer, as in LangGraph.
    assert output == {"items": ["prepared", "prepared", "inner"]}


def test_every_connection_numbers_the_thread_s_events_alike_and_resumes_after_since(server):
    async def scenario():
        async with (
            get_client(url=server.url, api_key=None) as client,
            client.threads.stream(assistant_id="nested") as thread,
        ):
            await thread.run.start(input={"items": []})
            await thread.output
        every = await raw_events(
            server.url,
            thread.thread_id,
            {"channels": ["values", "updates", "lifecycle", "custom", "tasks", "checkpoints"]},
            root_ended,
        )
        middle = every[len(every) // 2]["seq"]
        after = await raw_events(
            server.url,
            thread.thread_id,
            {
                "channels": ["values", "updates", "lifecycle", "custom", "tasks", "checkpoints"],
                "since": middle,
            },
            root_ended,
        )
        children = await raw_events(
            server.url,
            thread.thread_id,
            {"channels": ["custom", "lifecycle"], "namespaces": [["child"]], "depth": 0},
            lambda e: e["method"] == "lifecycle" and e["params"]["data"]["event"] == "completed",
        )
        return every, after, children

    every, after, children = run(scenario())
    seqs = [e["seq"] for e in every]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert len({e["event_id"] for e in every}) == len(every)
    assert after == [e for e in every if e["seq"] > every[len(every) // 2]["seq"]]
    methods = {e["method"] for e in every}
    assert {"values", "updates", "lifecycle", "custom", "tasks", "checkpoints"} <= methods
    # Only the subgraph's own namespace: its start, its custom chunks, its end.
    assert all(e["params"]["namespace"][0].startswith("child") for e in children)
    assert children[0]["params"]["data"] == {"event": "started", "graph_name": "child"}
    assert any(e["method"] == "custom" for e in children)


def test_refused_commands_are_protocol_errors_and_change_nothing(server):
    thread_id = str(uuid.uuid4())
    with httpx.Client(base_url=server.url, timeout=30) as http:
        commands = f"/threads/{thread_id}/commands"
        unknown = http.post(
            commands,
            json={"id": 1, "method": "run.start", "params": {"assistant_id": "no-such-graph"}},
        )
        missing = http.post(commands, json={"id": 2, "method": "run.start", "params": {}})
        method = http.post(commands, json={"id": 3, "method": "state.get"})
        respond = http.post(
            commands,
            json={"id": 4, "method": "input.respond", "params": {"interrupt_id": "x"}},
        )
        malformed = http.post(commands, json={"id": "one", "method": "run.start"})
        stream = http.post(f"/threads/{thread_id}/stream/events", json={"channels": ["nope"]})
        thread = http.get(f"/threads/{thread_id}")
    assert unknown.status_code == 200 and unknown.json()["type"] == "error"
    assert unknown.json()["id"] == 1 and "no-such-graph" in unknown.json()["message"]
    assert missing.json() == {
        "type": "error",
        "id": 2,
        "error": "invalid_argument",
        "message": "run.start requires an assistant_id.",
    }
    assert method.json()["error"] == "unknown_command"
    assert respond.json()["error"] == "no_such_run"
    assert malformed.status_code == 400 and malformed.json()["error"] == "invalid_argument"
    assert stream.status_code == 422 and "nope" in stream.json()["detail"]
    assert thread.status_code == 404  # no command created it


def test_the_websocket_transport_streams_the_same_run(server):
    async def scenario():
        async with (
            get_client(url=server.url, api_key=None) as client,
            client.threads.stream(assistant_id="approval", transport="websocket") as thread,
        ):
            await thread.run.start(input={"request": "a socket"})
            async for _ in thread.values:
                pass  # ends when the run stops for input
            asked = list(thread.interrupts)
            await thread.run.respond("granted")
            output = await thread.output
        return asked, output

    asked, output = run(scenario())
    assert len(asked) == 1 and asked[0]["namespace"] == []
    assert output == {"request": "a socket", "decision": "granted"}
