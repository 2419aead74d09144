"""Following a run or a thread: stored and live events -> LangGraph stream frames, no gap, no
duplicate.

:func:`run_stream` and :func:`thread_stream` follow the event log the way ``docs/streaming.md``
prescribes: subscribe to the NATS subject first (a :class:`runs.live.Tap`), catch up from
PostgreSQL after what the client already has (:mod:`runs.stream_log`), then go live,
de-duplicating by stream version and fetching any gap from PostgreSQL. Without NATS (not
configured, down, or gone mid-stream) they keep serving from PostgreSQL, woken by the
``duragraph_outbox`` NOTIFY and a short poll, and switch back when NATS returns. They yield
:class:`runs.frames.Frame`\\ s (the format and the ids: :mod:`runs.frames`), and ``None`` as a
keep-alive tick after :data:`HEARTBEAT_SECONDS` without a frame.
"""

from __future__ import annotations

import abc
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from events import store
from events.domain import StoredEvent
from runs import live, metrics, stream_log
from runs.frames import Cursor, Frame, RunFrames, frame_ids, resolve_modes, run_modes_of
from runs.protocol import ProtocolFrames
from runs.stream_log import RunInfo, db_call

#: A keep-alive comment is due after this long without a frame (LangGraph: 5 s).
HEARTBEAT_SECONDS = 5.0
#: With NATS up, PostgreSQL is still checked this often: a relay lagging or a lost message
#: must not stall a stream forever.
POLL_ONLINE_SECONDS = 5.0
#: Without NATS, LISTEN wakes streams at once; this poll covers a NOTIFY missed on reconnect.
POLL_OFFLINE_SECONDS = 1.0


class Scope(abc.ABC):
    """What a followed stream is: its NATS subject, how to catch up from PostgreSQL, and how to
    take events (in order, once each). Other apps follow their own streams with it (a DAG
    job's log: ``workflows.streams``)."""

    subject: str
    done: bool = False
    #: How many events it took so far (each once).
    taken: int = 0

    @abc.abstractmethod
    def load(self) -> list[StoredEvent]:  # synchronous: called through db_call
        """Catch up from PostgreSQL: the events after those taken so far."""

    @abc.abstractmethod
    def offer(self, event: StoredEvent) -> list[Frame] | None:
        """Frames for a live event; None when events are missing before it (catch up)."""

    def absorb(self, events: Iterable[StoredEvent]) -> list[Frame]:
        """Frames for events read from PostgreSQL (already-seen ones are skipped)."""
        frames: list[Frame] = []
        for event in events:
            frames.extend(self.offer(event) or [])
        return frames


async def follow(scope: Scope) -> AsyncIterator[Frame | None]:
    """Serve *scope*: subscribe, catch up, go live; ``None`` as a heartbeat tick."""
    async with live.Tap(scope.subject, live.nats_hub()) as tap:
        frames = scope.absorb(await db_call(scope.load))
        metrics.STREAM_EVENTS.labels("postgres").inc(scope.taken)
        tap.went_live()
        for frame in frames:
            yield frame
        last_frame = last_poll = time.monotonic()
        while not scope.done:
            poll_every = POLL_ONLINE_SECONDS if tap.online else POLL_OFFLINE_SECONDS
            now = time.monotonic()
            timeout = max(0.0, min(last_frame + HEARTBEAT_SECONDS, last_poll + poll_every) - now)
            item = await tap.next(timeout)
            frames: list[Frame] | None = []
            if isinstance(item, StoredEvent):
                taken = scope.taken
                frames = scope.offer(item)
                if scope.taken > taken:
                    metrics.STREAM_EVENTS.labels("nats").inc()
            if item is live.RESYNC or frames is None or time.monotonic() - last_poll >= poll_every:
                taken = scope.taken
                frames = [*(frames or []), *scope.absorb(await db_call(scope.load))]
                if scope.taken > taken:
                    metrics.STREAM_EVENTS.labels("postgres").inc(scope.taken - taken)
                last_poll = time.monotonic()
            for frame in frames:
                yield frame
            if frames:
                last_frame = time.monotonic()
            elif time.monotonic() - last_frame >= HEARTBEAT_SECONDS:
                yield None
                last_frame = time.monotonic()


class _RunScope(Scope):
    def __init__(
        self,
        info: RunInfo,
        modes: Sequence[str],
        *,
        after: Cursor,
        skip: Callable[[StoredEvent, int], bool],
    ) -> None:
        self.run_id = info.run_id
        self.subject = f"duragraph.threads.{info.thread_id}.runs.{info.run_id}"
        self.builder = RunFrames(info.run_id, modes, run_modes=info.modes)
        # Accumulated messages need the chunks before the cursor: read from the start, mute.
        self.version = 0 if self.builder.messages_form == "messages" else after.before
        self.skip = skip

    def load(self) -> list[StoredEvent]:
        return store.load(self.run_id, after_version=self.version)

    def offer(self, event: StoredEvent) -> list[Frame] | None:
        if event.stream_id != self.run_id or event.version <= self.version or self.done:
            return []
        if event.version != self.version + 1:
            return None
        self.version = event.version
        self.taken += 1
        pairs = self.builder.feed(event)
        self.done = self.builder.finished
        return self.frames(event, pairs)

    def frames(self, event: StoredEvent, pairs: list[tuple[str, Any]]) -> list[Frame]:
        """The frames *event* makes (its LangGraph frames, those the client did not have)."""
        return [
            Frame(name, data, frame_id)
            for index, ((name, data), frame_id) in enumerate(
                zip(pairs, frame_ids(event.version, len(pairs)), strict=True)
            )
            if not self.skip(event, index)
        ]


async def run_stream(
    run_id: uuid.UUID,
    *,
    modes: Sequence[str] | None = None,
    last_event_id: Cursor | None = None,
    live: bool = False,
) -> AsyncIterator[Frame | None]:
    """The frames of one run, until it ends.

    Args:
        run_id: the run.
        modes: the client's filter (API mode names); None or empty: the run's own modes.
        last_event_id: resume after this frame (replays from the log, also after the run ended).
        live: without *last_event_id*, serve only what happens from now on (LangGraph's join),
            starting with the current attempt's ``metadata``; otherwise serve from the start.

    Yields:
        Frames, and None when :data:`HEARTBEAT_SECONDS` passed without one.
    """
    info = await db_call(stream_log.run_info, run_id)
    if info is None:
        return
    served = resolve_modes(modes, info.modes)
    if last_event_id is not None:
        after = last_event_id
    elif live:
        if info.ended:
            return  # nothing will happen any more (LangGraph: an empty stream)
        after = Cursor(info.version)
        if info.started is not None:
            started_version, attempt = info.started
            yield Frame(
                "metadata", {"run_id": str(run_id), "attempt": attempt}, str(started_version)
            )
    else:
        after = Cursor(0)
    scope = _RunScope(info, served, after=after, skip=lambda e, i: after.covers(e.version, i))
    async for frame in follow(scope):
        yield frame


# -- thread streams --------------------------------------------------------------------------
@dataclass
class _ThreadRun:
    builder: RunFrames
    version: int
    #: Whether frame *index* of event was already delivered (or predates a live join).
    skip: Callable[[StoredEvent, int], bool]


@dataclass
class _ThreadScope(Scope):
    """Every run of one thread: runs already there and runs created while it is followed."""

    thread_id: uuid.UUID
    thread_modes: Sequence[str]
    after: Cursor | None
    runs: dict[uuid.UUID, _ThreadRun] = field(default_factory=dict)
    #: Runs not followed: over before a live join started, or over since.
    ignored: set[uuid.UUID] = field(default_factory=set)
    started: bool = False

    def __post_init__(self) -> None:
        self.subject = f"duragraph.threads.{self.thread_id}.runs.*"
        self.done = False

    def _builder(self, run_id: uuid.UUID, created: dict[str, Any]) -> RunFrames:
        modes = run_modes_of(created.get("kwargs") or {})
        return RunFrames(run_id, modes, run_done=True)

    def _discover(self) -> None:
        known = list(self.runs) + list(self.ignored)
        new = stream_log.thread_new_runs(self.thread_id, known)
        if not new:
            return
        run_ids = [row[0] for row in new]
        created = stream_log.runs_created(run_ids)
        reached: dict[uuid.UUID, int] = {}
        if self.after is not None and not self.started:
            reached = stream_log.runs_reached(run_ids, self.after.position)
        for run_id, version, status in new:
            if run_id not in created:
                continue  # its events are not visible yet: next time
            builder = self._builder(run_id, created[run_id])
            if self.started:  # created since we began: all of it
                self.runs[run_id] = _ThreadRun(builder, 0, lambda e, i: False)
            elif self.after is not None:  # resuming: after the client's id
                after = self.after
                if status not in ("pending", "running") and reached.get(run_id, 0) >= version:
                    self.ignored.add(run_id)  # over, and the client had all of it
                    continue
                start = 0 if builder.messages_form == "messages" else reached.get(run_id, 0)
                self.runs[run_id] = _ThreadRun(
                    builder, start, lambda e, i, a=after: a.covers(e.id, i)
                )
            elif status in ("pending", "running"):  # live: from now on
                start = 0 if builder.messages_form == "messages" else version
                self.runs[run_id] = _ThreadRun(
                    builder, start, lambda e, i, v=version: e.version <= v
                )
            else:
                self.ignored.add(run_id)

    def load(self) -> list[StoredEvent]:
        if not stream_log.thread_exists(self.thread_id):
            self.done = True  # deleted: nothing more will come
            return []
        self._discover()
        self.started = True
        following = [(run_id, run.version) for run_id, run in self.runs.items()]
        if not following:
            return []
        return stream_log.runs_events_after(following)

    def offer(self, event: StoredEvent) -> list[Frame] | None:
        if event.stream_id in self.ignored:
            return []
        run = self.runs.get(event.stream_id)
        if run is None:
            return None  # a new run: discover it
        if event.version <= run.version:
            return []
        if event.version != run.version + 1:
            return None
        run.version = event.version
        self.taken += 1
        pairs = run.builder.feed(event)
        if run.builder.finished:
            del self.runs[event.stream_id]
            self.ignored.add(event.stream_id)
        if "run_modes" not in self.thread_modes:  # lifecycle: run starts and ends only
            pairs = [pair for pair in pairs if pair[0] == "metadata"]
        return [
            Frame(name, data, frame_id)
            for index, ((name, data), frame_id) in enumerate(
                zip(pairs, frame_ids(event.id, len(pairs)), strict=True)
            )
            if not run.skip(event, index)
        ]


async def thread_stream(
    thread_id: uuid.UUID,
    *,
    modes: Sequence[str] = ("run_modes",),
    last_event_id: Cursor | None = None,
) -> AsyncIterator[Frame | None]:
    """The frames of every run on a thread, from now on (or after *last_event_id*), each run
    ending with ``metadata {"status": "run_done", "run_id"}``; until the thread is deleted.
    Ids are global event ids (see the module docstring)."""
    scope = _ThreadScope(thread_id=thread_id, thread_modes=list(modes), after=last_event_id)
    async for frame in follow(scope):
        yield frame


class _ProtocolScope(_ThreadScope):
    """Every run of one thread from its first, as protocol v2 events (:mod:`runs.protocol`)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.graph_names: dict[Any, str] = {}

    def _builder(self, run_id: uuid.UUID, created: dict[str, Any]) -> Any:
        assistant_id = created.get("assistant_id")
        if assistant_id not in self.graph_names:
            self.graph_names[assistant_id] = stream_log.graph_of_assistant(assistant_id) or str(
                assistant_id
            )
        return ProtocolFrames(run_id, self.graph_names[assistant_id])


async def protocol_stream(thread_id: uuid.UUID) -> AsyncIterator[Frame | None]:
    """Protocol v2 events of every run on a thread, replayed from the thread's first run, then
    live, until the thread is deleted: frames named by the event's method whose data is a
    :class:`runs.protocol.ProtocolEvent`, with the global event id (``.n`` sub-frames) as a
    stable ``event_id``. The same thread replays the same sequence, so a connection can number
    them (``seq``) and a client resume after one (``since``)."""
    scope = _ProtocolScope(thread_id=thread_id, thread_modes=["run_modes"], after=Cursor(0))
    async for frame in follow(scope):
        yield frame


# -- the dashboard's feeds -------------------------------------------------------------------
class _RunEventsScope(_RunScope):
    """A run's stored events themselves, not LangGraph frames: the dashboard's event log,
    timeline and graph. Each event once and in order, as frames ``event`` with the event's
    JSON (:meth:`~events.domain.StoredEvent.as_json`) and its version as the id."""

    def frames(self, event: StoredEvent, pairs: list[tuple[str, Any]]) -> list[Frame]:
        return [Frame("event", event.as_json(), str(event.version))]


async def run_events(run_id: uuid.UUID, *, after_version: int = 0) -> AsyncIterator[Frame | None]:
    """The events of one run after *after_version*, until it ends (None: heartbeat ticks)."""
    info = await db_call(stream_log.run_info, run_id)
    if info is None:
        return
    scope = _RunEventsScope(info, [], after=Cursor(after_version), skip=lambda e, i: False)
    scope.version = after_version
    async for frame in follow(scope):
        yield frame


#: Every run's events (the relay's subjects: ``duragraph.threads.<tid>.runs.<rid>``).
ACTIVITY_SUBJECT = "duragraph.threads.*.runs.*"
#: The run events that change what a list of runs shows.
LIFECYCLE_EVENTS = frozenset(
    {
        "RunCreated",
        "RunStarted",
        "RunCompleted",
        "RunFailed",
        "RunTimedOut",
        "RunInterrupted",
        "RunCancelled",
        "RunLeaseExpired",
        "RunRetried",
        "RunDeleted",
    }
)


async def activity() -> AsyncIterator[Frame | None]:
    """Hints that runs changed, for the dashboard's live lists and counters: a frame ``run``
    ``{"run_id", "type"}`` per lifecycle event while NATS is up, ``changed {}`` when woken
    without knowing which (NATS down: the outbox NOTIFY; NATS back: what was missed). Not a
    log to replay: a page re-reads what it shows when told. None: heartbeat ticks."""
    async with live.Tap(ACTIVITY_SUBJECT, live.nats_hub()) as tap:
        tap.went_live()
        while True:
            item = await tap.next(HEARTBEAT_SECONDS)
            if item is None:
                yield None
            elif item is live.RESYNC:
                yield Frame("changed", {}, "")
            elif isinstance(item, StoredEvent) and item.type in LIFECYCLE_EVENTS:
                yield Frame("run", {"run_id": str(item.stream_id), "type": item.type}, str(item.id))
