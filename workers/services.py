"""Worker registry commands: register, heartbeat, deregister, drain, and declaring the silent
ones lost. Every kind of worker is in the registry; what remote workers say over HTTP is
``workers.remote``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import ExpressionWrapper, F, fields
from django.utils import timezone

from duragraph_site.errors import InvalidInput, NotFound
from runs import services as run_services
from workers.models import NodeCacheEntry, Worker, WorkerKind, WorkerStatus


def worker_register(
    *,
    worker_id: str,
    kind: str,
    name: str | None = None,
    graph_ids: list[str] | None = None,
    max_concurrent_runs: int = 10,
    heartbeat_interval: float = 30.0,
    metadata: dict[str, Any] | None = None,
    same_process: bool = False,
) -> Worker:
    """Register (or re-register: the same id upserts) a worker, online from now.

    A worker registering under an id that still holds runs is a new process (the old one died,
    or was declared lost and forgot them): those runs are handed back at once, to be retried.
    With *same_process* the caller is the process that registered before (an executor that
    was frozen, declared lost, and woke up): the runs it holds now are runs it claimed since
    and is executing, so they stay its own (the ones it held when declared lost were already
    handed back by the reaper, and its writes to them are refused).
    """
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
    if not created and not same_process:
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


def node_cache_prune_expired(*, now: datetime | None = None) -> int:
    """Delete the node cache's expired entries (readers already ignore them); how many."""
    deleted, _ = NodeCacheEntry.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
