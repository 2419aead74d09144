"""The DuraGraph worker protocol as ``duragraph==0.3.3`` speaks it: pure translation, no I/O.

Graph definitions arrive in two shapes (0.3.3 sends them flat, 0.2.1 nested as IR); edges may
target a node name or a ``{key: node}`` map. Tasks go out with ``input`` never null (the SDK
calls ``.copy()`` on it). A worker's event becomes a :class:`Progress` of its run
(:func:`progress`): the output events, checkpoint and ending that ``workers.remote`` then
records in one transaction. See docs/remote-workers.md. No Django imports.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from duragraph_site import serde
from duragraph_site.errors import InvalidInput
from runs import domain as run_domain

if TYPE_CHECKING:
    from datetime import datetime

    from events.domain import DomainEvent

START, END = "__start__", "__end__"


@dataclass(frozen=True)
class GraphDefinition:
    graph_id: str
    nodes: list[dict[str, Any]]
    edges: list[dict[str, Any]]
    entry_point: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            "graph_id": self.graph_id,
            "nodes": self.nodes,
            "edges": self.edges,
            "entry_point": self.entry_point,
        }


def parse_graph_definition(item: Any) -> GraphDefinition:
    """Either shape, validated: a graph id, nodes with ids, edges with a source and target(s)."""
    if (
        not isinstance(item, dict)
        or not isinstance(item.get("graph_id"), str)
        or not item["graph_id"]
    ):
        raise InvalidInput("graph_definitions: each item needs a non-empty string graph_id")
    graph_id = item["graph_id"]
    body = item
    if isinstance(
        item.get("definition"), dict
    ):  # 0.2.1: {"graph_id", "definition": {"graph": {...}}}
        body = item["definition"].get("graph") or {}
    nodes = body.get("nodes") or []
    edges = body.get("edges") or []
    if not isinstance(nodes, list) or not all(
        isinstance(n, dict) and isinstance(n.get("id"), str) for n in nodes
    ):
        raise InvalidInput(
            f"graph_definitions[{graph_id}].nodes must be a list of objects with a string id"
        )
    if not isinstance(edges, list) or not all(
        isinstance(e, dict) and isinstance(e.get("source"), str) for e in edges
    ):
        raise InvalidInput(
            f"graph_definitions[{graph_id}].edges must be a list of objects with a string source"
        )
    entry = body.get("entry_point") or body.get("entrypoint")
    if entry is None:
        entry = next((n["id"] for n in nodes if (n.get("config") or {}).get("is_entrypoint")), None)
    return GraphDefinition(
        graph_id=graph_id,
        nodes=nodes,
        edges=edges,
        entry_point=entry if isinstance(entry, str) else None,
    )


def drawable(definition: dict[str, Any]) -> dict[str, Any]:
    """LangGraph's graph JSON (``/assistants/{id}/graph``) for a registered definition."""
    nodes = [{"id": START, "type": "runnable", "data": {"name": START}}]
    nodes += [
        {"id": node["id"], "type": "runnable", "data": {"name": node["id"]}}
        for node in definition["nodes"]
    ]
    nodes.append({"id": END, "type": "runnable", "data": {"name": END}})
    edges: list[dict[str, Any]] = []
    if definition.get("entry_point"):
        edges.append({"source": START, "target": definition["entry_point"]})
    has_outgoing = set()
    for edge in definition["edges"]:
        has_outgoing.add(edge["source"])
        target = edge.get("target")
        if isinstance(target, dict):  # {route key: node}: a conditional edge per route
            edges += [
                {"source": edge["source"], "target": node, "data": key, "conditional": True}
                for key, node in target.items()
            ]
        elif isinstance(target, str):
            edges.append(
                {
                    "source": edge["source"],
                    "target": target,
                    **({"conditional": True} if edge.get("conditional") else {}),
                }
            )
    edges += [
        {"source": node["id"], "target": END}
        for node in definition["nodes"]
        if node["id"] not in has_outgoing
    ]
    return {"nodes": nodes, "edges": edges}


def task_input(kwargs: dict[str, Any], thread_values: Any) -> dict[str, Any]:
    """The task's ``input``: a JSON object, never null.

    A run that resumes an interrupted thread (``command.resume``) gets the thread's values with
    the answer under ``resume``: the SDK has no resume path of its own, so the graph sees it
    as input.
    """
    command = kwargs.get("command") or {}
    base = kwargs.get("input")
    if base is None and ("resume" in command or "update" in command):
        base = thread_values if isinstance(thread_values, dict) else {}
    task = dict(base) if isinstance(base, dict) else ({} if base is None else {"input": base})
    if isinstance(command.get("update"), dict):
        task.update(command["update"])
    if "resume" in command:
        task["resume"] = command["resume"]
    return task


def task(
    *,
    run_id: uuid.UUID,
    thread_id: uuid.UUID,
    assistant_id: uuid.UUID,
    graph_id: str,
    input_: dict[str, Any],
    config: dict[str, Any],
    command: Any,
    lease_epoch: int,
    created_at: datetime,
) -> dict[str, Any]:
    """One task of a poll's answer, in the legacy Go server's shape that the SDK reads (it
    uses ``run_id``, ``graph_id``, ``input`` and ``thread_id``; the rest is for other clients)."""
    return {
        "task_id": str(run_id),
        "run_id": str(run_id),
        "thread_id": str(thread_id),
        "assistant_id": str(assistant_id),
        "graph_id": graph_id,
        "input": input_,
        "config": config,
        "command": command,
        "lease_epoch": lease_epoch,
        "created_at": created_at.isoformat(),
    }


# -- a worker's event -> its run's progress -------------------------------------------------------
#: The events the SDK sends, in the order a run sends them.
EVENT_TYPES = (
    "run_started",
    "node_started",
    "node_completed",
    "run_completed",
    "run_failed",
    "run_requires_action",
)
#: Events whose translation needs the task's input (:attr:`RunSoFar.task_input`).
NEEDS_TASK_INPUT = frozenset({"run_started"})
#: Events whose translation needs the run's state so far (:attr:`RunSoFar.latest_values`).
NEEDS_LATEST_VALUES = frozenset({"node_completed", "run_completed"})
#: The error class recorded for a failure the worker reports (the SDK sends only a message).
WORKER_ERROR = "WorkerError"


def check_event_type(event_type: str) -> None:
    """Raises InvalidInput unless *event_type* is one the SDK sends."""
    if event_type not in EVENT_TYPES:
        raise InvalidInput(f"event_type must be one of {list(EVENT_TYPES)}")


@dataclass(frozen=True)
class RunSoFar:
    """What is known of a run when its worker reports an event.

    Only what the event needs is filled in (:data:`NEEDS_TASK_INPUT`,
    :data:`NEEDS_LATEST_VALUES`), so that the caller reads nothing more.
    """

    run_id: uuid.UUID
    #: The task's input (:func:`task_input`): an attempt starts over from it.
    task_input: dict[str, Any] | None = None
    #: The run's state so far: its last ``values`` chunk (None before any).
    latest_values: dict[str, Any] | None = None


@dataclass(frozen=True)
class CheckpointDraft:
    """A checkpoint of the run's state to save, not yet linked to its parent (the thread's
    latest checkpoint when it is written: :func:`checkpoint_fields`)."""

    checkpoint_id: str
    values: dict[str, Any]
    #: The node that produced it (``__end__`` for the final state).
    node: str
    #: ISO 8601 time of the checkpoint.
    ts: str


@dataclass(frozen=True)
class Completed:
    """The run ends ``success``; *output* becomes the thread's values."""

    output: Any


@dataclass(frozen=True)
class Failed:
    """The run ends ``error``."""

    error: str
    message: str


@dataclass(frozen=True)
class Interrupted:
    """The run and its thread are parked ``interrupted`` (human in the loop)."""

    interrupts: dict[str, list[dict[str, Any]]]
    output: Any


Ending = Completed | Failed | Interrupted


@dataclass(frozen=True)
class Progress:
    """What one worker event does to its run, recorded in this order, all or nothing:
    the checkpoint, the output events, the ending."""

    #: Stream chunks and node events (``runs.domain.OUTPUT_EVENTS``).
    output: tuple[DomainEvent, ...] = ()
    checkpoint: CheckpointDraft | None = None
    ending: Ending | None = None


def progress(
    event_type: str, data: dict[str, Any], run: RunSoFar, *, now: datetime, checkpoint_id: str
) -> Progress:
    """Translate one SDK event of *run* into its run's progress.

    - ``run_started``: a ``values`` chunk, the task's input;
    - ``node_started``: ``NodeStarted``;
    - ``node_completed``: ``NodeCompleted``, an ``updates`` chunk (``{node: output}``), a
      ``values`` chunk (the state so far with the node's output merged in) and a checkpoint of
      that state, so that thread state and history read like any LangGraph thread's;
    - ``run_completed``: success, its output the final state; a last checkpoint if that differs
      from the state so far (the thread's state is its latest checkpoint);
    - ``run_failed``: error, with the worker's message;
    - ``run_requires_action``: interrupted, the interrupt's value ``{action_type, prompt}``
      and the run's output the state the worker sent.

    Args:
        event_type: one of :data:`EVENT_TYPES`.
        data: the event's ``data`` object.
        run: what is known of the run (what :data:`NEEDS_TASK_INPUT` and
            :data:`NEEDS_LATEST_VALUES` ask for).
        now: the time of the event (checkpoints carry it).
        checkpoint_id: the id a checkpoint would get (LangGraph's ``uuid6``, time-ordered).

    Raises:
        InvalidInput: an unknown event type.
    """
    check_event_type(event_type)
    node = str(data.get("node_id") or "")
    if event_type == "run_started":
        return Progress(
            output=(run_domain.RunOutputStreamed(mode="values", data=run.task_input or {}),)
        )
    if event_type == "node_started":
        return Progress(output=(run_domain.NodeStarted(node=node, task_id=node),))
    if event_type == "node_completed":
        output = serde.to_jsonable(data.get("output"))
        values = {**(run.latest_values or {}), **(output if isinstance(output, dict) else {})}
        return Progress(
            output=(
                run_domain.NodeCompleted(node=node, task_id=node),
                run_domain.RunOutputStreamed(mode="updates", data={node: output}),
                run_domain.RunOutputStreamed(mode="values", data=values),
            ),
            checkpoint=CheckpointDraft(checkpoint_id, values, node, now.isoformat()),
        )
    if event_type == "run_completed":
        output = serde.to_jsonable(data.get("output"))
        last = None
        if isinstance(output, dict) and output != run.latest_values:
            last = CheckpointDraft(checkpoint_id, output, END, now.isoformat())
        return Progress(checkpoint=last, ending=Completed(output))
    if event_type == "run_failed":
        message = str(data.get("error") or "the worker reported a failure")
        return Progress(ending=Failed(WORKER_ERROR, message))
    # run_requires_action
    value = {key: data[key] for key in ("action_type", "prompt") if key in data}
    interrupt = {
        "value": serde.to_jsonable(value),
        "id": uuid.uuid5(run.run_id, "requires_action").hex,
    }
    return Progress(
        ending=Interrupted({str(run.run_id): [interrupt]}, serde.to_jsonable(data.get("state")))
    )


@dataclass(frozen=True)
class ParentCheckpoint:
    """The thread's latest root checkpoint, which a new one follows."""

    checkpoint_id: str
    #: Its ``metadata.step`` (-1 when it has none: the next is step 0).
    step: int

    @classmethod
    def from_row(cls, checkpoint_id: str, metadata: dict[str, Any] | None) -> ParentCheckpoint:
        return cls(checkpoint_id=checkpoint_id, step=int((metadata or {}).get("step", -1)))


_SERDE = JsonPlusSerializer()


def checkpoint_fields(
    draft: CheckpointDraft, *, run_id: uuid.UUID, parent: ParentCheckpoint | None
) -> dict[str, Any]:
    """The ``CheckpointSaved`` fields (``runs.services.run_save_checkpoint``) of *draft*, after
    *parent*: a checkpoint in LangGraph's format (``v`` 4, serialized as LangGraph's own
    checkpointer does), so that thread state and history read it like any other (the worker
    keeps no checkpoints of its own)."""
    checkpoint = {
        "v": 4,
        "id": draft.checkpoint_id,
        "ts": draft.ts,
        "channel_values": draft.values,
        "channel_versions": {},
        "versions_seen": {},
        "updated_channels": None,
    }
    kind, blob = _SERDE.dumps_typed(checkpoint)
    return {
        "checkpoint_ns": "",
        "checkpoint_id": draft.checkpoint_id,
        "parent_checkpoint_id": parent.checkpoint_id if parent else None,
        "run_id": run_id,
        "checkpoint": {"type": kind, "data": base64.b64encode(blob).decode()},
        "metadata": {
            "source": "loop",
            "step": parent.step + 1 if parent else 0,
            "run_id": str(run_id),
            "writes": None,
            "node": draft.node,
            "parents": {},
        },
        "values": draft.values,
    }
