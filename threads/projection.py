"""The thread read model as a projection: ThreadState <-> ``threads.Thread`` row, and its stream."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

from duragraph_site.errors import NotFound
from events import projections
from events.store import Stream
from threads import domain
from threads.models import Checkpoint, CheckpointWrite, Thread

if TYPE_CHECKING:
    import uuid

    from events.domain import Recorded


def stream(thread_id: uuid.UUID) -> Stream:
    return Stream(type=domain.STREAM_TYPE, id=thread_id, subject=f"duragraph.threads.{thread_id}")


def to_state(row: Thread) -> domain.ThreadState:
    return domain.ThreadState(
        thread_id=row.thread_id,
        version=row.version,
        status=domain.ThreadStatus(row.status),
        metadata=row.metadata,
        config=row.config,
        values=row.values,
        interrupts=row.interrupts,
        error=row.error,
        ttl=row.ttl,
        created_at=row.created_at,
        updated_at=row.updated_at,
        state_updated_at=row.state_updated_at,
        copied_from=row.copied_from,
        tenant=row.tenant,
    )


def _columns(state: domain.ThreadState) -> dict:
    return {
        "status": state.status.value,
        "metadata": dict(state.metadata),
        "config": dict(state.config),
        "values": state.values,
        "interrupts": dict(state.interrupts),
        "error": dict(state.error) if state.error is not None else None,
        "ttl": dict(state.ttl) if state.ttl is not None else None,
        "copied_from": state.copied_from,
        "version": state.version,
        "created_at": state.created_at,
        "updated_at": state.updated_at,
        "state_updated_at": state.state_updated_at,
        "tenant": state.tenant,
    }


def save(state: domain.ThreadState, previous: domain.ThreadState | None) -> None:
    if state.deleted:
        Thread.objects.filter(thread_id=state.thread_id).delete()
    elif previous is None or previous.deleted:
        Thread.objects.create(thread_id=state.thread_id, **_columns(state))
    else:
        Thread.objects.filter(thread_id=state.thread_id).update(**_columns(state))


def read(thread_id: uuid.UUID) -> domain.ThreadState | None:
    row = Thread.objects.filter(thread_id=thread_id).first()
    return to_state(row) if row is not None else None


def load_for_update(thread_id: uuid.UUID, *, tenant: str | None = None) -> domain.ThreadState:
    """The thread's state with its row locked; NotFound if absent, or if a caller scoped to
    *tenant* (None: every tenant) cannot see it."""
    row = Thread.objects.select_for_update().filter(thread_id=thread_id).first()
    if row is None or not domain.visible_to(row.tenant, tenant):
        raise NotFound(f"Thread with ID {thread_id} not found")
    return to_state(row)


def reset() -> int:
    CheckpointWrite.objects.all().delete()
    Checkpoint.objects.all().delete()
    count, _ = Thread.objects.all().delete()
    return count


def handle(state: domain.ThreadState, recorded: Recorded) -> None:
    """Keep the checkpoint tables in step with the thread's checkpoint events."""
    event = recorded.event
    thread_id = state.thread_id
    match event:
        case domain.CheckpointSaved():
            Checkpoint.objects.create(
                thread_id=thread_id,
                checkpoint_ns=event.checkpoint_ns,
                checkpoint_id=event.checkpoint_id,
                parent_checkpoint_id=event.parent_checkpoint_id,
                run_id=event.run_id,
                type=event.checkpoint.type,
                checkpoint=base64.b64decode(event.checkpoint.data),
                metadata=event.metadata,
                values=event.values,
                created_at=recorded.at,
            )
        case domain.CheckpointWritesSaved():
            _save_writes(thread_id, event)
        case domain.CheckpointsDeleted():
            for ref in event.checkpoints:
                keys = {
                    "thread_id": thread_id,
                    "checkpoint_ns": ref.checkpoint_ns,
                    "checkpoint_id": ref.checkpoint_id,
                }
                CheckpointWrite.objects.filter(**keys).delete()
                Checkpoint.objects.filter(**keys).delete()
        case domain.ThreadDeleted():
            CheckpointWrite.objects.filter(thread_id=thread_id).delete()
            Checkpoint.objects.filter(thread_id=thread_id).delete()


def _save_writes(thread_id: uuid.UUID, event: domain.CheckpointWritesSaved) -> None:
    """LangGraph's rule: special channels (error, interrupt, ...; negative idx) replace what a
    task wrote before; ordinary writes are kept from the first time they were written."""
    keys = {
        "thread_id": thread_id,
        "checkpoint_ns": event.checkpoint_ns,
        "checkpoint_id": event.checkpoint_id,
        "task_id": event.task_id,
    }
    rows = [
        CheckpointWrite(
            **keys,
            task_path=event.task_path,
            idx=write.idx,
            channel=write.channel,
            type=write.value.type,
            value=base64.b64decode(write.value.data),
        )
        for write in event.writes
    ]
    special = [row for row in rows if row.idx < 0]
    ordinary = [row for row in rows if row.idx >= 0]
    if special:
        CheckpointWrite.objects.bulk_create(
            special,
            update_conflicts=True,
            unique_fields=["thread", "checkpoint_ns", "checkpoint_id", "task_id", "idx"],
            update_fields=["task_path", "channel", "type", "value"],
        )
    if ordinary:
        CheckpointWrite.objects.bulk_create(ordinary, ignore_conflicts=True)


PROJECTION = projections.Projection(
    stream_type=domain.STREAM_TYPE,
    event_types=domain.EVENT_TYPES,
    apply=domain.apply,
    read=read,
    save=save,
    reset=reset,
    handle=handle,
)
