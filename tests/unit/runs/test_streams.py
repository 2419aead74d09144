"""Following a stream, without IO: each version once and in order, gaps caught up, the runs of a
thread discovered and left (the bookkeeping of ``runs.streams``' scopes)."""

from __future__ import annotations

import uuid

from events.domain import StoredEvent
from runs import stream_log, streams
from runs.frames import Cursor, RunFrames
from tests.unit.runs.test_frames import RUN_ID, THREAD_ID, chunk, event, names, run_events


class TestOrdering:
    """The live half's bookkeeping: each version once, in order; a gap means catch up."""

    def scope(self, *, after: Cursor | None = None) -> streams._RunScope:
        after = after or Cursor(0)
        info = stream_log.RunInfo(
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
