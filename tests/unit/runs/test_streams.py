"""Stream frames from stored run events, without IO: names, payloads, ids, dedupe and gaps."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import orjson
import pytest

from duragraph_site.errors import InvalidInput
from events.store import StoredEvent
from runs import streams
from runs.streams import Cursor, Frame, RunFrames

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
        frames = streams.frames_for(events, run_id=RUN_ID, modes=["values"])
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
        frames = streams.frames_for(events, run_id=RUN_ID, modes=["custom", "updates"])
        assert names(frames) == ["metadata", "updates", "custom"]

    def test_subgraph_chunks_are_named_mode_then_namespace(self):
        events = run_events(
            chunk(0, "updates", {"inner": {}}, namespace=["child:1", "grand:2"]),
            chunk(0, "custom", {"x": 1}, namespace=["child:1"]),
        )
        frames = streams.frames_for(events, run_id=RUN_ID, modes=["updates", "custom"])
        assert names(frames) == ["metadata", "updates|child:1|grand:2", "custom|child:1"]

    def test_a_failed_run_ends_with_error(self):
        failed = event(0, "RunFailed", {"error": "ValueError", "message": "boom", "lease_epoch": 1})
        frames = streams.frames_for(run_events(end=failed), run_id=RUN_ID, modes=["values"])
        assert frames[-1] == Frame("error", {"error": "ValueError", "message": "boom"}, "3")

    def test_a_timed_out_run_ends_with_a_timeout_error(self):
        timed_out = event(0, "RunTimedOut", {"message": "too slow", "lease_epoch": 1})
        frames = streams.frames_for(run_events(end=timed_out), run_id=RUN_ID, modes=["values"])
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
        frames = streams.frames_for(
            run_events(chunk(0, "debug", data)), run_id=RUN_ID, modes=["debug"]
        )
        sent = frames[1].data["payload"]
        assert sent["checkpoint"] == {"checkpoint_id": "c2", "thread_id": "t", "checkpoint_ns": ""}
        assert sent["parent_checkpoint"]["checkpoint_id"] == "c1"
        assert sent["tasks"] == [{"id": "1", "name": "n", "checkpoint": {"checkpoint_id": "s"}}]
        task = {"step": 1, "type": "task", "payload": {"id": "1"}}
        assert streams.frames_for(
            run_events(chunk(0, "debug", task)), run_id=RUN_ID, modes=["debug"]
        )[1].data == (task)

    def test_events_mode_passes_astream_events_dicts_through(self):
        data = {"event": "on_chain_start", "name": "writer", "data": {}, "run_id": "r"}
        frames = streams.frames_for(
            run_events(chunk(0, "events", data)), run_id=RUN_ID, modes=["events"]
        )
        assert (frames[1].event, frames[1].data) == ("events", data)


class TestMessages:
    def test_messages_tuple_sends_the_chunks_as_recorded(self):
        data = [ai_chunk("Hel"), META]
        frames = streams.frames_for(
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
        frames = streams.frames_for(events, run_id=RUN_ID, modes=["messages"])
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
        frames = streams.frames_for(
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
        assert streams.frame_ids(7, 0) == []
        assert streams.frame_ids(7, 1) == ["7"]
        assert streams.frame_ids(7, 3) == ["7.0", "7.1", "7"]

    @pytest.mark.parametrize(
        ("value", "cursor"),
        [(None, None), ("", None), (" ", None), ("7", Cursor(7)), ("7.0", Cursor(7, 0))],
    )
    def test_parse_last_event_id(self, value, cursor):
        assert streams.parse_last_event_id(value) == cursor

    @pytest.mark.parametrize("value", ["x", "1-0", "7.x", "-1", "1.-1"])
    def test_bad_last_event_ids_are_invalid_input(self, value):
        with pytest.raises(InvalidInput):
            streams.parse_last_event_id(value)

    def test_cursor_covers(self):
        assert Cursor(7).covers(7, 5) and Cursor(7).covers(6, 0) and not Cursor(7).covers(8, 0)
        assert Cursor(7, 0).covers(7, 0) and not Cursor(7, 0).covers(7, 1)
        assert (Cursor(7).before, Cursor(7, 0).before) == (7, 6)

    def test_resuming_inside_an_event_sends_the_rest_of_it_only(self):
        events = run_events(
            chunk(0, "messages", [ai_chunk("Hel"), META]),
            chunk(0, "messages", [ai_chunk("lo"), META]),
        )
        everything = streams.frames_for(events, run_id=RUN_ID, modes=["messages"])
        for index, frame in enumerate(everything):
            rest = streams.frames_for(
                events,
                run_id=RUN_ID,
                modes=["messages"],
                after=streams.parse_last_event_id(frame.id),
            )
            assert rest == everything[index + 1 :]
        # Primed by the earlier chunks: the resumed partial is accumulated.
        assert everything[-1].data[0]["content"] == "Hello"

    def test_resolve_modes(self):
        assert streams.resolve_modes(None, ["values", "custom"]) == ["values", "custom"]
        assert streams.resolve_modes(["", ""], ["values"]) == ["values"]
        assert streams.resolve_modes(["custom"], ["values", "custom"]) == ["custom"]
        assert streams.resolve_modes(["updates"], ["values"]) == []
        assert streams.resolve_modes(["messages"], ["messages-tuple"]) == ["messages-tuple"]

    def test_sse_and_json_forms(self):
        frame = Frame("values", {"a": "é"}, "3")
        assert frame.sse() == (b'event: values\r\ndata: {"a":"\xc3\xa9"}\r\nid: 3\r\n\r\n')
        assert frame.as_json() == {"event": "values", "data": {"a": "é"}, "id": "3"}


class TestOrdering:
    """The live half's bookkeeping: each version once, in order; a gap means catch up."""

    def scope(self, *, after: Cursor | None = None) -> streams._RunScope:
        after = after or Cursor(0)
        info = streams.RunInfo(
            run_id=RUN_ID,
            thread_id=THREAD_ID,
            version=0,
            modes=["values"],
            started=None,
            ended=False,
        )
        return streams._RunScope(
            info, ["values"], after=after, skip=lambda e, i: after.covers(e.version, i)
        )

    def test_in_order_duplicate_and_gap(self):
        scope = self.scope()
        assert scope.subject == f"duragraph.threads.{THREAD_ID}.runs.{RUN_ID}"
        assert scope.offer(event(1, "RunCreated")) == []
        assert scope.offer(event(3, "RunCompleted")) is None, "version 2 is missing: catch up"
        assert names(scope.offer(event(2, "RunStarted", {"attempt": 1}))) == ["metadata"]
        assert scope.offer(event(2, "RunStarted", {"attempt": 1})) == [], "a duplicate"
        assert scope.offer(event(3, "RunCompleted")) == [] and scope.done
        assert scope.taken == 3

    def test_events_of_other_streams_are_ignored(self):
        scope = self.scope()
        other = StoredEvent(**{**event(1, "RunCreated").__dict__, "stream_id": uuid.uuid4()})
        assert scope.offer(other) == [] and scope.version == 0

    def test_absorb_skips_what_was_seen_and_what_the_client_had(self):
        scope = self.scope(after=Cursor(3))
        events = run_events(chunk(0, "values", {"a": 1}), chunk(0, "values", {"a": 2}))
        assert scope.version == 3
        frames = scope.absorb(events)
        assert [(f.event, f.id) for f in frames] == [("values", "4")]
        assert scope.done and scope.absorb(events) == []

    def test_thread_scope_discovers_unknown_runs_and_ignores_finished_ones(self):
        scope = streams._ThreadScope(thread_id=THREAD_ID, thread_modes=["run_modes"], after=None)
        assert scope.subject == f"duragraph.threads.{THREAD_ID}.runs.*"
        assert scope.offer(event(1, "RunCreated")) is None, "unknown run: look it up"
        scope.ignored.add(RUN_ID)
        assert scope.offer(event(2, "RunStarted", {"attempt": 1})) == []

    def test_thread_scope_lifecycle_mode_keeps_starts_and_ends_only(self):
        scope = streams._ThreadScope(thread_id=THREAD_ID, thread_modes=["lifecycle"], after=None)
        scope.runs[RUN_ID] = streams._ThreadRun(
            RunFrames(RUN_ID, ["values"], run_done=True), 0, lambda e, i: False
        )
        frames = scope.absorb(run_events(chunk(0, "values", {"a": 1})))
        assert [(f.event, f.id) for f in frames] == [("metadata", "1002"), ("metadata", "1004")]
        assert frames[-1].data == {"status": "run_done", "run_id": str(RUN_ID)}
        assert RUN_ID in scope.ignored and RUN_ID not in scope.runs


def test_event_from_message():
    body = orjson.dumps(
        {
            "id": 12,
            "stream_type": "run",
            "stream_id": str(RUN_ID),
            "version": 3,
            "type": "RunOutputStreamed",
            "payload": {"mode": "values", "data": {}},
            "metadata": {},
            "created_at": "2026-11-21T05:31:44.123456+00:00",
        }
    )
    parsed = streams.event_from_message(body)
    assert (parsed.id, parsed.stream_id, parsed.version) == (12, RUN_ID, 3)
    assert streams.event_from_message(b"{not json") is None
    assert streams.event_from_message(b'{"id": 1}') is None
