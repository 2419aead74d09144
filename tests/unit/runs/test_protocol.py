"""Protocol v2 events from stored run events (runs.protocol): what each stored event becomes, and
what a connection's filter lets through."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from events.domain import StoredEvent
from runs.protocol import Filter, ProtocolEvent, ProtocolFrames, checkpoint_envelope, envelope

RUN_ID = uuid.uuid4()
NOW = datetime(2026, 12, 8, tzinfo=UTC)
MS = int(NOW.timestamp() * 1000)


def stored(version: int, type_: str, payload: dict[str, Any] | None = None) -> StoredEvent:
    return StoredEvent(
        id=100 + version,
        stream_type="run",
        stream_id=RUN_ID,
        version=version,
        type=type_,
        payload=payload or {},
        metadata={},
        created_at=NOW,
    )


def output(version: int, mode: str, data: Any, namespace: list[str] | None = None) -> StoredEvent:
    return stored(
        version, "RunOutputStreamed", {"mode": mode, "namespace": namespace or [], "data": data}
    )


def fed(*events: StoredEvent) -> list[ProtocolEvent]:
    frames = ProtocolFrames(RUN_ID, "agent")
    return [event for stored_event in events for _, event in frames.feed(stored_event)]


def summary(events: list[ProtocolEvent]) -> list[tuple[str, list[str], Any]]:
    return [(event.method, event.namespace, event.data) for event in events]


def test_a_run_is_running_then_streams_then_completes():
    events = fed(
        stored(1, "RunCreated"),
        stored(2, "RunStarted", {"attempt": 1}),
        output(3, "values", {"items": ["x"]}),
        output(4, "updates", {"a": {"items": ["a"]}}),
        output(5, "custom", {"progress": 1}),
        stored(6, "RunCompleted"),
    )
    assert summary(events) == [
        ("lifecycle", [], {"event": "running", "graph_name": "agent"}),
        ("values", [], {"items": ["x"]}),
        ("updates", [], {"a": {"items": ["a"]}}),
        ("custom", [], {"payload": {"progress": 1}}),
        ("lifecycle", [], {"event": "completed", "graph_name": "agent"}),
    ]
    assert events[2].node == "a"  # the node that made the update, in params
    assert {event.timestamp for event in events} == {MS}  # the stored time: replays agree


def test_a_retried_attempt_does_not_announce_the_run_again():
    events = fed(stored(1, "RunStarted", {"attempt": 1}), stored(2, "RunStarted", {"attempt": 2}))
    assert [event.data["event"] for event in events] == ["running"]


def test_an_interrupt_is_requested_once_and_stops_the_run():
    interrupt = {"id": "i-1", "value": {"question": "ok?"}}
    events = fed(
        stored(1, "RunStarted"),
        output(2, "updates", {"__interrupt__": [interrupt]}),
        output(3, "values", {"request": "x", "__interrupt__": [interrupt]}),
        stored(4, "RunInterrupted", {"interrupts": {"task": [interrupt]}}),
    )
    assert summary(events)[1:] == [
        ("input.requested", [], {"interrupt_id": "i-1", "payload": {"question": "ok?"}}),
        ("lifecycle", [], {"event": "interrupted", "graph_name": "agent"}),
        ("values", [], {"request": "x"}),  # without the interrupt key
    ]
    assert events[1].channel == "input"


def test_a_breakpoint_interrupts_without_asking_for_input():
    events = fed(stored(1, "RunStarted"), stored(2, "RunInterrupted", {"interrupts": {}}))
    assert summary(events)[-1] == ("lifecycle", [], {"event": "interrupted", "graph_name": "agent"})


@pytest.mark.parametrize(
    ("end", "error"),
    [
        (stored(3, "RunFailed", {"error": "ValueError", "message": "boom"}), "boom"),
        (stored(3, "RunTimedOut", {"message": "over its time limit"}), "over its time limit"),
        (stored(3, "RunCancelled"), "the run was cancelled"),
    ],
)
def test_a_run_that_does_not_complete_fails_with_why(end, error):
    events = fed(stored(1, "RunStarted"), end)
    assert events[-1].data == {"event": "failed", "graph_name": "agent", "error": error}


def test_subgraphs_start_when_first_seen_and_complete_with_the_run():
    events = fed(
        stored(1, "RunStarted"),
        output(2, "custom", {"n": 1}, ["child:1", "inner:2"]),
        output(3, "custom", {"n": 2}, ["child:1"]),
        stored(4, "RunCompleted"),
    )
    assert summary(events) == [
        ("lifecycle", [], {"event": "running", "graph_name": "agent"}),
        ("lifecycle", ["child:1"], {"event": "started", "graph_name": "child"}),
        ("lifecycle", ["child:1", "inner:2"], {"event": "started", "graph_name": "inner"}),
        ("custom", ["child:1", "inner:2"], {"payload": {"n": 1}}),
        ("custom", ["child:1"], {"payload": {"n": 2}}),
        ("lifecycle", ["child:1", "inner:2"], {"event": "completed", "graph_name": "inner"}),
        ("lifecycle", ["child:1"], {"event": "completed", "graph_name": "child"}),
        ("lifecycle", [], {"event": "completed", "graph_name": "agent"}),
    ]


def test_only_content_block_messages_are_protocol_messages():
    start = {"event": "message-start", "role": "ai", "id": "m1"}
    events = fed(
        output(1, "messages", [start, {"langgraph_node": "chat"}]),
        output(2, "messages", [{"type": "AIMessageChunk", "content": "hi"}, {}]),
    )
    assert summary(events) == [("messages", [], start)]


def test_tools_carry_their_node_in_params_and_debug_is_not_a_channel():
    events = fed(
        output(1, "tools", {"event": "tool-started", "tool_call_id": "t1", "__node": "tools"}),
        output(2, "debug", {"type": "checkpoint"}),
        output(3, "events", {"event": "on_chain_start"}),
    )
    assert summary(events) == [("tools", [], {"event": "tool-started", "tool_call_id": "t1"})]
    assert events[0].node == "tools"


def test_a_checkpoint_snapshot_becomes_the_protocol_s_checkpoint():
    snapshot = {
        "config": {"configurable": {"checkpoint_id": "c2"}},
        "parent_config": {"configurable": {"checkpoint_id": "c1"}},
        "metadata": {"step": 1, "source": "loop"},
        "values": {"items": []},
    }
    assert checkpoint_envelope(snapshot) == {
        "id": "c2",
        "parent_id": "c1",
        "step": 1,
        "source": "loop",
    }
    first = {"config": {"configurable": {"checkpoint_id": "c0"}}, "metadata": {"step": -1}}
    assert checkpoint_envelope(first) == {"id": "c0", "step": -1, "source": "loop"}
    assert checkpoint_envelope({"values": {}}) is None
    assert summary(fed(output(1, "checkpoints", snapshot)))[0][0] == "checkpoints"


def test_nothing_follows_the_end_of_a_run():
    frames = ProtocolFrames(RUN_ID, "agent")
    frames.feed(stored(1, "RunCompleted"))
    assert frames.finished
    assert frames.feed(output(2, "values", {"late": True})) == []


def test_the_wire_form_numbers_the_event():
    event = ProtocolEvent("updates", ["child:1"], {"a": {}}, MS, node="a")
    assert envelope(event, event_id="7.0", seq=3) == {
        "type": "event",
        "event_id": "7.0",
        "seq": 3,
        "method": "updates",
        "params": {"namespace": ["child:1"], "timestamp": MS, "data": {"a": {}}, "node": "a"},
    }


def at(namespace: list[str], method: str = "values", data: Any = None) -> ProtocolEvent:
    return ProtocolEvent(method, namespace, data if data is not None else {}, MS)


def test_a_filter_picks_channels_and_custom_names():
    wanted = Filter(channels=frozenset({"values", "input", "custom:progress"}))
    assert wanted.wants(at([]), 1)
    assert wanted.wants(at([], "input.requested"), 1)
    assert not wanted.wants(at([], "updates"), 1)
    assert wanted.wants(at([], "custom", {"name": "progress", "payload": 1}), 1)
    assert not wanted.wants(at([], "custom", {"payload": 1}), 1)
    assert Filter(channels=frozenset({"custom"})).wants(at([], "custom", {"payload": 1}), 1)


def test_a_filter_picks_namespaces_to_a_depth_and_events_after_since():
    child = Filter(channels=frozenset({"values"}), namespaces=(("child",),), depth=0)
    assert child.wants(at(["child:3f2c"]), 1)  # a task id suffix matches the bare name
    assert not child.wants(at(["child:3f2c", "inner:1"]), 1)  # too deep
    assert not child.wants(at([]), 1)
    assert not Filter(channels=frozenset({"values"}), namespaces=(("child:9",),)).wants(
        at(["child:3f2c"]), 1
    )
    root_only = Filter(channels=frozenset({"values"}), namespaces=((),), depth=0)
    assert root_only.wants(at([]), 1) and not root_only.wants(at(["child:1"]), 1)
    resumed = Filter(channels=frozenset({"values"}), since=5)
    assert not resumed.wants(at([]), 5) and resumed.wants(at([]), 6)
