"""The remote-worker protocol's commands: what ``/api/v1/workers/...`` does for an SDK worker.

Registration (a worker and the graphs it defines), heartbeats that learn the worker's interval,
polls that lease runs with the built-in executor's very claim, and events that become run
progress. The translation is pure (``workers.protocol``); here are its reads and its effect,
each event's in ONE transaction (:func:`run_record_progress`). The registry itself (register,
heartbeat, deregister, lost workers) is ``workers.services``.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from langgraph.checkpoint.base.id import uuid6

from assistants import services as assistant_services
from duragraph_site.errors import Conflict, NotFound
from runs import selectors as run_selectors
from runs import services as run_services
from runs.domain import RunStatus
from runs.models import Run
from threads import selectors as thread_selectors
from workers import config as run_config
from workers import protocol, services
from workers.models import Worker, WorkerGraph, WorkerKind, WorkerStatus


# -- registration and heartbeats ------------------------------------------------------------------
def worker_register_remote(
    *,
    worker_id: str,
    name: str | None,
    graph_ids: list[str],
    max_concurrent_runs: int,
    graph_definitions: list[protocol.GraphDefinition],
    metadata: dict[str, Any] | None = None,
) -> Worker:
    """Register a DuraGraph SDK worker and the graphs it serves.

    Each graph it defines becomes a graph of the registry (``/assistants/{id}/graph`` shows its
    nodes and edges) with LangGraph's default assistant, so runs can name it.
    """
    served = list(dict.fromkeys([*graph_ids, *(d.graph_id for d in graph_definitions)]))
    now = timezone.now()
    with transaction.atomic():
        previous = (
            Worker.objects.filter(worker_id=worker_id)
            .values_list("heartbeat_interval", flat=True)
            .first()
        )
        worker = services.worker_register(
            worker_id=worker_id,
            kind=WorkerKind.REMOTE,
            name=name,
            graph_ids=served,
            max_concurrent_runs=max_concurrent_runs,
            heartbeat_interval=previous or settings.DURAGRAPH_REMOTE_HEARTBEAT_SECONDS,
            metadata=metadata,
        )
        for definition in graph_definitions:
            graph, created = WorkerGraph.objects.get_or_create(
                graph_id=definition.graph_id,
                defaults={
                    "definition": definition.as_json(),
                    "worker_ids": [worker_id],
                    "updated_at": now,
                },
            )
            if not created:
                graph.definition = definition.as_json()
                graph.worker_ids = list(dict.fromkeys([*graph.worker_ids, worker_id]))
                graph.updated_at = now
                graph.save()
    for graph_id in served:
        if WorkerGraph.objects.filter(graph_id=graph_id).exists():
            assistant_services.assistant_ensure_default(graph_id=graph_id)
    return worker


def remote_worker_heartbeat(*, worker_id: str, **report: Any) -> Worker:
    """A heartbeat; the interval between heartbeats is learnt from them (the SDK does not say
    it), so that a worker is declared lost after a few of *its* intervals.

    Raises:
        NotFound: the worker is unknown, lost or offline (the SDK then registers again).
    """
    previous = (
        Worker.objects.filter(worker_id=worker_id)
        .values_list("last_heartbeat_at", "heartbeat_interval")
        .first()
    )
    worker = services.worker_heartbeat(worker_id=worker_id, **report)
    if previous is not None:
        gap = (worker.last_heartbeat_at - previous[0]).total_seconds()
        if gap > 0.2:  # ignore the immediate heartbeat that follows registration
            estimate = min(gap, previous[1] * 2) if previous[1] else gap
            Worker.objects.filter(worker_id=worker_id).update(
                heartbeat_interval=round(0.5 * previous[1] + 0.5 * estimate, 3)
            )
    return worker


# -- work -----------------------------------------------------------------------------------------
def worker_poll(*, worker_id: str, max_tasks: int = 1) -> list[dict[str, Any]]:
    """Lease up to *max_tasks* runs of the worker's graphs to it, within its free capacity;
    returns the tasks (``protocol.task``), each with the run's effective config (its
    assistant's merged with its own, as the built-in executor runs it).

    Remote leases are long (``DURAGRAPH_REMOTE_LEASE_SECONDS``): the SDK never renews per-run
    leases, so a remote run lives as long as its worker heartbeats.

    Raises:
        NotFound: the worker is unknown, lost or offline (the SDK then registers again).
    """
    worker = _live_worker(worker_id)
    if worker.status == WorkerStatus.DRAINING or max_tasks < 1:
        return []
    room = min(max_tasks, worker.max_concurrent_runs - run_selectors.runs_held_count(worker_id))
    if room <= 0:
        return []
    claims = run_services.runs_claim(
        worker_id=worker_id,
        limit=room,
        graph_ids=worker.graph_ids,
        lease_seconds=settings.DURAGRAPH_REMOTE_LEASE_SECONDS,
        worker_kind=WorkerKind.REMOTE,
    )
    return [
        protocol.task(
            run_id=claim.run.run_id,
            thread_id=claim.run.thread_id,
            assistant_id=claim.run.assistant_id,
            graph_id=claim.run.assistant.graph_id,
            input_=_task_input(claim.run),
            config=run_config.effective_config(claim.run.assistant, claim.run),
            command=claim.run.kwargs.get("command"),
            lease_epoch=claim.lease_epoch,
            created_at=claim.run.created_at,
        )
        for claim in claims
    ]


def worker_report_event(
    *, worker_id: str, run_id: uuid.UUID, event_type: str, data: dict[str, Any]
) -> None:
    """Turn one SDK event into its run's progress (``protocol.progress``), under the run's
    current lease, in one transaction.

    Fencing without an epoch (the SDK sends none): the run must be running and leased to this
    very worker.

    Raises:
        InvalidInput: an unknown event type (nothing is read).
        NotFound: the worker is unknown, lost or offline, and does not hold the run.
        Conflict: the run is not running under this worker; nothing changes.
    """
    protocol.check_event_type(event_type)
    run = _leased_run(run_id, worker_id)
    known = protocol.RunSoFar(
        run_id=run.run_id,
        task_input=_task_input(run) if event_type in protocol.NEEDS_TASK_INPUT else None,
        latest_values=(
            run_selectors.run_latest_values(run.run_id)
            if event_type in protocol.NEEDS_LATEST_VALUES
            else None
        ),
    )
    progress = protocol.progress(
        event_type, data, known, now=timezone.now(), checkpoint_id=str(uuid6())
    )
    run_record_progress(
        run_id=run.run_id, thread_id=run.thread_id, lease_epoch=run.lease_epoch, progress=progress
    )


def run_record_progress(
    *, run_id: uuid.UUID, thread_id: uuid.UUID, lease_epoch: int, progress: protocol.Progress
) -> None:
    """Record *progress* of the run's lease holder: all of it, or nothing, in ONE transaction
    (each ``runs.services`` command's own ``atomic()`` is a savepoint inside this one).

    The checkpoint goes first: its statement locks the thread, then the run (the project's lock
    order, ``runs.services``); output events first would lock the run before the thread, and
    a concurrent cancel (thread, then run) would deadlock with us. The three commit together, so
    no reader can see them in another order.

    Raises:
        StaleLease: the run is no longer running under *lease_epoch*; nothing was written.
    """
    with transaction.atomic():
        if progress.checkpoint is not None:
            run_services.run_save_checkpoint(
                run_id=run_id,
                lease_epoch=lease_epoch,
                thread_id=thread_id,
                checkpoint=protocol.checkpoint_fields(
                    progress.checkpoint, run_id=run_id, parent=_parent_checkpoint(thread_id)
                ),
            )
        if progress.output:
            run_services.run_record_output(
                run_id=run_id,
                thread_id=thread_id,
                lease_epoch=lease_epoch,
                events=list(progress.output),
            )
        match progress.ending:
            case protocol.Completed(output=output):
                run_services.run_complete(run_id=run_id, lease_epoch=lease_epoch, output=output)
            case protocol.Failed(error=error, message=message):
                run_services.run_fail(
                    run_id=run_id, lease_epoch=lease_epoch, error=error, message=message
                )
            case protocol.Interrupted(interrupts=interrupts, output=output):
                run_services.run_interrupt(
                    run_id=run_id, lease_epoch=lease_epoch, interrupts=interrupts, output=output
                )


# -- reads ----------------------------------------------------------------------------------------
def _live_worker(worker_id: str) -> Worker:
    """The worker if registered and alive; NotFound otherwise (the SDK then registers again)."""
    worker = Worker.objects.filter(
        worker_id=worker_id, status__in=[WorkerStatus.ONLINE, WorkerStatus.DRAINING]
    ).first()
    if worker is None:
        raise NotFound(f"Worker {worker_id} is not registered")
    return worker


def _leased_run(run_id: uuid.UUID, worker_id: str) -> Run:
    """The run, if running under *worker_id*; NotFound for a dead worker, else Conflict."""
    try:
        run = run_selectors.run_get(run_id)
    except NotFound:
        run = None
    if run is None or run.status != RunStatus.RUNNING or run.worker_id != worker_id:
        _live_worker(worker_id)  # an unknown worker gets 404 (the SDK then registers again)
        raise Conflict(f"run {run_id} is not leased to worker {worker_id}")
    return run


def _task_input(run: Run) -> dict[str, Any]:
    """What the worker starts the run from (it always starts at the graph's entry point)."""
    try:
        thread_values = thread_selectors.thread_get(run.thread_id).values
    except NotFound:
        thread_values = None
    return protocol.task_input(run.kwargs, thread_values)


def _parent_checkpoint(thread_id: uuid.UUID) -> protocol.ParentCheckpoint | None:
    """The thread's latest root checkpoint, which the next one follows."""
    latest = thread_selectors.thread_latest_checkpoint(thread_id)
    return protocol.ParentCheckpoint.from_row(*latest) if latest else None
