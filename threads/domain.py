"""The thread aggregate: a conversation's metadata, latest values and status. Pure Python.

Thread status follows LangGraph: ``busy`` while the thread has a pending or running run,
otherwise what its last run left: ``interrupted`` (waiting for a human), ``error`` or ``idle``.
The runs services keep it true by calling :func:`change_status` in the same transaction as every
run transition; :func:`status_after_runs` is the rule.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from accounts.domain import DEFAULT_TENANT
from duragraph_site.errors import IllegalTransition
from events.domain import DomainEvent, EventTypes, Recorded, check_sequence, require_json

STREAM_TYPE = "thread"


class ThreadStatus(StrEnum):
    #: No active run; the last run (if any) ended normally or was cancelled.
    IDLE = "idle"
    #: A run is pending or running.
    BUSY = "busy"
    #: The last run stopped at an interrupt and waits to be resumed.
    INTERRUPTED = "interrupted"
    #: The last run failed.
    ERROR = "error"


# -- events ----------------------------------------------------------------------------------
class ThreadCreated(DomainEvent):
    thread_id: uuid.UUID
    metadata: dict[str, Any]
    config: dict[str, Any] = {}
    values: Any = None
    #: ``{"strategy": "delete", "ttl": minutes}`` when the thread should expire.
    ttl: dict[str, Any] | None = None
    copied_from: uuid.UUID | None = None
    #: Its tenant; None in events recorded before tenants were: the default tenant's.
    tenant: str | None = None


class ThreadMetadataUpdated(DomainEvent):
    #: Keys merged into the existing metadata (LangGraph's PATCH semantics).
    metadata: dict[str, Any]


class ThreadTtlSet(DomainEvent):
    #: ``{"strategy": "delete", "ttl": minutes}``, or None to keep the thread forever.
    ttl: dict[str, Any] | None


class ThreadStatusChanged(DomainEvent):
    status: ThreadStatus
    #: The run whose transition caused the change.
    run_id: uuid.UUID | None = None
    error: dict[str, Any] | None = None
    interrupts: dict[str, Any] = {}


class ThreadValuesUpdated(DomainEvent):
    values: Any
    checkpoint_id: str | None = None


class ThreadDeleted(DomainEvent):
    pass


class SerializedValue(BaseModel):
    """A value in LangGraph's own serialization (``serde.dumps_typed``), base64 in JSON."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    data: str


class CheckpointSaved(DomainEvent):
    checkpoint_ns: str
    checkpoint_id: str
    parent_checkpoint_id: str | None
    #: The run whose lease holder saved it; None for update_state and copies.
    run_id: uuid.UUID | None
    checkpoint: SerializedValue
    metadata: dict[str, Any]
    #: The state values as JSON (root namespace only; None for subgraph checkpoints).
    values: Any = None


class PendingWrite(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    idx: int
    channel: str
    value: SerializedValue


class CheckpointWritesSaved(DomainEvent):
    checkpoint_ns: str
    checkpoint_id: str
    task_id: str
    task_path: str
    writes: list[PendingWrite]


class CheckpointRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    checkpoint_ns: str
    checkpoint_id: str


class CheckpointsDeleted(DomainEvent):
    """Checkpoints (and their pending writes) removed: a rolled-back run's, or pruned ones."""

    checkpoints: list[CheckpointRef]
    #: The thread's values once they are gone (from its latest remaining root checkpoint).
    values: Any = None
    reason: str


EVENT_TYPES = EventTypes(
    ThreadCreated,
    ThreadMetadataUpdated,
    ThreadTtlSet,
    ThreadStatusChanged,
    ThreadValuesUpdated,
    ThreadDeleted,
    CheckpointSaved,
    CheckpointWritesSaved,
    CheckpointsDeleted,
)


# -- state -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ThreadState:
    thread_id: uuid.UUID
    version: int
    status: ThreadStatus
    metadata: Mapping[str, Any]
    config: Mapping[str, Any]
    values: Any
    interrupts: Mapping[str, Any]
    error: Mapping[str, Any] | None
    ttl: Mapping[str, Any] | None
    created_at: datetime
    updated_at: datetime
    state_updated_at: datetime
    copied_from: uuid.UUID | None = None
    tenant: str = DEFAULT_TENANT
    deleted: bool = False


# -- commands --------------------------------------------------------------------------------
def create(
    *,
    thread_id: uuid.UUID,
    metadata: Mapping[str, Any],
    config: Mapping[str, Any] | None = None,
    values: Any = None,
    ttl: Mapping[str, Any] | None = None,
    copied_from: uuid.UUID | None = None,
    tenant: str = DEFAULT_TENANT,
) -> list[DomainEvent]:
    require_json("metadata", metadata)
    require_json("config", config or {})
    require_json("values", values, object_only=False)
    if ttl is not None:
        require_json("ttl", ttl)
    return [
        ThreadCreated(
            thread_id=thread_id,
            metadata=dict(metadata),
            config=dict(config or {}),
            values=values,
            ttl=dict(ttl) if ttl is not None else None,
            copied_from=copied_from,
            tenant=tenant,
        )
    ]


def update_metadata(state: ThreadState, *, metadata: Mapping[str, Any]) -> list[DomainEvent]:
    _require_not_deleted(state)
    require_json("metadata", metadata)
    return [ThreadMetadataUpdated(metadata=dict(metadata))]


def set_ttl(state: ThreadState, *, ttl: Mapping[str, Any] | None) -> list[DomainEvent]:
    _require_not_deleted(state)
    if ttl is not None:
        require_json("ttl", ttl)
    return [ThreadTtlSet(ttl=dict(ttl) if ttl is not None else None)]


def status_after_runs(
    *, has_active_run: bool, last_run_status: str | None, last_run_cancelled: bool
) -> ThreadStatus:
    """The thread status LangGraph shows given its runs (statuses are run wire statuses)."""
    if has_active_run:
        return ThreadStatus.BUSY
    if last_run_status == "interrupted" and not last_run_cancelled:
        return ThreadStatus.INTERRUPTED
    if last_run_status in ("error", "timeout"):
        return ThreadStatus.ERROR
    return ThreadStatus.IDLE


def change_status(
    state: ThreadState,
    *,
    status: ThreadStatus,
    run_id: uuid.UUID | None = None,
    error: Mapping[str, Any] | None = None,
    interrupts: Mapping[str, Any] | None = None,
) -> list[DomainEvent]:
    """Record a status change; no event when nothing would change."""
    _require_not_deleted(state)
    interrupts = dict(interrupts or {})
    error = dict(error) if error is not None else None
    if status == state.status and error == state.error and interrupts == dict(state.interrupts):
        return []
    return [ThreadStatusChanged(status=status, run_id=run_id, error=error, interrupts=interrupts)]


def update_values(
    state: ThreadState, *, values: Any, checkpoint_id: str | None = None
) -> list[DomainEvent]:
    _require_not_deleted(state)
    require_json("values", values, object_only=False)
    return [ThreadValuesUpdated(values=values, checkpoint_id=checkpoint_id)]


def save_checkpoint(state: ThreadState, **fields: Any) -> list[DomainEvent]:
    """Record a checkpoint (LangGraph's ``put``); its root values become the thread's values."""
    _require_not_deleted(state)
    if fields.get("values") is not None:
        require_json("values", fields["values"], object_only=False)
    require_json("metadata", fields["metadata"])
    return [CheckpointSaved(**fields)]


def save_writes(state: ThreadState, **fields: Any) -> list[DomainEvent]:
    """Record a task's pending writes (LangGraph's ``put_writes``)."""
    _require_not_deleted(state)
    return [CheckpointWritesSaved(**fields)]


def delete_checkpoints(
    state: ThreadState, *, checkpoints: list[dict[str, str]], values: Any, reason: str
) -> list[DomainEvent]:
    _require_not_deleted(state)
    if not checkpoints:
        return []
    return [CheckpointsDeleted(checkpoints=checkpoints, values=values, reason=reason)]


def delete(state: ThreadState) -> list[DomainEvent]:
    _require_not_deleted(state)
    return [ThreadDeleted()]


def visible_to(owner: str, tenant: str | None) -> bool:
    """Whether a thread of tenant *owner* is visible to a caller scoped to *tenant* (None:
    every tenant). Another tenant's thread is, to the caller, a thread that does not exist."""
    return tenant is None or owner == tenant


def _require_not_deleted(state: ThreadState) -> None:
    if state.deleted:
        raise IllegalTransition(f"thread {state.thread_id} was deleted")


# -- fold ------------------------------------------------------------------------------------
def apply(state: ThreadState | None, recorded: Recorded[Any]) -> ThreadState:
    check_sequence(state.version if state else 0, recorded)
    event = recorded.event
    if isinstance(event, ThreadCreated):
        # A deleted aggregate's id may be used again: the stream goes on with a new incarnation.
        if state is not None and not state.deleted:
            raise IllegalTransition("ThreadCreated must be the first event of a thread")
        return ThreadState(
            thread_id=event.thread_id,
            version=recorded.version,
            status=ThreadStatus.IDLE,
            metadata=event.metadata,
            config=event.config,
            values=event.values,
            interrupts={},
            error=None,
            ttl=event.ttl,
            created_at=recorded.at,
            updated_at=recorded.at,
            state_updated_at=recorded.at,
            copied_from=event.copied_from,
            tenant=event.tenant if event.tenant is not None else DEFAULT_TENANT,
        )
    if state is None:
        raise IllegalTransition(f"{event.type_name} cannot start a thread stream")
    state = replace(state, version=recorded.version, updated_at=recorded.at)
    match event:
        case ThreadMetadataUpdated():
            return replace(state, metadata={**state.metadata, **event.metadata})
        case ThreadTtlSet():
            return replace(state, ttl=event.ttl)
        case ThreadStatusChanged():
            return replace(
                state, status=event.status, error=event.error, interrupts=event.interrupts
            )
        case ThreadValuesUpdated():
            return replace(state, values=event.values, state_updated_at=recorded.at)
        case ThreadDeleted():
            return replace(state, deleted=True)
        case CheckpointSaved():
            if event.checkpoint_ns == "" and event.values is not None:
                return replace(state, values=event.values, state_updated_at=recorded.at)
            return state
        case CheckpointWritesSaved():
            return state
        case CheckpointsDeleted():
            return replace(state, values=event.values, state_updated_at=recorded.at)
    raise IllegalTransition(f"thread events do not include {event.type_name}")
