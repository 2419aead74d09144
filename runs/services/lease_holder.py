"""The lease holder's writes: renewal, output, checkpoints, and how the run ends. Each is fenced
by the lease epoch: a stale worker's write is refused (``StaleLease``) and changes nothing."""

from __future__ import annotations

import base64
import uuid
from typing import TYPE_CHECKING, Any

import orjson
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from duragraph_site.db.connections import binding_cursor
from duragraph_site.errors import IllegalTransition, StaleLease
from events import context as event_context
from events import metrics as event_metrics
from runs import domain, projection, tasks
from runs.models import Run
from runs.services.recording import load_thread_and_run, record, sync_thread
from runs.sql import queries
from threads import domain as thread_domain
from threads import projection as thread_projection
from threads import services as thread_services

if TYPE_CHECKING:
    from collections.abc import Mapping


def run_renew_lease(
    *, run_id: uuid.UUID, lease_epoch: int, lease_seconds: float | None = None
) -> Run:
    """Extend the lease; StaleLease if *lease_epoch* is no longer the run's."""
    now = timezone.now()
    with transaction.atomic():
        state = projection.load_for_update(run_id)
        new_events = domain.renew_lease(
            state,
            lease_epoch=lease_epoch,
            lease_seconds=lease_seconds or settings.DURAGRAPH_LEASE_SECONDS,
            now=now,
        )
        record(state, new_events, now=now, metadata={"lease_epoch": lease_epoch})
        return Run.objects.get(run_id=run_id)


def run_complete(*, run_id: uuid.UUID, lease_epoch: int, output: Any = None) -> Run:
    """End the run as ``success``; *output* becomes the thread's values."""
    return _end(
        run_id,
        lambda state: domain.complete(state, lease_epoch=lease_epoch, output=output),
        lease_epoch,
    )


def run_fail(*, run_id: uuid.UUID, lease_epoch: int, error: str, message: str) -> Run:
    """End the run as ``error`` with the exception class name and message."""
    return _end(
        run_id,
        lambda state: domain.fail(state, lease_epoch=lease_epoch, error=error, message=message),
        lease_epoch,
    )


def run_time_out(*, run_id: uuid.UUID, lease_epoch: int | None, message: str) -> Run:
    """End the run as ``timeout`` (by its worker, or by the system with *lease_epoch* None)."""
    return _end(
        run_id,
        lambda state: domain.time_out(state, lease_epoch=lease_epoch, message=message),
        lease_epoch,
    )


def run_interrupt(
    *, run_id: uuid.UUID, lease_epoch: int, interrupts: Mapping[str, Any], output: Any = None
) -> Run:
    """Park the run at an interrupt; the thread becomes ``interrupted``."""
    return _end(
        run_id,
        lambda state: domain.interrupt(
            state, lease_epoch=lease_epoch, interrupts=interrupts, output=output
        ),
        lease_epoch,
    )


def run_record_output(
    *, run_id: uuid.UUID, thread_id: uuid.UUID, lease_epoch: int, events: list[Any]
) -> None:
    """Append stream chunks / node events of the lease holder, in one statement.

    The hot path of execution (``runs/sql/queries.sql``: append_run_output): the statement
    itself checks the lease, so there is no read-modify-write. Output events do not change a
    run's state (``domain.apply`` only bumps ``version`` and ``updated_at``), which is all the
    statement changes in the read model.

    Raises:
        StaleLease: the run is no longer running under *lease_epoch*; nothing was written.
    """
    if not events:
        return
    for event in events:
        if not isinstance(event, domain.OUTPUT_EVENTS):
            raise IllegalTransition(f"{event.type_name} is not run output")
    params = {
        "run_id": run_id,
        "lease_epoch": lease_epoch,
        "count": len(events),
        "now": timezone.now(),
        "subject": projection.stream(thread_id, run_id).subject,
        "types": [event.type_name for event in events],
        "payloads": [orjson.dumps(event.to_payload()).decode() for event in events],
        "metadata": orjson.dumps({**event_context.current(), "lease_epoch": lease_epoch}).decode(),
    }
    with transaction.atomic(), binding_cursor() as cursor:
        cursor.execute(queries["append_run_output"], params)
        if cursor.fetchone() is None:
            raise StaleLease(f"run {run_id} is no longer running under lease epoch {lease_epoch}")
        event_metrics.count_appended("run", params["types"])


def run_save_checkpoint(
    *, run_id: uuid.UUID, lease_epoch: int, thread_id: uuid.UUID, checkpoint: Mapping[str, Any]
) -> None:
    """A checkpoint (the ``CheckpointSaved`` fields) from the run's lease holder, in one
    statement (``runs/sql/queries.sql``: save_checkpoint).

    Raises:
        StaleLease: the run is no longer running under *lease_epoch*; nothing was written.
    """
    event = thread_domain.CheckpointSaved(**checkpoint)
    blob = base64.b64decode(event.checkpoint.data)
    values = orjson.dumps(event.values).decode() if event.values is not None else None
    params = {
        **_fence_params(run_id, lease_epoch, thread_id, event),
        "has_values": event.checkpoint_ns == "" and event.values is not None,
        "values": values,
        "checkpoint_ns": event.checkpoint_ns,
        "checkpoint_id": event.checkpoint_id,
        "parent_checkpoint_id": event.parent_checkpoint_id,
        "type": event.checkpoint.type,
        "blob": blob,
        "checkpoint_metadata": orjson.dumps(event.metadata).decode(),
    }
    _fenced_thread_write("save_checkpoint", params)


def run_save_writes(
    *, run_id: uuid.UUID, lease_epoch: int, thread_id: uuid.UUID, writes: Mapping[str, Any]
) -> None:
    """Pending writes (the ``CheckpointWritesSaved`` fields) from the run's lease holder, in one
    statement (``runs/sql/queries.sql``: save_writes).

    Raises:
        StaleLease: the run is no longer running under *lease_epoch*; nothing was written.
    """
    event = thread_domain.CheckpointWritesSaved(**writes)
    params = {
        **_fence_params(run_id, lease_epoch, thread_id, event),
        "checkpoint_ns": event.checkpoint_ns,
        "checkpoint_id": event.checkpoint_id,
        "task_id": event.task_id,
        "task_path": event.task_path,
        "idxs": [w.idx for w in event.writes],
        "channels": [w.channel for w in event.writes],
        "types": [w.value.type for w in event.writes],
        "values": [base64.b64decode(w.value.data) for w in event.writes],
    }
    _fenced_thread_write("save_writes", params)


def _fence_params(
    run_id: uuid.UUID, lease_epoch: int, thread_id: uuid.UUID, event: Any
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "lease_epoch": lease_epoch,
        "thread_id": thread_id,
        "now": timezone.now(),
        "subject": thread_projection.stream(thread_id).subject,
        "payload": orjson.dumps(event.to_payload()).decode(),
        # The thread's stream is shared by its runs: say which run's lease wrote this.
        "metadata": orjson.dumps(
            {**event_context.current(), "run_id": str(run_id), "lease_epoch": lease_epoch}
        ).decode(),
    }


def _fenced_thread_write(query: str, params: dict[str, Any]) -> None:
    with transaction.atomic(), binding_cursor() as cursor:
        cursor.execute(queries[query], params)
        if cursor.fetchone() is None:
            raise StaleLease(
                f"run {params['run_id']} is no longer running under lease epoch {params['lease_epoch']}"
            )


def _end(run_id: uuid.UUID, command: Any, lease_epoch: int | None) -> Run:
    """End a run: its events, the thread's status and values, then what follows an end.

    A stateless run's temporary thread is deleted with it (its result stays in the event log,
    where ``/wait`` and ``/join`` find it), and the webhook is called after the commit.
    """
    now = timezone.now()
    with transaction.atomic():
        thread, state = load_thread_and_run(run_id)
        run = record(state, command(state), now=now, metadata={"lease_epoch": lease_epoch})
        thread = sync_thread(
            thread,
            run,
            now=now,
            values=run.output if run.output is not None else thread_services.UNCHANGED,
        )
        ended = Run.objects.get(run_id=run_id)
        if webhook := run.kwargs.get("webhook"):
            transaction.on_commit(lambda: _send_webhook(run_id, webhook))
        if run.kwargs.get("temporary") and run.status is not domain.RunStatus.INTERRUPTED:
            thread_services.thread_delete(thread_id=run.thread_id)
        return ended


def _send_webhook(run_id: uuid.UUID, url: str) -> None:
    tasks.send_webhook.delay(str(run_id), url)
