"""The LangGraph stream format (``runs.frames``), without IO: names, payloads, ids, cursors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from duragraph_site.errors import InvalidInput
from events.domain import StoredEvent
from runs.frames import (
    Cursor,
    Frame,
    MessageAccumulator,
    RunFrames,
    frame_ids,
    frames_for,
    parse_last_event_id,
    resolve_modes,
    run_modes_of,
)

RUN_ID = uuid.UUID("01a1fcbf-fc63-7318-9810-c53dfbd27e7e")
THREAD_ID = uuid.UUID("01a1fcbf-fc63-7318-9810-000000000001")
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def event(version: int, type_: str, payload: dict | None = None, *, id_: int | None = None):
    return StoredEvent(
        id=id_ if id_ is not None else 1000 + version,
        stream_type="run",
        stream_id=RUN_ID,
        version=version,
        type=type_,
        payload=payload or {},
        metadata={},
        created_at=NOW,
    )


def chunk(version: int, mode: str, data, namespace=None) -> StoredEvent:
    return event(
        version, "RunOutputStreamed", {"mode": mode, "namespace": namespace or [], "data": data}
    )


def run_events(*outputs: StoredEvent, end: StoredEvent | None = None) -> list[StoredEvent]:
    """RunCreated, RunStarted, the outputs (renumbered from 3), then *end* (RunCompleted)."""
    events = [event(1, "RunCreated"), event(2, "RunStarted", {"attempt": 1})]
    for offset, output in enumerate(outputs):
        events.append(
            StoredEvent(**{**output.__dict__, "version": 3 + offset, "id": 1003 + offset})
        )
    version = 3 + len(outputs)
    final = end or event(version, "RunCompleted")
    events.append(StoredEvent(**{**final.__dict__, "version": version, "id": 1000 + version}))
    return events


def names(frames) -> list[str]:
    return [frame.event for frame in frames]


def ai_chunk(content: str, *, last: bool = False) -> dict:
    return {
        "content": content,
        "additional_kwargs": {},
        "response_metadata": {},
        "type": "AIMessageChunk",
        "name": None,
        "id": "lc_run--1",
        "tool_calls": [],
        "invalid_tool_calls": [],
        "usage_metadata": None,
        "tool_call_chunks": [],
        "chunk_position": "last" if last else None,
    }


META = {"langgraph_node": "chat", "langgraph_step": 1}


class TestRunFrames:
    def test_metadata_at_start_then_requested_modes_then_nothing_after_the_end(self):
        events = run_events(
            chunk(0, "values", {"items": ["x"]}),
            chunk(0, "updates", {"a": {"items": ["a"]}}),
            chunk(0, "values", {"items": ["x", "a"]}),
        )
        frames = frames_for(events, run_id=RUN_ID, modes=["values"])
        assert [(f.event, f.data, f.id) for f in frames] == [
            ("metadata", {"run_id": str(RUN_ID), "attempt": 1}, "2"),
            ("values", {"items": ["x"]}, "3"),
            ("values", {"items": ["x", "a"]}, "5"),
        ]

    def test_only_the_modes_asked_for(self):
        events = run_events(
            chunk(0, "values", {"v": 1}),
            chunk(0, "updates", {"n": {}}),
            chunk(0, "custom", "hi"),
            chunk(0, "tasks", {"id": "t", "name": "n", "triggers": []}),
        )
        frames = frames_for(events, run_id=RUN_ID, modes=["custom", "updates"])
        assert names(frames) == ["metadata", "updates", "custom"]

    def test_subgraph_chunks_are_named_mode_then_namespace(self):
        events = run_events(
            chunk(0, "updates", {"inner": {}}, namespace=["child:1", "grand:2"]),
            chunk(0, "custom", {"x": 1}, namespace=["child:1"]),
        )
        frames = frames_for(events, run_id=RUN_ID, modes=["updates", "custom"])
        assert names(frames) == ["metadata", "updates|child:1|grand:2", "custom|child:1"]

    def test_a_failed_run_ends_with_error(self):
        failed = event(0, "RunFailed", {"error": "ValueError", "message": "boom", "lease_epoch": 1})
        frames = frames_for(run_events(end=failed), run_id=RUN_ID, modes=["values"])
        assert frames[-1] == Frame("error", {"error": "ValueError", "message": "boom"}, "3")

    def test_a_timed_out_run_ends_with_a_timeout_error(self):
        timed_out = event(0, "RunTimedOut", {"message": "too slow", "lease_epoch": 1})
        frames = frames_for(run_events(end=timed_out), run_id=RUN_ID, modes=["values"])
        assert frames[-1].data == {"error": "TimeoutError", "message": "too slow"}

    @pytest.mark.parametrize(
        "end", ["RunCompleted", "RunInterrupted", "RunCancelled", "RunDeleted"]
    )
    def test_other_ends_just_finish(self, end):
        builder = RunFrames(RUN_ID, ["values"])
        assert builder.feed(event(3, end)) == []
        assert builder.finished
        assert builder.feed(chunk(4, "values", {})) == []

    def test_each_attempt_announces_itself(self):
        builder = RunFrames(RUN_ID, ["values"])
        assert builder.feed(event(2, "RunStarted", {"attempt": 1}))[0][1]["attempt"] == 1
        assert builder.feed(event(3, "RunLeaseExpired", {})) == []
        assert builder.feed(event(4, "RunRetried", {})) == []
        assert builder.feed(event(5, "RunStarted", {"attempt": 2})) == [
            ("metadata", {"run_id": str(RUN_ID), "attempt": 2})
        ]

    def test_thread_streams_add_run_done(self):
        builder = RunFrames(RUN_ID, ["values"], run_done=True)
        failed = event(3, "RunFailed", {"error": "E", "message": "m"})
        assert builder.feed(failed) == [
            ("error", {"error": "E", "message": "m"}),
            ("metadata", {"status": "run_done", "run_id": str(RUN_ID)}),
        ]

    def test_debug_checkpoints_gain_checkpoint_and_parent_checkpoint(self):
        configurable = {"thread_id": "t", "checkpoint_ns": "", "checkpoint_id": "c2", "x": 1}
        payload = {
            "config": {"configurable": configurable},
            "parent_config": {"configurable": {**configurable, "checkpoint_id": "c1"}},
            "values": {},
            "tasks": [{"id": "1", "name": "n", "state": {"configurable": {"checkpoint_id": "s"}}}],
        }
        data = {"step": 1, "type": "checkpoint", "timestamp": "x", "payload": payload}
        frames = frames_for(run_events(chunk(0, "debug", data)), run_id=RUN_ID, modes=["debug"])
        sent = frames[1].data["payload"]
        assert sent["checkpoint"] == {"checkpoint_id": "c2", "thread_id": "t", "checkpoint_ns": ""}
        assert sent["parent_checkpoint"]["checkpoint_id"] == "c1"
        assert sent["tasks"] == [{"id": "1", "name": "n", "checkpoint": {"checkpoint_id": "s"}}]
        task = {"step": 1, "type": "task", "payload": {"id": "1"}}
        assert frames_for(run_events(chunk(0, "debug", task)), run_id=RUN_ID, modes=["debug"])[
            1
        ].data == (task)

    def test_events_mode_passes_astream_events_dicts_through(self):
        data = {"event": "on_chain_start", "name": "writer", "data": {}, "run_id": "r"}
        frames = frames_for(run_events(chunk(0, "events", data)), run_id=RUN_ID, modes=["events"])
        assert (frames[1].event, frames[1].data) == ("events", data)


class TestMessages:
    def test_messages_tuple_sends_the_chunks_as_recorded(self):
        data = [ai_chunk("Hel"), META]
        frames = frames_for(
            run_events(chunk(0, "messages", data, namespace=["sub:1"])),
            run_id=RUN_ID,
            modes=["messages-tuple"],
        )
        assert (frames[1].event, frames[1].data) == ("messages|sub:1", data)

    def test_messages_sends_metadata_once_then_the_message_so_far(self):
        events = run_events(
            chunk(0, "messages", [ai_chunk("Hel"), META]),
            chunk(0, "messages", [ai_chunk("lo"), META]),
            chunk(0, "messages", [ai_chunk("!", last=True), META]),
        )
        frames = frames_for(events, run_id=RUN_ID, modes=["messages"])
        assert names(frames) == [
            "metadata",
            "messages/metadata",
            "messages/partial",
            "messages/partial",
            "messages/partial",
        ]
        assert frames[1].data == {"lc_run--1": {"metadata": META}}
        assert [f.data[0]["content"] for f in frames[2:]] == ["Hel", "Hello", "Hello!"]
        # LangGraph sends the accumulated message as a whole message ("ai"), not a chunk.
        assert frames[-1].data[0] == {
            "content": "Hello!",
            "additional_kwargs": {},
            "response_metadata": {},
            "type": "ai",
            "name": None,
            "id": "lc_run--1",
            "tool_calls": [],
            "invalid_tool_calls": [],
            "usage_metadata": None,
        }
        # Two frames from one event: the first gets a sub-id, both stay ordered.
        assert [f.id for f in frames] == ["2", "3.0", "3", "4", "5"]

    def test_a_whole_message_is_complete(self):
        message = {"content": "done", "type": "ai", "id": "m1"}
        frames = frames_for(
            run_events(chunk(0, "messages", [message, META])), run_id=RUN_ID, modes=["messages"]
        )
        assert names(frames)[1:] == ["messages/metadata", "messages/complete"]
        assert frames[-1].data[0]["content"] == "done"

    def test_the_run_asked_for_tuples_so_a_messages_filter_gets_tuples(self):
        builder = RunFrames(RUN_ID, ["messages"], run_modes=["messages-tuple"])
        assert builder.feed(chunk(3, "messages", [ai_chunk("x"), META]))[0][0] == "messages"

    def test_a_new_attempt_starts_its_messages_afresh(self):
        builder = RunFrames(RUN_ID, ["messages"])
        builder.feed(chunk(3, "messages", [ai_chunk("old"), META]))
        builder.feed(event(4, "RunStarted", {"attempt": 2}))
        pairs = builder.feed(chunk(5, "messages", [ai_chunk("new"), META]))
        assert pairs[0][0] == "messages/metadata" and pairs[1][1][0]["content"] == "new"

    def test_garbage_is_skipped(self):
        builder = RunFrames(RUN_ID, ["messages"])
        assert builder.feed(chunk(3, "messages", "nope")) == []
        assert builder.feed(chunk(4, "messages", [{"type": "alien"}, {}])) == []


class TestIdsAndCursors:
    def test_frame_ids(self):
        assert frame_ids(7, 0) == []
        assert frame_ids(7, 1) == ["7"]
        assert frame_ids(7, 3) == ["7.0", "7.1", "7"]

    @pytest.mark.parametrize(
        ("value", "cursor"),
        [(None, None), ("", None), (" ", None), ("7", Cursor(7)), ("7.0", Cursor(7, 0))],
    )
    def test_parse_last_event_id(self, value, cursor):
        assert parse_last_event_id(value) == cursor

    @pytest.mark.parametrize("value", ["x", "1-0", "7.x", "-1", "1.-1"])
    def test_bad_last_event_ids_are_invalid_input(self, value):
        with pytest.raises(InvalidInput):
            parse_last_event_id(value)

    def test_cursor_covers(self):
        assert Cursor(7).covers(7, 5) and Cursor(7).covers(6, 0) and not Cursor(7).covers(8, 0)
        assert Cursor(7, 0).covers(7, 0) and not Cursor(7, 0).covers(7, 1)
        assert (Cursor(7).before, Cursor(7, 0).before) == (7, 6)

    def test_resuming_inside_an_event_sends_the_rest_of_it_only(self):
        events = run_events(
            chunk(0, "messages", [ai_chunk("Hel"), META]),
            chunk(0, "messages", [ai_chunk("lo"), META]),
        )
        everything = frames_for(events, run_id=RUN_ID, modes=["messages"])
        for index, frame in enumerate(everything):
            rest = frames_for(
                events,
                run_id=RUN_ID,
                modes=["messages"],
                after=parse_last_event_id(frame.id),
            )
            assert rest == everything[index + 1 :]
        # Primed by the earlier chunks: the resumed partial is accumulated.
        assert everything[-1].data[0]["content"] == "Hello"

    def test_resolve_modes(self):
        assert resolve_modes(None, ["values", "custom"]) == ["values", "custom"]
        assert resolve_modes(["", ""], ["values"]) == ["values"]
        assert resolve_modes(["custom"], ["values", "custom"]) == ["custom"]
        assert resolve_modes(["updates"], ["values"]) == []
        assert resolve_modes(["messages"], ["messages-tuple"]) == ["messages-tuple"]

    def test_sse_and_json_forms(self):
        frame = Frame("values", {"a": "é"}, "3")
        assert frame.sse() == (b'event: values\r\ndata: {"a":"\xc3\xa9"}\r\nid: 3\r\n\r\n')
        assert frame.as_json() == {"event": "values", "data": {"a": "é"}, "id": "3"}


class TestGaps:
    """What the stream tests above leave out: defaults, pass-throughs and edge shapes."""

    @pytest.mark.parametrize(
        ("kwargs", "modes"),
        [
            ({}, ["values"]),
            ({"stream_mode": None}, ["values"]),
            ({"stream_mode": []}, ["values"]),
            ({"stream_mode": "updates"}, ["updates"]),
            ({"stream_mode": ["custom", "values"]}, ["custom", "values"]),
        ],
    )
    def test_run_modes_of_defaults_to_values_as_langgraph(self, kwargs, modes):
        assert run_modes_of(kwargs) == modes

    def test_a_run_started_without_attempt_is_attempt_one(self):
        assert RunFrames(RUN_ID, ["values"]).feed(event(2, "RunStarted")) == [
            ("metadata", {"run_id": str(RUN_ID), "attempt": 1})
        ]

    def test_lifecycle_events_that_do_not_end_the_run_make_no_frame(self):
        builder = RunFrames(RUN_ID, ["values"])
        for kind in ("RunCreated", "RunLeaseRenewed", "RunLeaseExpired", "RunRetried"):
            assert builder.feed(event(3, kind)) == []
        assert not builder.finished

    def test_message_chunks_are_dropped_when_no_messages_mode_is_served(self):
        builder = RunFrames(RUN_ID, ["values"], run_modes=["values", "messages"])
        assert builder.messages_form is None
        assert builder.feed(chunk(3, "messages", [ai_chunk("x"), META])) == []

    def test_messages_tuple_at_the_root_has_no_namespace_suffix(self):
        builder = RunFrames(RUN_ID, ["messages-tuple"])
        assert builder.feed(chunk(3, "messages", [ai_chunk("x"), META]))[0][0] == "messages"

    def test_a_mode_added_later_passes_through_by_name(self):
        builder = RunFrames(RUN_ID, ["novel"])
        assert builder.feed(chunk(3, "novel", {"x": 1}, namespace=["sub:1"])) == [
            ("novel|sub:1", {"x": 1})
        ]

    def test_events_frames_carry_no_namespace(self):
        builder = RunFrames(RUN_ID, ["events"])
        assert builder.feed(chunk(3, "events", {"event": "e"}, namespace=["sub:1"])) == [
            ("events", {"event": "e"})
        ]

    def test_a_debug_checkpoint_without_payload_sends_null(self):
        builder = RunFrames(RUN_ID, ["debug"])
        data = {"step": 0, "type": "checkpoint", "payload": {}}
        assert builder.feed(chunk(3, "debug", data)) == [("debug", {**data, "payload": None})]

    def test_debug_checkpoints_of_configs_without_an_id_are_null_and_maps_are_kept(self):
        configurable = {"thread_id": "t", "checkpoint_id": "c2", "checkpoint_map": {"": "c2"}}
        payload = {
            "config": {"configurable": configurable},
            "parent_config": {"configurable": {"thread_id": "t"}},  # the first checkpoint
            "tasks": [{"id": "1", "name": "n", "state": None}],
        }
        builder = RunFrames(RUN_ID, ["debug"])
        [(_, sent)] = builder.feed(chunk(3, "debug", {"type": "checkpoint", "payload": payload}))
        assert sent["payload"]["checkpoint"] == {
            "checkpoint_id": "c2",
            "thread_id": "t",
            "checkpoint_map": {"": "c2"},
        }
        assert sent["payload"]["parent_checkpoint"] is None
        assert sent["payload"]["tasks"] == [{"id": "1", "name": "n", "state": None}]

    def test_a_whole_message_replaces_the_chunks_of_its_id(self):
        accumulator = MessageAccumulator()
        first = accumulator.feed([ai_chunk("Hel"), META])
        assert [name for name, _ in first] == ["messages/metadata", "messages/partial"]
        whole = {"content": "Hello there", "type": "ai", "id": "lc_run--1"}
        [(name, [message])] = accumulator.feed([whole, META])
        assert (name, message["content"]) == ("messages/complete", "Hello there")

    def test_reset_forgets_what_was_accumulated(self):
        accumulator = MessageAccumulator()
        accumulator.feed([ai_chunk("old"), META])
        accumulator.reset()
        frames = accumulator.feed([ai_chunk("new"), META])
        assert frames[0][0] == "messages/metadata" and frames[1][1][0]["content"] == "new"

    def test_last_event_ids_may_carry_surrounding_whitespace(self):
        assert parse_last_event_id(" 7.1 ") == Cursor(7, 1)

    def test_frames_for_without_after_serves_everything_and_with_the_last_id_nothing(self):
        events = run_events(chunk(0, "values", {"a": 1}))
        everything = frames_for(events, run_id=RUN_ID, modes=["values"])
        assert [f.id for f in everything] == ["2", "3"]
        last = parse_last_event_id(everything[-1].id)
        assert frames_for(events, run_id=RUN_ID, modes=["values"], after=last) == []
