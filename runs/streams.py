"""Live run and thread streams: stored run events -> LangGraph stream frames, no gap, no duplicate.

Two halves:

- **Frames (pure).** :class:`RunFrames` turns one run's stored events, in version order, into
  LangGraph's SSE events (``metadata``, ``values``, ``updates``, ``messages/partial``, ``error``...),
  exactly as LangGraph Platform names and shapes them (``langgraph_api/stream.py``). No IO.
- **Following (IO).** :func:`run_stream` and :func:`thread_stream` follow the event log the way
  ``docs/streaming.md`` prescribes: subscribe to the NATS subject first, catch up from PostgreSQL
  after what the client already has, then go live, de-duplicating by stream version and fetching
  any gap from PostgreSQL. Without NATS (not configured, down, or gone mid-stream) they keep
  serving from PostgreSQL, woken by the ``duragraph_outbox`` NOTIFY and a short poll, and switch
  back when NATS returns. They yield :class:`Frame`\\ s, and ``None`` as a keep-alive tick after
  :data:`HEARTBEAT_SECONDS` without a frame.

Ids (the SSE ``id:``):

- run streams: the run stream's ``version`` of the event the frame comes from; strictly
  increasing. An event that yields several frames (a message's ``messages/metadata`` then
  ``messages/partial``; on a thread stream ``error`` then ``run_done``) gives its earlier frames
  ``<version>.<n>`` (n = 0, 1...) and its last frame the bare ``<version>``, so every frame is
  resumable on its own. ``Last-Event-ID: 7`` resumes after event 7; ``7.0`` after the first
  frame of event 7.
- the ``metadata`` frame ``{"run_id", "attempt"}`` is the frame of the attempt's ``RunStarted``
  event (so a retried run announces each attempt, as LangGraph does); a client joining a running
  run without ``Last-Event-ID`` gets it first, with the id of that ``RunStarted``.
- thread streams: the global event id (``events_event.id``) instead of the version, with the
  same ``.n`` sub-frames. Runs on one thread run one at a time, so their output events are
  committed in id order; a thread stream resumes after an id per run.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import threading
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import psycopg
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection

from duragraph_site import serde, sqlfiles
from duragraph_site.db.connections import released
from duragraph_site.errors import InvalidInput
from events import store
from events.models import OUTBOX_CHANNEL
from events.store import StoredEvent
from runs import metrics

logger = logging.getLogger(__name__)
QUERIES = sqlfiles.load(Path(__file__).parent / "sql" / "streams.sql")

#: A keep-alive comment is due after this long without a frame (LangGraph: 5 s).
HEARTBEAT_SECONDS = 5.0
#: With NATS up, PostgreSQL is still checked this often: a relay lagging or a lost message
#: must not stall a stream forever.
POLL_ONLINE_SECONDS = 5.0
#: Without NATS, LISTEN wakes streams at once; this poll covers a NOTIFY missed on reconnect.
POLL_OFFLINE_SECONDS = 1.0
#: The LISTEN thread closes its connection after this long without a stream needing it.
LISTENER_IDLE_SECONDS = 30.0
#: How often the LISTEN thread looks up from its connection (to stop, or to go idle).
_LISTEN_TICK_SECONDS = 0.5
#: How long the first stream of a process waits for the shared NATS connection to come up.
NATS_CONNECT_WAIT_SECONDS = 1.0

#: Events after which a run stream has nothing more to say.
TERMINAL_EVENTS = frozenset(
    {"RunCompleted", "RunFailed", "RunTimedOut", "RunInterrupted", "RunCancelled", "RunDeleted"}
)
#: The API's stream modes (``stream_mode``) a run stream can serve.
RUN_MODES = (
    "values",
    "updates",
    "custom",
    "tasks",
    "checkpoints",
    "debug",
    "messages",
    "messages-tuple",
    "events",
)
#: Stream modes of ``GET /threads/{id}/stream``: each run's own modes, or only run starts/ends.
THREAD_MODES = ("run_modes", "lifecycle", "state_update")
#: Pregel modes whose chunks become a frame of the same name (``<mode>|<ns...>`` in subgraphs).
_PLAIN_MODES = frozenset({"values", "updates", "custom", "tasks", "checkpoints", "debug"})

HEARTBEAT_SSE = b": heartbeat\r\n\r\n"


# -- frames ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Frame:
    """One stream event: its LangGraph name, JSON data and resumable id."""

    event: str
    data: Any
    id: str

    def sse(self) -> bytes:
        """The SSE wire form (CRLF line ends, as LangGraph Platform writes them)."""
        return b"".join(
            (
                b"event: ",
                self.event.encode(),
                b"\r\ndata: ",
                serde.dumps(self.data),
                b"\r\nid: ",
                self.id.encode(),
                b"\r\n\r\n",
            )
        )

    def as_json(self) -> dict[str, Any]:
        """The WebSocket form: ``{"event", "data", "id"}``."""
        return {"event": self.event, "data": self.data, "id": self.id}


@dataclass(frozen=True)
class Cursor:
    """How far a client got: through every frame of event *position*, or, when *sub* is set,
    through frame number *sub* of it (the ``<position>.<sub>`` ids)."""

    position: int
    sub: int | None = None

    def covers(self, position: int, index: int) -> bool:
        """Whether frame *index* of event *position* was already delivered."""
        if position != self.position:
            return position < self.position
        return self.sub is None or index <= self.sub

    @property
    def before(self) -> int:
        """The last event whose every frame was delivered."""
        return self.position if self.sub is None else self.position - 1


def parse_last_event_id(value: str | None) -> Cursor | None:
    """A ``Last-Event-ID`` header as a :class:`Cursor`; None when absent or empty.

    Raises:
        InvalidInput: not one of our ids (``N`` or ``N.n``).
    """
    if value is None or not value.strip():
        return None
    position, dot, sub = value.strip().partition(".")
    try:
        cursor = Cursor(int(position), int(sub) if dot else None)
    except ValueError:
        raise InvalidInput(f"Invalid Last-Event-ID {value!r}: expected N or N.n") from None
    if cursor.position < 0 or (cursor.sub is not None and cursor.sub < 0):
        raise InvalidInput(f"Invalid Last-Event-ID {value!r}: expected N or N.n")
    return cursor


def frame_ids(position: int, count: int) -> list[str]:
    """The ids of the *count* frames of event *position*: ``p.0, p.1, ..., p``."""
    return [f"{position}.{index}" for index in range(count - 1)] + [str(position)] * (count > 0)


def resolve_modes(requested: Iterable[str] | None, run_modes: Sequence[str]) -> list[str]:
    """The modes a joined stream serves: the client's filter within the run's own modes (all of
    the run's modes when the filter is empty), ``messages`` and ``messages-tuple`` matching
    either (LangGraph's join filter)."""
    wanted = [mode for mode in (requested or []) if mode]
    if not wanted:
        return list(run_modes)
    messages = {"messages", "messages-tuple"}
    return [
        mode
        for mode in run_modes
        if mode in wanted or (mode in messages and messages & set(wanted))
    ]


def run_modes_of(kwargs: dict[str, Any]) -> list[str]:
    """The API stream modes a run was created with (LangGraph's default: ``["values"]``)."""
    modes = kwargs.get("stream_mode") or ["values"]
    return [modes] if isinstance(modes, str) else list(modes)


class RunFrames:
    """Folds one run's stored events, in version order, into LangGraph stream events.

    Args:
        run_id: the run (for ``metadata`` and ``run_done``).
        modes: the API modes to emit (never empty; ``metadata`` and ``error`` always are).
        run_modes: the modes the run was created with; they decide the form of message chunks
            (``messages-tuple``: as recorded; ``messages``: accumulated per message id).
            Defaults to *modes*.
        run_done: also emit ``metadata {"status": "run_done", "run_id"}`` when the run ends (the
            thread stream does).

    :meth:`feed` returns ``(event name, data)`` pairs; :attr:`finished` turns true at the run's
    terminal event.
    """

    def __init__(
        self,
        run_id: uuid.UUID | str,
        modes: Iterable[str],
        *,
        run_modes: Iterable[str] | None = None,
        run_done: bool = False,
    ) -> None:
        self.run_id = str(run_id)
        self.modes = frozenset(modes)
        run_modes = frozenset(self.modes if run_modes is None else run_modes)
        self.messages_form: str | None = None
        if self.modes & {"messages", "messages-tuple"}:
            self.messages_form = "messages-tuple" if "messages-tuple" in run_modes else "messages"
        self.run_done = run_done
        self.finished = False
        self._messages = MessageAccumulator()

    def feed(self, event: StoredEvent) -> list[tuple[str, Any]]:
        """The frames for *event* (none for most lifecycle events)."""
        if self.finished:
            return []
        payload = event.payload
        kind = event.type
        if kind == "RunOutputStreamed":
            return self._output(payload.get("mode", ""), payload.get("namespace") or [], payload)
        if kind == "RunStarted":
            self._messages.reset()  # a new attempt streams its messages afresh
            return [("metadata", {"run_id": self.run_id, "attempt": payload.get("attempt", 1)})]
        if kind not in TERMINAL_EVENTS:
            return []
        self.finished = True
        frames: list[tuple[str, Any]] = []
        if kind == "RunFailed":
            frames.append(
                ("error", {"error": payload.get("error"), "message": payload.get("message")})
            )
        elif kind == "RunTimedOut":
            frames.append(("error", {"error": "TimeoutError", "message": payload.get("message")}))
        if self.run_done:
            frames.append(("metadata", {"status": "run_done", "run_id": self.run_id}))
        return frames

    def _output(
        self, mode: str, namespace: list[str], payload: dict[str, Any]
    ) -> list[tuple[str, Any]]:
        data = payload.get("data")
        suffix = "".join(f"|{segment}" for segment in namespace)
        if mode == "messages":
            if self.messages_form == "messages-tuple":
                return [(f"messages{suffix}", data)]
            if self.messages_form == "messages":
                # LangGraph names accumulated messages without the namespace.
                return self._messages.feed(data)
            return []
        if mode not in self.modes:
            return []
        if mode == "events":
            return [("events", data)]
        if mode == "debug":
            data = _debug_chunk(data)
        if mode in _PLAIN_MODES:
            return [(f"{mode}{suffix}", data)]
        return [(f"{mode}{suffix}", data)]  # a mode added later: pass it through by name


class MessageAccumulator:
    """LangGraph's ``messages`` mode: a ``messages/metadata`` frame the first time a message id is
    seen, then the message so far (chunks added up) as ``messages/partial``, or as
    ``messages/complete`` for a whole message (``langgraph_api.stream.astream_state``)."""

    def __init__(self) -> None:
        self._messages: dict[Any, Any] = {}

    def reset(self) -> None:
        self._messages.clear()

    def feed(self, data: Any) -> list[tuple[str, Any]]:
        if not (isinstance(data, list | tuple) and len(data) == 2):
            return []
        raw, metadata = data
        message = _message_from_dict(raw)
        if message is None:
            return []
        from langchain_core.messages import BaseMessageChunk, message_chunk_to_message

        frames: list[tuple[str, Any]] = []
        key = message.id
        is_chunk = isinstance(message, BaseMessageChunk)
        if key in self._messages:
            previous = self._messages[key]
            # Chunks add up; a whole message with a known id replaces what was there.
            self._messages[key] = (
                previous + message
                if is_chunk and isinstance(previous, BaseMessageChunk)
                else message
            )
        else:
            self._messages[key] = message
            frames.append(("messages/metadata", {key: {"metadata": metadata}}))
        whole = message_chunk_to_message(self._messages[key])
        event = "messages/partial" if is_chunk else "messages/complete"
        frames.append((event, [serde.to_jsonable(whole)]))
        return frames


def _message_from_dict(raw: Any) -> Any:
    """A LangChain message from its ``model_dump()`` (None when it is not one)."""
    if not isinstance(raw, dict):
        return None
    from langchain_core import messages as lc

    classes: dict[str, Any] = {
        "ai": lc.AIMessage,
        "human": lc.HumanMessage,
        "system": lc.SystemMessage,
        "tool": lc.ToolMessage,
        "function": lc.FunctionMessage,
        "chat": lc.ChatMessage,
        "remove": lc.RemoveMessage,
        "AIMessageChunk": lc.AIMessageChunk,
        "HumanMessageChunk": lc.HumanMessageChunk,
        "SystemMessageChunk": lc.SystemMessageChunk,
        "ToolMessageChunk": lc.ToolMessageChunk,
        "FunctionMessageChunk": lc.FunctionMessageChunk,
        "ChatMessageChunk": lc.ChatMessageChunk,
    }
    cls = classes.get(raw.get("type", ""))
    if cls is None:
        return None
    try:
        return cls.model_validate(raw)
    except Exception:  # noqa: BLE001 - a malformed chunk is skipped, not a broken stream
        logger.warning("could not rebuild a %s message from a stored chunk", raw.get("type"))
        return None


def _checkpoint_of(config: Any) -> dict[str, Any] | None:
    """LangGraph Platform's ``runnable_config_to_checkpoint``."""
    configurable = (config or {}).get("configurable") if isinstance(config, dict) else None
    if not configurable or not configurable.get("thread_id"):
        return None
    if not configurable.get("checkpoint_id"):
        return None
    checkpoint = {
        "checkpoint_id": configurable["checkpoint_id"],
        "thread_id": configurable["thread_id"],
    }
    if "checkpoint_ns" in configurable:
        checkpoint["checkpoint_ns"] = configurable["checkpoint_ns"] or ""
    if "checkpoint_map" in configurable:
        checkpoint["checkpoint_map"] = configurable["checkpoint_map"]
    return checkpoint


def _debug_chunk(chunk: Any) -> Any:
    """A ``debug`` chunk as LangGraph Platform sends it: checkpoints gain ``checkpoint`` and
    ``parent_checkpoint``, and their tasks' ``state`` config becomes ``checkpoint``."""
    if not isinstance(chunk, dict) or chunk.get("type") != "checkpoint":
        return chunk
    payload = chunk.get("payload")
    if not isinstance(payload, dict) or not payload:
        return {**chunk, "payload": None}

    def task(item: Any) -> Any:
        state = item.get("state") if isinstance(item, dict) else None
        if not isinstance(state, dict) or not state.get("configurable"):
            return item
        return {
            **{k: v for k, v in item.items() if k != "state"},
            "checkpoint": state["configurable"],
        }

    return {
        **chunk,
        "payload": {
            **payload,
            "checkpoint": _checkpoint_of(payload.get("config")),
            "parent_checkpoint": _checkpoint_of(payload.get("parent_config")),
            "tasks": [task(item) for item in payload.get("tasks") or []],
        },
    }


def frames_for(
    events: Iterable[StoredEvent],
    *,
    run_id: uuid.UUID | str,
    modes: Iterable[str],
    run_modes: Iterable[str] | None = None,
    after: Cursor | None = None,
) -> list[Frame]:
    """The frames of a run's stored events (in version order) after *after*: the whole of what
    a run stream serves, without the IO. Events before *after* still prime the builder (message
    accumulation needs the earlier chunks)."""
    builder = RunFrames(run_id, modes, run_modes=run_modes)
    frames: list[Frame] = []
    for event in events:
        pairs = builder.feed(event)
        for index, ((name, data), frame_id) in enumerate(
            zip(pairs, frame_ids(event.version, len(pairs)), strict=True)
        ):
            if after is None or not after.covers(event.version, index):
                frames.append(Frame(name, data, frame_id))
    return frames


# -- reading the log -------------------------------------------------------------------------
_LIFECYCLE = ["RunStarted", "RunRetried", *sorted(TERMINAL_EVENTS)]


@dataclass(frozen=True)
class RunInfo:
    """What a run stream needs to know before it starts."""

    run_id: uuid.UUID
    thread_id: uuid.UUID
    #: The run stream's current version.
    version: int
    #: The API stream modes it was created with.
    modes: list[str]
    #: ``(version, attempt)`` of its latest ``RunStarted``; None before it started.
    started: tuple[int, int] | None
    #: Whether its latest lifecycle event is terminal.
    ended: bool


def run_info(run_id: uuid.UUID) -> RunInfo | None:
    """The run's :class:`RunInfo` from the event log (a stateless run's row is deleted when it
    ends; its events stay). None when there is no such run. Synchronous (database)."""
    with connection.cursor() as cursor:
        cursor.execute(QUERIES["run_lifecycle"], {"run_id": run_id, "types": _LIFECYCLE})
        rows = cursor.fetchall()
        if not rows or rows[0][1] != "RunCreated":
            return None
        version = store.stream_version(run_id)
    created = _json(rows[0][2])
    started: tuple[int, int] | None = None
    ended = False
    for row_version, kind, payload in rows[1:]:
        if kind == "RunStarted":
            started = (row_version, int(_json(payload).get("attempt", 1)))
        ended = kind in TERMINAL_EVENTS
    return RunInfo(
        run_id=run_id,
        thread_id=uuid.UUID(str(created["thread_id"])),
        version=version,
        modes=run_modes_of(created.get("kwargs") or {}),
        started=started,
        ended=ended,
    )


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _stored(row: Sequence[Any]) -> StoredEvent:
    return StoredEvent(
        id=row[0],
        stream_type=row[1],
        stream_id=row[2],
        version=row[3],
        type=row[4],
        payload=_json(row[5]),
        metadata=_json(row[6]),
        created_at=row[7],
    )


def event_from_message(body: bytes) -> StoredEvent | None:
    """A relayed event (the NATS message body of ``docs/streaming.md``); None if malformed."""
    try:
        raw = orjson.loads(body)
        created_at = raw.get("created_at")
        return StoredEvent(
            id=int(raw["id"]),
            stream_type=str(raw["stream_type"]),
            stream_id=uuid.UUID(str(raw["stream_id"])),
            version=int(raw["version"]),
            type=str(raw["type"]),
            payload=raw.get("payload") or {},
            metadata=raw.get("metadata") or {},
            created_at=datetime.fromisoformat(created_at) if created_at else None,  # type: ignore[arg-type]
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        logger.warning("ignoring a malformed event message on NATS")
        return None


async def db_call(function: Callable[..., Any], *args: Any) -> Any:
    """Run database code on a worker thread, giving its pooled connection back right after:
    a stream idles for minutes and must not hold a connection meanwhile."""

    def call() -> Any:
        with released():
            return function(*args)

    return await sync_to_async(call, thread_sensitive=False)()


# -- PostgreSQL wake-ups ---------------------------------------------------------------------
def _conninfo() -> str:
    params = connection.get_connection_params()
    allowed = ("dbname", "user", "password", "host", "port", "sslmode", "options")
    return psycopg.conninfo.make_conninfo(
        **{k: v for k, v in params.items() if k in allowed and v not in (None, "")}
    )


class OutboxListener:
    """One thread per process LISTENing on ``duragraph_outbox`` (NOTIFY'd at every commit that
    appends events) on a dedicated connection; it calls the registered callbacks, which wake the
    streams serving from PostgreSQL. Started on first use, reconnects on its own, and ends (its
    connection closed) once no stream has needed it for :data:`LISTENER_IDLE_SECONDS`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: set[Callable[[], None]] = set()
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def add(self, callback: Callable[[], None]) -> None:
        """Call *callback* (from the listener thread) after each notification."""
        with self._lock:
            self._callbacks.add(callback)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._listen, name="outbox-wake", daemon=True
                )
                self._thread.start()

    def discard(self, callback: Callable[[], None]) -> None:
        with self._lock:
            self._callbacks.discard(callback)

    def stop(self, timeout: float = 5.0) -> None:
        """End the thread now (tests: its connection must not outlive the test database)."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            self._stopping.set()
            thread.join(timeout)
        self._stopping.clear()

    def _notify_all(self) -> None:
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback()

    def _should_end(self, idle_since: float) -> bool:
        """Whether to end the thread; decided under the lock, so that an :meth:`add` racing
        with the decision starts a new thread instead of registering with a dying one."""
        with self._lock:
            idle = not self._callbacks and time.monotonic() - idle_since > LISTENER_IDLE_SECONDS
            if self._stopping.is_set() or idle:
                self._thread = None
                return True
            return False

    def _listen(self) -> None:
        idle_since = time.monotonic()
        while not self._should_end(idle_since):
            try:
                # Here, not on the event loop: it may attach to the embedded PostgreSQL.
                with psycopg.connect(_conninfo(), autocommit=True) as listener:
                    listener.execute(f"LISTEN {OUTBOX_CHANNEL}")
                    self._notify_all()  # anything committed while we were connecting
                    while not self._should_end(idle_since):
                        woke = False
                        for _ in listener.notifies(timeout=_LISTEN_TICK_SECONDS):
                            woke = True
                            break  # one wake-up per burst: the streams read everything anyway
                        if woke:
                            self._notify_all()
                        with self._lock:
                            if self._callbacks:
                                idle_since = time.monotonic()
            except psycopg.Error:
                logger.warning("outbox listener lost its database connection; reconnecting")
                self._stopping.wait(1)


outbox_listener = OutboxListener()


# -- NATS ------------------------------------------------------------------------------------
class NatsHub:
    """One NATS connection per event loop, shared by every stream served on that loop.

    It connects in the background and keeps reconnecting for as long as the process lives
    (``max_reconnect_attempts=-1``): streams use it while it is connected and serve from
    PostgreSQL while it is not. Each :class:`Tap` registered here is told when the connection
    drops (go to PostgreSQL) and when it is back (subscribe if needed, then catch up).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.client: Any = None
        self.taps: set[Tap] = set()
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def online(self) -> bool:
        return self.client is not None and self.client.is_connected

    def start(self) -> bool:
        """Start connecting unless already connected or connecting; True if it started now."""
        if self._task is None or (self._task.done() and self.client is None):
            self._task = asyncio.get_running_loop().create_task(self._connect())
            return True
        return False

    async def wait_online(self, timeout: float) -> bool:
        """Whether NATS is usable; waits up to *timeout* only for a connection attempt that
        starts now (the first stream of the loop), never for one already failing."""
        if self.start() and not self.online:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._connected.wait(), timeout)
        return self.online

    async def _connect(self) -> None:
        import nats

        async def disconnected() -> None:
            self._connected.clear()
            for tap in list(self.taps):
                tap.went_offline()

        async def reconnected() -> None:
            self._connected.set()
            for tap in list(self.taps):
                tap.came_back()  # the client re-subscribed its subscriptions already

        async def closed() -> None:
            self._connected.clear()
            self.client = None
            for tap in list(self.taps):
                tap.went_offline(detached=True)

        async def error(exc: Exception) -> None:
            logger.debug("NATS: %s", exc)

        try:
            client = await nats.connect(
                self.url,
                name="duragraph-streams",
                connect_timeout=1,
                reconnect_time_wait=1,
                max_reconnect_attempts=-1,
                error_cb=error,
                disconnected_cb=disconnected,
                reconnected_cb=reconnected,
                closed_cb=closed,
            )
        except Exception:  # noqa: BLE001 - streams go on from PostgreSQL; retried on next use
            logger.warning("could not connect to NATS at %s", self.url, exc_info=True)
            return
        self.client = client
        self._connected.set()
        for tap in list(self.taps):
            await tap.attach()


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, NatsHub] = weakref.WeakKeyDictionary()


def nats_hub() -> NatsHub | None:
    """The running loop's hub, or None when ``NATS_URL`` is not configured."""
    url = getattr(settings, "NATS_URL", "")
    if not url:
        return None
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None or hub.url != url:
        hub = _hubs[loop] = NatsHub(url)
    return hub


#: Queue items besides events: catch up from PostgreSQL now.
_RESYNC = object()


class Tap:
    """One stream's feed: events from its NATS subject while NATS is up; wake-ups from the
    outbox NOTIFY while it is not; :data:`_RESYNC` when the stream must catch up from
    PostgreSQL (NATS came back: what was published meanwhile was missed)."""

    def __init__(self, subject: str, hub: NatsHub | None) -> None:
        self.subject = subject
        self.hub = hub
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self._subscription: Any = None
        self._loop = asyncio.get_running_loop()
        self._listening = False
        self._wake_pending = False

    @property
    def online(self) -> bool:
        return self.hub is not None and self.hub.online and self._subscription is not None

    async def __aenter__(self) -> Tap:
        if self.hub is not None:
            self.hub.taps.add(self)
            if await self.hub.wait_online(NATS_CONNECT_WAIT_SECONDS):
                await self.attach()
        if not self.online:
            self.went_offline()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self.hub is not None:
            self.hub.taps.discard(self)
        self._stop_listening()
        if self._subscription is not None:
            with contextlib.suppress(Exception):
                await self._subscription.unsubscribe()
            self._subscription = None

    async def attach(self) -> None:
        """Subscribe on the hub's (new) client; flushed, so that the server has the interest
        before the stream reads PostgreSQL."""
        assert self.hub is not None
        client = self.hub.client
        if client is None:
            return
        try:
            self._subscription = await client.subscribe(self.subject, cb=self._on_message)
            await client.flush(timeout=1)
        except Exception:  # noqa: BLE001 - stay on PostgreSQL until the next reconnect
            logger.warning("could not subscribe to %s", self.subject, exc_info=True)
            self._subscription = None
            self.went_offline()
            return
        self.came_back()

    def went_offline(self, *, detached: bool = False) -> None:
        if detached:
            self._subscription = None
        if not self._listening:
            self._listening = True
            outbox_listener.add(self._wake_threadsafe)
        self._wake()

    def came_back(self) -> None:
        self._stop_listening()
        self.queue.put_nowait(_RESYNC)

    def _stop_listening(self) -> None:
        if self._listening:
            self._listening = False
            outbox_listener.discard(self._wake_threadsafe)

    async def _on_message(self, message: Any) -> None:
        event = event_from_message(message.data)
        if event is not None:
            self.queue.put_nowait(event)

    def _wake(self) -> None:
        if not self._wake_pending:
            self._wake_pending = True
            self.queue.put_nowait(_RESYNC)

    def _wake_threadsafe(self) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: the stream is gone
            self._loop.call_soon_threadsafe(self._wake)

    async def next(self, timeout: float) -> Any:
        """The next event or :data:`_RESYNC`; None after *timeout* seconds of nothing."""
        try:
            item = await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None
        if item is _RESYNC:
            self._wake_pending = False
        return item


# -- following -------------------------------------------------------------------------------
class _Scope(abc.ABC):
    """What a followed stream is: its NATS subject, how to catch up from PostgreSQL, and how to
    take events (in order, once each)."""

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


async def _follow(scope: _Scope) -> AsyncIterator[Frame | None]:
    """Serve *scope*: subscribe, catch up, go live; ``None`` as a heartbeat tick."""
    async with Tap(scope.subject, nats_hub()) as tap:
        frames = scope.absorb(await db_call(scope.load))
        metrics.STREAM_EVENTS.labels("postgres").inc(scope.taken)
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
            if item is _RESYNC or frames is None or time.monotonic() - last_poll >= poll_every:
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


class _RunScope(_Scope):
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
    info = await db_call(run_info, run_id)
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
    async for frame in _follow(scope):
        yield frame


# -- thread streams --------------------------------------------------------------------------
@dataclass
class _ThreadRun:
    builder: RunFrames
    version: int
    #: Whether frame *index* of event was already delivered (or predates a live join).
    skip: Callable[[StoredEvent, int], bool]


@dataclass
class _ThreadScope(_Scope):
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

    def _discover(self, cursor: Any) -> None:
        known = list(self.runs) + list(self.ignored)
        cursor.execute(QUERIES["thread_new_runs"], {"thread_id": self.thread_id, "known": known})
        new = cursor.fetchall()
        if not new:
            return
        run_ids = [row[0] for row in new]
        cursor.execute(QUERIES["runs_created"], {"run_ids": run_ids})
        created = {row[0]: _json(row[1]) for row in cursor.fetchall()}
        reached: dict[uuid.UUID, int] = {}
        if self.after is not None and not self.started:
            cursor.execute(
                QUERIES["runs_reached"], {"run_ids": run_ids, "after_id": self.after.position}
            )
            reached = dict(cursor.fetchall())
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
        with connection.cursor() as cursor:
            cursor.execute(QUERIES["thread_exists"], {"thread_id": self.thread_id})
            if cursor.fetchone() is None:
                self.done = True  # deleted: nothing more will come
                return []
            self._discover(cursor)
            self.started = True
            following = [(run_id, run.version) for run_id, run in self.runs.items()]
            if not following:
                return []
            cursor.execute(
                QUERIES["runs_events_after"],
                {"run_ids": [r for r, _ in following], "after": [v for _, v in following]},
            )
            return [_stored(row) for row in cursor.fetchall()]

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
    async for frame in _follow(scope):
        yield frame
