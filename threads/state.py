"""A thread's LangGraph state, read through its graph and the checkpointer.

LangGraph computes ``next``, ``tasks`` and ``interrupts`` from a checkpoint and the graph's
structure, so state and history are asked of the compiled graph (with this project's
checkpointer), and the snapshots are encoded the way LangGraph Platform encodes them.
"""

from __future__ import annotations

import uuid
from typing import Any

from langgraph.types import StateSnapshot

from assistants import graphs
from duragraph_site import serde
from duragraph_site.errors import BadRequest
from threads.checkpointer import CheckpointWriter, DuraGraphSaver
from threads.models import Checkpoint, Thread

EMPTY_STATE = {
    "values": {},
    "next": [],
    "tasks": [],
    "metadata": None,
    "created_at": None,
    "checkpoint": None,
    "parent_checkpoint": None,
    "interrupts": [],
    "checkpoint_id": None,
    "parent_checkpoint_id": None,
}


def graph_for(
    thread: Thread, *, required: bool = False, writer: CheckpointWriter | None = None
) -> Any:
    """The thread's compiled graph (from ``metadata.graph_id``) with this project's checkpointer,
    writing through *writer* (None: for reading only).

    None when the thread has no graph yet, or its graph runs on remote workers (then its state
    is read from the checkpoints they produced: :func:`encode_checkpoint_row`).
    """
    graph_id = (thread.metadata or {}).get("graph_id")
    if not graph_id:
        if required:
            raise BadRequest(
                f"Thread {thread.thread_id} has no graph: run it once, or create it with a graph_id"
            )
        return None
    registered = graphs.registry().get(graph_id)
    if not registered.local:
        if required:
            raise BadRequest(
                f"Thread {thread.thread_id} runs on remote workers: its state is theirs to change"
            )
        return None
    graph = registered.load({"configurable": {"thread_id": str(thread.thread_id)}})
    return graph.copy(
        update={
            "checkpointer": DuraGraphSaver(writer=writer, state_keys=graph.stream_channels_list)
        }
    )


def encode_checkpoint_row(row: Checkpoint, interrupts: list[Any] | None = None) -> dict[str, Any]:
    """ThreadState JSON straight from a checkpoint row, for graphs this process cannot load."""
    ref = {
        "thread_id": str(row.thread_id),
        "checkpoint_ns": row.checkpoint_ns,
        "checkpoint_id": row.checkpoint_id,
    }
    parent = (
        {**ref, "checkpoint_id": row.parent_checkpoint_id} if row.parent_checkpoint_id else None
    )
    return {
        **EMPTY_STATE,
        "values": row.values or {},
        "metadata": row.metadata,
        "created_at": row.created_at.isoformat(),
        "checkpoint": ref,
        "parent_checkpoint": parent,
        "interrupts": interrupts or [],
        "checkpoint_id": row.checkpoint_id,
        "parent_checkpoint_id": row.parent_checkpoint_id,
    }


def thread_config(thread_id: uuid.UUID, checkpoint: dict[str, Any] | None = None) -> dict[str, Any]:
    """LangGraph's config for a thread, optionally at a checkpoint (``{"checkpoint_id", ...}``)."""
    configurable: dict[str, Any] = {"thread_id": str(thread_id), "checkpoint_ns": ""}
    for key, value in (checkpoint or {}).items():
        if key in ("checkpoint_id", "checkpoint_ns", "checkpoint_map") and value is not None:
            configurable[key] = value
    return {"configurable": configurable}


def checkpoint_ref(config: dict[str, Any] | None) -> dict[str, Any] | None:
    configurable = (config or {}).get("configurable") or {}
    if not configurable.get("thread_id") or not configurable.get("checkpoint_id"):
        return None
    ref = {
        "thread_id": configurable["thread_id"],
        "checkpoint_ns": configurable.get("checkpoint_ns") or "",
        "checkpoint_id": configurable["checkpoint_id"],
    }
    if "checkpoint_map" in configurable:
        ref["checkpoint_map"] = configurable["checkpoint_map"]
    return ref


def encode_snapshot(snapshot: StateSnapshot) -> dict[str, Any]:
    """A LangGraph ``StateSnapshot`` as LangGraph Platform's ThreadState JSON."""
    parent = checkpoint_ref(snapshot.parent_config)
    checkpoint = checkpoint_ref(snapshot.config)
    return serde.to_jsonable(
        {
            "values": snapshot.values,
            "next": list(snapshot.next),
            "tasks": [
                {
                    "id": task.id,
                    "name": task.name,
                    "path": task.path,
                    "error": task.error,
                    "interrupts": list(task.interrupts),
                    "checkpoint": task.state["configurable"]
                    if task.state is not None and not isinstance(task.state, StateSnapshot)
                    else None,
                    "state": encode_snapshot(task.state)
                    if isinstance(task.state, StateSnapshot)
                    else None,
                    "result": getattr(task, "result", None),
                }
                for task in snapshot.tasks
            ],
            "metadata": snapshot.metadata,
            "created_at": snapshot.created_at,
            "checkpoint": checkpoint,
            "parent_checkpoint": parent,
            "interrupts": list(getattr(snapshot, "interrupts", ())),
            "checkpoint_id": checkpoint["checkpoint_id"] if checkpoint else None,
            "parent_checkpoint_id": parent["checkpoint_id"] if parent else None,
        }
    )
