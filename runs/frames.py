"""The LangGraph stream format: stored run events -> SSE frames, pure (no IO, no Django).

:class:`RunFrames` turns one run's stored events, in version order, into LangGraph's stream
events (``metadata``, ``values``, ``updates``, ``messages/partial``, ``error``...), exactly as
LangGraph Platform names and shapes them (``langgraph_api/stream.py``); :class:`Frame` is one of
them with its resumable id, in its SSE and WebSocket forms. Following a stream live (the IO) is
:mod:`runs.streams`.

Ids (the SSE ``id:``):

- run streams: the run stream's ``version`` of the event the frame comes from; strictly
  increasing. An event that yields several frames (a message's ``messages/metadata`` then
  ``messages/partial``; on a thread stream ``error`` then ``run_done``) gives its earlier frames
  ``<version>.<n>`` (n = 0, 1...) and its last frame the bare ``<version>``, so every frame is
  resumable on its own. ``Last-Event-ID: 7`` resumes after event 7; ``7.0`` after the first
  frame of event 7 (:class:`Cursor`).
- the ``metadata`` frame ``{"run_id", "attempt"}`` is the frame of the attempt's ``RunStarted``
  event (so a retried run announces each attempt, as LangGraph does); a client joining a running
  run without ``Last-Event-ID`` gets it first, with the id of that ``RunStarted``.
- thread streams: the global event id (``events_event.id``) instead of the version, with the
  same ``.n`` sub-frames. Runs on one thread run one at a time, so their output events are
  committed in id order; a thread stream resumes after an id per run.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from duragraph_site import serde
from duragraph_site.errors import InvalidInput

if TYPE_CHECKING:
    from events.domain import StoredEvent

logger = logging.getLogger(__name__)

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
