"""Run queries: read models only."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.models import Count, Min, Q
from django.utils import timezone

from duragraph_site.errors import NotFound
from events import store
from runs import a2a
from runs.domain import ACTIVE_STATUSES, RunStatus, visible_to
from runs.models import Run
from runs.sql import queries
from threads.models import Thread

if TYPE_CHECKING:
    from django.db.models import QuerySet


def run_get(
    run_id: uuid.UUID, *, thread_id: uuid.UUID | None = None, tenant: str | None = None
) -> Run:
    """The run (under *thread_id* when given), or NotFound; also NotFound when a caller scoped
    to *tenant* (None: every tenant) cannot see it, as for an unknown id."""
    queryset = Run.objects.filter(run_id=run_id)
    if thread_id is not None:
        queryset = queryset.filter(thread_id=thread_id)
    run = queryset.first()
    if run is None or not visible_to(run.tenant, tenant):
        raise NotFound(f"Run {run_id} not found")
    return run


def run_list(
    thread_id: uuid.UUID,
    *,
    tenant: str | None = None,
    limit: int = 10,
    offset: int = 0,
    status: str | None = None,
) -> list[Run]:
    """A thread's runs, newest first (NotFound for an unknown thread, or one a caller scoped
    to *tenant* cannot see)."""
    threads = Thread.objects.filter(thread_id=thread_id)
    if tenant is not None:
        threads = threads.filter(tenant=tenant)
    if not threads.exists():
        raise NotFound(f"Thread with ID {thread_id} not found")
    queryset = Run.objects.filter(thread_id=thread_id)
    if status:
        queryset = queryset.filter(status=status)
    return list(queryset.order_by("-created_at", "-run_id")[offset : offset + limit])


def run_latest_tagged(thread_id: uuid.UUID, metadata: dict[str, Any]) -> Run | None:
    """The thread's newest run whose metadata contains *metadata* (an A2A task's latest run:
    ``{"a2a": {"task_id": ...}}``); None when there is none."""
    return (
        Run.objects.filter(thread_id=thread_id, metadata__contains=metadata)
        .order_by("-created_at", "-run_id")
        .first()
    )


def run_is_over(run_id: uuid.UUID) -> bool:
    """True once the run ended, or no longer exists (rolled back, deleted)."""
    status = Run.objects.filter(run_id=run_id).values_list("status", flat=True).first()
    return status is None or RunStatus(status) not in ACTIVE_STATUSES


def run_result(run_id: uuid.UUID, thread_id: uuid.UUID) -> Any:
    """What ``/wait`` and ``/join`` return for an ended run (LangGraph's rules).

    The final values; with ``__interrupt__`` (all interrupts, flattened) when parked at an
    ``interrupt()``; ``{"__error__": {error, message}}`` when it failed; the thread's values
    when the run produced none; ``{}`` when there is nothing at all.
    """
    run = Run.objects.filter(run_id=run_id).first()
    if run is None:
        return _result_from_events(run_id)
    if run.status in (RunStatus.ERROR, RunStatus.TIMEOUT):
        return {"__error__": run.error or {"error": "Error", "message": ""}}
    values = run.output
    if values is None:
        values = Thread.objects.filter(thread_id=thread_id).values_list("values", flat=True).first()
    return _with_interrupts(values, run.interrupts if run.status == RunStatus.INTERRUPTED else None)


def _with_interrupts(values: Any, interrupts: dict[str, list] | None) -> Any:
    if interrupts:
        flattened = [item for items in interrupts.values() for item in items]
        return {**(values if isinstance(values, dict) else {}), "__interrupt__": flattened}
    return values if values is not None else {}


def _result_from_events(run_id: uuid.UUID) -> Any:
    """The result of a run whose row is gone (a stateless run's thread was deleted, or the run
    was rolled back): the event log still has how it ended."""
    for event in reversed(store.load(run_id)):
        if event.type in ("RunFailed", "RunTimedOut"):
            error = event.payload.get("error", "TimeoutError")
            return {"__error__": {"error": error, "message": event.payload.get("message", "")}}
        if event.type == "RunCompleted":
            return _with_interrupts(event.payload.get("output"), None)
        if event.type == "RunInterrupted":
            return _with_interrupts(event.payload.get("output"), event.payload.get("interrupts"))
    return {}


def run_latest_values(run_id: uuid.UUID) -> Any:
    """The run's state so far: the data of its last ``values`` chunk (None before any)."""
    event = store.last_event(run_id, type="RunOutputStreamed", contains={"mode": "values"})
    return event.payload.get("data") if event is not None else None


def runs_held_count(worker_id: str) -> int:
    """How many runs are running under *worker_id*."""
    return Run.objects.filter(status=RunStatus.RUNNING, worker_id=worker_id).count()


def runs_holders(worker_ids: Iterable[str] | QuerySet) -> list[str]:
    """Which of *worker_ids* (a list, or a query of worker ids) hold running runs now."""
    running = Run.objects.filter(status=RunStatus.RUNNING, worker_id__in=worker_ids)
    return list(running.values_list("worker_id", flat=True).distinct())


def runs_claimable_exist(
    *, graph_ids: list[str] | None = None, now: datetime | None = None
) -> bool:
    """Whether a run (of *graph_ids*, or any) can be claimed now: the claim's own definition
    (``runs_claimable_v1``), so a run waiting behind a running one on its thread is not."""
    params = {"graph_ids": graph_ids, "now": now or timezone.now()}
    with connection.cursor() as cursor:
        cursor.execute(queries["claimable_exist"], params)
        return cursor.fetchone()[0]


# -- the dashboard (runs/pages.py) -----------------------------------------------------------
@dataclass(frozen=True)
class RunFilter:
    """What the Runs page narrows its list to (every field optional)."""

    status: str | None = None
    assistant_id: uuid.UUID | None = None
    graph_id: str | None = None
    thread_id: uuid.UUID | None = None
    #: A run or thread id, exact.
    search: uuid.UUID | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


def runs_filtered(where: RunFilter, *, tenant: str | None = None) -> QuerySet:
    """Runs matching *where* visible to *tenant* (None: every tenant), each with its
    assistant (one join, not a query per row)."""
    queryset = Run.objects.select_related("assistant")
    if tenant is not None:
        queryset = queryset.filter(tenant=tenant)
    if where.status:
        queryset = queryset.filter(status=where.status)
    if where.assistant_id:
        queryset = queryset.filter(assistant_id=where.assistant_id)
    if where.graph_id:
        queryset = queryset.filter(assistant__graph_id=where.graph_id)
    if where.thread_id:
        queryset = queryset.filter(thread_id=where.thread_id)
    if where.search:
        queryset = queryset.filter(Q(run_id=where.search) | Q(thread_id=where.search))
    if where.created_after:
        queryset = queryset.filter(created_at__gte=where.created_after)
    if where.created_before:
        queryset = queryset.filter(created_at__lt=where.created_before)
    return queryset


@dataclass(frozen=True)
class RunsOverview:
    """The overview page's figures about runs."""

    #: Runs by status now.
    by_status: dict[str, int]
    #: Runs created in the last hour, by status now.
    last_hour: dict[str, int]
    #: Runs that ended in the last hour per 5-minute bucket, oldest first: (success, failed).
    ended_per_bucket: list[tuple[int, int]]
    #: Pending runs that can start now, and the age of the oldest one (seconds; None: none).
    queue_depth: int
    oldest_pending_seconds: float | None
    #: Share of the runs that ended in the last hour with ``error`` or ``timeout`` (None: none).
    failure_rate: float | None


def runs_overview(*, tenant: str | None = None, now: datetime | None = None) -> RunsOverview:
    """Counts for the overview page: five aggregate queries whatever the number of runs."""
    now = now or timezone.now()
    hour_ago = now - timedelta(hours=1)
    runs = Run.objects.all() if tenant is None else Run.objects.filter(tenant=tenant)
    by_status = dict(runs.values_list("status").annotate(n=Count("run_id")).order_by())
    last_hour = dict(
        runs.filter(created_at__gte=hour_ago)
        .values_list("status")
        .annotate(n=Count("run_id"))
        .order_by()
    )
    buckets = [[0, 0] for _ in range(12)]
    with connection.cursor() as cursor:
        cursor.execute(queries["ended_per_bucket"], {"now": now, "tenant": tenant})
        for bucket, failed, count in cursor.fetchall():
            buckets[bucket][1 if failed else 0] += count
    queued = runs.filter(status=RunStatus.PENDING, available_at__lte=now)
    oldest = queued.aggregate(oldest=Min("created_at"))["oldest"]
    done = sum(ok + failed for ok, failed in buckets)
    return RunsOverview(
        by_status={status.value: by_status.get(status.value, 0) for status in RunStatus},
        last_hour={status.value: last_hour.get(status.value, 0) for status in RunStatus},
        ended_per_bucket=[(ok, failed) for ok, failed in buckets],
        queue_depth=queued.count(),
        oldest_pending_seconds=None if oldest is None else (now - oldest).total_seconds(),
        failure_rate=sum(failed for _, failed in buckets) / done if done else None,
    )


# -- A2A tasks (runs/a2a.py shapes them) -------------------------------------------------------
#: A context's runs read to tell which task each message of its history belongs to.
A2A_HISTORY_RUNS = 1000


def a2a_task_run(run: Run, task_id: str) -> a2a.TaskRun:
    """The A2A task at *run* (its state, and its result once the run is over)."""
    over = RunStatus(run.status) not in ACTIVE_STATUSES
    return a2a.TaskRun(
        task_id=task_id,
        context_id=str(run.thread_id),
        run_id=str(run.run_id),
        status=run.status,
        awaiting_input=bool(run.interrupts),
        result=run_result(run.run_id, run.thread_id) if over else None,
        timestamp=run.updated_at.isoformat(),
    )


def a2a_task_run_by_id(run_id: uuid.UUID, task_id: str) -> a2a.TaskRun:
    return a2a_task_run(run_get(run_id), task_id)


def a2a_task(
    run_id: uuid.UUID, task_id: str, history_length: int | None, tenant: str | None
) -> dict[str, Any]:
    """The task at *run_id* with its history: the context's conversation as of that run (its
    final values, or its latest while it goes on), each message with the task it belongs to."""
    run = run_get(run_id)
    current = a2a_task_run(run, task_id)
    if isinstance(current.result, dict) and "__error__" not in current.result:
        values = current.result
    else:
        values = run_latest_values(run.run_id) or run.kwargs.get("input") or {}
    task_of = {
        message_id: a2a.run_task_id(other.thread_id, other.run_id, other.metadata)
        for other in run_list(run.thread_id, tenant=tenant, limit=A2A_HISTORY_RUNS)
        for message_id in a2a.started_by((other.kwargs or {}).get("input"))
    }
    history = a2a.history(
        values.get("messages") if isinstance(values, dict) else None,
        context_id=current.context_id,
        task_of=task_of,
        length=history_length,
    )
    return a2a.task(current, history_messages=history)
