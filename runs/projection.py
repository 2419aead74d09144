"""The run read model as a projection: RunState <-> ``runs.Run`` row, and the run's stream."""

from __future__ import annotations

from typing import TYPE_CHECKING

from duragraph_site.errors import NotFound
from events import projections
from events.store import Stream
from runs import domain
from runs.models import Run

if TYPE_CHECKING:
    import uuid


#: The NATS subject of a run's events: per thread and run, so that thread-wide streams can
#: subscribe too. The one definition: the claim statement fills it in SQL (runs/sql/queries.sql).
SUBJECT = "duragraph.threads.{thread_id}.runs.{run_id}"


def stream(thread_id: uuid.UUID, run_id: uuid.UUID) -> Stream:
    return Stream(
        type=domain.STREAM_TYPE,
        id=run_id,
        subject=SUBJECT.format(thread_id=thread_id, run_id=run_id),
    )


def to_state(row: Run) -> domain.RunState:
    return domain.RunState(
        run_id=row.run_id,
        thread_id=row.thread_id,
        assistant_id=row.assistant_id,
        status=domain.RunStatus(row.status),
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        kwargs=row.kwargs,
        metadata=row.metadata,
        multitask_strategy=domain.MultitaskStrategy(row.multitask_strategy),
        max_attempts=row.max_attempts,
        available_at=row.available_at,
        attempt=row.attempt,
        lease_epoch=row.lease_epoch,
        worker_id=row.worker_id,
        lease_expires_at=row.lease_expires_at,
        error=row.error,
        output=row.output,
        interrupts=row.interrupts,
        cancel_reason=row.cancel_reason,
        tenant=row.tenant,
    )


def _columns(state: domain.RunState) -> dict:
    return {
        "thread_id": state.thread_id,
        "assistant_id": state.assistant_id,
        "status": state.status.value,
        "version": state.version,
        "lease_epoch": state.lease_epoch,
        "worker_id": state.worker_id,
        "lease_expires_at": state.lease_expires_at,
        "attempt": state.attempt,
        "max_attempts": state.max_attempts,
        "available_at": state.available_at,
        "multitask_strategy": state.multitask_strategy.value,
        "kwargs": dict(state.kwargs),
        "metadata": dict(state.metadata),
        "error": dict(state.error) if state.error is not None else None,
        "output": state.output,
        "interrupts": dict(state.interrupts),
        "cancel_reason": state.cancel_reason,
        "created_at": state.created_at,
        "updated_at": state.updated_at,
        "tenant": state.tenant,
    }


def save(state: domain.RunState, previous: domain.RunState | None) -> None:
    """Write *state* into the read model: insert, update, or delete a deleted run's row."""
    if state.deleted:
        Run.objects.filter(run_id=state.run_id).delete()
    elif previous is None or previous.deleted:
        Run.objects.create(run_id=state.run_id, **_columns(state))
    else:
        Run.objects.filter(run_id=state.run_id).update(**_columns(state))


def read(run_id: uuid.UUID) -> domain.RunState | None:
    row = Run.objects.filter(run_id=run_id).first()
    return to_state(row) if row is not None else None


def load_for_update(run_id: uuid.UUID) -> domain.RunState:
    """The run's state with its row locked (``SELECT ... FOR UPDATE``); NotFound if absent."""
    row = Run.objects.select_for_update().filter(run_id=run_id).first()
    if row is None:
        raise NotFound(f"Run {run_id} not found")
    return to_state(row)


def reset() -> int:
    count, _ = Run.objects.all().delete()
    return count


PROJECTION = projections.Projection(
    stream_type=domain.STREAM_TYPE,
    event_types=domain.EVENT_TYPES,
    apply=domain.apply,
    read=read,
    save=save,
    reset=reset,
)
