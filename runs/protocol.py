"""LangGraph's streaming protocol v2 (``langchain_protocol``): stored run events -> protocol
events, pure (no IO, no Django).

:class:`ProtocolFrames` folds one run's stored events, in version order, into the events the
``langgraph-sdk``'s ``client.threads.stream()`` reads: ``lifecycle`` (the run ``running``, then
``completed``/``failed``/``interrupted``; a subgraph ``started`` when its namespace first shows,
``completed`` when the run ends), ``input.requested`` (one per interrupt, ``{interrupt_id,
payload}``), ``values``, ``updates``, ``messages`` (content blocks: the executor streams a
protocol run's messages in that form), ``tools``, ``custom`` (``{payload}``), ``tasks`` and
``checkpoints`` (``{id, parent_id, step, source}``). It has the interface of
:class:`runs.frames.RunFrames`, so a thread's runs are followed the same way
(:func:`runs.streams.protocol_stream`); :func:`envelope` numbers them and :class:`Filter` picks
what one connection asked for. The shapes follow ``langgraph_api/event_streaming`` (0.16.7).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runs.frames import TERMINAL_EVENTS

if TYPE_CHECKING:
    from events.domain import StoredEvent

#: The channels a client can ask for (``custom:<name>`` too: custom events of that name).
CHANNELS = (
    "values",
    "updates",
    "messages",
    "tools",
    "lifecycle",
    "input",
    "checkpoints",
    "tasks",
    "custom",
)
#: The API stream modes a protocol run is created with (LangGraph's DEFAULT_RUN_STREAM_MODES).
RUN_STREAM_MODES = ("values", "updates", "messages", "tools", "custom", "tasks", "checkpoints")

INTERRUPT_KEY = "__interrupt__"


def is_channel(value: Any) -> bool:
    """Whether *value* names a channel (``custom:<name>`` included)."""
    return isinstance(value, str) and (
        value in CHANNELS or (value.startswith("custom:") and len(value) > len("custom:"))
    )


@dataclass(frozen=True)
class ProtocolEvent:
    """One protocol event before a connection numbers it: its method, namespace, data."""

    method: str
    namespace: list[str]
    data: Any
    timestamp: int
    node: str | None = None

    @property
    def channel(self) -> str:
        return "input" if self.method == "input.requested" else self.method

    def params(self) -> dict[str, Any]:
        params = {"namespace": self.namespace, "timestamp": self.timestamp, "data": self.data}
        if self.node is not None:
            params["node"] = self.node
        return params


def envelope(event: ProtocolEvent, *, event_id: str, seq: int) -> dict[str, Any]:
    """The wire form: ``{"type": "event", "event_id", "seq", "method", "params"}``."""
    return {
        "type": "event",
        "event_id": event_id,
        "seq": seq,
        "method": event.method,
        "params": event.params(),
    }


class ProtocolFrames:
    """Folds one run's stored events into :class:`ProtocolEvent` pairs ``(method, event)``.

    Args:
        run_id: the run.
        graph_name: the graph it runs (the root ``lifecycle`` events name it).
    """

    #: The thread scope reads this to decide where to start a run (no accumulated messages).
    messages_form = None

    def __init__(self, run_id: uuid.UUID | str, graph_name: str) -> None:
        self.run_id = str(run_id)
        self.graph_name = graph_name
        self.finished = False
        self._running = False
        self._open_namespaces: list[tuple[str, ...]] = []
        self._interrupts: set[str] = set()
        self._interrupted = False

    def feed(self, event: StoredEvent) -> list[tuple[str, ProtocolEvent]]:
        """The protocol events *event* makes, as ``(method, event)`` pairs."""
        if self.finished:
            return []
        at = int(event.created_at.timestamp() * 1000)
        kind, payload = event.type, event.payload
        if kind == "RunStarted":
            if self._running:
                return []  # a retried attempt: the run was running all along
            self._running = True
            return self._pairs([self._lifecycle([], "running", at)])
        if kind == "RunOutputStreamed":
            namespace = list(payload.get("namespace") or [])
            events = self._namespaces_started(namespace, at)
            events += self._output(payload.get("mode", ""), namespace, payload.get("data"), at)
            return self._pairs(events)
        if kind not in TERMINAL_EVENTS:
            return []
        self.finished = True
        events = [
            self._lifecycle(list(ns), "completed", at) for ns in reversed(self._open_namespaces)
        ]
        if kind == "RunCompleted":
            events.append(self._lifecycle([], "completed", at))
        elif kind == "RunInterrupted":
            events += self._input_requested([], _interrupts_of_run(payload), at)
            if not self._interrupted:
                events.append(self._lifecycle([], "interrupted", at))
        elif kind in ("RunFailed", "RunTimedOut"):
            error = payload.get("message") or payload.get("error") or "the run failed"
            events.append(self._lifecycle([], "failed", at, error=str(error)))
        elif kind == "RunCancelled":
            events.append(self._lifecycle([], "failed", at, error="the run was cancelled"))
        elif kind == "RunDeleted":
            events.append(self._lifecycle([], "failed", at, error="the run was deleted"))
        return self._pairs(events)

    # -- pieces ----------------------------------------------------------------------------------
    @staticmethod
    def _pairs(events: list[ProtocolEvent]) -> list[tuple[str, ProtocolEvent]]:
        return [(event.method, event) for event in events]

    def _lifecycle(
        self, namespace: list[str], status: str, at: int, *, error: str | None = None
    ) -> ProtocolEvent:
        name = namespace[-1].partition(":")[0] if namespace else self.graph_name
        data: dict[str, Any] = {"event": status, "graph_name": name}
        if error is not None:
            data["error"] = error
        return ProtocolEvent("lifecycle", namespace, data, at)

    def _namespaces_started(self, namespace: list[str], at: int) -> list[ProtocolEvent]:
        started = []
        for depth in range(1, len(namespace) + 1):
            prefix = tuple(namespace[:depth])
            if prefix not in self._open_namespaces:
                self._open_namespaces.append(prefix)
                started.append(self._lifecycle(list(prefix), "started", at))
        return started

    def _input_requested(
        self, namespace: list[str], interrupts: Sequence[Any], at: int
    ) -> list[ProtocolEvent]:
        events = []
        for interrupt in interrupts:
            if not isinstance(interrupt, dict) or not isinstance(interrupt.get("id"), str):
                continue
            if interrupt["id"] in self._interrupts:
                continue
            self._interrupts.add(interrupt["id"])
            data = {"interrupt_id": interrupt["id"], "payload": interrupt.get("value")}
            events.append(ProtocolEvent("input.requested", namespace, data, at))
        if events and not self._interrupted:
            self._interrupted = True  # the run stopped, waiting for input.respond
            events.append(self._lifecycle([], "interrupted", at))
        return events

    def _output(self, mode: str, namespace: list[str], data: Any, at: int) -> list[ProtocolEvent]:
        if mode == "values":
            events = []
            if isinstance(data, dict) and INTERRUPT_KEY in data:
                events = self._input_requested(namespace, data[INTERRUPT_KEY] or [], at)
                data = {k: v for k, v in data.items() if k != INTERRUPT_KEY}
            if data not in (None, {}):
                events.insert(0, ProtocolEvent("values", namespace, data, at))
            return events
        if mode == "updates":
            if isinstance(data, dict) and INTERRUPT_KEY in data:
                return self._input_requested(namespace, data[INTERRUPT_KEY] or [], at)
            node = next(iter(data)) if isinstance(data, dict) and len(data) == 1 else None
            return [ProtocolEvent("updates", namespace, data, at, node=node)]
        if mode == "messages":
            # Only content-block messages (the v2 handler's); older whole-message chunks are
            # the old endpoints' form, not reshaped here (LangGraph does not either).
            message = data[0] if isinstance(data, list | tuple) and len(data) == 2 else data
            if isinstance(message, dict) and isinstance(message.get("event"), str):
                return [ProtocolEvent("messages", namespace, message, at)]
            return []
        if mode == "tools":
            node = None
            if isinstance(data, dict):
                node = data.get("__node") if isinstance(data.get("__node"), str) else None
                data = {k: v for k, v in data.items() if k != "__node"}
            return [ProtocolEvent("tools", namespace, data, at, node=node)]
        if mode == "custom":
            return [ProtocolEvent("custom", namespace, {"payload": data}, at)]
        if mode == "tasks":
            return [ProtocolEvent("tasks", namespace, data, at)]
        if mode == "checkpoints" and (checkpoint := checkpoint_envelope(data)) is not None:
            return [ProtocolEvent("checkpoints", namespace, checkpoint, at)]
        return []  # debug and events are not protocol channels


def _interrupts_of_run(payload: dict[str, Any]) -> list[Any]:
    """The interrupts a ``RunInterrupted`` event records (``{task id: [interrupt...]}``)."""
    interrupts = payload.get("interrupts") or {}
    if not isinstance(interrupts, dict):
        return []
    return [item for items in interrupts.values() if isinstance(items, list) for item in items]


def checkpoint_envelope(data: Any) -> dict[str, Any] | None:
    """A ``checkpoints`` chunk (a state snapshot) as the protocol's ``{id, parent_id, step,
    source}``; None when it names no checkpoint."""
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("id"), str):  # already the protocol's shape
        return data
    configurable = (data.get("config") or {}).get("configurable") or {}
    checkpoint_id = configurable.get("checkpoint_id")
    if not isinstance(checkpoint_id, str):
        return None
    metadata = data.get("metadata") or {}
    checkpoint: dict[str, Any] = {
        "id": checkpoint_id,
        "step": metadata.get("step", 0),
        "source": metadata.get("source", "loop"),
    }
    parent = ((data.get("parent_config") or {}).get("configurable") or {}).get("checkpoint_id")
    if isinstance(parent, str):
        checkpoint["parent_id"] = parent
    return checkpoint


@dataclass(frozen=True)
class Filter:
    """What one connection asked for (``EventStreamRequest``): channels, namespace prefixes and
    how deep below them; ``since``: only events after that ``seq``."""

    channels: frozenset[str]
    namespaces: tuple[tuple[str, ...], ...] | None = None
    depth: int | None = None
    since: int | None = None

    def wants(self, event: ProtocolEvent, seq: int) -> bool:
        if self.since is not None and seq <= self.since:
            return False
        if event.channel == "custom":
            name = event.data.get("name") if isinstance(event.data, dict) else None
            if "custom" not in self.channels and f"custom:{name}" not in self.channels:
                return False
        elif event.channel not in self.channels:
            return False
        if not self.namespaces:
            return True
        return any(
            _prefix_matches(event.namespace, prefix)
            and (self.depth is None or len(event.namespace) - len(prefix) <= self.depth)
            for prefix in self.namespaces
        )


def _prefix_matches(namespace: Sequence[str], prefix: Sequence[str]) -> bool:
    """Whether *namespace* starts with *prefix*; a prefix segment without ``:`` also matches a
    segment with a task id suffix (``agent`` matches ``agent:3f2c...``)."""
    if len(prefix) > len(namespace):
        return False
    for wanted, segment in zip(prefix, namespace, strict=False):
        if segment == wanted:
            continue
        if ":" in wanted or segment.partition(":")[0] != wanted:
            return False
    return True
