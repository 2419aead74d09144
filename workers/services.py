"""Worker registry commands: register, heartbeat, deregister, and declaring the silent ones lost."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import ExpressionWrapper, F, fields
from django.utils import timezone
from langgraph.checkpoint.base.id import uuid6
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from duragraph_site import serde
from duragraph_site.errors import Conflict, InvalidInput, NotFound
from workers import protocol
from workers.models import Worker, WorkerGraph, WorkerKind, WorkerStatus


def worker_register(
    *,
    worker_id: str,
    kind: str,
    name: str | None = None,
    graph_ids: list[str] | None = None,
    max_concurrent_runs: int = 10,
    heartbeat_interval: float = 30.0,
    metadata: dict[str, Any] | None = None,
) -> Worker:
    """Register (or re-register: the same id upserts) a worker, online from now.

    A worker registering under an id that still holds runs is a new process (the old one died,
    or was declared lost and forgot them): those runs are handed back at once, to be retried.
    """
    from runs import services as run_services

    if not isinstance(worker_id, str) or not worker_id.strip() or len(worker_id) > 255:
        raise InvalidInput("worker_id must be a non-empty string of at most 255 characters")
    if kind not in WorkerKind.values:
        raise InvalidInput(f"kind must be one of {list(WorkerKind.values)}")
    if max_concurrent_runs < 1:
        raise InvalidInput("max_concurrent_runs must be at least 1")
    now = timezone.now()
    fields = {
        "kind": kind,
        "name": name or worker_id,
        "status": WorkerStatus.ONLINE,
        "reported_status": "",
        "graph_ids": list(graph_ids or []),
        "max_concurrent_runs": max_concurrent_runs,
        "heartbeat_interval": heartbeat_interval,
        "last_heartbeat_at": now,
        "metadata": metadata or {},
    }
    worker, created = Worker.objects.update_or_create(
        worker_id=worker_id, defaults=fields, create_defaults={**fields, "registered_at": now}
    )
    if not created:
        run_services.runs_hand_back_from_worker(
            worker_id=worker_id, why="registered again (a new process)", now=now
        )
    return worker


def worker_heartbeat(
    *,
    worker_id: str,
    reported_status: str = "",
    active_runs: int | None = None,
    total_runs: int | None = None,
    failed_runs: int | None = None,
) -> Worker:
    """Record that the worker is alive. NotFound for unknown, lost or offline workers: they must
    register again (the DuraGraph SDK does on a 404)."""
    now = timezone.now()
    changes: dict[str, Any] = {"last_heartbeat_at": now, "reported_status": reported_status[:32]}
    for field, value in (
        ("active_runs", active_runs),
        ("total_runs", total_runs),
        ("failed_runs", failed_runs),
    ):
        if value is not None:
            changes[field] = max(int(value), 0)
    if reported_status == "draining":
        changes["status"] = WorkerStatus.DRAINING
    alive = Worker.objects.filter(
        worker_id=worker_id, status__in=[WorkerStatus.ONLINE, WorkerStatus.DRAINING]
    )
    if not alive.update(**changes):
        raise NotFound(f"Worker {worker_id} is not registered")
    return Worker.objects.get(worker_id=worker_id)


def worker_deregister(*, worker_id: str) -> None:
    """The worker leaves; runs it still holds are handed back to be retried."""
    from runs import services as run_services

    if not Worker.objects.filter(worker_id=worker_id).update(status=WorkerStatus.OFFLINE):
        raise NotFound(f"Worker {worker_id} is not registered")
    run_services.runs_hand_back_from_worker(worker_id=worker_id, why="deregistered")


def worker_drain(*, worker_id: str) -> Worker:
    """Stop handing the worker new runs (it finishes those it has)."""
    if (
        not Worker.objects.filter(worker_id=worker_id)
        .exclude(status=WorkerStatus.OFFLINE)
        .update(status=WorkerStatus.DRAINING)
    ):
        raise NotFound(f"Worker {worker_id} is not registered")
    return Worker.objects.get(worker_id=worker_id)


def workers_mark_lost(*, now: datetime | None = None) -> list[str]:
    """Declare lost every worker silent for ``DURAGRAPH_WORKER_LOST_AFTER_HEARTBEATS`` intervals;
    returns their ids (their runs are then retried by the runs reaper)."""
    now = now or timezone.now()
    silence = ExpressionWrapper(
        F("heartbeat_interval")
        * settings.DURAGRAPH_WORKER_LOST_AFTER_HEARTBEATS
        * timedelta(seconds=1),
        output_field=fields.DurationField(),
    )
    with transaction.atomic():
        silent = (
            Worker.objects.select_for_update(skip_locked=True)
            .filter(status__in=[WorkerStatus.ONLINE, WorkerStatus.DRAINING])
            .alias(silence=silence)
            .filter(last_heartbeat_at__lt=now - F("silence"))
        )
        lost = list(silent.values_list("worker_id", flat=True))
        Worker.objects.filter(worker_id__in=lost).update(status=WorkerStatus.LOST)
    return lost


# -- the remote worker protocol ------------------------------------------------------------------
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
    from assistants import services as assistant_services

    served = list(dict.fromkeys([*graph_ids, *(d.graph_id for d in graph_definitions)]))
    now = timezone.now()
    with transaction.atomic():
        previous = (
            Worker.objects.filter(worker_id=worker_id)
            .values_list("heartbeat_interval", flat=True)
            .first()
        )
        worker = worker_register(
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
    it), so that a worker is declared lost after a few of *its* intervals."""
    previous = (
        Worker.objects.filter(worker_id=worker_id)
        .values_list("last_heartbeat_at", "heartbeat_interval")
        .first()
    )
    worker = worker_heartbeat(worker_id=worker_id, **report)
    if previous is not None:
        gap = (worker.last_heartbeat_at - previous[0]).total_seconds()
        if gap > 0.2:  # ignore the immediate heartbeat that follows registration
            estimate = min(gap, previous[1] * 2) if previous[1] else gap
            Worker.objects.filter(worker_id=worker_id).update(
                heartbeat_interval=round(0.5 * previous[1] + 0.5 * estimate, 3)
            )
    return worker


def worker_poll(*, worker_id: str, max_tasks: int = 1) -> list[dict[str, Any]]:
    """Lease up to *max_tasks* runs of the worker's graphs to it, within its free capacity.

    Remote leases are long (``DURAGRAPH_REMOTE_LEASE_SECONDS``): the SDK never renews per-run
    leases, so a remote run lives as long as its worker heartbeats.
    """
    from runs import services as run_services
    from runs.models import Run

    worker = _live_worker(worker_id)
    if worker.status == WorkerStatus.DRAINING or max_tasks < 1:
        return []
    busy = Run.objects.filter(status="running", worker_id=worker_id).count()
    room = min(max_tasks, worker.max_concurrent_runs - busy)
    if room <= 0:
        return []
    claims = run_services.runs_claim(
        worker_id=worker_id,
        limit=room,
        graph_ids=worker.graph_ids,
        lease_seconds=settings.DURAGRAPH_REMOTE_LEASE_SECONDS,
        worker_kind=WorkerKind.REMOTE,
    )
    tasks = []
    for claim in claims:
        run = claim.run
        tasks.append(
            {
                "task_id": str(run.run_id),
                "run_id": str(run.run_id),
                "thread_id": str(run.thread_id),
                "assistant_id": str(run.assistant_id),
                "graph_id": run.assistant.graph_id,
                "input": _task_input(run),
                "config": run.kwargs.get("config") or {},
                "command": run.kwargs.get("command"),
                "lease_epoch": claim.lease_epoch,
                "created_at": run.created_at.isoformat(),
            }
        )
    return tasks


def _task_input(run: Any) -> dict[str, Any]:
    """What the worker starts the run from (it always starts at the graph's entry point)."""
    from threads.models import Thread

    values = Thread.objects.filter(thread_id=run.thread_id).values_list("values", flat=True)
    return protocol.task_input(run.kwargs, values.first())


def _live_worker(worker_id: str) -> Worker:
    """The worker if registered and alive; NotFound otherwise (the SDK then registers again)."""
    worker = Worker.objects.filter(
        worker_id=worker_id, status__in=[WorkerStatus.ONLINE, WorkerStatus.DRAINING]
    ).first()
    if worker is None:
        raise NotFound(f"Worker {worker_id} is not registered")
    return worker


REMOTE_EVENT_TYPES = (
    "run_started",
    "node_started",
    "node_completed",
    "run_completed",
    "run_failed",
    "run_requires_action",
)


def worker_report_event(
    *, worker_id: str, run_id: uuid.UUID, event_type: str, data: dict[str, Any]
) -> None:
    """Turn one SDK event into run events, under the run's current lease.

    Fencing without an epoch (the SDK sends none): the run must be running and leased to this
    very worker; otherwise Conflict (409) and nothing changes.

    - ``run_started``: the run's first ``values`` (its input) are streamed;
    - ``node_started`` / ``node_completed``: node events, ``updates`` and ``values`` chunks and a
      checkpoint of the state so far;
    - ``run_completed``: success, its output the thread's values; ``run_failed``: error;
    - ``run_requires_action``: the run and the thread are interrupted (human in the loop).
    """
    from runs import domain as run_domain
    from runs import services as run_services
    from runs.models import Run

    if event_type not in REMOTE_EVENT_TYPES:
        raise InvalidInput(f"event_type must be one of {list(REMOTE_EVENT_TYPES)}")
    run = Run.objects.filter(run_id=run_id).first()
    if run is None or run.status != "running" or run.worker_id != worker_id:
        _live_worker(worker_id)  # an unknown worker gets 404 (the SDK then registers again)
        raise Conflict(f"run {run_id} is not leased to worker {worker_id}")
    epoch = run.lease_epoch
    node = str(data.get("node_id") or "")

    if event_type == "run_started":
        values = _task_input(run)  # an attempt starts over from the input: so does its state
        run_services.run_record_output(
            run_id=run_id,
            thread_id=run.thread_id,
            lease_epoch=epoch,
            events=[run_domain.RunOutputStreamed(mode="values", data=values)],
        )
    elif event_type == "node_started":
        run_services.run_record_output(
            run_id=run_id,
            thread_id=run.thread_id,
            lease_epoch=epoch,
            events=[run_domain.NodeStarted(node=node, task_id=node)],
        )
    elif event_type == "node_completed":
        output = serde.to_jsonable(data.get("output"))
        values = {**(_latest_values(run) or {}), **(output if isinstance(output, dict) else {})}
        run_services.run_record_output(
            run_id=run_id,
            thread_id=run.thread_id,
            lease_epoch=epoch,
            events=[
                run_domain.NodeCompleted(node=node, task_id=node),
                run_domain.RunOutputStreamed(mode="updates", data={node: output}),
                run_domain.RunOutputStreamed(mode="values", data=values),
            ],
        )
        run_services.run_save_checkpoint(
            run_id=run_id,
            lease_epoch=epoch,
            thread_id=run.thread_id,
            checkpoint=_checkpoint(run, values, node),
        )
    elif event_type == "run_completed":
        output = serde.to_jsonable(data.get("output"))
        if isinstance(output, dict) and output != _latest_values(run):
            # The thread's state is its latest checkpoint: it must be the values it ends with.
            run_services.run_save_checkpoint(
                run_id=run_id,
                lease_epoch=epoch,
                thread_id=run.thread_id,
                checkpoint=_checkpoint(run, output, protocol.END),
            )
        run_services.run_complete(run_id=run_id, lease_epoch=epoch, output=output)
    elif event_type == "run_failed":
        run_services.run_fail(
            run_id=run_id,
            lease_epoch=epoch,
            error="WorkerError",
            message=str(data.get("error") or "the worker reported a failure"),
        )
    else:  # run_requires_action
        value = {key: data[key] for key in ("action_type", "prompt") if key in data}
        interrupt = {
            "value": serde.to_jsonable(value),
            "id": uuid.uuid5(run_id, "requires_action").hex,
        }
        run_services.run_interrupt(
            run_id=run_id,
            lease_epoch=epoch,
            interrupts={str(run_id): [interrupt]},
            output=serde.to_jsonable(data.get("state")),
        )


def _latest_values(run: Any) -> dict[str, Any] | None:
    """The run's state so far: its last ``values`` chunk."""
    from events.models import Event

    payload = (
        Event.objects.filter(stream_id=run.run_id, type="RunOutputStreamed", payload__mode="values")
        .order_by("-version")
        .values_list("payload", flat=True)
        .first()
    )
    return payload.get("data") if payload else None


def _checkpoint(run: Any, values: dict[str, Any], node: str) -> dict[str, Any]:
    """A checkpoint of a remote run's state, in LangGraph's format, so that thread state and
    history read it like any other (the worker keeps no checkpoints of its own)."""
    from threads.models import Checkpoint

    parent = (
        Checkpoint.objects.filter(thread_id=run.thread_id, checkpoint_ns="")
        .order_by("-checkpoint_id")
        .values_list("checkpoint_id", "metadata")
        .first()
    )
    checkpoint_id = str(uuid6())
    step = int((parent[1] or {}).get("step", -1)) + 1 if parent else 0
    checkpoint = {
        "v": 4,
        "id": checkpoint_id,
        "ts": timezone.now().isoformat(),
        "channel_values": values,
        "channel_versions": {},
        "versions_seen": {},
        "updated_channels": None,
    }
    kind, blob = JsonPlusSerializer().dumps_typed(checkpoint)
    return {
        "checkpoint_ns": "",
        "checkpoint_id": checkpoint_id,
        "parent_checkpoint_id": parent[0] if parent else None,
        "run_id": run.run_id,
        "checkpoint": {"type": kind, "data": base64.b64encode(blob).decode()},
        "metadata": {
            "source": "loop",
            "step": step,
            "run_id": str(run.run_id),
            "writes": None,
            "node": node,
            "parents": {},
        },
        "values": values,
    }
