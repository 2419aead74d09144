"""Run commands. Each is one transaction: run events + thread status + read models + outbox.

Lock order, everywhere: the thread row first, then run rows. Run creation must lock the thread
(multitask strategies look at its other runs), so every transition that may change the thread's
status locks the thread first too; otherwise the two would deadlock.
"""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from assistants.models import Assistant
from duragraph_site import ids
from duragraph_site.db.connections import binding_cursor
from duragraph_site.errors import Conflict, IllegalTransition, InvalidInput, NotFound, StaleLease
from events import context as event_context
from events import metrics as event_metrics
from events import projections
from runs import domain, projection
from runs import metrics as run_metrics
from runs.models import Cron, Run
from runs.sql import queries
from threads import domain as thread_domain
from threads import projection as thread_projection
from threads import services as thread_services
from workers import services as worker_services
from workers.models import Worker, WorkerStatus

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import datetime

ACTIVE = [status.value for status in domain.ACTIVE_STATUSES]
BUSY_MESSAGE = "Thread is already running a task. Wait for it to finish or choose a different multitask strategy."


@dataclass(frozen=True)
class Claim:
    """A run leased to a worker: every write the worker makes must name this epoch."""

    run: Run
    lease_epoch: int


def _default_max_attempts() -> int:
    return settings.DURAGRAPH_RUN_MAX_ATTEMPTS


def _default_lease_seconds() -> float:
    return settings.DURAGRAPH_LEASE_SECONDS


# -- creating --------------------------------------------------------------------------------
def run_create(
    *,
    thread_id: uuid.UUID | None,
    assistant_id: uuid.UUID,
    kwargs: Mapping[str, Any] | None = None,
    metadata: Mapping[str, Any] | None = None,
    multitask_strategy: str = domain.MultitaskStrategy.ENQUEUE,
    after_seconds: float = 0,
    if_not_exists: str = "reject",
    max_attempts: int | None = None,
    run_id: uuid.UUID | None = None,
) -> Run:
    """Queue a run, applying the multitask strategy to its thread's active runs.

    With *thread_id* None the run is stateless: it gets a thread of its own (deleted after the
    run when ``kwargs["temporary"]`` is set). With ``if_not_exists="create"`` an unknown
    *thread_id* is created. The thread's metadata records the assistant and graph it ran.

    Raises:
        NotFound: unknown thread (unless created) or assistant.
        Conflict: the thread has an active run and the strategy is ``reject``.
        InvalidInput: bad kwargs, metadata, strategy or if_not_exists.
    """
    if if_not_exists not in ("reject", "create"):
        raise InvalidInput("if_not_exists must be one of ['reject', 'create']")
    now = timezone.now()
    run_id = run_id or ids.new_id()
    with transaction.atomic():
        assistant = Assistant.objects.filter(assistant_id=assistant_id).first()
        if assistant is None:
            raise NotFound(f"Assistant {assistant_id} not found")
        thread = _thread_for_run(thread_id, if_not_exists=if_not_exists, now=now)
        new_events = domain.create(
            run_id=run_id,
            thread_id=thread.thread_id,
            assistant_id=assistant_id,
            kwargs=kwargs or {},
            metadata=metadata or {},
            multitask_strategy=multitask_strategy,
            max_attempts=max_attempts or _default_max_attempts(),
            now=now,
            after_seconds=after_seconds,
        )
        strategy = new_events[0].multitask_strategy
        thread = _apply_multitask_strategy(thread, strategy, new_run_id=run_id, now=now)
        run = _record(None, new_events, now=now)
        thread = _sync_thread_status(thread, run, now=now)
        ran_with = {"graph_id": assistant.graph_id, "assistant_id": str(assistant_id)}
        if any(thread.metadata.get(key) != value for key, value in ran_with.items()):
            thread_services.thread_record_metadata(thread, metadata=ran_with, now=now)
        return Run.objects.get(run_id=run_id)


def _thread_for_run(
    thread_id: uuid.UUID | None, *, if_not_exists: str, now: datetime
) -> thread_domain.ThreadState:
    """The run's thread, locked: existing, created on demand, or a new one for a stateless run."""
    if thread_id is not None:
        try:
            return thread_projection.load_for_update(thread_id)
        except NotFound:
            if if_not_exists != "create":
                raise
    new_thread_id = thread_id or ids.new_id()
    thread_services.thread_create_unchecked(
        thread_id=new_thread_id, metadata={}, now=now, new_stream=thread_id is None
    )
    return thread_projection.load_for_update(new_thread_id)


def _apply_multitask_strategy(
    thread: thread_domain.ThreadState,
    strategy: domain.MultitaskStrategy,
    *,
    new_run_id: uuid.UUID,
    now: datetime,
) -> thread_domain.ThreadState:
    """What a new run does to the active runs of its (locked) thread; returns the thread's state."""
    if strategy is domain.MultitaskStrategy.ENQUEUE:
        return thread
    rows = Run.objects.select_for_update().filter(thread_id=thread.thread_id, status__in=ACTIVE)
    active = [projection.to_state(row) for row in rows]
    if not active:
        return thread
    if strategy is domain.MultitaskStrategy.REJECT:
        raise Conflict(BUSY_MESSAGE)
    rollback = strategy is domain.MultitaskStrategy.ROLLBACK
    action = domain.CancelAction.ROLLBACK if rollback else domain.CancelAction.INTERRUPT
    for state in active:
        reason = f"superseded by run {new_run_id} (multitask_strategy={strategy.value})"
        _record(state, domain.cancel(state, action=action, reason=reason), now=now)
    if rollback:  # the old runs' checkpoints go with them
        thread = thread_services.thread_delete_checkpoints(
            thread_id=thread.thread_id,
            run_ids=[s.run_id for s in active],
            reason=f"rolled back by run {new_run_id}",
            state=thread,
        )
    return thread


# -- the queue -------------------------------------------------------------------------------
def runs_claim(
    *,
    worker_id: str,
    limit: int = 1,
    lease_seconds: float | None = None,
    graph_ids: list[str] | None = None,
    worker_kind: str = "builtin",
) -> list[Claim]:
    """Lease up to *limit* claimable runs to *worker_id* (``runs/sql/queries.sql``: claim_runs).

    Claimable: pending, past ``available_at``, the oldest pending run of a thread that has no
    running run, and (with *graph_ids*) of a graph the worker serves. One statement with
    ``FOR UPDATE SKIP LOCKED``, so concurrent claimers never get the same run.
    """
    now = timezone.now()
    params = {
        "worker_id": worker_id,
        "limit": limit,
        "now": now,
        "lease_seconds": lease_seconds or _default_lease_seconds(),
        "graph_ids": graph_ids,
        "metadata": orjson.dumps(dict(event_context.current())).decode(),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(queries["claim_runs"], params)
        leased = dict(cursor.fetchall())
        event_metrics.count_appended("run", ["RunStarted"] * len(leased))
    if not leased:
        return []
    runs = Run.objects.filter(run_id__in=leased).select_related("assistant")
    run_metrics.observe_claims([run.available_at for run in runs], now=now, worker_kind=worker_kind)
    return [Claim(run=run, lease_epoch=leased[run.run_id]) for run in runs]


# -- the lease holder's writes ---------------------------------------------------------------
def run_start(*, run_id: uuid.UUID, worker_id: str, lease_seconds: float | None = None) -> Claim:
    """Lease one specific pending run to *worker_id* (the queue claims in bulk in SQL)."""
    now = timezone.now()
    with transaction.atomic():
        state = projection.load_for_update(run_id)
        new_events = domain.start(
            state,
            worker_id=worker_id,
            lease_seconds=lease_seconds or _default_lease_seconds(),
            now=now,
        )
        run = _record(state, new_events, now=now, metadata={"worker_id": worker_id})
        return Claim(run=Run.objects.get(run_id=run_id), lease_epoch=run.lease_epoch)


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
            lease_seconds=lease_seconds or _default_lease_seconds(),
            now=now,
        )
        _record(state, new_events, now=now, metadata={"lease_epoch": lease_epoch})
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
        "metadata": orjson.dumps({**event_context.current(), "lease_epoch": lease_epoch}).decode(),
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
        thread, state = _load_thread_and_run(run_id)
        run = _record(state, command(state), now=now, metadata={"lease_epoch": lease_epoch})
        thread = _sync_thread_status(thread, run, now=now)
        if run.output is not None and run.output != thread.values:
            thread = thread_services.thread_record_values(thread, values=run.output, now=now)
        ended = Run.objects.get(run_id=run_id)
        if webhook := run.kwargs.get("webhook"):
            transaction.on_commit(lambda: _send_webhook(run_id, webhook))
        if run.kwargs.get("temporary") and run.status is not domain.RunStatus.INTERRUPTED:
            thread_services.thread_delete(thread_id=run.thread_id)
        return ended


def _send_webhook(run_id: uuid.UUID, url: str) -> None:
    from runs import tasks

    tasks.send_webhook.delay(str(run_id), url)


# -- operators and users ---------------------------------------------------------------------
def run_cancel(
    *,
    run_id: uuid.UUID,
    thread_id: uuid.UUID | None = None,
    action: str = domain.CancelAction.INTERRUPT,
    reason: str = "cancelled by user",
) -> Run | None:
    """Cancel a pending or running run; ``rollback`` deletes it too (then returns None).

    A running worker learns of it at its next write (its lease is no longer valid).
    """
    now = timezone.now()
    with transaction.atomic():
        thread, state = _load_thread_and_run(run_id, thread_id=thread_id)
        run = _record(state, domain.cancel(state, action=action, reason=reason), now=now)
        if run.deleted:  # rollback: the run's checkpoints go too
            thread = thread_services.thread_delete_checkpoints(
                thread_id=thread.thread_id,
                run_ids=[run_id],
                reason=f"run {run_id} rolled back",
                state=thread,
            )
        _sync_thread_status(thread, run, now=now)
        return None if run.deleted else Run.objects.get(run_id=run_id)


def runs_cancel_many(
    *,
    thread_id: uuid.UUID | None = None,
    run_ids: list[uuid.UUID] | None = None,
    status: str | None = None,
    action: str = domain.CancelAction.INTERRUPT,
) -> int:
    """Cancel every active run matching the selector; returns how many.

    The selector is LangGraph's: ``status`` (``pending``, ``running`` or ``all``), or
    ``thread_id`` and/or ``run_ids``. Runs that end meanwhile are skipped.

    Raises:
        NotFound: no active run matched.
    """
    queryset = Run.objects.filter(status__in=ACTIVE)
    if status is not None:
        if status != "all":
            queryset = queryset.filter(status=status)
    else:
        if thread_id is not None:
            queryset = queryset.filter(thread_id=thread_id)
        if run_ids:
            queryset = queryset.filter(run_id__in=run_ids)
    targets = list(queryset.order_by("created_at").values_list("run_id", flat=True))
    if not targets:
        raise NotFound("No active runs matched")
    cancelled = 0
    for run_id in targets:
        try:
            run_cancel(run_id=run_id, action=action)
            cancelled += 1
        except (IllegalTransition, NotFound):
            continue  # ended or vanished since we looked
    return cancelled


def run_requeue(*, run_id: uuid.UUID, reason: str = "requeued by operator") -> Run:
    """Send an ``error``/``timeout`` run back to the queue with a fresh retry budget."""
    now = timezone.now()
    with transaction.atomic():
        thread, state = _load_thread_and_run(run_id)
        run = _record(state, domain.requeue(state, now=now, reason=reason), now=now)
        _sync_thread_status(thread, run, now=now)
        return Run.objects.get(run_id=run_id)


def run_delete(*, run_id: uuid.UUID, thread_id: uuid.UUID | None = None) -> None:
    """Delete a finished run (Conflict while it is pending or running)."""
    now = timezone.now()
    with transaction.atomic():
        thread, state = _load_thread_and_run(run_id, thread_id=thread_id)
        run = _record(state, domain.delete(state), now=now)
        _sync_thread_status(thread, run, now=now)


def runs_delete_for_thread(*, thread_id: uuid.UUID) -> int:
    """Cancel and delete every run (and cron) of a thread being deleted (thread already locked)."""
    now = timezone.now()
    Cron.objects.filter(thread_id=thread_id).delete()
    count = 0
    for row in Run.objects.select_for_update().filter(thread_id=thread_id).order_by("created_at"):
        state = projection.to_state(row)
        if state.is_active:
            new_events = domain.cancel(
                state, action=domain.CancelAction.ROLLBACK, reason=f"thread {thread_id} deleted"
            )
        else:
            new_events = domain.delete(state)
        _record(state, new_events, now=now)
        count += 1
    return count


def runs_reap_expired_leases(
    *, now: datetime | None = None, policy: domain.RetryPolicy | None = None
) -> list[Run]:
    """Hand back the runs whose worker is gone: retry with backoff while attempts remain, else fail.

    Gone: the run's lease expired, or its worker was declared lost (silent for
    ``DURAGRAPH_WORKER_LOST_AFTER_HEARTBEATS`` heartbeats: detected long before a lease lapses).
    Each run is handled in its own transaction, so one bad row cannot block the others.
    """
    now = now or timezone.now()
    policy = policy or domain.RetryPolicy(**settings.DURAGRAPH_RETRY_POLICY)
    worker_services.workers_mark_lost(now=now)
    # Lost (silent) and offline (deregistered) workers will not finish their runs.
    gone = {WorkerStatus.LOST: "was lost (no heartbeat)", WorkerStatus.OFFLINE: "went offline"}
    gone_workers = Worker.objects.filter(status__in=list(gone)).values("worker_id")
    candidates = Run.objects.filter(status=domain.RunStatus.RUNNING).filter(
        Q(lease_expires_at__lte=now) | Q(worker_id__in=gone_workers)
    )
    reaped: list[Run] = []

    def why_gone(worker_id: str | None) -> str | None:
        status = Worker.objects.filter(worker_id=worker_id).values_list("status", flat=True)
        return gone.get(status.first())

    for run_id in list(candidates.values_list("run_id", flat=True)):
        with transaction.atomic():
            if run := _hand_back(run_id, now=now, policy=policy, why_gone=why_gone):
                reaped.append(run)
    return reaped


def runs_hand_back_from_worker(
    *, worker_id: str, why: str, now: datetime | None = None
) -> list[Run]:
    """Retry (or fail, past the budget) every run leased to *worker_id*, now: the worker said it
    no longer holds them (it restarted, or deregistered). *why* completes "worker X ... during
    attempt N" in the reason recorded."""
    now = now or timezone.now()
    policy = domain.RetryPolicy(**settings.DURAGRAPH_RETRY_POLICY)
    held = Run.objects.filter(status=domain.RunStatus.RUNNING, worker_id=worker_id)
    handed_back = []
    for run_id in list(held.values_list("run_id", flat=True)):
        with transaction.atomic():
            run = _hand_back(
                run_id,
                now=now,
                policy=policy,
                why_gone=lambda holder: why if holder == worker_id else None,
            )
            if run is not None:
                handed_back.append(run)
    return handed_back


def _hand_back(
    run_id: uuid.UUID,
    *,
    now: datetime,
    policy: domain.RetryPolicy,
    why_gone: Callable[[str | None], str | None],
) -> Run | None:
    """One run's ``RunLeaseExpired`` and retry or failure, under the locks; None if its lease
    holds (renewed, finished or claimed by another worker since the caller looked).
    *why_gone* says whether (and how) the run's current holder is gone, asked under the lock."""
    thread, state = _load_thread_and_run(run_id)
    worker_gone = why_gone(state.worker_id)
    if domain.decide_retry(state, now=now, policy=policy, worker_gone=worker_gone) is None:
        return None
    new_events = domain.expire_lease(state, now=now, policy=policy, worker_gone=worker_gone)
    run = _record(state, new_events, now=now)
    _sync_thread_status(thread, run, now=now)
    return Run.objects.get(run_id=run_id)


# -- helpers ---------------------------------------------------------------------------------
def _load_thread_and_run(
    run_id: uuid.UUID, *, thread_id: uuid.UUID | None = None
) -> tuple[thread_domain.ThreadState, domain.RunState]:
    """Lock the run's thread, then the run (the project's lock order)."""
    run_thread_id = Run.objects.filter(run_id=run_id).values_list("thread_id", flat=True).first()
    if run_thread_id is None or (thread_id is not None and run_thread_id != thread_id):
        raise NotFound(f"Run {run_id} not found")
    thread = thread_projection.load_for_update(run_thread_id)
    return thread, projection.load_for_update(run_id)


def _sync_thread_status(
    thread: thread_domain.ThreadState, run: domain.RunState, *, now: datetime
) -> thread_domain.ThreadState:
    """Keep the thread's status true after *run* changed (the thread row is locked)."""
    has_active = Run.objects.filter(thread_id=thread.thread_id, status__in=ACTIVE).exists()
    status = thread_domain.status_after_runs(
        has_active_run=has_active,
        last_run_status=None if run.deleted else run.status.value,
        last_run_cancelled=run.cancel_reason is not None,
    )
    return thread_services.thread_record_status(
        thread,
        status=status,
        run_id=run.run_id,
        error=run.error if status is thread_domain.ThreadStatus.ERROR else None,
        interrupts=run.interrupts if status is thread_domain.ThreadStatus.INTERRUPTED else None,
        now=now,
    )


def _record(
    state: domain.RunState | None,
    new_events: list,
    *,
    now: datetime,
    metadata: dict[str, Any] | None = None,
) -> domain.RunState:
    key = state if state is not None else new_events[0]  # a RunCreated names its thread and run
    run = projections.record(
        projection.PROJECTION,
        projection.stream(key.thread_id, key.run_id),
        state,
        new_events,
        expected_version=state.version if state is not None else 0,
        now=now,
        metadata=metadata,
    )
    run_metrics.count_recorded(run.created_at, [e.type_name for e in new_events], now=now)
    return run
